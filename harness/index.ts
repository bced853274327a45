// The harness: protocol schemas, the adapter client and server, the run engine, its errors.
export * from "./protocol/messages.js";
export type { WalAdapter, WalAdapterExport } from "./protocol/wal-adapter.js";
export { AdapterClient, type Reply, type ExitInfo, type StartOptions } from "./protocol/adapter-client.js";
export { AdapterError, type AdapterErrorCode, type AdapterErrorDetails } from "./protocol/adapter-error.js";
export { serveAdapter } from "./protocol/serve.js";
export { loadAdapter } from "./adapters/load-adapter.js";
export { PrefixModel, diffStates, type Verdict, type KeyDiff } from "./checks/prefix-model.js";
export { Prng } from "./engine/prng.js";
export {
  WalcheckError,
  UsageError,
  ProtocolFault,
  Violation,
  ERROR_CODES,
  errorCodeInfo,
  EXIT,
  type ErrorCodeInfo,
  type ErrorDetails,
  type ExitCode,
  type FaultDetails,
  type ProtocolFaultCode,
} from "./protocol/errors.js";
export { crashpoint } from "./protocol/crashpoint.js";
export { runCampaign, probeAdapter, caseSeed, type CampaignOptions, type RunSummary } from "./engine/campaign.js";
export { runCase, type CaseOptions, type CaseResult } from "./engine/case-runner.js";
export { resolveAdapter, type AdapterLaunch } from "./engine/adapter-launch.js";
export { defineConfig, type RunConfig } from "./cli/run-config.js";
export { InvariantViolation, type Invariant } from "./checks/violation.js";
export { walConformance, type ConformanceOptions } from "./vitest-suite.js";
export { netOps } from "./protocol/transaction-steps.js";
