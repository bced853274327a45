// Verifies: what a case's WAL must hold given the batches walcheck sent and the acks it got
// (the prefix model: durability, atomicity, sequence), after a crash, a clean reopen or a
// simulated power loss, and in a live read; that acks carry the seq the batch must get (and,
// on request, that no batch is acked after one that failed); that `open` recovered at all,
// within the recovery-time threshold; that `check` answered ["ok"] (integrity). It keeps the
// ledger of acked, failed and in-flight batches and the crash that later violations are
// reported after, and builds the InvariantViolation a person reads.
// Does not verify: latency levels (latency-stats.ts), recovery time against WAL size
// (recovery-by-size.ts), which batches a power cut had acknowledged (faults/power), the
// scenarios' own invariants (a scenario's `onRecovered` hook and its own checks), the
// protocol's shape (protocol/). It knows nothing about processes: it judges the answers it is
// handed, and never sends a request.

import type { BatchOp } from "../protocol/messages.js";
import { Ledger, type LedgerEntry } from "./ledger.js";
import { PrefixModel, type KeyDiff } from "./prefix-model.js";
import { InvariantViolation, type CrashInfo, type Invariant } from "./violation.js";

/** An invariant that does not hold, before it is reported (with the crash and the ledger) as an InvariantViolation. */
export interface Finding {
  invariant: Invariant;
  message: string;
  diff: KeyDiff[];
}

/** A state read: the recovered (or live) WAL as `read` answered it. */
export type StateRead = { lastSeq: number; state: Record<string, string> } & Record<string, unknown>;

/** A whole recovery of a directory as one answer: `open` refused, or what `read` (and `check`, if run) answered. */
export type RecoveryAnswer =
  | { open: "failed"; code: string; message: string }
  | { open: "ok"; lastSeq: number; state: Record<string, string>; check?: string[] };

export interface CheckerOptions {
  /** A recovery (the adapter's own figure, else the round trip) longer than this is a `recovery-time` violation. */
  recoveryThresholdMs?: number;
}

/** `open` refused to recover: `where` says what was being recovered, for a person. */
export function openFinding(error: { code: string; message: string }, where?: string): Finding {
  return {
    invariant: "recovery",
    message: `open failed${where ? ` ${where}` : ""}: ${error.code}: ${error.message}`,
    diff: [],
  };
}

/** `check` must answer exactly ["ok"]; `after` says after what, for a person. */
export function checkFinding(result: string[], after?: string): Finding | undefined {
  if (result.length === 1 && result[0] === "ok") return undefined;
  return {
    invariant: "integrity",
    message: `check answered ${JSON.stringify(result)}${after ? ` ${after}` : ""}`,
    diff: [],
  };
}

/**
 * The checker of one case: the prefix model of the batches sent, their ledger, and the crash
 * the next recovered state follows. Methods named after what happened (`send`, `acked`,
 * `crashed`, `recovered`, ...) record it and throw an InvariantViolation when an invariant
 * does not hold; `judge*` methods answer a Finding instead, and throw nothing.
 */
export class CaseChecker {
  readonly model = new PrefixModel();
  readonly ledger = new Ledger();
  /** Called with every state read (after recovery and live), before the prefix model judges it: a scenario's own invariants. */
  onRecovered: ((read: StateRead) => void) | undefined;
  private crash: CrashInfo | undefined;
  private fault: string | undefined;

  constructor(private readonly o: CheckerOptions = {}) {}

  /**
   * A checker for a life that sent `sent` (batch b gets seq b + 1) and had every batch up to
   * seq `acked` acknowledged: what a recovery of a state cut at that moment is held to.
   */
  static after(sent: BatchOp[][], acked: number): CaseChecker {
    const checker = new CaseChecker();
    for (const ops of sent) {
      const entry = checker.send(ops, 1);
      if (entry.seq <= acked) entry.status = "acked";
    }
    if (acked > 0) checker.model.ack(acked);
    return checker;
  }

  // --- batches ---

  /** A batch sent in process life `life`: the model owes it seq `entry.seq` once acknowledged. */
  send(ops: BatchOp[], life: number): LedgerEntry {
    const seq = this.model.send(ops);
    return this.ledger.record(seq, ops, life);
  }

  /** The adapter acknowledged `entry` (by `op`) with seq `answeredSeq`: it must be the batch's own. */
  acked(entry: LedgerEntry, answeredSeq: number, op: "append" | "transaction"): void {
    if (answeredSeq !== entry.seq)
      this.fail("sequence", `${op} acknowledged seq ${answeredSeq}, expected ${entry.seq}`);
    entry.status = "acked";
    this.model.ack(entry.seq);
  }

  /** The adapter refused `entry` (ok:false): indeterminate, the recovered prefix decides. */
  refused(entry: LedgerEntry): void {
    entry.status = "failed";
  }

