import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { diffStates, PrefixModel, type Verdict } from "../../harness/checks/prefix-model.js";
import type { BatchOp } from "../../harness/protocol/messages.js";

// The prefix model judges what a WAL recovered after a crash against the batches walcheck
// sent and saw acknowledged. Expected states are computed here by folding the batches, not
// with the model's own stateAt, so a model that applied batches wrongly would fail too.

const put = (key: string, value: string): BatchOp => ({ key, value });
const del = (key: string): BatchOp => ({ key, value: null });

/** The state after `batches`, applied in order, as `read` answers it. */
function fold(batches: readonly BatchOp[][]): Record<string, string> {
  const state: Record<string, string> = {};
  for (const ops of batches)
    for (const op of ops) {
      if (op.value === null) delete state[op.key];
      else state[op.key] = op.value;
    }
  return state;
}

/** A model that sent `batches` and saw the first `acked` of them acknowledged. */
function modelOf(batches: readonly BatchOp[][], acked: number): PrefixModel {
  const model = new PrefixModel();
  batches.forEach((ops, i) => expect(model.send(ops)).toBe(i + 1));
  if (acked > 0) model.ack(acked);
  return model;
}

function violation(verdict: Verdict) {
  if (verdict.status !== "violation") throw new Error(`expected a violation, got ${JSON.stringify(verdict)}`);
  return verdict;
}

// a=1 | b=2 c=2 | a=3, b deleted | d=4
const BATCHES: BatchOp[][] = [
  [put("a", "1")],
  [put("b", "2"), put("c", "2")],
  [put("a", "3"), del("b")],
  [put("d", "4")],
];

describe("PrefixModel.judge", () => {
  it("accepts a fresh WAL that recovered nothing", () => {
    expect(new PrefixModel().judge(0, {})).toEqual({ status: "ok", k: 0 });
  });

  it("accepts every prefix from the last acknowledged batch to the last sent one (in-flight batches may or may not survive)", () => {
    const model = modelOf(BATCHES, 2);
    for (const k of [2, 3, 4]) expect(model.judge(k, fold(BATCHES.slice(0, k)))).toEqual({ status: "ok", k });
  });

  it("a recovered lastSeq below the last ack is durability, with the keys the acknowledged state differs in", () => {
    const model = modelOf(BATCHES, 2);
    const v = violation(model.judge(1, fold(BATCHES.slice(0, 1))));
    expect(v.invariant).toBe("durability");
    expect(v.message).toBe("recovered lastSeq 1 but batch 2 was acknowledged");
    expect(v.diff).toEqual([
      { key: "b", expected: "2", recovered: null },
      { key: "c", expected: "2", recovered: null },
    ]);
  });

  it("an empty WAL after acknowledged batches is durability", () => {
    const v = violation(modelOf(BATCHES, 4).judge(0, {}));
    expect(v.invariant).toBe("durability");
    expect(v.diff.map((d) => d.key)).toEqual(["a", "c", "d"]);
  });

  it("a lastSeq beyond the batches sent is sequence", () => {
    const v = violation(modelOf(BATCHES, 2).judge(5, fold(BATCHES)));
    expect(v.invariant).toBe("sequence");
    expect(v.message).toBe("recovered lastSeq 5 but only 4 batches were sent");
  });

  it("half a batch applied is atomicity, naming the missing key", () => {
    const model = modelOf(BATCHES, 1);
    const v = violation(model.judge(2, { a: "1", b: "2" }));
    expect(v.invariant).toBe("atomicity");
    expect(v.message).toBe("recovered state (lastSeq 2) is not the state after any prefix of 1..4 batches");
    expect(v.diff).toEqual([{ key: "c", expected: "2", recovered: null }]);
  });

  it("batch 4 without batch 3 is atomicity: the state is no prefix", () => {
    const model = modelOf(BATCHES, 2);
    const v = violation(model.judge(4, { ...fold(BATCHES.slice(0, 2)), d: "4" }));
    expect(v.invariant).toBe("atomicity");
    expect(v.diff).toEqual([
      { key: "a", expected: "3", recovered: "1" },
      { key: "b", expected: null, recovered: "2" },
    ]);
  });

  it("a state that is another prefix than lastSeq says is sequence, both ways", () => {
    const model = modelOf(BATCHES, 1);
    const behind = violation(model.judge(3, fold(BATCHES.slice(0, 2))));
    expect(behind.invariant).toBe("sequence");
    expect(behind.message).toBe("state is the state after 2 batches but lastSeq says 3");
    const ahead = violation(model.judge(2, fold(BATCHES.slice(0, 3))));
    expect(ahead.invariant).toBe("sequence");
    expect(ahead.message).toBe("state is the state after 3 batches but lastSeq says 2");
  });

  // The model has no integrity verdict: a value that no batch wrote makes the state no prefix,
  // which it reports as atomicity. Integrity is the adapter's `check` (CaseSession.verify).
  it("a changed value is atomicity, with the expected and recovered value", () => {
    const v = violation(modelOf(BATCHES, 4).judge(4, { ...fold(BATCHES), c: "2\u0000garbage" }));
    expect(v.invariant).toBe("atomicity");
    expect(v.diff).toEqual([{ key: "c", expected: "2", recovered: "2\u0000garbage" }]);
  });

  it("a deleted key that comes back, or a key no batch wrote, is atomicity", () => {
    const model = modelOf(BATCHES, 3);
    expect(violation(model.judge(3, { ...fold(BATCHES.slice(0, 3)), b: "2" })).invariant).toBe("atomicity");
    const phantom = violation(model.judge(3, { ...fold(BATCHES.slice(0, 3)), zz: "x" }));
    expect(phantom.invariant).toBe("atomicity");
    expect(phantom.diff).toEqual([{ key: "zz", expected: null, recovered: "x" }]);
  });
});

