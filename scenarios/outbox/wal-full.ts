import path from "node:path";
import { FS_PRELOAD } from "../../harness/faults/fs-preload-path.js";
import { chaosOps, describeOp } from "../../harness/outbox/chaos-ops.js";
import {
  ChaosOutboxError,
  ChaosViolation,
  inFreshDir,
  openOutbox,
  settleAndCheck,
  writeOp,
  type ChaosContext,
  type ScenarioRecord,
} from "../../harness/outbox/chaos-kit.js";
import type { ChaosSink } from "../../harness/outbox/chaos-sink.js";
import { WriteLedger } from "../../harness/outbox/sink-check.js";

// wal-full: the outbox's WAL disk fills. The outbox runs under walcheck's fs preload with
// WALCHECK_FS_FAULT=enospc:<bytes> (harness/faults/fs-preload.ts): after that many bytes every
// write(2) its Node code makes fails with a real ENOSPC (the database's own I/O is not Node's
// fs and stays healthy). Writes go in one at a time, with a sync after every third accepted
// one, until the first refusal; then 5 more writes.
//
//   refusal       every write once the WAL could not be written is refused with OUTBOX_HALTED
//                 and a message: never accepted (nothing accepted without durability)
//   halt-visible  stats then say halted
//   then          a fresh outbox without the fault opens the directory and syncs to an
//                 empty queue: every accepted write applied exactly once, no refused write
//                 applied, nothing stuck, balances right

/** Writes after the first refusal, each of which must be refused too. */
const AFTER_HALT = 5;

export async function walFull(ctx: ChaosContext, rec: ScenarioRecord): Promise<void> {
  if (!ctx.launch.node) {
    rec.status = "skipped";
    rec.reason =
      'the outbox is not started by node, so the fs preload cannot fill its disk (give --outbox-cmd "node …")';
    return;
  }
  return inFreshDir(ctx, "wal-full", {}, (dir, sink) => fullLife(ctx, rec, dir, sink));
}

async function fullLife(ctx: ChaosContext, rec: ScenarioRecord, dir: string, sink: ChaosSink): Promise<void> {
  // 4-8 KiB: the reference outbox fills it after 5 to 15 accepted writes.
  const budget = 4096 + (ctx.seed % 5) * 1024;
  rec.details.enospcAfterBytes = budget;
  const ops = chaosOps(ctx.seed, Math.max(ctx.ops, 60) + AFTER_HALT, "full");
  const wal = path.join(dir, "wal");
  const ledger = new WriteLedger();
  const full = ctx.start({
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${FS_PRELOAD}`.trim(),
    WALCHECK_FS_FAULT: `enospc:${budget}`,
  });
  await openOutbox(full, wal, sink);
  let haltedAt: string | undefined;
  let afterHalt = 0;
  for (const op of ops) {
    if (haltedAt && afterHalt >= AFTER_HALT) break;
    const outcome = await writeOp(full, op, ledger, rec);
    if (haltedAt) afterHalt += 1;
    if (outcome.accepted) {
      if (haltedAt) {
        throw new ChaosViolation(
          "no-accept-when-full",
          `write ${describeOp(op)} was accepted (n=${outcome.n}) after the WAL's disk filled (${haltedAt}): nothing may be accepted without durability`,
        );
      }
      if (rec.ops.accepted % 3 === 0) {
        const reply = await full.request("sync", {});
        rec.passes += 1;
        if (!reply.ok) haltedAt = `a sync was refused: ${reply.error.code}: ${reply.error.message}`;
      }
      continue;
    }
    if (outcome.code !== "OUTBOX_HALTED" || outcome.message.trim() === "") {
      throw new ChaosViolation(
        "refused-halted",
        `with the WAL's disk full, write ${describeOp(op)} was refused with ${outcome.code}: ${JSON.stringify(outcome.message)}; expected OUTBOX_HALTED and a message saying why`,
      );
    }
    haltedAt ??= `write ${describeOp(op)} refused: ${outcome.message}`;
  }
  rec.details.haltedAt = haltedAt ?? null;
  if (!haltedAt) {
    // The outbox never noticed: either its writes are not Node fs calls (nothing to judge), or
    // it accepted writes it could not make durable, which the check after a restart finds.
    await full.close({ timeoutMs: ctx.timeoutMs });
    const fresh = ctx.start();
    await openOutbox(fresh, wal, sink);
    await settleAndCheck(ctx, fresh, ledger, rec, "after a restart");
    throw new ChaosOutboxError(
      "OUTBOX_NO_FILL",
      `the WAL's disk never filled: ${rec.ops.accepted} writes accepted and synced within an ENOSPC budget of ${budget} bytes, so the outbox's writes are not Node fs calls the preload can fail`,
    );
  }
  const stats = await full.call("stats", {});
  if (!stats.halted)
    throw new ChaosViolation(
      "halt-visible",
      "the outbox refused writes with OUTBOX_HALTED but its stats say halted: false",
    );
  ctx.log(
    `wal-full: halted after ${rec.ops.accepted} accepted writes (${budget} bytes), ${rec.ops.refused} writes refused`,
  );
  // A halted outbox may not close cleanly; its process ends either way.
  await full.request("close", {}).catch(() => undefined);
  await full.kill();

  const fresh = ctx.start();
  await openOutbox(fresh, wal, sink);
  await settleAndCheck(ctx, fresh, ledger, rec, "after a restart without the fault");
}
