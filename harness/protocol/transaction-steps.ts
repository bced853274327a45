// The meaning of a `transaction` request (protocol extension "transaction"): which writes
// survive its savepoints and rollbacks. Plain code with type-only imports, so adapters
// (and walcheck's model) can use it without loading zod.
import type { BatchOp, TransactionStep } from "./messages.js";

/**
 * The ops a transaction commits: what its steps leave after every rollback, as the one
 * batch an `append` of them would write. One op per key, with the key's last surviving
 * value, in the order each key was first written by a write that survives (the order of
 * the reference WAL's `Transaction.pendingOps()`). Savepoints still open at the end are
 * released. A `rollback` or `release` with no open savepoint is an error. No surviving
 * write gives `[]` (an adapter answers that with EINVAL "empty transaction").
 */
export function netOps(steps: readonly TransactionStep[]): BatchOp[] | { error: string } {
  // One write set per open scope; index 0 is the transaction itself. A Map keeps the
  // position of a key's first write when a later one overwrites it.
  const scopes: Map<string, string | null>[] = [new Map()];
  for (const [i, step] of steps.entries()) {
    if ("put" in step) {
      scopes[scopes.length - 1]!.set(step.put.key, step.put.value);
    } else if ("savepoint" in step) {
      scopes.push(new Map());
    } else if ("rollback" in step) {
      if (scopes.length === 1) return { error: `steps.${i}: rollback with no open savepoint` };
      scopes.pop();
    } else if ("release" in step) {
      if (scopes.length === 1) return { error: `steps.${i}: release with no open savepoint` };
      fold(scopes);
    } else {
      return { error: `steps.${i}: not a transaction step` };
    }
  }
  while (scopes.length > 1) fold(scopes);
  return [...scopes[0]!].map(([key, value]) => ({ key, value }));
}

/** Fold the innermost scope into its parent. */
function fold(scopes: Map<string, string | null>[]): void {
  const inner = scopes.pop()!;
  const outer = scopes[scopes.length - 1]!;
  for (const [key, value] of inner) outer.set(key, value);
}
