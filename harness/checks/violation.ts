// The names of the invariants and the error a broken one is reported with.
//
// Verifies: nothing. InvariantViolation carries what another check found (the invariant, the
// crash before it, the keys that differ, the ledger's tail) and `describe` prints it.
//
// Does not verify: any invariant; each is checked where its data is (the prefix model,
// CaseSession, the scenarios, the power-loss state check).

import { Violation } from "../protocol/errors.js";
import type { KeyDiff } from "./prefix-model.js";

/** The invariants of the protocol document, plus the recovery checks. */
export type Invariant =
  | "durability"
  | "atomicity"
  | "sequence"
  | "integrity"
  | "recovery"
  | "recovery-time"
  // The scenario catalogue's own:
  | "corruption-detected"
  | "torn-tail-reported"
  | "no-ack-after-fsync-error"
  | "clean-refusal"
  | "no-partial-files"
  | "exclusive-open"
  | "ack-after-fsync"
  | "rollback"
  | "event-order"
  | "deterministic-bytes"
  | "whole-file"
  | "no-loss-after-damage"
  | "no-loss-outside-damage"
  | "no-silent-change";

/** A crash as the harness caused it. */
export type CrashKind = "named" | "fs" | "signal" | "fault" | "power";

export interface CrashInfo {
  kind: CrashKind;
  /** Named point (`append.after-write:3`), fs call (`#12 before`), or the signal plan. */
  at: string;
}

/** An invariant of the WAL that did not hold: thrown inside a case so fast-check can shrink it. */
export class InvariantViolation extends Violation {
  override readonly name = "InvariantViolation";
  declare readonly invariant: Invariant;

  constructor(
    invariant: Invariant,
    message: string,
    readonly crash: CrashInfo | undefined,
    readonly diff: KeyDiff[],
    readonly ledgerTail: string[],
  ) {
    super(invariant, `${invariant}: ${message}`);
  }

  /** A person-readable account: what broke, after which crash, which keys differ, the last batches. */
  describe(): string {
    const lines = [`invariant ${this.invariant} violated: ${this.message.slice(this.invariant.length + 2)}`];
    lines.push(`  after crash: ${this.crash ? `${this.crash.kind} at ${this.crash.at}` : "none (clean run)"}`);
    for (const d of this.diff.slice(0, 12))
      lines.push(
        `  key ${JSON.stringify(d.key)}: expected ${JSON.stringify(d.expected)}, recovered ${JSON.stringify(d.recovered)}`,
      );
    if (this.diff.length > 12) lines.push(`  (+${this.diff.length - 12} more keys differ)`);
    if (this.ledgerTail.length > 0) lines.push("  ledger tail:", ...this.ledgerTail.map((l) => `    ${l}`));
    return lines.join("\n");
  }
}
