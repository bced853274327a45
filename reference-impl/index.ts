// The reference WAL: the public surface other folders import.
export { Wal, type AppendOptions, type AppendResult, type WalMetrics } from "./wal.js";
export type { WalOptions, SyncMode, WalIo } from "./wal-options.js";
export { Transaction, type Savepoint } from "./transaction.js";
export type { BatchOp as WalBatchOp } from "./kv-batch.js";
export type { CheckpointStats } from "./checkpoint-loop.js";
export type { RecoveryReport, SalvageReport } from "./recovery.js";
export { WalError, errorCode, type WalErrorCode } from "./errors.js";
export { crashpoint, crashTarget } from "../harness/protocol/crashpoint.js";
export { CRASH_POINTS, type CrashPoint } from "./reference-crash-points.js";
export { LatencyWindow, type LatencySummary } from "./latency-window.js";
export { stableStringify, type JsonValue } from "../harness/protocol/stable-json.js";
export { createReferenceAdapter, parseReferenceConfig, type ReferenceConfig } from "./reference-adapter.js";
