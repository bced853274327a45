import { describe, expect, it } from "vitest";
import { CaseChecker } from "../../harness/checks/case-checker.js";
import { InvariantViolation } from "../../harness/checks/violation.js";
import { judgeState } from "../../harness/faults/power/check-states.js";
import type { Recording } from "../../harness/faults/power/record-life.js";
import type { BatchOp } from "../../harness/protocol/messages.js";

// The case checker on its own, no processes: batches sent and acknowledged, crashes, and the
// states a recovery answered, judged into the violations a person reads in a report.

const put = (key: string, value: string | null): BatchOp => ({ key, value });
const SIGKILL = { kind: "signal" as const, at: "SIGKILL from walcheck" };

/** The violation `f` throws (the test fails if it throws nothing, or something else). */
function violationOf(f: () => void): InvariantViolation {
  try {
    f();
  } catch (error) {
    if (error instanceof InvariantViolation) return error;
    throw error;
  }
  throw new Error("expected an invariant violation, nothing was thrown");
}

/** A checker that sent `batches` in life 1 and got the first `acked` acknowledged. */
function sentAndAcked(batches: BatchOp[][], acked: number): CaseChecker {
  const checker = new CaseChecker();
  for (const ops of batches) {
    const entry = checker.send(ops, 1);
    if (entry.seq <= acked) checker.acked(entry, entry.seq, "append");
  }
  return checker;
}

