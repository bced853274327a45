import { describe, expect, it } from "vitest";
import {
  CircuitBreaker,
  OUTBOX_CRASH_POINTS,
  OutboxStore,
  SyncWorker,
  type OutboxCrashPoint,
  type OutboxSink,
  type SyncWorkerOptions,
} from "../../../reference-impl/outbox/index.js";
import { captureLogger, silentLogger } from "../../helpers.js";
import { closeAfter, credit, FakeTime, holdExclusiveLock, sqliteSinkIn } from "./outbox-test-kit.js";

interface Rig {
  store: OutboxStore;
  sink: OutboxSink;
  dbFile: string;
  worker: SyncWorker;
  breaker: CircuitBreaker;
  time: FakeTime;
}

async function rig(
  options: Partial<SyncWorkerOptions> & {
    failureThreshold?: number;
    resetMs?: number;
    onPoint?: (p: OutboxCrashPoint) => void;
  } = {},
): Promise<Rig> {
  const time = new FakeTime();
  const { dir, dbFile, sink } = await sqliteSinkIn();
  const store = closeAfter(
    await OutboxStore.open(`${dir}/wal`, { logger: silentLogger, now: time.now, onPoint: options.onPoint }),
  );
  const breaker = new CircuitBreaker({
    failureThreshold: options.failureThreshold ?? 3,
    resetMs: options.resetMs ?? 10_000,
    now: time.now,
  });
  const worker = new SyncWorker({
    store,
    sink,
    breaker,
    logger: silentLogger,
    timers: time,
    backoff: { baseMs: 100, capMs: 1000, random: () => 0.5 },
    ...options,
  });
  closeAfter({ close: () => worker.stop() });
  return { store, sink, dbFile, worker, breaker, time };
}

