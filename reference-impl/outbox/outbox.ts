import type { Logger } from "pino";
import { defaultLogger } from "../default-logger.js";
import type { JsonValue } from "../../harness/protocol/stable-json.js";
import type { WalOptions } from "../wal-options.js";
import type { BackoffOptions } from "./backoff.js";
import { CircuitBreaker, type CircuitBreakerOptions, type CircuitState } from "./circuit-breaker.js";
import type { OutboxEntry } from "./outbox-entry.js";
import { OutboxStore } from "./outbox-store.js";
import type { OutboxSink } from "./sink.js";
import { SyncWorker, type OutboxCrashPoint, type SyncResult, type Timers } from "./sync-worker.js";

export interface OutboxOptions {
  /** The database the entries go to. */
  sink: OutboxSink;
  /** When true, `close()` closes the sink too. Default false: whoever opened the sink closes it. */
  ownsSink?: boolean;
  /** pino logger for alerts (`alert` field) and warnings; default: JSON to stderr. */
  logger?: Logger;
  /** Wall clock in epoch ms (entry and status times, breaker, ages); default Date.now. */
  now?: () => number;
  /** [0, 1) for backoff jitter; default Math.random. */
  random?: () => number;
  /** Timer calls of the sync loop; default Node's (unref'd). */
  timers?: Timers;
  /** Failed attempts before an entry is marked FAILED. Default 10. */
  maxRetries?: number;
  /** How long COMPLETED entries are kept before `compact()` removes them. Default 168 h. */
  retentionMs?: number;
  /** A warning is logged when the PENDING + SYNCING queue grows past this. Default 1000. */
  pendingAlertThreshold?: number;
  /** Time between sync passes. Default 5000 ms. */
  syncIntervalMs?: number;
  /** Backoff base and cap (random comes from `random`). */
  backoff?: Omit<BackoffOptions, "random">;
  /** Circuit breaker threshold and reset (the clock comes from `now`). */
  breaker?: Omit<CircuitBreakerOptions, "now">;
  /** Passed to the underlying Wal (fault injection in tests). */
  wal?: Omit<WalOptions, "sync" | "logger">;
  /** Called at every outbox crash point before the crash check (tests). */
  onPoint?: (point: OutboxCrashPoint) => void;
}

export const OUTBOX_DEFAULTS = { retentionMs: 168 * 60 * 60 * 1000, pendingAlertThreshold: 1000 } as const;

/** What `write` did: a critical operation accepted into the WAL, or a non-critical one written straight to the database. */
export type WriteResult = { status: "accepted"; entry: OutboxEntry; duplicate: boolean } | { status: "direct" };

/** What `stats()` reports (and the CLI prints). */
export interface OutboxStats {
  pending: number;
  syncing: number;
  completed: number;
  failed: number;
  /** Entries skipped because their checksum does not match. */
  corruptSkipped: number;
  /** Age of the oldest PENDING or SYNCING entry; 0 when there is none. */
  oldestPendingAgeMs: number;
  /** Sink outages since the last successful apply. */
  consecutiveFailures: number;
  /** Sink outages since the outbox was opened. */
  totalFailures: number;
  circuit: CircuitState;
  /** True once the WAL could not be written: every critical write is refused. */
  halted: boolean;
  /** The sink's kind ("sqlite", "postgres"). */
  sink: string;
}

/**
 * A durable outbox in front of a database: critical operations are made durable in a WAL
 * first and applied to the database by a background worker, exactly once in effect (the
 * sink's idempotency key); non-critical ones go straight to the database.
 *
 * ```ts
 * const outbox = await Outbox.open("data/wal", { sink: await SqliteSink.open("data/db.sqlite") });
 * outbox.start();
 * await outbox.write("balance.update", { account: "acme", delta: 5, opId: "op-1" });
 * await outbox.close();
 * ```
 */
export class Outbox {
  /** The durable half (entries, statuses, WAL seq): for tools and tests. */
  readonly store: OutboxStore;
  private readonly sink: OutboxSink;
  private readonly ownsSink: boolean;
  private readonly worker: SyncWorker;
  private readonly breaker: CircuitBreaker;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly retentionMs: number;
  private readonly pendingAlertThreshold: number;
  private pendingAlerted = false;
  private closing: Promise<void> | undefined;

