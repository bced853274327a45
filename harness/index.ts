// The harness: protocol schemas, the adapter client and server, the smoke checker.
export * from "./protocol.js";
export type { WalAdapter, WalAdapterExport } from "./wal-adapter.js";
export { AdapterClient, type Reply, type ExitInfo, type StartOptions } from "./adapter-client.js";
export { AdapterError, type AdapterErrorCode, type AdapterErrorDetails } from "./adapter-error.js";
export { serveAdapter } from "./serve.js";
export { loadAdapter } from "./load-adapter.js";
export { runSmoke, type SmokeOptions, type SmokeResult, type Violation } from "./smoke.js";
export { PrefixModel, diffStates, type Verdict, type KeyDiff } from "./prefix-model.js";
export { Prng } from "./prng.js";
export { UsageError } from "./usage-error.js";
export { crashpoint } from "../reference-impl/crashpoint.js";