describe("PrefixModel bookkeeping", () => {
  it("seqs count from 1; acks only move forward", () => {
    const model = new PrefixModel();
    expect(model.send([put("a", "1")])).toBe(1);
    expect(model.send([put("a", "2")])).toBe(2);
    model.ack(2);
    model.ack(1);
    expect(model.lastAcked).toBe(2);
    expect(model.lastSent).toBe(2);
  });

  it("retract(seq) makes batch seq and later ones unowed, never below the settled base", () => {
    const model = modelOf(BATCHES, 4);
    model.retract(4);
    expect(model.lastAcked).toBe(3);
    expect(model.judge(3, fold(BATCHES.slice(0, 3)))).toEqual({ status: "ok", k: 3 });
    model.settle(2);
    model.retract(1);
    expect(model.lastAcked).toBe(2);
  });

  it("settle(k) makes the recovered prefix the base: lost batches are forgotten, the next batch gets k + 1", () => {
    const model = modelOf(BATCHES, 2);
    model.settle(3);
    expect(model.lastSent).toBe(3);
    expect(model.lastAcked).toBe(3);
    expect(model.judge(3, fold(BATCHES.slice(0, 3)))).toEqual({ status: "ok", k: 3 });
    expect(violation(model.judge(2, fold(BATCHES.slice(0, 2)))).invariant).toBe("durability");
    // Batch 4 was lost in the crash (unacknowledged: allowed); the next one sent takes seq 4.
    expect(model.send([put("e", "5")])).toBe(4);
    expect(model.judge(4, { ...fold(BATCHES.slice(0, 3)), e: "5" })).toEqual({ status: "ok", k: 4 });
    expect(violation(model.judge(4, fold(BATCHES))).invariant).toBe("atomicity");
  });

  it("stateAt outside the base..sent range is a RangeError", () => {
    const model = modelOf(BATCHES, 2);
    expect(() => model.stateAt(5)).toThrow(RangeError);
    model.settle(2);
    expect(() => model.stateAt(1)).toThrow("no model state at seq 1 (base 2, sent 2)");
  });
});

describe("diffStates", () => {
  it("lists changed, missing and extra keys sorted by key; nothing for equal states", () => {
    const expected = new Map([
      ["m", "1"],
      ["b", "2"],
      ["z", "3"],
    ]);
    const recovered = new Map([
      ["z", "3"],
      ["m", "one"],
      ["a", "new"],
    ]);
    expect(diffStates(expected, recovered)).toEqual([
      { key: "a", expected: null, recovered: "new" },
      { key: "b", expected: "2", recovered: null },
      { key: "m", expected: "1", recovered: "one" },
    ]);
    expect(diffStates(expected, new Map([...expected].reverse()))).toEqual([]);
  });

  it("tells a missing key from a key holding the empty string", () => {
    expect(diffStates(new Map([["k", ""]]), new Map())).toEqual([{ key: "k", expected: "", recovered: null }]);
  });
});

describe("PrefixModel properties", () => {
  const key = fc.constantFrom("a", "b", "c", "d");
  const op = fc.record({ key, value: fc.option(fc.string({ maxLength: 3 }), { nil: null }) });
  const batches = fc.array(fc.array(op, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 8 });

  it("accepts the state after the first k batches for every k from the last ack to the last sent", () => {
    fc.assert(
      fc.property(
        batches.chain((bs) => fc.tuple(fc.constant(bs), fc.nat(bs.length))),
        ([bs, acked]) => {
          const model = modelOf(bs, acked);
          for (let k = acked; k <= bs.length; k++)
            expect(model.judge(k, fold(bs.slice(0, k)))).toEqual({ status: "ok", k });
        },
      ),
      { numRuns: 100 },
    );
  });

  // Every batch also writes a key of its own that no other batch touches, so dropping it always
  // shows in the state (without one, a batch whose writes were all overwritten later could be
  // dropped unseen, and the model rightly could not tell).
  it("rejects a recovery that dropped any acknowledged batch: durability below the ack, atomicity at or above it", () => {
    const marked = batches.map((bs) => bs.map((ops, i) => [...ops, put(`batch-${i + 1}`, "x")]));
    fc.assert(
      fc.property(
        marked
          .chain((bs) => fc.tuple(fc.constant(bs), fc.integer({ min: 1, max: bs.length })))
          .chain(([bs, acked]) =>
            fc.tuple(
              fc.constant(bs),
              fc.constant(acked),
              fc.integer({ min: 1, max: acked }),
              fc.integer({ min: acked, max: bs.length }),
            ),
          ),
        fc.boolean(),
        ([bs, acked, dropped, k], claimAll) => {
          const model = modelOf(bs, acked);
          const recovered = fold(bs.slice(0, k).filter((_, i) => i + 1 !== dropped));
          // The WAL may report the seq of the last batch it holds, or count only what it kept.
          const lastSeq = claimAll ? k : k - 1;
          const v = violation(model.judge(lastSeq, recovered));
          expect(v.invariant).toBe(lastSeq < acked ? "durability" : "atomicity");
          expect(v.diff).toContainEqual({ key: `batch-${dropped}`, expected: "x", recovered: null });
        },
      ),
      { numRuns: 100 },
    );
  });
});
