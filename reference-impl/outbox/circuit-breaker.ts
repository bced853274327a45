/** Where the breaker stands: `closed` lets calls through, `open` refuses them, `half-open` lets one probe through. */
export type CircuitState = "closed" | "open" | "half-open";

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. Default 5. */
  failureThreshold?: number;
  /** How long the circuit stays open before a probe is let through. Default 30 000 ms. */
  resetMs?: number;
  /** Clock in ms; default Date.now. Tests inject their own. */
  now?: () => number;
}

export const CIRCUIT_DEFAULTS = { failureThreshold: 5, resetMs: 30_000 } as const;

/**
 * A circuit breaker for the database's availability. Pure logic over an injected clock:
 * it never calls anything itself; the caller asks `allowRequest()` before a call and
 * reports the outcome with `recordSuccess()` or `recordFailure()`.
 *
 * closed → open after `failureThreshold` consecutive failures; open → half-open once
 * `resetMs` has passed; half-open lets one probe through: success closes, failure reopens.
 */
export class CircuitBreaker {
  readonly failureThreshold: number;
  readonly resetMs: number;
  private readonly now: () => number;
  private openedAt: number | undefined;
  private probing = false;
  private consecutive = 0;
  private total = 0;

  constructor(options: CircuitBreakerOptions = {}) {
    this.failureThreshold = options.failureThreshold ?? CIRCUIT_DEFAULTS.failureThreshold;
    this.resetMs = options.resetMs ?? CIRCUIT_DEFAULTS.resetMs;
    if (!Number.isInteger(this.failureThreshold) || this.failureThreshold < 1) {
      throw new TypeError(`failureThreshold must be an integer >= 1, got ${this.failureThreshold}`);
    }
    if (!Number.isFinite(this.resetMs) || this.resetMs < 0)
      throw new TypeError(`resetMs must be a finite number >= 0, got ${this.resetMs}`);
    this.now = options.now ?? Date.now;
  }

  get state(): CircuitState {
    if (this.openedAt === undefined) return "closed";
    return this.now() - this.openedAt >= this.resetMs ? "half-open" : "open";
  }

  /** Failures since the last success. */
  get consecutiveFailures(): number {
    return this.consecutive;
  }

  /** Failures over the life of this breaker. */
  get totalFailures(): number {
    return this.total;
  }

  /** Ms until an open circuit turns half-open; 0 when it is not open. */
  msUntilHalfOpen(): number {
    if (this.openedAt === undefined) return 0;
    return Math.max(0, this.openedAt + this.resetMs - this.now());
  }

  /** May a call go through now? In half-open, true once (the probe) until its outcome is recorded. */
  allowRequest(): boolean {
    const state = this.state;
    if (state === "closed") return true;
    if (state === "open" || this.probing) return false;
    this.probing = true;
    return true;
  }

  recordSuccess(): void {
    this.consecutive = 0;
    this.openedAt = undefined;
    this.probing = false;
  }

  recordFailure(): void {
    this.consecutive += 1;
    this.total += 1;
    this.probing = false;
    // A failed probe (or any failure while open) restarts the wait; a closed circuit opens at the threshold.
    if (this.openedAt !== undefined || this.consecutive >= this.failureThreshold) this.openedAt = this.now();
  }
}
