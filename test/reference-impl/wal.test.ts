import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { Wal, WalError } from "../../reference-impl/index.js";
import { segmentFiles, silentLogger, tempDir } from "../helpers.js";

describe("Wal appends", () => {
  it("gives batches seqs 1, 2, 3 and reads back what was acknowledged, across a reopen", async () => {
    const dir = await tempDir();
    const wal = await Wal.open(dir, { logger: silentLogger });
    expect(wal.lastSeq).toBe(0);
    expect(
      (
        await wal.append([
          { key: "a", value: "1" },
          { key: "b", value: "2" },
        ])
      ).seq,
    ).toBe(1);
    expect((await wal.set("c", "3")).seq).toBe(2);
    expect((await wal.delete("a")).seq).toBe(3);
    expect(wal.read()).toEqual({ lastSeq: 3, state: { b: "2", c: "3" } });
    await wal.close();
    const again = await Wal.open(dir, { logger: silentLogger });
    expect(again.read()).toEqual({ lastSeq: 3, state: { b: "2", c: "3" } });
    expect(again.recovery.recordsReplayed).toBe(3);
    await again.close();
  });

  it("group commit: 64 concurrent appends share fdatasyncs, keep call order, and none is acked before its group is synced", async () => {
    const dir = await tempDir();
    let syncs = 0;
    const order: string[] = [];
    const wal = await Wal.open(dir, {
      logger: silentLogger,
      sync: "batch",
      io: {
        fdatasync: (fd) =>
          new Promise<void>((resolve, reject) =>
            fs.fdatasync(fd, (err) => {
              syncs += 1;
              order.push(`sync`);
              if (err) reject(err);
              else resolve();
            }),
          ),
      },
    });
    const acks = await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        wal.append([{ key: `k${i}`, value: String(i) }]).then((r) => {
          order.push(`ack${r.seq}`);
          return r.seq;
        }),
      ),
    );
    expect(acks).toEqual(Array.from({ length: 64 }, (_, i) => i + 1));
    expect(syncs).toBeLessThan(64);
    expect(wal.metrics().batchesPerSync).toBeGreaterThan(1);
    // Every ack comes after a sync, and acks come in seq order.
    expect(order[0]).toBe("sync");
    const ackSeqs = order.filter((o) => o.startsWith("ack")).map((o) => Number(o.slice(3)));
    expect(ackSeqs).toEqual([...ackSeqs].sort((a, b) => a - b));
    await wal.close();
  });

  it("sync=always makes one fdatasync per batch", async () => {
    const dir = await tempDir();
    const wal = await Wal.open(dir, { logger: silentLogger, sync: "always" });
    await Promise.all(Array.from({ length: 10 }, (_, i) => wal.set(`k${i}`, "v")));
    expect(wal.metrics().fsyncs.count).toBe(10);
    expect(wal.metrics().appends.count).toBe(10);
    await wal.close();
  });

  it("rejects malformed batches with a TypeError that says what it got", async () => {
    const dir = await tempDir();
    const wal = await Wal.open(dir, { logger: silentLogger });
    expect(() => wal.append([])).toThrow(/got \[\]/);
    expect(() => wal.append([{ key: "", value: "x" }])).toThrow(TypeError);
    expect(() => wal.append([{ key: "a", value: 5 as unknown as string }])).toThrow(/got \{"key":"a","value":5\}/);
    expect(wal.lastSeq).toBe(0);
    await wal.close();
  });

  it("idempotency keys: a repeated key is not written again and returns the first seq, also after a reopen and a checkpoint", async () => {
    const dir = await tempDir();
    const wal = await Wal.open(dir, { logger: silentLogger });
    const first = await wal.append([{ key: "balance", value: "100" }], { idempotencyKey: "op-1" });
    const [a, b] = await Promise.all([
      wal.append([{ key: "balance", value: "150" }], { idempotencyKey: "op-2" }),
      wal.append([{ key: "balance", value: "150" }], { idempotencyKey: "op-2" }),
    ]);
    expect(first).toEqual({ seq: 1, duplicate: false });
    expect(a).toEqual({ seq: 2, duplicate: false });
    expect(b).toEqual({ seq: 2, duplicate: true });
    await wal.checkpoint("truncate");
    await wal.close();
    const again = await Wal.open(dir, { logger: silentLogger });
    expect(await again.append([{ key: "balance", value: "999" }], { idempotencyKey: "op-1" })).toEqual({
      seq: 1,
      duplicate: true,
    });
    expect(again.read()).toEqual({ lastSeq: 2, state: { balance: "150" } });
    await again.close();
  });
});

