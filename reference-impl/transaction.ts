import { WalError } from "./errors.js";
import type { BatchOp } from "./kv-batch.js";

/** The part of the WAL a transaction needs. */
interface TxTarget {
  get(key: string): string | undefined;
  append(ops: BatchOp[]): Promise<{ seq: number }>;
}

/** A savepoint handle returned by `Transaction.savepoint()`. */
export interface Savepoint {
  readonly depth: number;
}

/**
 * Buffered writes over a WAL with nested savepoints. Nothing reaches the log until
 * `commit()`, which appends every surviving write as one atomic batch; a rolled-back
 * savepoint's writes are simply dropped, so they can never appear after recovery.
 */
export class Transaction {
  // One write set per open scope; index 0 is the transaction itself.
  private scopes: Map<string, string | null>[] = [new Map()];
  private open = true;

  constructor(private readonly wal: TxTarget) {}

  get isOpen(): boolean {
    return this.open;
  }

  /** The value as this transaction sees it: its own writes first, then the WAL. */
  get(key: string): string | undefined {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const scope = this.scopes[i]!;
      if (scope.has(key)) return scope.get(key) ?? undefined;
    }
    return this.wal.get(key);
  }

  set(key: string, value: string): this {
    this.assertOpen();
    if (typeof key !== "string" || key.length === 0)
      throw new TypeError(`key must be a non-empty string, got ${JSON.stringify(key)}`);
    if (typeof value !== "string") throw new TypeError(`value must be a string, got ${JSON.stringify(value)}`);
    this.top().set(key, value);
    return this;
  }

  delete(key: string): this {
    this.assertOpen();
    if (typeof key !== "string" || key.length === 0)
      throw new TypeError(`key must be a non-empty string, got ${JSON.stringify(key)}`);
    this.top().set(key, null);
    return this;
  }

  /** Open a nested scope; `rollbackTo` discards it, `release` folds it into its parent. */
  savepoint(): Savepoint {
    this.assertOpen();
    this.scopes.push(new Map());
    return { depth: this.scopes.length - 1 };
  }

  rollbackTo(sp: Savepoint): void {
    this.assertScope(sp);
    this.scopes.length = sp.depth;
  }

  release(sp: Savepoint): void {
    this.assertScope(sp);
    while (this.scopes.length > sp.depth) {
      const inner = this.scopes.pop()!;
      const outer = this.top();
      for (const [k, v] of inner) outer.set(k, v);
    }
  }

  /** Run `fn` in a savepoint: released when it resolves, rolled back (and rethrown) when it throws. */
  async nested<T>(fn: (tx: this) => Promise<T> | T): Promise<T> {
    const sp = this.savepoint();
    try {
      const result = await fn(this);
      this.release(sp);
      return result;
    } catch (error) {
      if (this.open && this.scopes.length > sp.depth) this.rollbackTo(sp);
      throw error;
    }
  }

  /** The ops the commit would write, in first-write order. */
  pendingOps(): BatchOp[] {
    const merged = new Map<string, string | null>();
    for (const scope of this.scopes) for (const [k, v] of scope) merged.set(k, v);
    return [...merged].map(([key, value]) => ({ key, value }));
  }

  /** Append every write as one atomic batch. An empty transaction writes nothing (seq undefined). */
  async commit(): Promise<{ seq: number | undefined }> {
    this.assertOpen();
    const ops = this.pendingOps();
    this.open = false;
    if (ops.length === 0) return { seq: undefined };
    return this.wal.append(ops);
  }

  rollback(): void {
    this.assertOpen();
    this.open = false;
    this.scopes = [new Map()];
  }

  private top(): Map<string, string | null> {
    return this.scopes[this.scopes.length - 1]!;
  }

  private assertOpen(): void {
    if (!this.open) throw new WalError("WAL_INVALID", "the transaction is already committed or rolled back");
  }

  private assertScope(sp: Savepoint): void {
    this.assertOpen();
    if (sp.depth < 1 || sp.depth >= this.scopes.length)
      throw new TypeError(`savepoint is not open, got depth ${sp.depth}`);
  }
}
