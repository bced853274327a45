import { z } from "zod";
import { fastAnswer } from "./fast-answer.js";
import { CheckpointStatsSchema, ErrorResponse, RecoveryInfo, responseSchemas, type Op } from "./messages.js";

// The tolerant reader of adapter answers. Fields walcheck only shows a person (informational:
// `elapsedMs`, checkpoint `stats`, open's and recover's `recovery`, an error's `message`) may be
// missing or of the wrong type: the answer is used with that field dropped (or, for an error's
// message, defaulted), and a warning says what was expected and what came. Fields an invariant
// depends on (seq, lastSeq, state, ok, result, check, error.code, the hello fields, and
// recovery.bytesDiscarded for an adapter that lists `recovery-stats`) stay strict: a bad one is
// an ADAPTER_PROTOCOL error, as the zod schemas in messages.ts say. Fields no schema names are
// accepted and ignored everywhere (the schemas are loose).

/** One deviation in an informational field, counted over a run. */
export interface ProtocolWarning {
  op: string;
  /** Its path in the answer: `elapsedMs`, `stats.logFrames`, `recovery`, `error.message`. */
  field: string;
  kind: "missing" | "invalid";
  /** What came and what was expected, in one line. */
  message: string;
  count: number;
}

interface Sub {
  name: string;
  schema: z.ZodType;
  expected: string;
}

const COUNT = "an integer >= 0";
const MS = "a number >= 0";
const sub = (object: z.ZodObject, name: string, expected: string): Sub => ({
  name,
  schema: object.shape[name] as z.ZodType,
  expected,
});

const ELAPSED: Sub = { name: "elapsedMs", schema: z.number().nonnegative(), expected: MS };
const STATS: Sub[] = [
  sub(CheckpointStatsSchema, "logFrames", COUNT),
  sub(CheckpointStatsSchema, "checkpointedFrames", COUNT),
  sub(CheckpointStatsSchema, "elapsedMs", MS),
];
const RECOVERY: Sub[] = [
  sub(RecoveryInfo, "elapsedMs", MS),
  sub(RecoveryInfo, "recordsReplayed", COUNT),
  sub(RecoveryInfo, "bytesDiscarded", COUNT),
];
const MESSAGE: Sub = { name: "message", schema: z.string(), expected: "a string" };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

const show = (v: unknown): string => {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

export type Tolerated =
  | { ok: true; value: Record<string, unknown>; warnings: Omit<ProtocolWarning, "count">[] }
  | { ok: false; problem: string };

/** Zod issues as one line, `path: message; ...` (as json-lines-child's schemaCheck writes them). */
const issues = (error: z.ZodError): string =>
  error.issues.map((i) => `${i.path.map(String).join(".") || "(message)"}: ${i.message}`).join("; ");

/**
 * Read one answer to `op`: strict where an invariant depends on a field, tolerant (a warning,
 * the field dropped) where it is informational. `claims` says which features the adapter's
 * hello listed (`recovery-stats` makes recovery.bytesDiscarded strict).
 */
export function readAnswer(op: Op, json: Record<string, unknown>, claims: readonly string[] = []): Tolerated {
  // The common answers (append, transaction, read) checked by hand; anything unusual goes on to zod.
  const fast = fastAnswer(op, json);
  if (fast) return { ok: true, value: fast, warnings: [] };
  return readAnswerWithZod(op, json, claims);
}

/** readAnswer without the fast path: the zod schemas alone (the definition, and what the fast path is tested against). */
export function readAnswerWithZod(op: Op, json: Record<string, unknown>, claims: readonly string[] = []): Tolerated {
  const warnings: Omit<ProtocolWarning, "count">[] = [];
  const warn = (field: string, kind: "missing" | "invalid", expected: string, got?: unknown) =>
    warnings.push({
      op,
      field,
      kind,
      message:
        kind === "missing"
          ? `${op} answer: ${field} is missing (expected ${expected}); ignored`
          : `${op} answer: ${field} is ${show(got)} (expected ${expected}); ignored`,
    });
  const rest: Record<string, unknown> = { ...json };
  const kept: Record<string, unknown> = {};

  // elapsedMs, on any answer: optional, so only a present bad value is a deviation.
  if (rest.elapsedMs !== undefined) {
    if (ELAPSED.schema.safeParse(rest.elapsedMs).success) kept.elapsedMs = rest.elapsedMs;
    else warn("elapsedMs", "invalid", ELAPSED.expected, rest.elapsedMs);
    delete rest.elapsedMs;
  }

  if (json.ok === false) {
    if (isObject(json.error) && !MESSAGE.schema.safeParse(json.error.message).success) {
      if (json.error.message === undefined) warn("error.message", "missing", MESSAGE.expected);
      else warn("error.message", "invalid", MESSAGE.expected, json.error.message);
      rest.error = { ...json.error, message: "(no message)" };
    }
    const parsed = ErrorResponse.safeParse(rest);
    if (!parsed.success) return { ok: false, problem: issues(parsed.error) };
    return { ok: true, value: { ...(parsed.data as Record<string, unknown>), ...kept }, warnings };
  }

  // An informational object: each known sub-field checked on its own; `strict` ones are left to fail.
  const object = (field: string, subs: Sub[], strict: readonly string[] = []): string | undefined => {
    const value = rest[field];
    if (value === undefined) return;
    delete rest[field];
    if (!isObject(value)) {
      if (strict.length > 0) return `${field}: expected an object with ${strict.join(", ")}, got ${show(value)}`;
      warn(field, "invalid", "an object", value);
      return;
    }
    const clean: Record<string, unknown> = { ...value };
    for (const s of subs) {
      const v = value[s.name];
      if (s.schema.safeParse(v).success) continue;
      if (strict.includes(s.name)) {
        const issue = s.schema.safeParse(v).error?.issues[0]?.message ?? "invalid";
        return `${field}.${s.name}: ${issue}`;
      }
      if (v === undefined) warn(`${field}.${s.name}`, "missing", s.expected);
      else warn(`${field}.${s.name}`, "invalid", s.expected, v);
      delete clean[s.name];
    }
    kept[field] = clean;
    return undefined;
  };

  let problem: string | undefined;
  if (op === "checkpoint") problem = object("stats", STATS);
  if (op === "open" || op === "recover")
    problem = object("recovery", RECOVERY, claims.includes("recovery-stats") ? ["bytesDiscarded"] : []);
  if (problem) return { ok: false, problem };
  const parsed = responseSchemas[op].safeParse(rest);
  if (!parsed.success) return { ok: false, problem: issues(parsed.error) };
  return { ok: true, value: { ...(parsed.data as Record<string, unknown>), ...kept }, warnings };
}

/** Fold one warning into a run's list: one entry per (op, field, kind), counted. */
export function addWarning(list: ProtocolWarning[], w: Omit<ProtocolWarning, "count"> & { count?: number }): void {
  const same = list.find((x) => x.op === w.op && x.field === w.field && x.kind === w.kind);
  if (same) same.count += w.count ?? 1;
  else list.push({ op: w.op, field: w.field, kind: w.kind, message: w.message, count: w.count ?? 1 });
}
