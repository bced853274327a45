// The harness: protocol schemas, the adapter client and server, the smoke checker.
export * from "./protocol.js";
export type { WalAdapter, WalAdapterExport } from "./wal-adapter.js";
export { AdapterClient, type Reply, type ExitInfo, type StartOptions } from "./adapter-client.js";
export { AdapterError, type AdapterErrorCode, type AdapterErrorDetails } from "./adapter-error.js";
export { serveAdapter } from "./serve.js";
export { loadAdapter } from "./load-adapter.js";
export { runSmoke, type SmokeOptions, type SmokeResult, type Violation as SmokeViolation } from "./smoke.js";
export { PrefixModel, diffStates, type Verdict, type KeyDiff } from "./prefix-model.js";
export { Prng } from "./prng.js";
export { UsageError } from "./usage-error.js";
export { crashpoint } from "../reference-impl/crashpoint.js";
export { runCampaign, probeAdapter, caseSeed, type CampaignOptions, type RunSummary } from "./campaign.js";
export { runCase, type CaseOptions, type CaseResult } from "./case-runner.js";
export { resolveAdapter, type AdapterLaunch } from "./adapter-launch.js";
export { defineConfig, type RunConfig } from "./run-config.js";
export { InvariantViolation, type Invariant } from "./violation.js";
export { walConformance, type ConformanceOptions } from "./vitest-suite.js";
export { netOps } from "./transaction-steps.js";
