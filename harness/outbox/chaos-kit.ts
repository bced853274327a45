import type { AdapterLaunch } from "../engine/adapter-launch.js";
import type { ChaosOp } from "./chaos-ops.js";
import type { ChaosSink, SinkTarget } from "./chaos-sink.js";
import { Violation, WalcheckError } from "../protocol/errors.js";
import type { OutboxClient } from "../protocol/outbox-client.js";
import type { OpenConfig, OutboxHello, OutboxStatsAnswer, SinkSnapshotAnswer } from "../protocol/outbox-messages.js";
import { checkSink, type WriteLedger } from "./sink-check.js";

// What the outbox chaos scenarios (scenarios/outbox/) share: the context the chaos command
// gives them, the record each fills in for the report, and the steps every one of them takes
// (writes into a ledger, syncs to an empty queue, the final check).

/** How to start the outbox under test: as an adapter is started (`node`: the fs preload of wal-full can reach its writes). */
export type OutboxLaunch = Omit<AdapterLaunch, "env">;

export interface ChaosContext {
  launch: OutboxLaunch;
  hello: OutboxHello;
  sink: SinkTarget;
  /** --ops: how many operations a scenario writes (sink-outage: during the outage). */
  ops: number;
  seed: number;
  timeoutMs: number;
  signal: AbortSignal;
  /** A new empty directory under the run's temp directory (removed with it). */
  tempDir(name: string): Promise<string>;
  /** Start the outbox with extra environment; it is killed when its scenario ends or the run is interrupted. */
  start(env?: Record<string, string | undefined>): OutboxClient;
  /** A progress line (stderr). */
  log(line: string): void;
  /** Copy an outbox directory (its WAL, and a SQLite sink's file) into the report directory; where it went. */
  keep(dir: string, name: string): string;
}

export type ScenarioStatus = "passed" | "failed" | "error" | "skipped" | "interrupted";

/** What one scenario did, for report.json (reports/outbox-report-schema.ts) and the summary. */
export type ScenarioRecord = {
  name: string;
  status: ScenarioStatus;
  /** Why it was skipped. */
  reason?: string;
  violation?: { invariant: string; message: string; where?: string; also?: string[]; kept?: string };
  error?: { code: string; message: string };
  ops: { sent: number; accepted: number; refused: number };
  /** Entries in the database at the end (summed over the scenario's outbox directories). */
  applied: number;
  /** Entries the sink recognised by key and did not apply again, in the syncs after a restart or an outage. */
  duplicatesOnReplay: number;
  /** SIGKILLs seen, by crash point. */
  crashes: Record<string, number>;
  /** Crash arms the outbox never reached (it finished its writes and syncs alive). */
  armsNotReached: number;
  /** Sync passes sent. */
  passes: number;
  timingsMs: Record<string, number>;
  figures?: Figures;
  details: Record<string, unknown>;
};

export type Figures = {
  /** Ops applied per second by one sync pass with the database up (sink-outage's warm-up). */
  syncThroughput: { ops: number; ms: number; opsPerSec: number };
  /** The queue built during the outage, and how long the syncs after it took to drain it. */
  catchUp: { queuedOps: number; ms: number; opsPerSec: number };
};

export function newRecord(name: string): ScenarioRecord {
  return {
    name,
    status: "passed",
    ops: { sent: 0, accepted: 0, refused: 0 },
    applied: 0,
    duplicatesOnReplay: 0,
    crashes: {},
    armsNotReached: 0,
    passes: 0,
    timingsMs: {},
    details: {},
  };
}

/** An invariant the outbox broke (exactly once, in order, durability, ...): the scenario fails (exit 1). */
export class ChaosViolation extends Violation {
  override readonly name = "ChaosViolation";
  /** Where the outbox directory of the violation was kept (report directory). */
  kept: string | undefined;
  constructor(
    invariant: string,
    message: string,
    readonly where?: string,
    /** Other invariants the same state breaks. */
    readonly also: string[] = [],
  ) {
    super(invariant, message);
  }
}

