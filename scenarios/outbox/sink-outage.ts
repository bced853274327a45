import path from "node:path";
import { performance } from "node:perf_hooks";
import { chaosOps } from "../../harness/outbox/chaos-ops.js";
import {
  ChaosViolation,
  inFreshDir,
  openOutbox,
  settleAndCheck,
  syncTimeout,
  syncUntilEmpty,
  writeMany,
  type ChaosContext,
  type ScenarioRecord,
} from "../../harness/outbox/chaos-kit.js";
import type { ChaosSink } from "../../harness/outbox/chaos-sink.js";
import type { OpenConfig } from "../../harness/protocol/outbox-messages.js";
import { WriteLedger } from "../../harness/outbox/sink-check.js";

// sink-outage: the database goes away while trading goes on, then comes back.
//
//   warm-up      ceil(ops/10) writes and one sync pass with the database up: the sync
//                throughput figure (ops applied per second), and 2 non-critical writes
//                straight to the database when the outbox has feature "direct"
//   outage       SQLite: walcheck holds BEGIN EXCLUSIVE on the database; PostgreSQL: the
//                TCP proxy between outbox and server resets every connection. The background
//                worker runs (feature "worker") and a forced sync runs into the outage; `ops`
//                writes go in meanwhile and every one must be accepted (trading continues)
//   back         the outage ends; sync passes (at most 20) drain the queue: the catch-up
//                figure (queued ops, time to drain)
//   check        every accepted operation in the database exactly once by its idempotency
//                key, in acceptance order; balances, trades and positions those of the
//                accepted operations; nothing PENDING or SYNCING; the direct writes there

/** Open config: short timeouts so that the outage costs little, and a breaker that probes soon. */
function outageConfig(kind: "sqlite" | "postgres"): OpenConfig {
  const common: OpenConfig = {
    failureThreshold: 3,
    breakerResetMs: 25,
    syncIntervalMs: 25,
    backoffBaseMs: 5,
    backoffCapMs: 50,
    pendingAlertThreshold: 1_000_000,
  };
  return kind === "sqlite" ? { ...common, busyTimeoutMs: 20 } : { ...common, connectTimeoutMs: 2_000 };
}

const per = (ops: number, ms: number) => (ms > 0 ? (ops * 1000) / ms : 0);
const round1 = (x: number) => Math.round(x * 10) / 10;

export function sinkOutage(ctx: ChaosContext, rec: ScenarioRecord): Promise<void> {
  return inFreshDir(ctx, "sink-outage", { outage: true }, (dir, sink) => outageLife(ctx, rec, dir, sink));
}

async function outageLife(ctx: ChaosContext, rec: ScenarioRecord, dir: string, sink: ChaosSink): Promise<void> {
  const t0 = performance.now();
  const warm = Math.max(1, Math.ceil(ctx.ops / 10));
  const ops = chaosOps(ctx.seed, warm + ctx.ops, "out");
  const ledger = new WriteLedger();
  const features = new Set(ctx.hello.features);
  const client = ctx.start();
  await openOutbox(client, path.join(dir, "wal"), sink, outageConfig(ctx.sink.kind));

  // Warm-up, the database up.
  let direct = 0;
  if (features.has("direct")) {
    for (const i of [1, 2]) {
      const reply = await client.call("write", {
        type: "analytics.event",
        args: { event: "warm-up", i },
        critical: false,
      });
      if (reply.status !== "direct")
        throw new ChaosViolation(
          "direct-writes",
          `a non-critical write was answered ${JSON.stringify(reply.status)}, not "direct"`,
        );
      direct += 1;
    }
  }
  for (const o of await writeMany(client, ops.slice(0, warm), ledger, rec)) {
    if (!o.accepted)
      throw new ChaosViolation(
        "accepts-writes",
        `a critical write was refused with the database up and the disk fine: ${o.code}: ${o.message}`,
      );
  }
  const tSync = performance.now();
  const up = await client.call("sync", {}, { timeoutMs: syncTimeout(ctx, warm) });
  const syncMs = performance.now() - tSync;
  rec.passes += 1;
  rec.timingsMs.warmUp = performance.now() - t0;
  ctx.log(`sink-outage: warm-up: ${up.applied} ops applied by one sync pass in ${syncMs.toFixed(0)} ms`);

  // The outage: writes go on and must all be accepted.
  const tOutage = performance.now();
  const outage = await sink.outage();
  let queued: number;
  try {
    if (features.has("worker")) await client.call("start", {});
    const during = ops.slice(warm);
    for (const [i, o] of (await writeMany(client, during, ledger, rec)).entries()) {
      if (o.accepted) continue;
      const op = during[i]!;
      throw new ChaosViolation(
        "trading-continues",
        `write ${i + 1} of ${during.length} during the outage (${op.type} opId ${String(op.args.opId)}) was refused: ${o.code}: ${o.message}; critical writes must be accepted into the WAL while the database is down`,
      );
    }
    const forced = await client.call("sync", {}, { timeoutMs: syncTimeout(ctx, during.length) });
    rec.passes += 1;
    if (features.has("worker")) await client.call("stop", {});
    const mid = await client.call("stats", {});
    queued = mid.pending + mid.syncing;
    rec.details.outage = {
      writes: during.length,
      queued,
      forcedSync: forced,
      circuit: mid.circuit,
      sinkFailures: mid.totalFailures,
    };
    ctx.log(
      `sink-outage: ${during.length} writes accepted during the outage, ${queued} queued, circuit ${mid.circuit}, ${mid.totalFailures} sink failures`,
    );
  } finally {
    rec.timingsMs.outage = performance.now() - tOutage;
    await outage.end();
  }

  // Back: drain the queue (the catch-up figure: sync passes alone), then the checks.
  const tBack = performance.now();
  const drained = await syncUntilEmpty(ctx, client, rec, 20);
  const catchUpMs = (rec.timingsMs.catchUp = performance.now() - tBack);
  rec.duplicatesOnReplay += drained.duplicates;
  rec.details.catchUpPasses = drained.passes;
  const { snapshot } = await settleAndCheck(ctx, client, ledger, rec);
  if (snapshot.events !== direct)
    throw new ChaosViolation(
      "direct-writes",
      `${direct} non-critical writes were answered "direct", the database holds ${snapshot.events} events`,
    );
  rec.figures = {
    syncThroughput: { ops: up.applied, ms: round1(syncMs), opsPerSec: round1(per(up.applied, syncMs)) },
    catchUp: { queuedOps: queued, ms: round1(catchUpMs), opsPerSec: round1(per(queued, catchUpMs)) },
  };
}