describe("CaseChecker: a recovered state after a crash", () => {
  const batches = [[put("a", "1")], [put("b", "2")], [put("c", "3")]];

  it("an acknowledged batch missing is a durability violation, with the diff, the crash and the ledger", () => {
    const checker = sentAndAcked(batches, 2);
    checker.crashed(SIGKILL);
    const v = violationOf(() => checker.recovered({ lastSeq: 1, state: { a: "1" } }, 1));
    expect(v.invariant).toBe("durability");
    expect(v.message).toBe("durability: recovered lastSeq 1 but batch 2 was acknowledged");
    expect(v.crash).toEqual(SIGKILL);
    expect(v.diff).toEqual([{ key: "b", expected: "2", recovered: null }]);
    expect(v.ledgerTail).toEqual([
      'seq 1 [life 1] acked: a="1"',
      'seq 2 [life 1] acked: b="2"',
      'seq 3 [life 1] lost-in-crash: c="3"',
    ]);
    expect(v.describe().split("\n").slice(0, 3)).toEqual([
      "invariant durability violated: recovered lastSeq 1 but batch 2 was acknowledged",
      "  after crash: signal at SIGKILL from walcheck",
      '  key "b": expected "2", recovered null',
    ]);
  });

  it("an unacknowledged batch may be lost or kept; the recovered prefix becomes the base", () => {
    const lost = sentAndAcked(batches, 2);
    lost.crashed(SIGKILL);
    expect(() => lost.recovered({ lastSeq: 2, state: { a: "1", b: "2" } }, 2)).not.toThrow();
    lost.settle(2);
    // Batch 3 was lost: the next batch sent must get seq 3, and a later recovery must hold it once acked.
    const next = lost.send([put("d", "4")], 2);
    expect(next.seq).toBe(3);
    lost.acked(next, 3, "append");
    lost.crashed(SIGKILL);
    const v = violationOf(() => lost.recovered({ lastSeq: 3, state: { a: "1", b: "2", c: "3" } }));
    expect(v.invariant).toBe("atomicity");
    expect(v.diff).toEqual([
      { key: "c", expected: null, recovered: "3" },
      { key: "d", expected: "4", recovered: null },
    ]);

    const kept = sentAndAcked(batches, 2);
    kept.crashed(SIGKILL);
    expect(() => kept.recovered({ lastSeq: 3, state: { a: "1", b: "2", c: "3" } }, 3)).not.toThrow();
  });

  it("half a batch is an atomicity violation", () => {
    const checker = new CaseChecker();
    checker.send([put("x", "1"), put("y", "1")], 1);
    checker.crashed(SIGKILL);
    const v = violationOf(() => checker.recovered({ lastSeq: 1, state: { x: "1" } }));
    expect(v.invariant).toBe("atomicity");
    expect(v.message).toBe("atomicity: recovered state (lastSeq 1) is not the state after any prefix of 0..1 batches");
    expect(v.diff).toEqual([{ key: "y", expected: "1", recovered: null }]);
    // The same half batch under lastSeq 0 is not the empty state either.
    expect(violationOf(() => checker.recovered({ lastSeq: 0, state: { x: "1" } })).invariant).toBe("atomicity");
  });

  it("a lastSeq that disagrees with the state, with open, or with what was sent is a sequence violation", () => {
    const checker = sentAndAcked(batches, 1);
    checker.crashed(SIGKILL);
    expect(violationOf(() => checker.recovered({ lastSeq: 2, state: { a: "1", b: "2", c: "3" } })).message).toBe(
      "sequence: state is the state after 3 batches but lastSeq says 2",
    );
    expect(violationOf(() => checker.recovered({ lastSeq: 4, state: { a: "1" } })).message).toBe(
      "sequence: recovered lastSeq 4 but only 3 batches were sent",
    );
    expect(violationOf(() => checker.recovered({ lastSeq: 1, state: { a: "1" } }, 2)).message).toBe(
      "sequence: open said lastSeq 2, read says 1",
    );
  });

  it("the scenario's own hook sees the state first, and its violation is the one reported", () => {
    const checker = sentAndAcked(batches, 3);
    const seen: number[] = [];
    checker.onRecovered = (read) => {
      seen.push(read.lastSeq);
      checker.fail("event-order", `events out of order at ${read.lastSeq}`);
    };
    const v = violationOf(() => checker.recovered({ lastSeq: 0, state: {} }));
    expect(seen).toEqual([0]);
    expect(v.invariant).toBe("event-order");
  });

  it('check answering anything but ["ok"] is an integrity violation', () => {
    const checker = new CaseChecker();
    expect(() => checker.checked(["ok"])).not.toThrow();
    const v = violationOf(() => checker.checked(["segment 2: checksum mismatch at 4096"]));
    expect(v.invariant).toBe("integrity");
    expect(v.message).toBe('integrity: check answered ["segment 2: checksum mismatch at 4096"]');
    expect(violationOf(() => checker.checked([])).message).toBe("integrity: check answered []");
    expect(violationOf(() => checker.checked(["ok", "ok"])).invariant).toBe("integrity");
  });

  it("a refused open is a recovery violation; a slow one a recovery-time violation", () => {
    const checker = new CaseChecker({ recoveryThresholdMs: 100 });
    const v = violationOf(() => checker.openRefused({ code: "WAL_CORRUPT", message: "bad segment header" }));
    expect(v.invariant).toBe("recovery");
    expect(v.message).toBe("recovery: open failed: WAL_CORRUPT: bad segment header");
    expect(() => checker.recoveryTook(100)).not.toThrow();
    expect(violationOf(() => checker.recoveryTook(150.04)).message).toBe(
      "recovery-time: recovery took 150.0 ms, over the 100 ms threshold",
    );
    expect(() => new CaseChecker().recoveryTook(1e9)).not.toThrow();
  });
});

