import { z } from "zod";

// One zod schema per message of adapter protocol v1 (docs/protocol.md), and
// the TypeScript type of each via z.infer. Objects are loose: the protocol may grow new
// optional fields, and an adapter that sends extra ones is not wrong.

export const PROTOCOL_VERSION = 1;

const Id = z.number().int().nonnegative();
export const BatchOpSchema = z.object({ key: z.string().min(1), value: z.string().nullable() });
export type BatchOp = z.infer<typeof BatchOpSchema>;

export const HelloRequest = z.looseObject({ id: Id, op: z.literal("hello") });
export const OpenRequest = z.looseObject({
  id: Id,
  op: z.literal("open"),
  dir: z.string().min(1),
  config: z.record(z.string(), z.unknown()),
});
export const AppendRequest = z.looseObject({ id: Id, op: z.literal("append"), ops: z.array(BatchOpSchema).min(1) });
export const CheckpointRequest = z.looseObject({
  id: Id,
  op: z.literal("checkpoint"),
  mode: z.enum(["passive", "truncate"]),
});
export const ReadRequest = z.looseObject({ id: Id, op: z.literal("read") });
export const CheckRequest = z.looseObject({ id: Id, op: z.literal("check") });
export const CloseRequest = z.looseObject({ id: Id, op: z.literal("close") });

// Extension "transaction": one step of a transaction is an object with exactly one of
// these fields (strict, so that a step of a kind an adapter does not know is refused
// rather than skipped).
export const TransactionStepSchema = z.union([
  z.strictObject({ put: BatchOpSchema }),
  z.strictObject({ savepoint: z.literal(true) }),
  z.strictObject({ rollback: z.literal(true) }),
  z.strictObject({ release: z.literal(true) }),
]);
export type TransactionStep = z.infer<typeof TransactionStepSchema>;
export const TransactionRequest = z.looseObject({
  id: Id,
  op: z.literal("transaction"),
  steps: z.array(TransactionStepSchema).min(1),
});
// Extension "recover": recover the WAL in `dir` as a fresh process's `open` would, answer its
// state (and `check`), then let go of it entirely, so the next `recover` starts as clean as a
// new process. Sent only to a process that has not opened a WAL (power-loss checking).
export const RecoverRequest = z.looseObject({
  id: Id,
  op: z.literal("recover"),
  dir: z.string().min(1),
  config: z.record(z.string(), z.unknown()),
});

export const Request = z.discriminatedUnion("op", [
  HelloRequest,
  OpenRequest,
  AppendRequest,
  CheckpointRequest,
  ReadRequest,
  CheckRequest,
  CloseRequest,
  TransactionRequest,
  RecoverRequest,
]);
export type Request = z.infer<typeof Request>;
export type Op = Request["op"];
/** The fields of a request of one op, without id and op. */
export type RequestFields<O extends Op> = {
  open: { dir: string; config: Record<string, unknown> };
  append: { ops: BatchOp[] };
  checkpoint: { mode: "passive" | "truncate" };
  hello: Record<never, never>;
  read: Record<never, never>;
  check: Record<never, never>;
  close: Record<never, never>;
  transaction: { steps: TransactionStep[] };
  recover: { dir: string; config: Record<string, unknown> };
}[O];

/** Any request line: enough to answer an unknown op with EUNSUPPORTED. */
export const AnyRequest = z.looseObject({ id: Id, op: z.string() });

// Extension: any response may carry `elapsedMs`, the time the adapter spent from reading
// the request line to writing the answer (`walcheck serve` adds it to every response).
const ElapsedMs = z.number().nonnegative().optional();

export const ErrorResponse = z.looseObject({
  id: Id,
  ok: z.literal(false),
  error: z.looseObject({ code: z.string().min(1), message: z.string() }),
  elapsedMs: ElapsedMs,
});
export type ErrorResponse = z.infer<typeof ErrorResponse>;

export const Durability = z.enum(["process", "power"]);

/**
 * The persistence models a power-loss crash state can be built under, weakest promise first
 * (docs/power-loss.md): what a disk may hold after a power cut.
 */