describe("Wal failure policy", () => {
  it("an fdatasync error fails the batch, refuses every later append until reopened, and never acks it", async () => {
    const dir = await tempDir();
    let failNext = false;
    const wal = await Wal.open(dir, {
      logger: silentLogger,
      io: {
        fdatasync: async (fd) => {
          if (failNext) throw Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" });
          fs.fdatasyncSync(fd);
        },
      },
    });
    await wal.set("a", "1");
    failNext = true;
    const failed = await wal.set("b", "2").catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(WalError);
    expect((failed as WalError).code).toBe("WAL_FAILED");
    expect(((failed as WalError).cause as { code: string }).code).toBe("EIO");
    failNext = false;
    // No retry over possibly lost pages: refused even though fsync would work now.
    await expect(wal.set("c", "3")).rejects.toMatchObject({ code: "WAL_FAILED" });
    await expect(wal.checkpoint()).rejects.toMatchObject({ code: "WAL_FAILED" });
    expect(wal.read()).toEqual({ lastSeq: 1, state: { a: "1" } });
    await wal.close();
    const again = await Wal.open(dir, { logger: silentLogger });
    expect(again.lastSeq).toBeGreaterThanOrEqual(1);
    expect(again.read().state.a).toBe("1");
    expect((await again.set("d", "4")).seq).toBe(again.lastSeq);
    expect(await again.check()).toEqual(["ok"]);
    await again.close();
  });

  it("a write error (ENOSPC after a partial write) fails that append only, leaves no partial frame, and the WAL goes on", async () => {
    const dir = await tempDir();
    let full = false;
    const wal = await Wal.open(dir, {
      logger: silentLogger,
      io: {
        write: (fd, buf) => {
          if (full) {
            fs.writeSync(fd, buf, 0, Math.floor(buf.length / 2));
            throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
          }
          fs.writeSync(fd, buf);
        },
      },
    });
    await wal.set("a", "1");
    const sizeBefore = fs.statSync(segmentFiles(dir)[0]!).size;
    full = true;
    await expect(wal.set("b", "2")).rejects.toMatchObject({ code: "WAL_IO", cause: { code: "ENOSPC" } });
    expect(fs.statSync(segmentFiles(dir)[0]!).size).toBe(sizeBefore);
    full = false;
    expect((await wal.set("c", "3")).seq).toBe(2);
    expect(await wal.check()).toEqual(["ok"]);
    await wal.close();
    const again = await Wal.open(dir, { logger: silentLogger });
    expect(again.read()).toEqual({ lastSeq: 2, state: { a: "1", c: "3" } });
    await again.close();
  });

  it("refuses appends after close with WAL_CLOSED", async () => {
    const dir = await tempDir();
    const wal = await Wal.open(dir, { logger: silentLogger });
    await wal.close();
    await expect(wal.set("a", "1")).rejects.toMatchObject({ code: "WAL_CLOSED" });
  });
});

