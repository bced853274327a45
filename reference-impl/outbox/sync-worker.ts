import type { Logger } from "pino";
import { AsyncMutex } from "../async-mutex.js";
import { crashpoint } from "../../harness/protocol/crashpoint.js";
import { backoffDelay, type BackoffOptions } from "./backoff.js";
import type { CircuitBreaker } from "./circuit-breaker.js";
import type { OutboxEntry } from "./outbox-entry.js";
import { OutboxError } from "./outbox-error.js";
import type { OutboxStore } from "./outbox-store.js";
import { SinkUnavailableError, type OutboxSink } from "./sink.js";
import type { OutboxCrashPoint } from "./outbox-crash-points.js";

export { OUTBOX_CRASH_POINTS, type OutboxCrashPoint } from "./outbox-crash-points.js";

/** The timer calls the worker schedules with; tests inject fake ones and never sleep. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Node's timers, unref'd: a waiting worker does not keep the process alive on its own. */
export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Why a pass stopped before the queue was empty. */
export type SyncStop =
  /** The circuit is open: the sink was not called. */
  | "circuit-open"
  /** The sink threw SinkUnavailableError: an outage, counted by the breaker. */
  | "sink-unavailable"
  /** The head entry was refused and has retries left: later entries wait (n order is kept). */
  | "entry-error";

/** What one pass did. */
export interface SyncResult {
  /** Entries whose effect this pass applied. */
  applied: number;
  /** Entries the sink already held (a replay): marked COMPLETED without applying again. */
  duplicates: number;
  /** Entries marked FAILED by this pass (retries exhausted). */
  failed: number;
  /** PENDING and SYNCING entries left after the pass. */
  remaining: number;
  /** null when the pass ran to an empty queue. */
  stopped: SyncStop | null;
}

export interface SyncWorkerOptions {
  store: OutboxStore;
  sink: OutboxSink;
  breaker: CircuitBreaker;
  logger: Logger;
  /** Failed attempts (entry errors, never outages) before an entry is marked FAILED. Default 10. */
  maxRetries?: number;
  /** Time between passes when nothing failed. Default 5000 ms. */
  intervalMs?: number;
  /** Backoff after an outage or an entry error (`random` included). */
  backoff?: BackoffOptions;
  timers?: Timers;
  /** Called at every crash point before the crash check (tests). */
  onPoint?: (point: OutboxCrashPoint) => void;
}

export const SYNC_DEFAULTS = { maxRetries: 10, intervalMs: 5000 } as const;

/**
 * Applies pending entries to the sink in n order: SYNCING (durable), `sink.apply`,
 * COMPLETED (durable). Passes never overlap. An outage stops the pass and backs off
 * (entries are never failed for it); an entry the sink refuses is retried with backoff,
 * holding back later entries, until `maxRetries`, then marked FAILED and passed over.
 */
export class SyncWorker {
  private readonly store: OutboxStore;
  private readonly sink: OutboxSink;
  private readonly breaker: CircuitBreaker;
  private readonly logger: Logger;
  private readonly maxRetries: number;
  private readonly intervalMs: number;
  private readonly backoff: BackoffOptions;
  private readonly timers: Timers;
  private readonly onPoint: ((p: OutboxCrashPoint) => void) | undefined;
  private readonly passes = new AsyncMutex();
  private running = false;
  /** Bumped by start and stop, so a pass that ends after a stop schedules nothing. */
  private generation = 0;
  private timer: unknown;
  /** A failure scheduled the next pass: kicks wait for it rather than hammer the sink. */
  private backingOff = false;
  /** A scheduled run is waiting for the pass in progress: more kicks add nothing. */
  private queued = false;

  constructor(options: SyncWorkerOptions) {
    this.store = options.store;
    this.sink = options.sink;
    this.breaker = options.breaker;
    this.logger = options.logger;
    this.maxRetries = options.maxRetries ?? SYNC_DEFAULTS.maxRetries;
    this.intervalMs = options.intervalMs ?? SYNC_DEFAULTS.intervalMs;
    if (!Number.isInteger(this.maxRetries) || this.maxRetries < 1)
      throw new TypeError(`maxRetries must be an integer >= 1, got ${this.maxRetries}`);
    if (!Number.isFinite(this.intervalMs) || this.intervalMs < 0)
      throw new TypeError(`intervalMs must be a finite number >= 0, got ${this.intervalMs}`);
    this.backoff = options.backoff ?? {};
    this.timers = options.timers ?? realTimers;
    this.onPoint = options.onPoint;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Start the background loop: a pass now, then one every interval (or after a backoff). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.generation += 1;
    this.backingOff = false;
    this.kick();
  }

  /** Stop the loop: clear the timer and wait for the pass in progress. No timer is left behind. */
  async stop(): Promise<void> {
    this.running = false;
    this.generation += 1;
    this.clearTimer();
    await this.whenIdle();
  }

  /** Ask for a pass now (after a write). Ignored when stopped or backing off after a failure. */
  kick(): void {
    if (!this.running || this.backingOff || this.queued) return;
    this.clearTimer();
    this.queued = true;
    void this.runScheduled(this.generation);
  }

  /** Resolves once no pass is running or queued. */
  whenIdle(): Promise<void> {
    return this.passes.run(() => {});
  }

