import type { Op } from "./messages.js";

// The hand-checked fast path of tolerant-reader.ts for the answers a campaign gets most: a
// success answer to `append`, `transaction` and `read`. It accepts exactly what the zod
// schemas in messages.ts accept for those shapes (test/harness/fast-answer.test.ts checks that
// with generated answers) and returns the answer as zod would (the same fields and values);
// anything it does not take (an error answer, a deviation that is a warning or a fault, a
// `__proto__` key, which zod drops) returns undefined and goes through zod, which stays the
// definition and the slow path, with its messages.

const own = Object.prototype.hasOwnProperty;

/** z.number().int().nonnegative() (zod's int is a safe integer). */
const count = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;

/** An `elapsedMs` zod takes without a warning: absent, or a finite number >= 0. */
const elapsedOk = (v: unknown): boolean =>
  v === undefined || (typeof v === "number" && v >= 0 && v !== Number.POSITIVE_INFINITY);

/** The plain object of string to string that z.record(z.string(), z.string()) takes and gives back as is. */
function stringRecord(v: unknown): boolean {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  for (const key in v) {
    if (!own.call(v, key)) return false;
    if (typeof (v as Record<string, unknown>)[key] !== "string") return false;
  }
  // zod drops a `__proto__` key; JSON.parse makes it an own key, which for...in does not list.
  return !own.call(v, "__proto__");
}

/**
 * A success answer to `op` that needs no warning and no zod, as the tolerant reader would
 * return it; undefined for anything else (the caller then runs the tolerant reader).
 */
export function fastAnswer(op: Op, json: Record<string, unknown>): Record<string, unknown> | undefined {
  if (json.ok !== true || !count(json.id) || !elapsedOk(json.elapsedMs) || own.call(json, "__proto__")) return;
  switch (op) {
    case "append":
    case "transaction":
      return Number.isSafeInteger(json.seq) && (json.seq as number) >= 1 ? json : undefined;
    case "read":
      return count(json.lastSeq) && stringRecord(json.state) ? json : undefined;
    default:
      return undefined;
  }
}