describe("CaseChecker: acknowledgements and live reads", () => {
  it("an ack with another batch's seq is a sequence violation, and the batch is not owed", () => {
    const checker = new CaseChecker();
    const entry = checker.send([put("a", "1")], 1);
    const v = violationOf(() => checker.acked(entry, 7, "append"));
    expect(v.message).toBe("sequence: append acknowledged seq 7, expected 1");
    expect(entry.status).toBe("in-flight");
    expect(checker.model.lastAcked).toBe(0);
    expect(violationOf(() => checker.acked(entry, 2, "transaction")).message).toBe(
      "sequence: transaction acknowledged seq 2, expected 1",
    );
    const refused = checker.send([put("b", "1")], 1);
    checker.refused(refused);
    expect(checker.ledger.tail()).toEqual(['seq 1 [life 1] in-flight: a="1"', 'seq 2 [life 1] failed: b="1"']);
  });

  it("no batch may be acked after one that failed, in either arrival order, when the rule is on", () => {
    const rule = "fsync failed";
    const later = new CaseChecker().ackOrder(rule);
    later.acked(1);
    later.failed(2);
    const v = violationOf(() => later.acked(3));
    expect(v.invariant).toBe("no-ack-after-fsync-error");
    expect(v.message).toBe(
      "no-ack-after-fsync-error: batch 3 was acknowledged after batch 2 failed (fsync failed): a later ack can only be honest after recovery",
    );
    const earlier = new CaseChecker().ackOrder(rule);
    earlier.acked(3);
    expect(violationOf(() => earlier.failed(2)).message).toContain("batch 3 was acknowledged after batch 2 failed");
    const off = new CaseChecker().ackOrder(undefined);
    off.failed(2);
    expect(() => off.acked(3)).not.toThrow();
  });

  it("a live read must be exactly what was acknowledged", () => {
    const checker = sentAndAcked([[put("a", "1")], [put("b", "2")]], 2);
    expect(() => checker.liveRead({ lastSeq: 2, state: { a: "1", b: "2" } })).not.toThrow();
    const lost = violationOf(() => checker.liveRead({ lastSeq: 1, state: { a: "1" } }));
    expect(lost.invariant).toBe("durability");
    expect(lost.message).toBe("durability: live read: recovered lastSeq 1 but batch 2 was acknowledged");
    expect(lost.crash).toBeUndefined();
    expect(lost.describe()).toContain("after crash: none (clean run)");
    // Batch 3 sent, not yet answered: a live read may not show it yet, nor claim it under its seq.
    checker.send([put("c", "3")], 1);
    expect(violationOf(() => checker.liveRead({ lastSeq: 3, state: { a: "1", b: "2", c: "3" } })).message).toBe(
      "sequence: live read says lastSeq 3, 2 batches were acknowledged",
    );
  });
});

describe("CaseChecker: the crash a violation is reported after", () => {
  it("a fault stays named after a clean close; a later crash replaces it", () => {
    const checker = new CaseChecker();
    checker.tampered({ kind: "fault", at: "bit 3 of wal-000001 flipped" });
    expect(violationOf(() => checker.fail("integrity", "x")).crash).toEqual({
      kind: "fault",
      at: "bit 3 of wal-000001 flipped",
    });
    checker.closedCleanly();
    expect(violationOf(() => checker.fail("integrity", "x")).crash).toEqual({
      kind: "fault",
      at: "bit 3 of wal-000001 flipped (in an earlier life of this case; then a clean close)",
    });
    checker.crashed({ kind: "named", at: "append.after-write:2" });
    expect(violationOf(() => checker.fail("integrity", "x")).crash).toEqual({
      kind: "named",
      at: "append.after-write:2",
    });
    checker.simulatedCrash("power loss: cut 12");
    expect(checker.lastCrash).toEqual({ kind: "power", at: "power loss: cut 12" });
    expect(new CaseChecker().lastCrash).toBeUndefined();
  });
});

