import path from "node:path";
import fc from "fast-check";
import { chaosOps } from "../../harness/outbox/chaos-ops.js";
import {
  ChaosOutboxError,
  eachLimited,
  inFreshDir,
  openOutbox,
  settleAndCheck,
  writeOp,
  type ChaosContext,
  type ScenarioRecord,
} from "../../harness/outbox/chaos-kit.js";
import type { ChaosSink } from "../../harness/outbox/chaos-sink.js";
import { OutboxFault } from "../../harness/protocol/outbox-client.js";
import { WriteLedger } from "../../harness/outbox/sink-check.js";

// crash-mid-sync: SIGKILL at every crash point the outbox names in hello.points (the reference:
// after-accept, after-syncing, after-sink-apply — between the database commit and the
// COMPLETED record — and after-completed), at its 1st, middle and last arrival.
//
// Each case: an outbox started with WALCHECK_CRASH_AT=<point>:<n> writes its operations one
// at a time, with a sync after every group of 1-3 (the groups drawn from the seed), until it
// dies; walcheck must see it killed by SIGKILL (any other end is an outbox error). A fresh
// outbox opens the same directory and syncs to an empty queue. Then: every acknowledged write
// applied exactly once, the write in flight at the crash applied once or not at all, nothing
// applied twice, nothing left PENDING or SYNCING, balances right, acceptance order kept.

/** Cases run two at a time (each is two outbox processes in turn). */
const PARALLEL = 2;

interface CaseOutcome {
  at: string;
  crashed: boolean;
  acknowledged: number;
  unanswered: number;
  applied: number;
}

export async function crashMidSync(ctx: ChaosContext, rec: ScenarioRecord): Promise<void> {
  const points = ctx.hello.points;
  if (points.length === 0) {
    rec.status = "skipped";
    rec.reason = "the outbox names no crash points in hello.points";
    return;
  }
  const writes = Math.max(3, Math.min(ctx.ops, 12));
  const arrivals = [...new Set([1, Math.ceil(writes / 2), writes])];
  const cases = points.flatMap((point) => arrivals.map((n) => ({ point, n })));
  const outcomes: CaseOutcome[] = [];
  try {
    await eachLimited(cases, PARALLEL, ctx.signal, async ({ point, n }, index) => {
      const name = `crash-mid-sync-${point}-${n}`.replace(/[^A-Za-z0-9.-]+/g, "_");
      const outcome = await inFreshDir(ctx, name, {}, (dir, sink) =>
        crashCase(ctx, rec, { point, n, index, writes, dir, sink }),
      );
      outcomes.push(outcome);
      ctx.log(
        `crash-mid-sync: case ${outcomes.length}/${cases.length} (${outcome.at}) ${outcome.crashed ? "SIGKILL seen" : "not reached"}, ${outcome.acknowledged} acknowledged, ${outcome.applied} applied after restart`,
      );
    });
  } finally {
    rec.details.cases = outcomes;
    rec.details.writesPerCase = writes;
  }
  if (Object.keys(rec.crashes).length === 0) {
    throw new ChaosOutboxError(
      "OUTBOX_NO_CRASH",
      `the outbox names crash points in hello.points but was never killed at one in ${cases.length} armed runs: it does not honour WALCHECK_CRASH_AT=<point>:<n>`,
    );
  }
}

/** One crash case: the armed outbox until it dies, then a fresh one to empty, then the checks. */
async function crashCase(
  ctx: ChaosContext,
  rec: ScenarioRecord,
  c: { point: string; n: number; index: number; writes: number; dir: string; sink: ChaosSink },
): Promise<CaseOutcome> {
  const at = `${c.point}:${c.n}`;
  const seed = (ctx.seed + 7919 * (c.index + 1)) >>> 0;
  const ops = chaosOps(seed, c.writes, `c${c.index}`);
  const groups = fc.sample(fc.integer({ min: 1, max: 3 }), { seed, numRuns: c.writes });
  const wal = path.join(c.dir, "wal");
  const ledger = new WriteLedger();
  const doomed = ctx.start({ WALCHECK_CRASH_AT: at });
  let crashed = false;
  try {
    await openOutbox(doomed, wal, c.sink);
    let inGroup = 0;
    for (const [i, op] of ops.entries()) {
      await writeOp(doomed, op, ledger, rec);
      if (++inGroup >= groups[i]! || i === ops.length - 1) {
        inGroup = 0;
        await doomed.call("sync", {});
        rec.passes += 1;
      }
    }
  } catch (error) {
    if (!(error instanceof OutboxFault) || error.fault !== "EXITED") throw error;
    const exit = await doomed.exited;
    if (exit.signal !== "SIGKILL") {
      const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${String(exit.exitCode)}`;
      throw new ChaosOutboxError(
        "OUTBOX_EXITED",
        `armed with WALCHECK_CRASH_AT=${at}, the outbox ${how} instead of SIGKILL:\n${error.message}`,
      );
    }
    crashed = true;
    rec.crashes[c.point] = (rec.crashes[c.point] ?? 0) + 1;
  }
  if (!crashed) {
    // Every write and sync done, the point never reached n times: a clean close instead.
    rec.armsNotReached += 1;
    await doomed.close({ timeoutMs: ctx.timeoutMs });
  }
  const fresh = ctx.start();
  await openOutbox(fresh, wal, c.sink);
  const { snapshot } = await settleAndCheck(ctx, fresh, ledger, rec, `crash at ${at}`);
  return {
    at,
    crashed,
    acknowledged: ledger.acknowledged.size,
    unanswered: ledger.unanswered.length,
    applied: snapshot.applied.length,
  };
}