/**
 * Run `fn` on a new outbox directory and a fresh database for it (`outage: true`: one that can
 * be made unreachable). On a violation the directory is kept (report directory) for a person to
 * look at; the database is disposed of either way.
 */
export async function inFreshDir<T>(
  ctx: ChaosContext,
  name: string,
  options: { outage?: boolean },
  fn: (dir: string, sink: ChaosSink) => Promise<T>,
): Promise<T> {
  const dir = await ctx.tempDir(name);
  const sink = await ctx.sink.fresh(dir, options);
  try {
    return await fn(dir, sink);
  } catch (error) {
    if (error instanceof ChaosViolation && error.kept === undefined) error.kept = ctx.keep(dir, name);
    throw error;
  } finally {
    await sink.dispose();
  }
}

/** The outbox did something walcheck cannot judge (an unexpected death, a refused open): the scenario errs (exit 2). */
export class ChaosOutboxError extends WalcheckError {
  override readonly name = "ChaosOutboxError";
  constructor(code: string, message: string) {
    super(code, message);
  }
}

/** `open` the outbox directory `dir` on `sink`; a refusal is an outbox error. */
export async function openOutbox(
  client: OutboxClient,
  dir: string,
  sink: { spec: string; config: OpenConfig },
  config: OpenConfig = {},
): Promise<OutboxStatsAnswer> {
  const reply = await client.request("open", { dir, sink: sink.spec, config: { ...config, ...sink.config } });
  if (!reply.ok)
    throw new ChaosOutboxError(
      `OUTBOX_${reply.error.code}`,
      `the outbox refused to open ${dir}: ${reply.error.code}: ${reply.error.message}`,
    );
  const { ok: _ok, ...stats } = reply;
  return stats;
}

export type WriteOutcome =
  { accepted: true; n: number; key: string } | { accepted: false; code: string; message: string };

/**
 * Write `op` and note the answer in the ledger. A new operation answered `duplicate: true`, or
 * with a key another operation already has, is a violation: the outbox would drop it.
 */
export async function writeOp(
  client: OutboxClient,
  op: ChaosOp,
  ledger: WriteLedger,
  rec: ScenarioRecord,
): Promise<WriteOutcome> {
  rec.ops.sent += 1;
  let reply;
  try {
    reply = await client.request("write", { type: op.type, args: op.args });
  } catch (error) {
    ledger.unanswered.push(op);
    throw error;
  }
  if (!reply.ok) {
    rec.ops.refused += 1;
    ledger.refused.push({ op, code: reply.error.code, message: reply.error.message });
    return { accepted: false, code: reply.error.code, message: reply.error.message };
  }
  if (reply.status !== "accepted")
    throw new ChaosViolation(
      "accepted-critical",
      `a critical write (${op.type}) was answered ${JSON.stringify(reply.status)}, not "accepted": it never went through the WAL`,
    );
  const earlier = ledger.acknowledged.get(reply.idempotencyKey);
  if (reply.duplicate || earlier) {
    throw new ChaosViolation(
      "distinct-keys",
      `a new operation (${op.type} opId ${String(op.args.opId)}) was answered duplicate=${reply.duplicate} with key ${reply.idempotencyKey}${earlier ? `, the key of opId ${String(earlier.op.args.opId)}` : ""}: the outbox took it for an earlier operation and would never apply it`,
    );
  }
  rec.ops.accepted += 1;
  ledger.acknowledged.set(reply.idempotencyKey, { op, n: reply.n, entryId: reply.entryId });
  return { accepted: true, n: reply.n, key: reply.idempotencyKey };
}

/** Write `ops` with up to `window` writes in flight (they share the WAL's group commits); the outcomes in order. */
export async function writeMany(
  client: OutboxClient,
  ops: ChaosOp[],
  ledger: WriteLedger,
  rec: ScenarioRecord,
  window = 32,
): Promise<WriteOutcome[]> {
  const outcomes: WriteOutcome[] = [];
  for (let i = 0; i < ops.length; i += window) {
    outcomes.push(...(await Promise.all(ops.slice(i, i + window).map((op) => writeOp(client, op, ledger, rec)))));
  }
  return outcomes;
}

