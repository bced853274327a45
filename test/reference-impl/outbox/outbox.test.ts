import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { Wal } from "../../../reference-impl/index.js";
import {
  makeEntry,
  Outbox,
  OutboxError,
  OutboxStore,
  type OutboxOptions,
} from "../../../reference-impl/outbox/index.js";
import { captureLogger, silentLogger } from "../../helpers.js";
import { closeAfter, credit, FakeTime, holdExclusiveLock, sqliteSinkIn } from "./outbox-test-kit.js";

async function openOutbox(dir: string, options: OutboxOptions): Promise<Outbox> {
  return closeAfter(await Outbox.open(dir, { logger: silentLogger, ...options }));
}

function ioError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected`), { code });
}

describe("Outbox", () => {
  it("a critical write is durable before it resolves and reaches the database from the running worker; a non-critical one goes straight to the database", async () => {
    const time = new FakeTime();
    const { dir, sink } = await sqliteSinkIn();
    const outbox = await openOutbox(`${dir}/wal`, { sink, now: time.now, timers: time });
    outbox.start();
    const written = await outbox.write(...credit("amy", 5, "op-1"));
    expect(written).toMatchObject({ status: "accepted", duplicate: false, entry: { n: 1, type: "balance.update" } });
    const seq = outbox.store.lastSeq;
    expect(await outbox.write("metrics.tick", { cpu: 0.5 }, { critical: false })).toEqual({ status: "direct" });
    expect(outbox.store.lastSeq).toBe(seq); // nothing of the non-critical write is in the WAL
    expect(await outbox.write(...credit("amy", 5, "op-1"))).toMatchObject({ status: "accepted", duplicate: true });

    await outbox.stop(); // waits for the pass the write kicked
    expect(time.delays).toEqual([]);
    const snap = await sink.snapshot();
    expect(snap.balances).toEqual({ amy: 5 });
    expect(snap.events).toBe(1);
    expect(outbox.stats()).toEqual({
      pending: 0,
      syncing: 0,
      completed: 1,
      failed: 0,
      corruptSkipped: 0,
      oldestPendingAgeMs: 0,
      consecutiveFailures: 0,
      totalFailures: 0,
      circuit: "closed",
      halted: false,
      sink: "sqlite",
    });
  });

  it("replay after a crash between the database write and the COMPLETED record: applied once, then COMPLETED", async () => {
    const { dir, sink } = await sqliteSinkIn();
    // The crash, by hand: SYNCING recorded, the database written, the process gone before COMPLETED.
    const store = await OutboxStore.open(`${dir}/wal`, { logger: silentLogger });
    const { entry } = await store.accept(...credit("amy", 5, "op-1"));
    await store.accept(...credit("amy", 2, "op-2"));
    await store.setStatus(entry.id, "SYNCING");
    expect(await sink.apply(entry)).toBe("applied");
    await store.close();

    const outbox = await openOutbox(`${dir}/wal`, { sink });
    expect(outbox.stats()).toMatchObject({ pending: 1, syncing: 1 });
    expect(await outbox.forceSync()).toEqual({ applied: 1, duplicates: 1, failed: 0, remaining: 0, stopped: null });
    const snap = await sink.snapshot();
    expect(snap.balances).toEqual({ amy: 7 });
    expect(snap.applied.map((a) => a.n)).toEqual([1, 2]);
    expect(outbox.store.get(entry.id)?.status.status).toBe("COMPLETED");
  });

  it("the same crash met in the worker itself (outbox.after-sink-apply) replays to the same end", async () => {
    const { dir, sink } = await sqliteSinkIn();
    const crash = new Error("crash at outbox.after-sink-apply");
    const first = await openOutbox(`${dir}/wal`, {
      sink,
      onPoint: (p) => {
        if (p === "outbox.after-sink-apply") throw crash;
      },
    });
    const { entry } = (await first.write(...credit("amy", 5, "op-1"))) as { entry: { id: string } };
    await expect(first.forceSync()).rejects.toBe(crash);
    expect(first.store.get(entry.id)?.status.status).toBe("SYNCING");
    await first.close();

    const outbox = await openOutbox(`${dir}/wal`, { sink });
    expect(await outbox.forceSync()).toMatchObject({ applied: 0, duplicates: 1, remaining: 0 });
    expect((await sink.snapshot()).balances).toEqual({ amy: 5 });
    expect(outbox.store.get(entry.id)?.status.status).toBe("COMPLETED");
  });

  it("a real SQLite outage keeps writes flowing into the WAL and entries PENDING (never FAILED); after the lock goes, sync completes", async () => {
    const time = new FakeTime();
    const { dir, dbFile, sink } = await sqliteSinkIn(20);
    const outbox = await openOutbox(`${dir}/wal`, { sink, now: time.now, timers: time });
    const lock = holdExclusiveLock(dbFile);
    await outbox.write(...credit("amy", 5, "op-1"));
    time.advance(1234);
    await outbox.write(...credit("amy", 1, "op-2")); // trading goes on during the outage
    expect(await outbox.forceSync()).toMatchObject({ applied: 0, remaining: 2, stopped: "sink-unavailable" });
    expect(outbox.stats()).toMatchObject({
      pending: 1,
      syncing: 1,
      failed: 0,
      consecutiveFailures: 1,
      totalFailures: 1,
      oldestPendingAgeMs: 1234,
      circuit: "closed",
    });

    lock.release();
    expect(await outbox.forceSync()).toEqual({ applied: 2, duplicates: 0, failed: 0, remaining: 0, stopped: null });
    expect((await sink.snapshot()).balances).toEqual({ amy: 6 });
    expect(outbox.stats()).toMatchObject({
      pending: 0,
      syncing: 0,
      completed: 2,
      consecutiveFailures: 0,
      totalFailures: 1,
    });
  });

  it("an entry whose checksum does not match is skipped, counted, alerted, and never reaches the database", async () => {
    const { dir, sink } = await sqliteSinkIn();
    const walDir = `${dir}/wal`;
    const store = await OutboxStore.open(walDir, { logger: silentLogger });
    await store.accept(...credit("amy", 5, "op-1"));
    await store.close();
    // Write a damaged entry straight into the WAL: one byte of its JSON changed after the checksum was taken.
    const bad = makeEntry(2, "balance.update", { account: "amy", delta: 50, op: "op-2" }, Date.now());
    const flipped = JSON.stringify(bad).replace('"delta":50', '"delta":58');
    const wal = await Wal.open(walDir, { logger: silentLogger });
    await wal.append([
      { key: `entry/${bad.id}`, value: flipped },
      { key: `status/${bad.id}`, value: JSON.stringify({ status: "PENDING", at: bad.createdAt }) },
    ]);
    await wal.close();

    const capture = captureLogger();
    const outbox = await openOutbox(walDir, { sink, logger: capture.logger });
    expect(outbox.stats()).toMatchObject({ pending: 1, corruptSkipped: 1 });
    expect(outbox.store.pending().map((e) => e.n)).toEqual([1]);
    expect(capture.lines.filter((l) => l.alert === "outbox.corrupt-entry")).toEqual([
      expect.objectContaining({ id: bad.id }),
    ]);
    expect(await outbox.forceSync()).toMatchObject({ applied: 1, remaining: 0 });
    expect((await sink.snapshot()).balances).toEqual({ amy: 5 });
  });

  // After a failed write the frame is cut off again: the refused operation is gone. After a failed
  // fdatasync the bytes may be on disk or not (here they reach the page cache): its outcome is unknown,
  // as with any timeout, and a retry of the same operation is recognised by its idempotency key.
  it.each([
    ["ENOSPC on write", "ENOSPC", "write", ["op-1"]],
    ["EIO on fdatasync", "EIO", "fdatasync", ["op-1", "op-2"]],
  ] as const)(
    "%s halts the outbox: that write and every later one is refused with OUTBOX_HALTED, nothing is accepted without durability",
    async (_name, code, call, survivors) => {
      const { dir, sink } = await sqliteSinkIn();
      let failing = false;
      const capture = captureLogger();
      const outbox = await openOutbox(`${dir}/wal`, {
        sink,
        logger: capture.logger,
        wal: {
          io: {
            write: (fd, buf) => {
              if (failing && call === "write") throw ioError(code);
              fs.writeSync(fd, buf);
            },
            fdatasync: async (fd) => {
              if (failing && call === "fdatasync") throw ioError(code);
              fs.fdatasyncSync(fd);
            },
          },
        },
      });
      await outbox.write(...credit("amy", 5, "op-1"));
      failing = true;
      const error = await outbox.write(...credit("amy", 6, "op-2")).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OutboxError);
      expect(error).toMatchObject({ code: "OUTBOX_HALTED" });
      expect((error as Error).message).toContain(code);
      expect(((error as Error).cause as Error).cause).toMatchObject({ code });

      failing = false; // space freed: still halted until a reopen
      await expect(outbox.write(...credit("amy", 7, "op-3"))).rejects.toBe(error);
      await expect(outbox.forceSync()).rejects.toBe(error);
      expect(outbox.stats()).toMatchObject({ halted: true, pending: 1 });
      expect(capture.lines.filter((l) => l.alert === "outbox.halted")).toHaveLength(1);
      await outbox.close();

      const reopened = await openOutbox(`${dir}/wal`, { sink });
      expect(reopened.store.pending().map((e) => e.args.op)).toEqual(survivors); // never op-3, refused while halted
      expect(reopened.stats().halted).toBe(false);
      // The caller retries the refused operation: one entry for it, whichever way the failed write went.
      await reopened.write(...credit("amy", 6, "op-2"));
      expect(reopened.store.pending().map((e) => e.args.op)).toEqual(["op-1", "op-2"]);
    },
  );

  it("warns once when the pending queue passes its threshold", async () => {
    const { dir, sink } = await sqliteSinkIn();
    const capture = captureLogger();
    const outbox = await openOutbox(`${dir}/wal`, { sink, logger: capture.logger, pendingAlertThreshold: 2 });
    for (let i = 0; i < 4; i++) await outbox.write(...credit("amy", 1, `op-${i}`));
    expect(capture.lines.filter((l) => l.alert === "outbox.pending-threshold")).toEqual([
      expect.objectContaining({ pending: 3, threshold: 2 }),
    ]);
  });

  it("compact() removes COMPLETED entries older than retentionMs and keeps pending ones", async () => {
    const time = new FakeTime();
    const { dir, sink } = await sqliteSinkIn();
    const outbox = await openOutbox(`${dir}/wal`, { sink, now: time.now, retentionMs: 60_000 });
    await outbox.write(...credit("amy", 1, "op-1"));
    await outbox.write(...credit("amy", 2, "op-2"));
    await outbox.forceSync();
    await outbox.write(...credit("amy", 3, "op-3"));
    time.advance(59_000);
    expect(await outbox.compact()).toBe(0);
    time.advance(2000);
    expect(await outbox.compact()).toBe(2);
    expect(outbox.stats()).toMatchObject({ pending: 1, completed: 0 });
    expect(outbox.store.pending().map((e) => e.n)).toEqual([3]);
  });

  it("close() leaves the sink open unless the outbox owns it", async () => {
    const { dir, sink } = await sqliteSinkIn();
    const borrowed = await Outbox.open(`${dir}/a`, { sink, logger: silentLogger });
    await borrowed.close();
    expect((await sink.snapshot()).events).toBe(0);
    const owner = await Outbox.open(`${dir}/b`, { sink, ownsSink: true, logger: silentLogger });
    await owner.close();
    await expect(sink.snapshot()).rejects.toThrow(/closed/);
  });
});
