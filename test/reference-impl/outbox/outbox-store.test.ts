import { describe, expect, it } from "vitest";
import { Wal } from "../../../reference-impl/index.js";
import { idempotencyKeyOf, OutboxStore, type OutboxStoreOptions } from "../../../reference-impl/outbox/index.js";
import { silentLogger, tempDir } from "../../helpers.js";
import { closeAfter, credit, FakeTime } from "./outbox-test-kit.js";

async function openStore(dir: string, options: OutboxStoreOptions = {}): Promise<OutboxStore> {
  return closeAfter(await OutboxStore.open(dir, { logger: silentLogger, ...options }));
}

describe("OutboxStore", () => {
  it("accepted entries survive close and reopen, PENDING in n order, and n goes on from where it was", async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const accepted = [];
    for (let i = 0; i < 5; i++) accepted.push((await store.accept(...credit(`acct-${i % 2}`, i + 1, `op-${i}`))).entry);
    expect(accepted.map((e) => e.n)).toEqual([1, 2, 3, 4, 5]);
    await store.close();

    const again = await openStore(dir);
    expect(again.pending()).toEqual(accepted);
    expect(again.counts()).toMatchObject({ pending: 5, syncing: 0, completed: 0, failed: 0, corruptSkipped: 0 });
    const next = await again.accept(...credit("acct-0", 9, "op-after-reopen"));
    expect(next.entry.n).toBe(6);
    expect(again.pending().map((e) => e.n)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("a duplicate accept returns the first entry and writes nothing, also concurrently and after a reopen", async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const first = await store.accept(...credit("acme", 5, "op-1"));
    expect(first.duplicate).toBe(false);
    expect(first.entry.idempotencyKey).toBe(idempotencyKeyOf(...credit("acme", 5, "op-1")));
    const seq = store.lastSeq;

    const again = await store.accept(...credit("acme", 5, "op-1"));
    expect(again).toEqual({ entry: first.entry, duplicate: true });
    expect(store.lastSeq).toBe(seq);

    // Two accepts of a new operation in flight at once: one entry, one WAL record.
    const [a, b] = await Promise.all([
      store.accept(...credit("acme", 7, "op-2")),
      store.accept(...credit("acme", 7, "op-2")),
    ]);
    expect([a.duplicate, b.duplicate]).toEqual([false, true]);
    expect(b.entry.id).toBe(a.entry.id);
    expect(store.lastSeq).toBe(seq + 1);
    expect(store.pending()).toHaveLength(2);
    await store.close();

    const reopened = await openStore(dir);
    expect(await reopened.accept(...credit("acme", 5, "op-1"))).toEqual({ entry: first.entry, duplicate: true });
    expect(reopened.lastSeq).toBe(seq + 1);
  });

  it("status changes are appended as new WAL records: the entry record is never rewritten", async () => {
    const dir = await tempDir();
    const time = new FakeTime();
    const store = await openStore(dir, { now: time.now });
    const { entry } = await store.accept(...credit("acme", 5, "op-1"));
    expect(store.lastSeq).toBe(1);
    time.advance(10);
    await store.setStatus(entry.id, "SYNCING");
    expect(store.lastSeq).toBe(2);
    time.advance(10);
    await store.setStatus(entry.id, "COMPLETED");
    expect(store.lastSeq).toBe(3);
    expect(store.pending()).toEqual([]);
    await store.close();

    const wal = closeAfter(await Wal.open(dir, { logger: silentLogger }));
    expect(wal.recovery.recordsReplayed).toBe(3);
    expect(JSON.parse(wal.get(`entry/${entry.id}`)!)).toEqual(entry);
    expect(JSON.parse(wal.get(`status/${entry.id}`)!)).toEqual({ status: "COMPLETED", at: time.t });
    await wal.close();

    const reopened = await openStore(dir);
    expect(reopened.get(entry.id)).toEqual({ entry, status: { status: "COMPLETED", at: time.t } });
    expect(reopened.counts()).toMatchObject({ pending: 0, completed: 1 });
  });

  it("setStatus carries the attempt count forward and refuses an unknown id", async () => {
    const store = await openStore(await tempDir());
    const { entry } = await store.accept(...credit("acme", 5, "op-1"));
    await store.setStatus(entry.id, "PENDING", { attempts: 2, error: "constraint" });
    const syncing = await store.setStatus(entry.id, "SYNCING");
    expect(syncing).toMatchObject({ status: "SYNCING", attempts: 2 });
    expect(syncing.error).toBeUndefined();
    await expect(store.setStatus("nope", "COMPLETED")).rejects.toThrow(/no entry with id "nope"/);
  });

  it("compact removes COMPLETED entries past the retention in one batch, keeps PENDING, FAILED and recent ones, and folds the log", async () => {
    const dir = await tempDir();
    const time = new FakeTime();
    const store = await openStore(dir, { now: time.now });
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push((await store.accept(...credit("acme", i + 1, `op-${i}`))).entry.id);
    const [oldDone, failed, stillPending, recentDone] = ids as [string, string, string, string];
    await store.setStatus(oldDone, "COMPLETED");
    await store.setStatus(failed, "FAILED", { attempts: 10, error: "refused" });
    time.advance(5000);
    await store.setStatus(recentDone, "COMPLETED");
    const seqBefore = store.lastSeq;

    time.advance(500);
    expect(await store.compact({ retentionMs: 1000 })).toBe(1);
    expect(store.lastSeq).toBe(seqBefore + 1); // one batch for every removal
    expect(store.get(oldDone)).toBeUndefined();
    expect(store.counts()).toMatchObject({ pending: 1, completed: 1, failed: 1 });
    await store.close();

    const wal = closeAfter(await Wal.open(dir, { logger: silentLogger }));
    expect(wal.recovery.recordsReplayed).toBe(0); // the truncate checkpoint folded the log into the snapshot
    expect(wal.get(`entry/${oldDone}`)).toBeUndefined();
    expect(wal.get(`status/${oldDone}`)).toBeUndefined();
    await wal.close();

    const reopened = await openStore(dir, { now: time.now });
    expect(reopened.pending().map((e) => e.id)).toEqual([stillPending]);
    expect(reopened.get(failed)?.status.status).toBe("FAILED");
    expect(reopened.get(recentDone)?.status.status).toBe("COMPLETED");
    // The compacted operation is no longer known to the outbox: accepting it again makes a new entry
    // (the sink's own key keeps its effect from being applied twice).
    const again = await reopened.accept(...credit("acme", 1, "op-0"));
    expect(again.duplicate).toBe(false);
    expect(again.entry.n).toBe(5);
  });
});