/** The timeout of a sync of `queued` entries: --timeout per started 1,000 entries. */
export function syncTimeout(ctx: ChaosContext, queued: number): number {
  return ctx.timeoutMs * Math.max(1, Math.ceil(queued / 1000));
}

/**
 * `sync` until stats show nothing PENDING or SYNCING, at most `maxPasses` passes (an outage's
 * first pass may still meet a dead connection). Still queued after that: nothing-stuck fails.
 */
export async function syncUntilEmpty(
  ctx: ChaosContext,
  client: OutboxClient,
  rec: ScenarioRecord,
  maxPasses = 10,
): Promise<{ applied: number; duplicates: number; passes: number; stats: OutboxStatsAnswer }> {
  const total = { applied: 0, duplicates: 0, passes: 0 };
  let stats = await client.call("stats", {});
  let last = "";
  while (stats.pending + stats.syncing > 0) {
    if (total.passes >= maxPasses) {
      throw new ChaosViolation(
        "nothing-stuck",
        `after ${total.passes} sync passes ${stats.pending + stats.syncing} entries are still queued (PENDING ${stats.pending}, SYNCING ${stats.syncing}; the last pass: ${last})`,
      );
    }
    const reply = await client.request("sync", {}, { timeoutMs: syncTimeout(ctx, stats.pending + stats.syncing) });
    total.passes += 1;
    rec.passes += 1;
    if (reply.ok) {
      total.applied += reply.applied;
      total.duplicates += reply.duplicates;
      last = `applied ${reply.applied}, duplicates ${reply.duplicates}, failed ${reply.failed}, remaining ${reply.remaining}, stopped ${String(reply.stopped)}`;
    } else {
      last = `refused: ${reply.error.code}: ${reply.error.message}`;
    }
    stats = await client.call("stats", {});
  }
  return { ...total, stats };
}

/**
 * The end of every outbox directory's life: sync to empty, snapshot, close, and hold the
 * database to checkSink's invariants (the first one broken is thrown, the rest noted).
 */
export async function settleAndCheck(
  ctx: ChaosContext,
  client: OutboxClient,
  ledger: WriteLedger,
  rec: ScenarioRecord,
  where?: string,
): Promise<{ snapshot: SinkSnapshotAnswer; stats: OutboxStatsAnswer; duplicates: number }> {
  const synced = await syncUntilEmpty(ctx, client, rec);
  const snapshot = await client.call("snapshot", {});
  await client.close({ timeoutMs: ctx.timeoutMs });
  rec.applied += snapshot.applied.length;
  rec.duplicatesOnReplay += synced.duplicates;
  const broken = checkSink(ledger, snapshot, synced.stats);
  if (broken.length > 0) {
    throw new ChaosViolation(
      broken[0]!.invariant,
      broken[0]!.message,
      where,
      broken.slice(1).map((b) => `${b.invariant}: ${b.message}`),
    );
  }
  return { snapshot, stats: synced.stats, duplicates: synced.duplicates };
}

/**
 * Run `fn` over `items` with at most `limit` at once, in order; after a failure (or an abort)
 * no new item starts. Rethrows the failure of the lowest index: every item before it started
 * before it, so which failure a seed reports does not depend on timing.
 */
export async function eachLimited<T>(
  items: T[],
  limit: number,
  signal: AbortSignal,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const failures: { index: number; error: unknown }[] = [];
  const worker = async () => {
    while (failures.length === 0 && !signal.aborted && next < items.length) {
      const index = next++;
      try {
        await fn(items[index]!, index);
      } catch (error) {
        failures.push({ index, error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failures.length > 0) throw failures.sort((a, b) => a.index - b.index)[0]!.error;
}