  private constructor(store: OutboxStore, options: OutboxOptions, logger: Logger) {
    this.store = store;
    this.sink = options.sink;
    this.ownsSink = options.ownsSink ?? false;
    this.logger = logger;
    this.now = options.now ?? Date.now;
    this.retentionMs = options.retentionMs ?? OUTBOX_DEFAULTS.retentionMs;
    this.pendingAlertThreshold = options.pendingAlertThreshold ?? OUTBOX_DEFAULTS.pendingAlertThreshold;
    this.breaker = new CircuitBreaker({ ...options.breaker, now: this.now });
    this.worker = new SyncWorker({
      store,
      sink: options.sink,
      breaker: this.breaker,
      logger,
      maxRetries: options.maxRetries,
      intervalMs: options.syncIntervalMs,
      backoff: { ...options.backoff, random: options.random },
      timers: options.timers,
      onPoint: options.onPoint,
    });
    this.checkPendingAlert();
  }

  /** Open (creating if needed) the outbox in `dir`. Entries left PENDING or SYNCING by an earlier process are synced by the worker. */
  static async open(dir: string, options: OutboxOptions): Promise<Outbox> {
    if (!options?.sink) throw new TypeError(`Outbox.open needs options.sink, got ${JSON.stringify(options?.sink)}`);
    const logger = options.logger ?? defaultLogger();
    const store = await OutboxStore.open(dir, { logger, now: options.now, wal: options.wal, onPoint: options.onPoint });
    try {
      return new Outbox(store, options, logger);
    } catch (error) {
      await store.close();
      throw error;
    }
  }

  /**
   * A critical write (default) resolves once the entry is durable in the WAL, then asks the
   * running worker for a sync (not awaited); it rejects with OUTBOX_HALTED once the WAL
   * cannot be written. A non-critical write (`critical: false`) goes straight to the sink
   * and rejects with whatever the sink throws.
   */
  async write(
    type: string,
    args: Record<string, JsonValue>,
    options: { critical?: boolean } = {},
  ): Promise<WriteResult> {
    if (options.critical === false) {
      await this.sink.writeDirect(type, args);
      return { status: "direct" };
    }
    const { entry, duplicate } = await this.store.accept(type, args);
    if (!duplicate) {
      this.checkPendingAlert();
      this.worker.kick();
    }
    return { status: "accepted", entry, duplicate };
  }

  /** Start the background sync: a pass now, then every `syncIntervalMs`, backing off on failures. */
  start(): void {
    this.worker.start();
  }

  /** Stop the background sync, waiting for the pass in progress. */
  stop(): Promise<void> {
    return this.worker.stop();
  }

  /** One pass now, even if the circuit is open. */
  forceSync(): Promise<SyncResult> {
    return this.worker.forceSync();
  }

  /** One pass now, respecting the circuit breaker (what the loop runs). */
  syncOnce(): Promise<SyncResult> {
    return this.worker.syncOnce();
  }

  /** Remove COMPLETED entries older than `retentionMs` and fold the WAL; how many were removed. */
  compact(): Promise<number> {
    return this.store.compact({ retentionMs: this.retentionMs, now: this.now() });
  }

  stats(): OutboxStats {
    const counts = this.store.counts();
    const oldest = this.store.oldestPending();
    return {
      ...counts,
      oldestPendingAgeMs: oldest ? Math.max(0, this.now() - oldest.createdAt) : 0,
      consecutiveFailures: this.breaker.consecutiveFailures,
      totalFailures: this.breaker.totalFailures,
      circuit: this.breaker.state,
      halted: this.store.halted,
      sink: this.sink.kind,
    };
  }

  /** Stop the worker and close the WAL. The sink is closed only with `ownsSink: true`. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.worker.stop();
      await this.store.close();
      if (this.ownsSink) await this.sink.close();
    })();
    return this.closing;
  }

  // One warning per crossing: re-armed once the queue is back at or under the threshold.
  private checkPendingAlert(): void {
    const pending = this.store.pendingCount;
    if (pending <= this.pendingAlertThreshold) {
      this.pendingAlerted = false;
    } else if (!this.pendingAlerted) {
      this.pendingAlerted = true;
      this.logger.warn(
        { alert: "outbox.pending-threshold", pending, threshold: this.pendingAlertThreshold },
        "outbox pending queue is over its threshold",
      );
    }
  }
}
