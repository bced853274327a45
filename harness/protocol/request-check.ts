// Request validation for the serving side (`walcheck serve`). It runs inside every
// adapter child, thousands per campaign, so it is plain code rather than zod, whose
// import alone costs ~100 ms of start-up. The walcheck side validates every response with
// the zod schemas in messages.ts.
import { isObject, requestHead, type LineRequestCheck } from "./line-server.js";
import type { BatchOp, Op, TransactionStep } from "./messages.js";

export type CheckedRequest =
  | { id: number; op: "hello" | "read" | "check" | "close" }
  | { id: number; op: "open" | "recover"; dir: string; config: Record<string, unknown> }
  | { id: number; op: "append"; ops: BatchOp[] }
  | { id: number; op: "checkpoint"; mode: "passive" | "truncate" }
  | { id: number; op: "transaction"; steps: TransactionStep[] };

export type RequestCheck = LineRequestCheck<CheckedRequest>;

const OPS = new Set<string>([
  "hello",
  "open",
  "append",
  "checkpoint",
  "read",
  "check",
  "close",
  "transaction",
  "recover",
]);
const STEP_KINDS = ["put", "savepoint", "rollback", "release"] as const;

/** Check one parsed request line against protocol v1. */
export function checkRequest(line: unknown): RequestCheck {
  const head = requestHead(line, OPS);
  if ("status" in head) return head;
  const { json, id, op } = head;
  const invalid = (message: string): RequestCheck => ({ status: "invalid", id, message: `${op}: ${message}` });
  switch (op as Op) {
    case "open":
    case "recover":
      if (typeof json.dir !== "string" || json.dir.length === 0) return invalid("dir must be a non-empty string");
      if (json.config !== undefined && !isObject(json.config)) return invalid("config must be an object");
      return {
        status: "ok",
        request: {
          id,
          op: op as "open" | "recover",
          dir: json.dir,
          config: (json.config as Record<string, unknown>) ?? {},
        },
      };
    case "append": {
      const given = json.ops;
      if (!Array.isArray(given) || given.length === 0) return invalid("ops must be a non-empty array");
      // Checked and copied (key and value only) in one pass: this runs for every append.
      const ops: BatchOp[] = new Array<BatchOp>(given.length);
      for (let i = 0; i < given.length; i++) {
        const o: unknown = given[i];
        if (!isObject(o) || typeof o.key !== "string" || o.key.length === 0)
          return invalid(`ops.${i}.key must be a non-empty string`);
        if (o.value !== null && typeof o.value !== "string") return invalid(`ops.${i}.value must be a string or null`);
        ops[i] = { key: o.key, value: o.value };
      }
      return { status: "ok", request: { id, op: "append", ops } };
    }
    case "transaction": {
      if (!Array.isArray(json.steps) || json.steps.length === 0) return invalid("steps must be a non-empty array");
      const steps: TransactionStep[] = [];
      for (const [i, s] of json.steps.entries()) {
        const fields = isObject(s) ? Object.keys(s) : [];
        if (fields.length !== 1 || !(STEP_KINDS as readonly string[]).includes(fields[0]!)) {
          return invalid(`steps.${i} must be an object with exactly one of ${STEP_KINDS.join(", ")}`);
        }
        const step = s as Record<string, unknown>;
        if ("put" in step) {
          const put = step.put;
          if (!isObject(put) || typeof put.key !== "string" || put.key.length === 0)
            return invalid(`steps.${i}.put.key must be a non-empty string`);
          if (put.value !== null && typeof put.value !== "string")
            return invalid(`steps.${i}.put.value must be a string or null`);
          steps.push({ put: { key: put.key, value: put.value } });
        } else {
          const kind = fields[0] as "savepoint" | "rollback" | "release";
          if (step[kind] !== true) return invalid(`steps.${i}.${kind} must be true`);
          steps.push(
            kind === "savepoint" ? { savepoint: true } : kind === "rollback" ? { rollback: true } : { release: true },
          );
        }
      }
      return { status: "ok", request: { id, op: "transaction", steps } };
    }
    case "checkpoint":
      if (json.mode !== "passive" && json.mode !== "truncate") return invalid('mode must be "passive" or "truncate"');
      return { status: "ok", request: { id, op: "checkpoint", mode: json.mode } };
    default:
      return { status: "ok", request: { id, op: op as "hello" | "read" | "check" | "close" } };
  }
}
