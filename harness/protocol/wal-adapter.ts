import type { BatchOp, CheckpointResult, Hello, OpenResult, ReadResult, TransactionStep } from "./messages.js";

/**
 * The in-process shape of adapter protocol v1: a module that exports one of these (or a
 * function returning one) can be served with `walcheck serve --adapter <path>`.
 * Optional methods are optional ops: list them in `hello().features`.
 */
export interface WalAdapter {
  hello(): Hello | Promise<Hello>;
  open(dir: string, config: Record<string, unknown>): Promise<OpenResult>;
  append(ops: BatchOp[]): Promise<{ seq: number }>;
  checkpoint?(mode: "passive" | "truncate"): Promise<CheckpointResult>;
  read(): Promise<ReadResult>;
  check?(): Promise<string[]>;
  /**
   * Feature "transaction": run the steps in one transaction and commit what survives as
   * one atomic batch with one seq (see `netOps` in transaction-steps.ts). Throw an error
   * with `code: "EINVAL"` for an unbalanced rollback/release or an empty transaction.
   */
  transaction?(steps: TransactionStep[]): Promise<{ seq: number }>;
  close(): Promise<void>;
}

/** What a module may export: the adapter, or a factory that makes one. */
export type WalAdapterExport = WalAdapter | (() => WalAdapter | Promise<WalAdapter>);
