// The durable outbox: the public surface other folders import.
export { Outbox, OUTBOX_DEFAULTS, type OutboxOptions, type OutboxStats, type WriteResult } from "./outbox.js";
export {
  OutboxStore,
  type AcceptResult,
  type OutboxStoreOptions,
  type StatusRecord,
  type StoreCounts,
} from "./outbox-store.js";
export { OutboxError, type OutboxErrorCode } from "./outbox-error.js";
export {
  SyncWorker,
  OUTBOX_CRASH_POINTS,
  SYNC_DEFAULTS,
  realTimers,
  type OutboxCrashPoint,
  type SyncResult,
  type SyncStop,
  type SyncWorkerOptions,
  type Timers,
} from "./sync-worker.js";
export { CircuitBreaker, CIRCUIT_DEFAULTS, type CircuitBreakerOptions, type CircuitState } from "./circuit-breaker.js";
export { backoffDelay, BACKOFF_DEFAULTS, type BackoffOptions } from "./backoff.js";
export { SqliteSink, SQLITE_SINK_DEFAULTS, type SqliteSinkOptions } from "./sqlite-sink.js";
export { SinkUnavailableError, type ApplyResult, type OutboxSink, type SinkSnapshot } from "./sink.js";
export {
  entryChecksum,
  entryIntact,
  idempotencyKeyOf,
  makeEntry,
  type EntryStatus,
  type OutboxEntry,
} from "./outbox-entry.js";
export { createPostgresSink, isUnavailable, type PostgresSinkOptions } from "./postgres-sink.js";
