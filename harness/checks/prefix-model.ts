// The prefix model: what a WAL may hold after a crash, given the batches walcheck sent and
// the ones it saw acknowledged.
//
// Verifies: that a recovered (lastSeq, state) is the state after exactly the first lastSeq
// batches, for some lastSeq between the last acknowledged batch and the last sent one.
// Reports durability (lastSeq below the last ack), sequence (lastSeq beyond what was sent, or
// a state that is some other prefix than the one lastSeq names) and atomicity (a state that is
// no prefix at all: half a batch, a batch without the one before it, a changed value).
// `diffStates` names every key that differs, for the violation.
//
// Does not verify: that `check` answers ["ok"] (the integrity invariant is the caller's:
// CaseChecker, for cases and power-loss states alike); that open succeeds or is fast enough
// (recovery, recovery-time: CaseChecker); that an ack carries the expected seq, or that a live
// read is exactly the acknowledged prefix (CaseChecker). It knows batches only:
// a transaction is the one batch of its surviving writes (netOps), its rollback is checked by
// the transactions scenario, and checkpoints, rotation and truncation change no expected state.

import type { BatchOp } from "../protocol/messages.js";

/** How a recovered state compares with the batches that were sent. */
export type Verdict =
  | { status: "ok"; k: number }
  | { status: "violation"; invariant: "durability" | "sequence" | "atomicity"; message: string; diff: KeyDiff[] };

export interface KeyDiff {
  key: string;
  expected: string | null;
  recovered: string | null;
}

/**
 * The prefix model of the protocol: batches are numbered by the seq they must get; after
 * a crash the recovered WAL must hold exactly the first k of them, for some k at least
 * the last acknowledged one. `settle(k)` makes the recovered prefix the new base.
 */
export class PrefixModel {
  private base = new Map<string, string>();
  private baseSeq = 0;
  private sent: BatchOp[][] = [];
  private ackedSeq = 0;

  get lastAcked(): number {
    return this.ackedSeq;
  }

  get lastSent(): number {
    return this.baseSeq + this.sent.length;
  }

  /** Record a batch sent; returns the seq it must get. */
  send(ops: BatchOp[]): number {
    this.sent.push(ops);
    return this.lastSent;
  }

  ack(seq: number): void {
    this.ackedSeq = Math.max(this.ackedSeq, seq);
  }

  /** Batch `seq` and the ones after it are not owed: walcheck itself tore `seq` after its ack (a torn-tail scenario models its write as never finished). */
  retract(seq: number): void {
    this.ackedSeq = Math.max(this.baseSeq, Math.min(this.ackedSeq, seq - 1));
  }

  /** The state after the first k batches. */
  stateAt(k: number): Map<string, string> {
    if (k < this.baseSeq || k > this.lastSent)
      throw new RangeError(`no model state at seq ${k} (base ${this.baseSeq}, sent ${this.lastSent})`);
    const state = new Map(this.base);
    for (const ops of this.sent.slice(0, k - this.baseSeq)) {
      for (const op of ops) {
        if (op.value === null) state.delete(op.key);
        else state.set(op.key, op.value);
      }
    }
    return state;
  }

  /** Judge a recovered (lastSeq, state) against the invariants. */
  judge(lastSeq: number, state: Record<string, string>): Verdict {
    const recovered = new Map(Object.entries(state));
    if (lastSeq < this.ackedSeq) {
      const expected = this.stateAt(this.ackedSeq);
      return {
        status: "violation",
        invariant: "durability",
        message: `recovered lastSeq ${lastSeq} but batch ${this.ackedSeq} was acknowledged`,
        diff: diffStates(expected, recovered),
      };
    }
    if (lastSeq > this.lastSent) {
      return {
        status: "violation",
        invariant: "sequence",
        message: `recovered lastSeq ${lastSeq} but only ${this.lastSent} batches were sent`,
        diff: [],
      };
    }
    const expected = this.stateAt(lastSeq);
    const diff = diffStates(expected, recovered);
    if (diff.length === 0) return { status: "ok", k: lastSeq };
    for (let k = this.ackedSeq; k <= this.lastSent; k++) {
      if (k !== lastSeq && diffStates(this.stateAt(k), recovered).length === 0) {
        return {
          status: "violation",
          invariant: "sequence",
          message: `state is the state after ${k} batches but lastSeq says ${lastSeq}`,
          diff,
        };
      }
    }
    return {
      status: "violation",
      invariant: "atomicity",
      message: `recovered state (lastSeq ${lastSeq}) is not the state after any prefix of ${this.ackedSeq}..${this.lastSent} batches`,
      diff,
    };
  }

  /** The recovered prefix k becomes the base; batches after it were lost (allowed: unacknowledged). */
  settle(k: number): void {
    this.base = this.stateAt(k);
    this.baseSeq = k;
    this.sent = [];
    this.ackedSeq = k;
  }
}

export function diffStates(expected: Map<string, string>, recovered: Map<string, string>): KeyDiff[] {
  const diff: KeyDiff[] = [];
  for (const [key, value] of expected) {
    const got = recovered.get(key);
    if (got !== value) diff.push({ key, expected: value, recovered: got ?? null });
  }
  for (const [key, value] of recovered) if (!expected.has(key)) diff.push({ key, expected: null, recovered: value });
  return diff.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
