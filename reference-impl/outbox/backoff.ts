/** Exponential backoff with full jitter. */
export interface BackoffOptions {
  /** The ceiling of the first retry's delay. Default 1000 ms. */
  baseMs?: number;
  /** No delay is longer than this. Default 60 000 ms. */
  capMs?: number;
  /** A number in [0, 1); default Math.random. Tests inject their own. */
  random?: () => number;
}

export const BACKOFF_DEFAULTS = { baseMs: 1000, capMs: 60_000 } as const;

/**
 * The delay before retry number `attempt` (1 for the first retry): a uniform draw from
 * [0, min(cap, base * 2^(attempt - 1))] ("full jitter"), so that many clients retrying
 * after the same outage spread out instead of arriving together.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const baseMs = options.baseMs ?? BACKOFF_DEFAULTS.baseMs;
  const capMs = options.capMs ?? BACKOFF_DEFAULTS.capMs;
  if (!Number.isInteger(attempt) || attempt < 1) throw new TypeError(`attempt must be an integer >= 1, got ${attempt}`);
  if (!Number.isFinite(baseMs) || baseMs < 0) throw new TypeError(`baseMs must be a finite number >= 0, got ${baseMs}`);
  if (!Number.isFinite(capMs) || capMs < 0) throw new TypeError(`capMs must be a finite number >= 0, got ${capMs}`);
  // 2 ** 1100 is Infinity, which min() turns into the cap; but 0 * Infinity is NaN.
  const ceiling = baseMs === 0 ? 0 : Math.min(capMs, baseMs * 2 ** (attempt - 1));
  const r = (options.random ?? Math.random)();
  // A random() that returns 1 (or more) must not push a delay past the cap.
  return Math.min(ceiling, Math.max(0, r) * ceiling);
}
