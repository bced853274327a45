import { describe, expect, it } from "vitest";
import type { TransactionStep } from "../../harness/protocol/messages.js";
import { TransactionStepSchema } from "../../harness/protocol/messages.js";
import { netOps } from "../../harness/protocol/transaction-steps.js";
import { Transaction } from "../../reference-impl/transaction.js";

const put = (key: string, value: string | null): TransactionStep => ({ put: { key, value } });
const savepoint: TransactionStep = { savepoint: true };
const rollback: TransactionStep = { rollback: true };
const release: TransactionStep = { release: true };

/** The reference WAL's own Transaction run over the same steps: what it would commit. */
function viaTransaction(steps: TransactionStep[]): { key: string; value: string | null }[] {
  const tx = new Transaction({ get: () => undefined, append: async () => ({ seq: 1 }) });
  const open: { depth: number }[] = [];
  for (const s of steps) {
    if ("put" in s) {
      if (s.put.value === null) tx.delete(s.put.key);
      else tx.set(s.put.key, s.put.value);
    } else if ("savepoint" in s) open.push(tx.savepoint());
    else if ("rollback" in s) tx.rollbackTo(open.pop()!);
    else tx.release(open.pop()!);
  }
  if (open.length > 0) tx.release(open[0]!);
  return tx.pendingOps();
}

describe("netOps", () => {
  it("plain puts: one op per key, last value, first-write order; deletes are ops", () => {
    const steps = [put("a", "1"), put("b", "1"), put("a", "2"), put("c", null)];
    expect(netOps(steps)).toEqual([
      { key: "a", value: "2" },
      { key: "b", value: "1" },
      { key: "c", value: null },
    ]);
  });

  it("a rolled-back savepoint drops its writes, including overwrites of earlier keys", () => {
    const steps = [put("a", "1"), savepoint, put("a", "rolled"), put("b", "rolled"), rollback, put("c", "3")];
    expect(netOps(steps)).toEqual([
      { key: "a", value: "1" },
      { key: "c", value: "3" },
    ]);
  });

  it("nested scopes: an inner rollback inside a released outer scope keeps only the outer writes", () => {
    const steps = [
      put("a", "0"),
      savepoint,
      put("b", "1"),
      savepoint,
      put("b", "inner"),
      put("x", "inner"),
      rollback,
      put("a", "1"),
      release,
      savepoint,
      put("y", "gone"),
      rollback,
    ];
    expect(netOps(steps)).toEqual([
      { key: "a", value: "1" },
      { key: "b", value: "1" },
    ]);
  });

  it("a rollback of an outer scope discards its released inner scopes too", () => {
    const steps = [put("keep", "k"), savepoint, put("a", "1"), savepoint, put("b", "2"), release, rollback];
    expect(netOps(steps)).toEqual([{ key: "keep", value: "k" }]);
  });

  it("savepoints still open at the end are released", () => {
    const steps = [put("a", "1"), savepoint, put("b", "2"), savepoint, put("a", null)];
    expect(netOps(steps)).toEqual([
      { key: "a", value: null },
      { key: "b", value: "2" },
    ]);
  });

  it("unbalanced rollback or release is an error naming the step", () => {
    expect(netOps([put("a", "1"), rollback])).toEqual({ error: "steps.1: rollback with no open savepoint" });
    expect(netOps([savepoint, release, release, put("a", "1")])).toEqual({
      error: "steps.2: release with no open savepoint",
    });
    expect(netOps([rollback])).toEqual({ error: "steps.0: rollback with no open savepoint" });
  });

  it("no surviving write is an empty list", () => {
    expect(netOps([])).toEqual([]);
    expect(netOps([savepoint, put("a", "1"), rollback])).toEqual([]);
    expect(netOps([savepoint, savepoint])).toEqual([]);
  });

  it("agrees with the reference WAL's Transaction on random step lists", () => {
    let state = 12345;
    const rand = (n: number) => ((state = (state * 1103515245 + 12345) & 0x7fffffff), state % n);
    for (let trial = 0; trial < 500; trial++) {
      const steps: TransactionStep[] = [];
      let depth = 0;
      for (let i = 0, n = 1 + rand(14); i < n; i++) {
        const r = rand(10);
        if (r < 5) steps.push(put(`k${rand(4)}`, rand(5) === 0 ? null : `v${i}`));
        else if (r < 7) (steps.push(savepoint), depth++);
        else if (depth > 0) (steps.push(r < 9 ? rollback : release), depth--);
      }
      expect(netOps(steps), JSON.stringify(steps)).toEqual(viaTransaction(steps));
    }
  });
});

describe("TransactionStepSchema", () => {
  it("accepts the four step kinds and nothing else", () => {
    for (const s of [put("a", "1"), put("a", null), savepoint, rollback, release])
      expect(TransactionStepSchema.safeParse(s).success).toBe(true);
    for (const bad of [
      {},
      { savepoint: false },
      { put: { key: "", value: "1" } },
      { put: { key: "a", value: "1" }, savepoint: true },
      { commit: true },
    ]) {
      expect(TransactionStepSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});
