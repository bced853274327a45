import { UsageError } from "../protocol/errors.js";

// Durations on the command line and in configs. Its own small module: `walcheck outbox serve`
// starts once per crash case and must not load zod to parse a flag.

const DURATION_UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "60s" → 60000 (units ms, s, m, h, d); `examples` is what the error message suggests. */
export function parseDuration(raw: string | number, flag = "--budget", examples = "60s, 5m or 500ms"): number {
  if (typeof raw === "number") return raw;
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(raw.trim());
  if (!m) throw new UsageError(`${flag} must be a duration like ${examples}, got ${JSON.stringify(raw)}`);
  return Number(m[1]) * DURATION_UNITS[m[2] as keyof typeof DURATION_UNITS];
}
