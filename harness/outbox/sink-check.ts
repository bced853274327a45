import { describeOp, expectedEffects, type ChaosOp } from "./chaos-ops.js";
import type { OutboxStatsAnswer, SinkSnapshotAnswer } from "../protocol/outbox-messages.js";

// The invariants every outbox scenario ends with, on what the database holds after a fresh
// outbox process synced to an empty queue: each acknowledged write applied exactly once by its
// idempotency key, in acceptance order, nothing applied that was refused, nothing stuck, and
// balances, trades and positions equal to those of the applied operations.

/**
 * What walcheck knows of the writes it sent one outbox directory: the input `checkSink` judges
 * the database against.
 *
 * Not the WAL campaign's `Ledger` (harness/checks/ledger.ts), though both record what was
 * acknowledged and what was in flight. That one lists WAL batches in the seq walcheck assigns
 * before sending, and only prints its tail in a violation; the prefix model does the judging.
 * Here the outbox assigns the idempotency key and acceptance number `n` when it accepts a
 * write, and those are what the invariants check (each key applied once, in order of `n`), so
 * writes are looked up by key; refused writes keep their error, and an unanswered write is
 * recorded when its request fails rather than by sweeping in-flight entries after a crash.
 */
export class WriteLedger {
  /** Writes answered accepted, by the idempotency key the outbox gave. */
  readonly acknowledged = new Map<string, { op: ChaosOp; n: number; entryId: string }>();
  /** Writes whose answer never came (the outbox died with them in flight): applied once or not at all. */
  readonly unanswered: ChaosOp[] = [];
  /** Writes answered ok:false. */
  readonly refused: { op: ChaosOp; code: string; message: string }[] = [];

  get sent(): number {
    return this.acknowledged.size + this.unanswered.length + this.refused.length;
  }
}

export interface SinkViolation {
  invariant: "nothing-stuck" | "exactly-once" | "no-phantom" | "acceptance-order" | "balances" | "effects";
  message: string;
}

/** Every invariant that `snapshot` and `stats` (after the final sync) break; empty when all hold. */
export function checkSink(
  ledger: WriteLedger,
  snapshot: SinkSnapshotAnswer,
  stats: OutboxStatsAnswer,
): SinkViolation[] {
  const out: SinkViolation[] = [];
  const queued = stats.pending + stats.syncing;
  if (queued > 0) {
    out.push({
      invariant: "nothing-stuck",
      message: `after the final sync ${queued} entr${queued === 1 ? "y is" : "ies are"} still queued (PENDING ${stats.pending}, SYNCING ${stats.syncing})`,
    });
  }

  const times = new Map<string, number>();
  for (const row of snapshot.applied) times.set(row.idempotencyKey, (times.get(row.idempotencyKey) ?? 0) + 1);
  for (const [key, count] of times) {
    if (count < 2) continue;
    const known = ledger.acknowledged.get(key);
    const what = known ? `${describeOp(known.op)}, acknowledged as n=${known.n}` : "a write whose answer never came";
    out.push({ invariant: "exactly-once", message: `idempotency key ${key} (${what}) was applied ${count} times` });
  }
  for (const [key, { op, n }] of ledger.acknowledged) {
    if (!times.has(key))
      out.push({
        invariant: "exactly-once",
        message: `acknowledged write ${describeOp(op)} (n=${n}, key ${key}) never reached the database`,
      });
  }

  const unknown = [...times.keys()].filter((k) => !ledger.acknowledged.has(k));
  if (unknown.length > ledger.unanswered.length) {
    const refused =
      ledger.refused.length > 0
        ? `; ${ledger.refused.length} write(s) were refused, and a refused write must never take effect`
        : "";
    out.push({
      invariant: "no-phantom",
      message: `${unknown.length} applied entr${unknown.length === 1 ? "y matches" : "ies match"} no acknowledged write (keys ${unknown.slice(0, 3).join(", ")}${unknown.length > 3 ? ", …" : ""}), but only ${ledger.unanswered.length} write(s) went unanswered${refused}`,
    });
  }

  let prev: { n: number; key: string } | undefined;
  for (const row of snapshot.applied) {
    const known = ledger.acknowledged.get(row.idempotencyKey);
    if (known && known.n !== row.n) {
      out.push({
        invariant: "acceptance-order",
        message: `${describeOp(known.op)} was acknowledged as n=${known.n} but applied as n=${row.n}`,
      });
      break;
    }
    if (prev && row.n <= prev.n && row.idempotencyKey !== prev.key) {
      out.push({
        invariant: "acceptance-order",
        message: `entry n=${row.n} (key ${row.idempotencyKey}) was applied after entry n=${prev.n}: the database must see entries in the order they were accepted`,
      });
      break;
    }
    prev = { n: row.n, key: row.idempotencyKey };
  }

  // The effects of what was applied: acknowledged writes, plus unanswered ones when every
  // unanswered write shows up (with one unanswered write at most, as the scenarios send them,
  // that is never a guess).
  const applied = [...ledger.acknowledged].filter(([key]) => times.has(key)).map(([, v]) => v.op);
  if (unknown.length > 0 && unknown.length !== ledger.unanswered.length) return out;
  if (unknown.length > 0) applied.push(...ledger.unanswered);
  // A doubled entry doubles its effect: the effects are then checked against one application
  // each, which is what a correct database holds.
  const want = expectedEffects(applied);
  const accounts = new Set([...want.balances.keys(), ...Object.keys(snapshot.balances)]);
  const wrong = [...accounts].filter((a) => (want.balances.get(a) ?? 0) !== (snapshot.balances[a] ?? 0));
  if (wrong.length > 0) {
    const list = wrong
      .map((a) => `${a}: database ${snapshot.balances[a] ?? 0}, sum of applied deltas ${want.balances.get(a) ?? 0}`)
      .join("; ");
    out.push({ invariant: "balances", message: `balances differ from the sum of the accepted deltas: ${list}` });
  }
  if (want.trades !== snapshot.trades || want.positions !== snapshot.positions) {
    out.push({
      invariant: "effects",
      message: `the database holds ${snapshot.trades} trades and ${snapshot.positions} positions; the applied operations make ${want.trades} and ${want.positions}`,
    });
  }
  return out;
}