describe("CaseChecker: a whole recovery judged at once (power-loss states)", () => {
  const batches = [[put("a", "1")], [put("b", "2")], [put("a", null), put("c", "3")]];

  it("holds the state to the batches acked by then, allowing those whose I/O had started", () => {
    const checker = CaseChecker.after(batches, 1);
    for (const lastSeq of [1, 2, 3]) {
      const state: Record<string, string> = [{ a: "1" }, { a: "1", b: "2" }, { b: "2", c: "3" }][lastSeq - 1]!;
      expect(checker.judgeRecovery({ open: "ok", lastSeq, state })).toBeUndefined();
    }
    expect(checker.judgeRecovery({ open: "ok", lastSeq: 0, state: {} })).toEqual({
      invariant: "durability",
      message: "recovered lastSeq 0 but batch 1 was acknowledged",
      diff: [{ key: "a", expected: "1", recovered: null }],
    });
    expect(checker.judgeRecovery({ open: "ok", lastSeq: 3, state: { a: "1", b: "2", c: "3" } })?.invariant).toBe(
      "atomicity",
    );
    expect(CaseChecker.after(batches.slice(0, 1), 1).judgeRecovery({ open: "ok", lastSeq: 2, state: {} })).toEqual({
      invariant: "sequence",
      message: "recovered lastSeq 2 but only 1 batches were sent",
      diff: [],
    });
  });

  it("names the directory in an open failure and the recovery in a check failure; the state is judged before check", () => {
    const checker = CaseChecker.after(batches, 0);
    const notes = { openFailed: "on a directory X", checkAfter: "after Y" };
    expect(checker.judgeRecovery({ open: "failed", code: "E_IO", message: "no" }, notes)).toEqual({
      invariant: "recovery",
      message: "open failed on a directory X: E_IO: no",
      diff: [],
    });
    expect(checker.judgeRecovery({ open: "ok", lastSeq: 0, state: {}, check: ["torn"] }, notes)?.message).toBe(
      'check answered ["torn"] after Y',
    );
    expect(checker.judgeRecovery({ open: "ok", lastSeq: 0, state: {}, check: ["ok"] }, notes)).toBeUndefined();
    expect(
      checker.judgeRecovery({ open: "ok", lastSeq: 1, state: { b: "2" }, check: ["torn"] }, notes)?.invariant,
    ).toBe("atomicity");
  });

  it("power-loss judgeState: the batches acked before the cut must be there; the messages name the power loss", () => {
    // Batch 1 sent at line 0, acked at line 3; batch 2 sent at line 3, acked at line 6.
    const rec: Recording = {
      initial: { root: "/w", dirs: [], files: [] },
      trace: [],
      batches: batches.slice(0, 2),
      sentAt: [0, 3],
      ackedAt: [3, 6],
      stepAt: [0, 3],
    };
    expect(judgeState(rec, 2, { open: "ok", lastSeq: 0, state: {}, ms: 1 })).toEqual({ ok: true });
    expect(judgeState(rec, 3, { open: "ok", lastSeq: 0, state: {}, ms: 1 })).toEqual({
      ok: false,
      invariant: "durability",
      message: "recovered lastSeq 0 but batch 1 was acknowledged",
      diff: [{ key: "a", expected: "1", recovered: null }],
    });
    // At line 3 batch 2 was sent but its I/O had not started: it cannot be there.
    expect(judgeState(rec, 3, { open: "ok", lastSeq: 2, state: { a: "1", b: "2" }, ms: 1 })).toMatchObject({
      ok: false,
      invariant: "sequence",
      message: "recovered lastSeq 2 but only 1 batches were sent",
    });
    expect(judgeState(rec, 4, { open: "ok", lastSeq: 2, state: { a: "1", b: "2" }, ms: 1 })).toEqual({ ok: true });
    expect(judgeState(rec, 6, { open: "failed", code: "E_CORRUPT", message: "bad tail", ms: 1 })).toEqual({
      ok: false,
      invariant: "recovery",
      message:
        "open failed on a directory a power loss can leave (2 batches acknowledged by then): E_CORRUPT: bad tail",
      diff: [],
    });
    expect(
      judgeState(rec, 6, { open: "ok", lastSeq: 2, state: { a: "1", b: "2" }, check: ["bad crc"], ms: 1 }),
    ).toEqual({
      ok: false,
      invariant: "integrity",
      message: 'check answered ["bad crc"] after recovering this state',
      diff: [],
    });
  });
});