  /** One pass now, respecting the circuit breaker (waits for a pass in progress). */
  syncOnce(): Promise<SyncResult> {
    return this.passes.run(() => this.pass(false));
  }

  /** One pass now even if the circuit is open (an operator's `sync`); its outcome still feeds the breaker. */
  forceSync(): Promise<SyncResult> {
    return this.passes.run(() => this.pass(true));
  }

  private async runScheduled(generation: number): Promise<void> {
    await this.passes.run(async () => {
      this.queued = false;
      if (!this.running || generation !== this.generation || this.backingOff) return;
      let delay = this.intervalMs;
      try {
        delay = this.delayAfter(await this.pass(false));
      } catch (error) {
        if (error instanceof OutboxError) {
          // Halted or closed: nothing can be recorded any more, so the loop ends here.
          this.logger.error({ err: error }, "outbox sync loop stopped: the outbox WAL cannot be written");
          this.running = false;
          return;
        }
        this.logger.error({ err: error }, "outbox sync pass failed");
      }
      // Scheduled inside the pass lock, so whenIdle() sees the timer already set.
      if (this.running && generation === this.generation) this.schedule(delay);
    });
  }

  private delayAfter(result: SyncResult): number {
    if (result.stopped === null) return this.intervalMs;
    this.backingOff = true;
    // A circuit already half-open (its probe out) has no wait left: never spin on a 0 ms timer.
    if (result.stopped === "circuit-open") return this.breaker.msUntilHalfOpen() || this.intervalMs;
    if (result.stopped === "sink-unavailable") {
      const delay = backoffDelay(Math.max(1, this.breaker.consecutiveFailures), this.backoff);
      return Math.max(delay, this.breaker.msUntilHalfOpen());
    }
    const head = this.store.oldestPending();
    return backoffDelay(Math.max(1, (head && this.store.get(head.id)?.status.attempts) ?? 1), this.backoff);
  }

  private schedule(delay: number): void {
    this.clearTimer();
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.backingOff = false;
      this.queued = true;
      void this.runScheduled(this.generation);
    }, delay);
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async pass(force: boolean): Promise<SyncResult> {
    const result: SyncResult = { applied: 0, duplicates: 0, failed: 0, remaining: 0, stopped: null };
    const halted = this.store.haltError;
    if (halted) throw halted;
    // Entries accepted while the pass runs join it: re-read the queue until it is empty.
    let batch = this.store.pending();
    while (batch.length > 0 && result.stopped === null) {
      for (const entry of batch) {
        result.stopped = await this.syncEntry(entry, force, result);
        if (result.stopped !== null) break;
      }
      batch = this.store.pending();
    }
    result.remaining = this.store.pendingCount;
    return result;
  }

  /** Sync one entry; the reason to stop the pass, or null to go on. */
  private async syncEntry(entry: OutboxEntry, force: boolean, result: SyncResult): Promise<SyncStop | null> {
    const current = this.store.get(entry.id);
    if (!current) return null;
    if (!force && this.breaker.state === "open") return "circuit-open";
    if (current.status.status !== "SYNCING") {
      await this.store.setStatus(entry.id, "SYNCING");
      this.point("outbox.after-syncing");
    }
    if (!force && !this.breaker.allowRequest()) return "circuit-open";

    let outcome: Awaited<ReturnType<OutboxSink["apply"]>>;
    try {
      outcome = await this.sink.apply(current.entry);
    } catch (error) {
      if (error instanceof SinkUnavailableError) {
        const wasOpen = this.breaker.state !== "closed";
        this.breaker.recordFailure();
        const circuit = this.breaker.state;
        this.logger.warn(
          { err: error, sink: this.sink.kind, consecutiveFailures: this.breaker.consecutiveFailures, circuit },
          "outbox sink unavailable: backing off",
        );
        if (!wasOpen && circuit === "open") {
          this.logger.error(
            {
              alert: "outbox.circuit-open",
              sink: this.sink.kind,
              consecutiveFailures: this.breaker.consecutiveFailures,
            },
            "outbox circuit opened: the database is unreachable",
          );
        }
        return "sink-unavailable";
      }
      // The database answered (and refused): it is reachable, so this is no breaker failure.
      this.breaker.recordSuccess();
      const attempts = (current.status.attempts ?? 0) + 1;
      const message = error instanceof Error ? error.message : String(error);
      if (attempts >= this.maxRetries) {
        await this.store.setStatus(entry.id, "FAILED", { attempts, error: message });
        result.failed += 1;
        this.logger.error(
          { alert: "outbox.entry-failed", id: entry.id, n: entry.n, type: entry.type, attempts, err: error },
          "outbox entry FAILED after its last retry",
        );
        return null;
      }
      await this.store.setStatus(entry.id, "PENDING", { attempts, error: message });
      this.logger.warn(
        { id: entry.id, n: entry.n, type: entry.type, attempts, maxRetries: this.maxRetries, err: error },
        "outbox entry refused by the sink: will retry",
      );
      return "entry-error";
    }
    this.breaker.recordSuccess();
    this.point("outbox.after-sink-apply");
    await this.store.setStatus(entry.id, "COMPLETED");
    this.point("outbox.after-completed");
    if (outcome === "applied") result.applied += 1;
    else result.duplicates += 1;
    return null;
  }

  private point(name: OutboxCrashPoint): void {
    this.onPoint?.(name);
    crashpoint(name);
  }
}
