import { z } from "zod";

// The outbox protocol, version 1: how walcheck drives a durable outbox in another process
// (`walcheck outbox serve` for the reference outbox, or any program in any language) over
// JSON lines on stdin/stdout, like the adapter protocol (messages.ts).
//
// Every request is one line `{"id": <integer>, "op": <string>, ...fields}`; every answer is
// one line `{"id", "ok": true, ...result}` or `{"id", "ok": false, "error": {"code", "message"}}`,
// in any order (requests may be pipelined; answers are matched by id).
//
//   hello                               → {name, protocol: 1, kind: "outbox", features, points}
//   open {dir, sink, config?}           → OutboxStats of the recovered outbox
//        sink: "sqlite:<absolute path>" or "postgres://…"; config: OpenConfig below
//   write {type, args, critical?}       → {status: "accepted", entryId, n, idempotencyKey, duplicate}
//                                          or {status: "direct"} (critical: false, straight to the database)
//                                          or ok:false OUTBOX_HALTED once the WAL cannot be written
//   sync                                → SyncResult of one forced pass (the circuit breaker is not asked)
//   start / stop                        → {} (the background sync worker; feature "worker")
//   stats                               → OutboxStats
//   snapshot                            → SinkSnapshot: what the database holds
//   compact                             → {removed}: COMPLETED entries past retention removed
//   close                               → {} (then the process exits)
//
// The entry's UUID is `entryId`: `id` is the request's. Error codes: OUTBOX_HALTED (the WAL
// cannot be written: nothing is accepted), OUTBOX_CLOSED, SINK_UNAVAILABLE (a direct write
// or snapshot while the database is down), EPROTO (open missing or repeated), EINVAL (a bad
// request), EUNSUPPORTED (an unknown op or a feature the outbox lacks), WAL_LOCKED,
// WAL_CORRUPT and other errno names from open.
//
// zod validates every answer on walcheck's side; the serving side checks requests with plain
// code (outbox-request-check.ts), so that an outbox process starts fast. Objects are loose:
// an outbox may send more fields.

export const OUTBOX_PROTOCOL_VERSION = 1;

/** Optional abilities an outbox lists in hello.features. */
export const OUTBOX_FEATURES = ["direct", "worker", "compact"] as const;

const Id = z.number().int().nonnegative();
const count = z.number().int().nonnegative();
const JsonArgs = z.record(z.string(), z.unknown());

/** The config an `open` may carry: every field optional, unknown fields refused by the reference outbox. */
export const OpenConfigSchema = z.strictObject({
  /** Consecutive sink failures that open the circuit (default 5). */
  failureThreshold: z.number().int().min(1).optional(),
  /** How long the circuit stays open before a probe (default 30 000 ms). */
  breakerResetMs: z.number().nonnegative().optional(),
  /** Time between background passes (default 5000 ms). */
  syncIntervalMs: z.number().nonnegative().optional(),
  /** Backoff base and cap after a failure (defaults 1000 and 60 000 ms). */
  backoffBaseMs: z.number().nonnegative().optional(),
  backoffCapMs: z.number().nonnegative().optional(),
  /** Refusals of one entry before it is FAILED (default 10). */
  maxRetries: z.number().int().min(1).optional(),
  /** How long COMPLETED entries are kept for compact (default 168 h). */
  retentionMs: z.number().nonnegative().optional(),
  /** The queue length past which a warning is logged (default 1000). */
  pendingAlertThreshold: z.number().int().nonnegative().optional(),
  /** SQLite: how long a write waits for another connection's lock before the database counts as down (default 1000 ms). */
  busyTimeoutMs: z.number().int().nonnegative().optional(),
  /** PostgreSQL: connect timeout (default 5000 ms). */
  connectTimeoutMs: z.number().positive().optional(),
  /** PostgreSQL: the schema holding the tables (default public). */
  schema: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/)
    .optional(),
});
export type OpenConfig = z.infer<typeof OpenConfigSchema>;

