// The durable outbox side of walcheck: the outbox protocol (schemas, client, server) and the
// chaos command's building blocks (the operator's commands are harness/cli/outbox-command.ts).
export * from "../protocol/outbox-messages.js";
export {
  OutboxClient,
  OutboxFault,
  OutboxRefusal,
  type OutboxReply,
  type OutboxStartOptions,
} from "../protocol/outbox-client.js";
export type { ChildFault, ExitInfo } from "../protocol/json-lines-child.js";
export {
  serveOutbox,
  serveOutboxStdio,
  openReferenceSink,
  outboxOptionsOf,
  type OutboxServeOptions,
  type OutboxServeStreams,
} from "./outbox-serve.js";
export {
  checkOutboxRequest,
  type CheckedOutboxRequest,
  type OutboxRequestCheck,
} from "../protocol/outbox-request-check.js";
export { parseSinkSpec, formatSinkSpec, redactUrl, type SinkSpec } from "./sink-spec.js";
export { chaosOps, expectedEffects, describeOp, type ChaosOp } from "./chaos-ops.js";
export { checkSink, WriteLedger, type SinkViolation } from "./sink-check.js";
export { sqliteTarget, postgresTarget, type ChaosSink, type SinkTarget, type Outage } from "./chaos-sink.js";
export { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";
export * from "./chaos-kit.js";