describe("SyncWorker", () => {
  it("applies pending entries in n order, each key once, with the right balances, and marks them COMPLETED", async () => {
    const { store, sink, worker } = await rig();
    const deltas = [5, -2, 7, 1, -3, 10];
    const ids = [];
    for (const [i, d] of deltas.entries())
      ids.push((await store.accept(...credit(i % 2 ? "bob" : "amy", d, `op-${i}`))).entry.id);

    expect(await worker.syncOnce()).toEqual({ applied: 6, duplicates: 0, failed: 0, remaining: 0, stopped: null });
    const snap = await sink.snapshot();
    expect(snap.applied.map((a) => a.n)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(new Set(snap.applied.map((a) => a.idempotencyKey)).size).toBe(6);
    expect(snap.balances).toEqual({ amy: 5 + 7 - 3, bob: -2 + 1 + 10 });
    expect(ids.map((id) => store.get(id)?.status.status)).toEqual(Array(6).fill("COMPLETED"));
    // Nothing left: a second pass applies nothing.
    expect(await worker.syncOnce()).toEqual({ applied: 0, duplicates: 0, failed: 0, remaining: 0, stopped: null });
  });

  it("meets the outbox crash points in the order OUTBOX_CRASH_POINTS lists them", async () => {
    const seen: OutboxCrashPoint[] = [];
    const { store, worker } = await rig({ onPoint: (p) => seen.push(p) });
    await store.accept(...credit("amy", 1, "op-1"));
    await worker.syncOnce();
    expect(seen).toEqual([...OUTBOX_CRASH_POINTS]);
  });

  it("a sink outage never fails an entry: the breaker opens after N failures, refuses calls while open, and a half-open probe that succeeds closes it", async () => {
    const { store, sink, dbFile, worker, breaker, time } = await rig({ failureThreshold: 3, resetMs: 10_000 });
    const { entry } = await store.accept(...credit("amy", 5, "op-1"));
    await store.accept(...credit("amy", 6, "op-2"));
    const lock = holdExclusiveLock(dbFile);

    for (let i = 1; i <= 3; i++) {
      expect(await worker.syncOnce()).toEqual({
        applied: 0,
        duplicates: 0,
        failed: 0,
        remaining: 2,
        stopped: "sink-unavailable",
      });
      expect(breaker.consecutiveFailures).toBe(i);
    }
    expect(breaker.state).toBe("open");
    // Open: the pass does not reach the sink (no failure counted), and the entry is SYNCING, never FAILED.
    expect(await worker.syncOnce()).toMatchObject({ applied: 0, remaining: 2, stopped: "circuit-open" });
    expect(breaker.totalFailures).toBe(3);
    expect(store.get(entry.id)?.status).toMatchObject({ status: "SYNCING" });
    expect(store.counts().failed).toBe(0);

    // Half-open with the database still locked: the probe fails and the circuit reopens.
    time.advance(10_000);
    expect(breaker.state).toBe("half-open");
    expect(await worker.syncOnce()).toMatchObject({ stopped: "sink-unavailable" });
    expect(breaker.state).toBe("open");

    time.advance(10_000);
    lock.release();
    expect(await worker.syncOnce()).toEqual({ applied: 2, duplicates: 0, failed: 0, remaining: 0, stopped: null });
    expect(breaker.state).toBe("closed");
    expect(breaker.consecutiveFailures).toBe(0);
    expect((await sink.snapshot()).balances).toEqual({ amy: 11 });
  });

  it("forceSync goes through an open circuit (an operator's sync) and its success closes it", async () => {
    const { store, dbFile, worker, breaker } = await rig({ failureThreshold: 1 });
    await store.accept(...credit("amy", 5, "op-1"));
    const lock = holdExclusiveLock(dbFile);
    await worker.syncOnce();
    expect(breaker.state).toBe("open");
    lock.release();
    expect(await worker.syncOnce()).toMatchObject({ stopped: "circuit-open" });
    expect(await worker.forceSync()).toMatchObject({ applied: 1, stopped: null });
    expect(breaker.state).toBe("closed");
  });

  it("the loop backs off with growing jittered delays during an outage, waits out the open circuit, returns to the interval, and stop leaves no timer", async () => {
    const { store, sink, dbFile, worker, breaker, time } = await rig({
      failureThreshold: 3,
      resetMs: 10_000,
      intervalMs: 5000,
    });
    await store.accept(...credit("amy", 5, "op-1"));
    const lock = holdExclusiveLock(dbFile);

    worker.start(); // a pass now
    await worker.whenIdle();
    // random() = 0.5, base 100: 50, 100, then the third failure opens the circuit: wait its 10 s.
    expect(time.delays).toEqual([50]);
    worker.kick(); // a write during the backoff must not hammer the database
    await worker.whenIdle();
    expect(breaker.consecutiveFailures).toBe(1);
    expect(time.fireNext()).toBe(50);
    await worker.whenIdle();
    expect(time.delays).toEqual([100]);
    expect(time.fireNext()).toBe(100);
    await worker.whenIdle();
    expect(breaker.state).toBe("open");
    expect(time.delays).toEqual([10_000]);

    lock.release();
    expect(time.fireNext()).toBe(10_000); // the half-open probe
    await worker.whenIdle();
    expect(breaker.state).toBe("closed");
    expect((await sink.snapshot()).balances).toEqual({ amy: 5 });
    expect(time.delays).toEqual([5000]);

    // A kick (a new write) runs a pass at once and restarts the interval.
    await store.accept(...credit("amy", 1, "op-2"));
    worker.kick();
    await worker.whenIdle();
    expect((await sink.snapshot()).balances).toEqual({ amy: 6 });
    expect(time.delays).toEqual([5000]);

    await worker.stop();
    expect(time.delays).toEqual([]);
    expect(worker.isRunning).toBe(false);
  });

  it("an entry the database refuses is retried with backoff, holding later entries back, then marked FAILED with its error after maxRetries and an alert", async () => {
    const capture = captureLogger();
    const { store, sink, worker, time } = await rig({ maxRetries: 3, logger: capture.logger });
    await store.accept("trade.log", { tradeId: "t1", px: 1 });
    const { entry: clash } = await store.accept("trade.log", { tradeId: "t1", px: 2 }); // same trade id, other args
    const { entry: after } = await store.accept(...credit("amy", 5, "op-1"));

    expect(await worker.syncOnce()).toEqual({
      applied: 1,
      duplicates: 0,
      failed: 0,
      remaining: 2,
      stopped: "entry-error",
    });
    expect(await worker.syncOnce()).toEqual({
      applied: 0,
      duplicates: 0,
      failed: 0,
      remaining: 2,
      stopped: "entry-error",
    });
    expect(store.get(clash.id)?.status).toMatchObject({
      status: "PENDING",
      attempts: 2,
      error: expect.stringMatching(/UNIQUE constraint failed: trades.trade_id/),
    });
    expect(store.get(after.id)?.status.status).toBe("PENDING"); // n order: it waits behind the refused entry

    expect(await worker.syncOnce()).toEqual({ applied: 1, duplicates: 0, failed: 1, remaining: 0, stopped: null });
    expect(store.get(clash.id)?.status).toMatchObject({ status: "FAILED", attempts: 3 });
    expect(store.get(after.id)?.status.status).toBe("COMPLETED");
    expect((await sink.snapshot()).balances).toEqual({ amy: 5 });
    expect(capture.lines.filter((l) => l.alert === "outbox.entry-failed")).toEqual([
      expect.objectContaining({ id: clash.id, attempts: 3, type: "trade.log" }),
    ]);

    // In the loop, the retry waits out a backoff that grows with the attempt count.
    await store.accept("trade.log", { tradeId: "t1", px: 3 });
    worker.start();
    await worker.whenIdle();
    expect(time.delays).toEqual([50]); // attempt 1: 0.5 * 100
    time.fireNext();
    await worker.whenIdle();
    expect(time.delays).toEqual([100]); // attempt 2: 0.5 * 200
  });
});