export const OutboxRequestSchemas = {
  hello: z.looseObject({ id: Id, op: z.literal("hello") }),
  open: z.looseObject({
    id: Id,
    op: z.literal("open"),
    dir: z.string().min(1),
    sink: z.string().min(1),
    config: OpenConfigSchema.optional(),
  }),
  write: z.looseObject({
    id: Id,
    op: z.literal("write"),
    type: z.string().min(1),
    args: JsonArgs,
    critical: z.boolean().optional(),
  }),
  sync: z.looseObject({ id: Id, op: z.literal("sync") }),
  start: z.looseObject({ id: Id, op: z.literal("start") }),
  stop: z.looseObject({ id: Id, op: z.literal("stop") }),
  stats: z.looseObject({ id: Id, op: z.literal("stats") }),
  snapshot: z.looseObject({ id: Id, op: z.literal("snapshot") }),
  compact: z.looseObject({ id: Id, op: z.literal("compact") }),
  close: z.looseObject({ id: Id, op: z.literal("close") }),
} as const;

export type OutboxOp = keyof typeof OutboxRequestSchemas;
export const OUTBOX_OPS = Object.keys(OutboxRequestSchemas) as OutboxOp[];

/** The fields of a request of one op, without id and op. */
export type OutboxRequestFields<O extends OutboxOp> = Omit<z.infer<(typeof OutboxRequestSchemas)[O]>, "id" | "op">;

export const OutboxHelloFields = z.object({
  name: z.string().min(1),
  protocol: z.literal(OUTBOX_PROTOCOL_VERSION),
  kind: z.literal("outbox"),
  features: z.array(z.string()),
  /** Named crash points (WALCHECK_CRASH_AT=<point>:<n>), in the order one entry meets them. */
  points: z.array(z.string()),
});

export const OutboxStatsSchema = z.looseObject({
  pending: count,
  syncing: count,
  completed: count,
  failed: count,
  corruptSkipped: count,
  oldestPendingAgeMs: z.number().nonnegative(),
  consecutiveFailures: count,
  totalFailures: count,
  circuit: z.enum(["closed", "open", "half-open"]),
  halted: z.boolean(),
  sink: z.string(),
});

export const WriteFields = z.union([
  z.object({
    status: z.literal("accepted"),
    entryId: z.string().min(1),
    n: z.number().int().positive(),
    idempotencyKey: z.string().min(1),
    duplicate: z.boolean(),
  }),
  z.object({ status: z.literal("direct") }),
]);

export const SyncResultSchema = z.looseObject({
  applied: count,
  duplicates: count,
  failed: count,
  remaining: count,
  stopped: z.enum(["circuit-open", "sink-unavailable", "entry-error"]).nullable(),
});

export const SinkSnapshotSchema = z.looseObject({
  applied: z.array(
    z.looseObject({ idempotencyKey: z.string(), entryId: z.string(), n: z.number().int(), type: z.string() }),
  ),
  balances: z.record(z.string(), z.number()),
  trades: count,
  positions: count,
  events: count,
});

const Empty = z.object({});

const resultFields = {
  hello: OutboxHelloFields,
  open: OutboxStatsSchema,
  write: WriteFields,
  sync: SyncResultSchema,
  start: Empty,
  stop: Empty,
  stats: OutboxStatsSchema,
  snapshot: SinkSnapshotSchema,
  compact: z.object({ removed: count }),
  close: Empty,
} as const;

/** A success answer of one op, without id and ok. */
export type OutboxResultOf<O extends OutboxOp> = z.infer<(typeof resultFields)[O]>;
export type OutboxHello = OutboxResultOf<"hello">;
export type OutboxStatsAnswer = OutboxResultOf<"stats">;
export type SyncResultAnswer = OutboxResultOf<"sync">;
export type SinkSnapshotAnswer = OutboxResultOf<"snapshot">;

export const OutboxErrorAnswer = z.looseObject({
  id: Id,
  ok: z.literal(false),
  error: z.looseObject({ code: z.string().min(1), message: z.string() }),
});

/** The wire schema of each op's success answer: the result's fields plus id and ok:true. */
export const outboxAnswerSchemas = Object.fromEntries(
  Object.entries(resultFields).map(([op, fields]) => [
    op,
    z.intersection(z.looseObject({ id: Id, ok: z.literal(true) }), fields),
  ]),
) as unknown as { [O in OutboxOp]: z.ZodType<{ id: number; ok: true } & OutboxResultOf<O>> };
