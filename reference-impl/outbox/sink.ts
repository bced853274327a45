import { WalcheckError } from "../../harness/protocol/errors.js";
import type { OutboxEntry } from "./outbox-entry.js";

// The database behind the outbox. Both sinks (SQLite, PostgreSQL) keep the same tables:
//   outbox_applied(idempotency_key PRIMARY KEY, entry_id, n, type, args, applied_at)
//   balances(account PRIMARY KEY, amount)           -- "balance.update" {account, delta}
//   trades(trade_id PRIMARY KEY, args)              -- "trade.log" {tradeId, ...}
//   positions(position_id PRIMARY KEY, args, open)  -- "position.open|update|close" {positionId, ...}
//   events(id, type, args, at)                      -- non-critical writes (analytics, metrics)
// and apply an entry and record its key in ONE database transaction, so a replayed entry is
// recognised by its key and its effect is never applied twice.

/** What applying one entry did. */
export type ApplyResult = "applied" | "duplicate";

/** Summary of what the database holds, for the scenarios' exactly-once checks. */
export interface SinkSnapshot {
  /** Applied entries in the order they were applied (by the sink's own insertion order). */
  applied: { idempotencyKey: string; entryId: string; n: number; type: string }[];
  balances: Record<string, number>;
  trades: number;
  positions: number;
  events: number;
}

export interface OutboxSink {
  /** "sqlite" or "postgres": for stats and logs. */
  readonly kind: string;
  /**
   * Apply the entry's effect and record its idempotency key in one transaction. An entry
   * whose key is already recorded is not applied again: "duplicate". A database that
   * cannot be reached (connection refused, server gone, locked past the busy timeout)
   * throws SinkUnavailableError; an entry the database refuses throws anything else.
   */
  apply(entry: OutboxEntry): Promise<ApplyResult>;
  /** A non-critical write, straight to the database (no WAL, no idempotency). */
  writeDirect(type: string, args: Record<string, unknown>): Promise<void>;
  /** What the database holds (tests and scenarios). */
  snapshot(): Promise<SinkSnapshot>;
  close(): Promise<void>;
}

/** The database is unreachable: the worker backs off and the circuit breaker counts it; never an entry's fault. */
export class SinkUnavailableError extends WalcheckError {
  override readonly name = "SinkUnavailableError";
  declare readonly code: "SINK_UNAVAILABLE";
  constructor(message: string, options?: { cause?: unknown }) {
    super("SINK_UNAVAILABLE", message, options);
  }
}