export const PERSISTENCE_MODELS = ["posix-pessimistic", "sector-atomic", "ext4-ordered", "process-only"] as const;
export type PersistenceModel = (typeof PERSISTENCE_MODELS)[number];

// The fields of each success response (without id and ok); the wire schemas below add
// those and stay loose so that extensions pass.
export const HelloFields = z.object({
  name: z.string().min(1),
  protocol: z.literal(PROTOCOL_VERSION),
  durability: Durability,
  features: z.array(z.string()),
  points: z.array(z.string()).optional(),
  /** The persistence model the adapter's engine assumes (docs/power-loss.md); default posix-pessimistic. */
  persistence: z.enum(PERSISTENCE_MODELS).optional(),
});
export const RecoveryInfo = z.looseObject({
  elapsedMs: z.number().nonnegative(),
  recordsReplayed: z.number().int().nonnegative(),
  bytesDiscarded: z.number().int().nonnegative(),
});
export const OpenFields = z.object({ lastSeq: z.number().int().nonnegative(), recovery: RecoveryInfo.optional() });
export const AppendFields = z.object({ seq: z.number().int().positive() });
export const CheckpointStatsSchema = z.looseObject({
  logFrames: z.number().int().nonnegative(),
  checkpointedFrames: z.number().int().nonnegative(),
  elapsedMs: z.number().nonnegative(),
});
export const CheckpointFields = z.object({ stats: CheckpointStatsSchema.optional() });
export const ReadFields = z.object({
  lastSeq: z.number().int().nonnegative(),
  state: z.record(z.string(), z.string()),
});
export const CheckFields = z.object({ result: z.array(z.string()).min(1) });
export const CloseFields = z.object({});
/** `recover` answers what open, read and check would have: the recovered state, and `check`'s lines when the adapter has it. */
export const RecoverFields = z.object({
  lastSeq: z.number().int().nonnegative(),
  state: z.record(z.string(), z.string()),
  check: z.array(z.string()).min(1).optional(),
  recovery: RecoveryInfo.optional(),
});

// The shared success shape: id, ok:true and the optional elapsedMs, plus the op's fields.
const wire = <T extends z.ZodRawShape>(fields: z.ZodObject<T>) =>
  fields.extend({ id: Id, ok: z.literal(true), elapsedMs: ElapsedMs }).loose();
export const HelloResponse = wire(HelloFields);
export const OpenResponse = wire(OpenFields);
export const AppendResponse = wire(AppendFields);
export const CheckpointResponse = wire(CheckpointFields);
export const ReadResponse = wire(ReadFields);
export const CheckResponse = wire(CheckFields);
export const CloseResponse = wire(CloseFields);
/** A committed transaction is answered like an append: its one seq. */
export const TransactionResponse = wire(AppendFields);
export const RecoverResponse = wire(RecoverFields);

/** The success schema for each op. */
export const responseSchemas = {
  hello: HelloResponse,
  open: OpenResponse,
  append: AppendResponse,
  checkpoint: CheckpointResponse,
  read: ReadResponse,
  check: CheckResponse,
  close: CloseResponse,
  transaction: TransactionResponse,
  recover: RecoverResponse,
} as const;

const resultFields = {
  hello: HelloFields,
  open: OpenFields,
  append: AppendFields,
  checkpoint: CheckpointFields,
  read: ReadFields,
  check: CheckFields,
  close: CloseFields,
  transaction: AppendFields,
  recover: RecoverFields,
} as const;

/** A success response of one op, without id and ok. */
export type ResultOf<O extends Op> = z.infer<(typeof resultFields)[O]>;

export type Hello = ResultOf<"hello">;
export type OpenResult = ResultOf<"open">;
export type ReadResult = ResultOf<"read">;
export type CheckpointResult = ResultOf<"checkpoint">;
export type CheckpointStatsInfo = z.infer<typeof CheckpointStatsSchema>;
export type RecoveryStatsInfo = z.infer<typeof RecoveryInfo>;

/** Optional features an adapter may list in `hello.features`. */
export const FEATURES = [
  "checkpoint",
  "checkpoint.truncate",
  "check",
  "transaction",
  "shared",
  "checksums",
  "recovery-stats",
  "deterministic",
  "recover",
] as const;
