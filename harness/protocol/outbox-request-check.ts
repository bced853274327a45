// Request validation for the serving side of the outbox protocol (`walcheck outbox serve`):
// plain code, as request-check.ts is for the adapter protocol, because zod's import
// alone costs ~100 ms and the crash scenarios start an outbox process per crash. The rules
// are those of the zod schemas in outbox-messages.ts (walcheck's side).
import { isObject, requestHead, type LineRequestCheck } from "./line-server.js";
import type { OpenConfig, OutboxOp } from "./outbox-messages.js";

export type CheckedOutboxRequest =
  | { id: number; op: "hello" | "sync" | "start" | "stop" | "stats" | "snapshot" | "compact" | "close" }
  | { id: number; op: "open"; dir: string; sink: string; config: OpenConfig }
  | { id: number; op: "write"; type: string; args: Record<string, unknown>; critical: boolean };

export type OutboxRequestCheck = LineRequestCheck<CheckedOutboxRequest>;

const OPS = new Set<string>([
  "hello",
  "open",
  "write",
  "sync",
  "start",
  "stop",
  "stats",
  "snapshot",
  "compact",
  "close",
] satisfies OutboxOp[]);

/** Each config field and the check its value must pass (mirrors OpenConfigSchema). */
const CONFIG_FIELDS: Record<keyof OpenConfig, { test: (v: unknown) => boolean; want: string }> = {
  failureThreshold: { test: (v) => Number.isInteger(v) && (v as number) >= 1, want: "an integer >= 1" },
  breakerResetMs: { test: (v) => isFiniteAtLeast(v, 0), want: "a number >= 0" },
  syncIntervalMs: { test: (v) => isFiniteAtLeast(v, 0), want: "a number >= 0" },
  backoffBaseMs: { test: (v) => isFiniteAtLeast(v, 0), want: "a number >= 0" },
  backoffCapMs: { test: (v) => isFiniteAtLeast(v, 0), want: "a number >= 0" },
  maxRetries: { test: (v) => Number.isInteger(v) && (v as number) >= 1, want: "an integer >= 1" },
  retentionMs: { test: (v) => isFiniteAtLeast(v, 0), want: "a number >= 0" },
  pendingAlertThreshold: { test: (v) => Number.isInteger(v) && (v as number) >= 0, want: "an integer >= 0" },
  busyTimeoutMs: { test: (v) => Number.isInteger(v) && (v as number) >= 0, want: "an integer >= 0" },
  connectTimeoutMs: { test: (v) => isFiniteAtLeast(v, 0) && (v as number) > 0, want: "a number > 0" },
  schema: {
    test: (v) => typeof v === "string" && /^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(v),
    want: "a plain SQL identifier",
  },
};

function isFiniteAtLeast(v: unknown, min: number): boolean {
  return typeof v === "number" && Number.isFinite(v) && v >= min;
}

/** Check one parsed request line against outbox protocol v1. */
export function checkOutboxRequest(line: unknown): OutboxRequestCheck {
  const head = requestHead(line, OPS);
  if ("status" in head) return head;
  const { json, id, op } = head;
  const invalid = (message: string): OutboxRequestCheck => ({ status: "invalid", id, message: `${op}: ${message}` });
  if (op === "open") {
    if (typeof json.dir !== "string" || json.dir.length === 0) return invalid("dir must be a non-empty string");
    if (typeof json.sink !== "string" || json.sink.length === 0)
      return invalid("sink must be a non-empty string (sqlite:<absolute path> or postgres://…)");
    const config = json.config ?? {};
    if (!isObject(config)) return invalid("config must be an object");
    for (const [key, value] of Object.entries(config)) {
      const field = CONFIG_FIELDS[key as keyof OpenConfig];
      if (!field)
        return invalid(`config.${key} is not a config field (known: ${Object.keys(CONFIG_FIELDS).join(", ")})`);
      if (!field.test(value)) return invalid(`config.${key} must be ${field.want}, got ${JSON.stringify(value)}`);
    }
    return { status: "ok", request: { id, op, dir: json.dir, sink: json.sink, config: config as OpenConfig } };
  }
  if (op === "write") {
    if (typeof json.type !== "string" || json.type.length === 0) return invalid("type must be a non-empty string");
    if (!isObject(json.args)) return invalid("args must be an object");
    if (json.critical !== undefined && typeof json.critical !== "boolean") return invalid("critical must be a boolean");
    return { status: "ok", request: { id, op, type: json.type, args: json.args, critical: json.critical !== false } };
  }
  return { status: "ok", request: { id, op: op as Exclude<CheckedOutboxRequest["op"], "open" | "write"> } };
}