describe("transactions", () => {
  it("nested savepoints: an inner rollback never reaches the log, and commit is one atomic batch", async () => {
    const dir = await tempDir();
    const wal = await Wal.open(dir, { logger: silentLogger, codec: "jsonl" });
    await wal.set("account", "100");
    const seq = await wal.transaction(async (tx) => {
      tx.set("account", "90").set("ledger", "debit 10");
      await tx
        .nested(async (inner) => {
          inner.set("account", "SECRET-ROLLED-BACK");
          expect(inner.get("account")).toBe("SECRET-ROLLED-BACK");
          throw new Error("inner failure");
        })
        .catch(() => {});
      expect(tx.get("account")).toBe("90");
      const sp = tx.savepoint();
      tx.delete("ledger");
      tx.rollbackTo(sp);
      const kept = tx.savepoint();
      tx.set("audit", "ok");
      tx.release(kept);
      return wal.lastSeq;
    });
    expect(seq).toBe(1);
    expect(wal.read()).toEqual({ lastSeq: 2, state: { account: "90", ledger: "debit 10", audit: "ok" } });
    const log = fs.readFileSync(segmentFiles(dir)[0]!, "utf8");
    expect(log).not.toContain("SECRET-ROLLED-BACK");
    // Two records, each followed by the sync marker its fdatasync wrote before the ack.
    const types = log
      .trim()
      .split("\n")
      .map((line) => (JSON.parse(line) as { type: string }).type);
    expect(types).toEqual(["kv.batch", "sync", "kv.batch", "sync"]);
    await wal.close();
  });

  it("a transaction that throws writes nothing", async () => {
    const dir = await tempDir();
    const wal = await Wal.open(dir, { logger: silentLogger });
    await expect(
      wal.transaction((tx) => {
        tx.set("a", "1");
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(wal.read()).toEqual({ lastSeq: 0, state: {} });
    await wal.close();
  });
});

describe("checkpoints", () => {
  it("truncate folds the log into a snapshot and leaves an empty log; passive compaction removes covered segments", async () => {
    const dir = await tempDir();
    const wal = await Wal.open(dir, { logger: silentLogger, maxSegmentBytes: 256 });
    for (let i = 0; i < 30; i++) await wal.set(`k${i % 7}`, `v${i}`);
    const before = segmentFiles(dir).length;
    expect(before).toBeGreaterThan(3);
    const passive = await wal.checkpoint("passive");
    expect(passive).toMatchObject({ mode: "passive", busy: 0, logFrames: 30, checkpointedFrames: 30, seq: 30 });
    expect(segmentFiles(dir)).toHaveLength(1); // only the active segment is left
    for (let i = 0; i < 5; i++) await wal.set("after", String(i));
    const truncate = await wal.checkpoint("truncate");
    expect(truncate).toMatchObject({ mode: "truncate", seq: 35 });
    const segs = segmentFiles(dir);
    expect(segs).toHaveLength(1);
    expect(fs.statSync(segs[0]!).size).toBe(0);
    expect(fs.readdirSync(dir).filter((n) => n.startsWith("snap-"))).toEqual(["snap-00000000000000000035.snap"]);
    const state = wal.read();
    await wal.close();
    const again = await Wal.open(dir, { logger: silentLogger });
    expect(again.read()).toEqual(state);
    expect(again.recovery).toMatchObject({ snapshotSeq: 35, recordsReplayed: 0 });
    expect(await again.check()).toEqual(["ok"]);
    await again.close();
  });

  it("appends during a checkpoint are neither lost nor blocked from recovery", async () => {
    const dir = await tempDir();
    const wal = await Wal.open(dir, { logger: silentLogger });
    for (let i = 0; i < 50; i++) await wal.set(`k${i}`, "a");
    const writes = Array.from({ length: 50 }, (_, i) => wal.set(`k${i}`, "b"));
    const [stats] = await Promise.all([wal.checkpoint("truncate"), ...writes]);
    expect(stats.seq).toBeGreaterThanOrEqual(50);
    await wal.close();
    const again = await Wal.open(dir, { logger: silentLogger });
    expect(again.lastSeq).toBe(100);
    expect(Object.values(again.read().state).every((v) => v === "b")).toBe(true);
    await again.close();
  });
});