  /**
   * The acks of one pipelined burst, in the order they arrive. With `rule` (what failed, for
   * the message), no batch after a failed one may be acknowledged, in either arrival order.
   */
  ackOrder(rule: string | undefined): { failed(seq: number): void; acked(seq: number): void } {
    let firstFailed = Infinity;
    let lastAcked = 0;
    const strict = () => {
      if (rule && lastAcked > firstFailed) {
        this.fail(
          "no-ack-after-fsync-error",
          `batch ${lastAcked} was acknowledged after batch ${firstFailed} failed (${rule}): a later ack can only be honest after recovery`,
        );
      }
    };
    return {
      failed: (seq) => {
        firstFailed = Math.min(firstFailed, seq);
        strict();
      },
      acked: (seq) => {
        lastAcked = Math.max(lastAcked, seq);
        strict();
      },
    };
  }

  // --- what happened to the directory ---

  /** The crash later violations are reported after (undefined: the last life closed cleanly). */
  get lastCrash(): CrashInfo | undefined {
    return this.crash;
  }

  /** The last fault or tampering of the case, named in violations found lives later. */
  get faultNote(): string | undefined {
    return this.fault;
  }

  /** A process died (`at` says how): whatever was in flight is lost-in-crash, and may or may not have survived. */
  crashed(at: CrashInfo): void {
    this.crash = at;
    this.ledger.crashed();
  }

  /** A clean close: every acknowledged batch must survive it exactly. */
  closedCleanly(): void {
    this.crash = undefined;
  }

  /** Say what was done to the directory, for a violation found after it (a torn tail, a flipped bit). */
  tampered(at: CrashInfo): void {
    this.crash = at;
    this.fault = at.at;
  }

  /** The crash that later violations are reported after: a power loss walcheck simulated (`at` says where and how). */
  simulatedCrash(at: string): void {
    this.crash = { kind: "power", at };
  }

  // --- recovered and live states ---

  /** `open` refused to recover the directory: a violation. */
  openRefused(error: { code: string; message: string }): never {
    this.report(openFinding(error));
  }

  /** A recovery took `ms`: over the threshold is a violation. */
  recoveryTook(ms: number): void {
    const threshold = this.o.recoveryThresholdMs;
    if (threshold !== undefined && ms > threshold)
      this.fail("recovery-time", `recovery took ${ms.toFixed(1)} ms, over the ${threshold} ms threshold`);
  }

  /**
   * The state read after a recovery (`openedSeq`: the lastSeq `open` answered, if any): it
   * must agree with open, pass the scenario's hook, and be a prefix the model allows.
   */
  recovered(read: StateRead, openedSeq?: number): void {
    if (openedSeq !== undefined && read.lastSeq !== openedSeq)
      this.fail("sequence", `open said lastSeq ${openedSeq}, read says ${read.lastSeq}`);
    this.onRecovered?.(read);
    const finding = this.judgeState(read);
    if (finding) this.report(finding);
  }

  /** A read in the middle of a workload: the state must be exactly what was acknowledged. */
  liveRead(read: StateRead): void {
    this.onRecovered?.(read);
    const finding = this.judgeState(read);
    if (finding) this.fail(finding.invariant, `live read: ${finding.message}`, finding.diff);
    if (read.lastSeq !== this.model.lastAcked)
      this.fail(
        "sequence",
        `live read says lastSeq ${read.lastSeq}, ${this.model.lastAcked} batches were acknowledged`,
      );
  }

  /** What `check` answered: anything but ["ok"] is an integrity violation. */
  checked(result: string[]): void {
    const finding = checkFinding(result);
    if (finding) this.report(finding);
  }

  /** The recovered prefix `lastSeq` becomes the base; batches after it were lost (allowed: unacknowledged). */
  settle(lastSeq: number): void {
    this.model.settle(lastSeq);
  }

  /** Judge a state read against the prefix model. */
  judgeState(read: { lastSeq: number; state: Record<string, string> }): Finding | undefined {
    const v = this.model.judge(read.lastSeq, read.state);
    return v.status === "violation" ? { invariant: v.invariant, message: v.message, diff: v.diff } : undefined;
  }

  /**
   * Judge a whole recovery answered at once (open, read, check): the first invariant that does
   * not hold. `notes` complete the messages: what the directory was, what the check came after.
   */
  judgeRecovery(r: RecoveryAnswer, notes: { openFailed?: string; checkAfter?: string } = {}): Finding | undefined {
    if (r.open === "failed") return openFinding(r, notes.openFailed);
    return this.judgeState(r) ?? (r.check ? checkFinding(r.check, notes.checkAfter) : undefined);
  }

  // --- violations ---

  /** An invariant that does not hold, reported with the case's last crash (or fault) and the ledger's tail. */
  fail(invariant: Invariant, message: string, diff: KeyDiff[] = []): never {
    const crash =
      this.crash ??
      (this.fault
        ? { kind: "fault" as const, at: `${this.fault} (in an earlier life of this case; then a clean close)` }
        : undefined);
    throw new InvariantViolation(invariant, message, crash, diff, this.ledger.tail());
  }

  /** Report a finding as a violation. */
  report(finding: Finding): never {
    this.fail(finding.invariant, finding.message, finding.diff);
  }
}
