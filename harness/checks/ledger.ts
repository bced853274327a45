// The acknowledgement ledger: every batch a case sent, and whether it was acked, refused, or
// in flight when the process died.
//
// Verifies: nothing. It is the record a violation prints (its tail), so a person can see the
// batches and acks that led to it.
//
// Does not verify: durability, atomicity or sequence (the prefix model judges recovered
// states from its own copy of the batches); the outbox's writes (WriteLedger in
// harness/outbox/sink-check.ts, which checkSink judges).

import type { BatchOp } from "../protocol/messages.js";

/** One batch walcheck sent, and what became of it. */
export interface LedgerEntry {
  /** The seq it must get: its position among the batches sent since the WAL was created. */
  seq: number;
  ops: BatchOp[];
  status: "in-flight" | "acked" | "failed" | "lost-in-crash";
  /** The process life it was sent in (1 for the first process). */
  life: number;
}

/**
 * The acknowledgement ledger of a case: every batch sent, acked, failed or in flight at a crash.
 * The outbox chaos driver keeps its own record, `WriteLedger` (harness/outbox/sink-check.ts):
 * its writes are keyed by the idempotency key the outbox assigns on acceptance, not by a seq.
 */
export class Ledger {
  readonly entries: LedgerEntry[] = [];

  record(seq: number, ops: BatchOp[], life: number): LedgerEntry {
    const entry: LedgerEntry = { seq, ops, status: "in-flight", life };
    this.entries.push(entry);
    return entry;
  }

  /** Everything still in flight when a process died. */
  crashed(): void {
    for (const e of this.entries) if (e.status === "in-flight") e.status = "lost-in-crash";
  }

  /** The last `n` entries, as lines a person can read in a violation. */
  tail(n = 10): string[] {
    return this.entries.slice(-n).map((e) => {
      const ops = e.ops.map(
        (o) =>
          `${o.key}=${o.value === null ? "∅" : JSON.stringify(o.value.length > 12 ? `${o.value.slice(0, 12)}…` : o.value)}`,
      );
      return `seq ${e.seq} [life ${e.life}] ${e.status}: ${ops.slice(0, 4).join(" ")}${ops.length > 4 ? ` (+${ops.length - 4} ops)` : ""}`;
    });
  }
}
