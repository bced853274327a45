import { performance } from "node:perf_hooks";
import { AsyncMutex } from "./async-mutex.js";
import { DirLock } from "./dir-lock.js";
import { ensureDir } from "./durable-fs.js";
import { WalError } from "./errors.js";

// The scaffolding the reference adapters share: checking `open.config`, one open store at
// a time, and, for the single-writer designs (event log, state file), ops in turn behind a
// FIFO mutex with the directory's flock held from open to close.

/** What is wrong with a config field's value, or undefined if nothing is. */
export type FieldCheck = (value: unknown) => string | undefined;

/**
 * A parser of an adapter's `open.config`: undefined or null is {}; anything else must be an
 * object whose every field has a check and passes it (an undefined value always does), or
 * it throws WAL_CONFIG `invalid <what> config: <field>: <problem>; ...` naming every bad
 * field. (Plain checks, not zod: this runs in every adapter child and zod's import costs
 * ~100 ms of start-up.)
 */
export function configParser<T extends object>(
  what: string,
  fields: { [K in keyof Required<T>]: FieldCheck },
): (raw: unknown) => T {
  const checks: Record<string, FieldCheck> = fields;
  return (raw) => {
    if (raw === undefined || raw === null) return {} as T;
    if (typeof raw !== "object" || Array.isArray(raw))
      throw new WalError("WAL_CONFIG", `invalid ${what} config: expected an object, got ${JSON.stringify(raw)}`);
    const problems: string[] = [];
    for (const [key, value] of Object.entries(raw)) {
      const problem = !Object.hasOwn(checks, key)
        ? "unknown field"
        : value === undefined
          ? undefined
          : checks[key]!(value);
      if (problem) problems.push(`${key}: ${problem}`);
    }
    if (problems.length > 0) throw new WalError("WAL_CONFIG", `invalid ${what} config: ${problems.join("; ")}`);
    return raw as T;
  };
}

/** The one store an adapter has open: refuses a second open, and every op before open or after close. */
export class OpenStore<S> {
  /** The open store; undefined before open and after close. */
  current: S | undefined;

  /**
   * `what` names the store in "<what> is already open", e.g. "the WAL". Throws a UsageError
   * naming fs-ext when the directory lock's flock binding does not load: an adapter without it
   * fails when it is made (walcheck exits 2), not on every open as if the WAL were broken.
   */
  constructor(private readonly what: string) {
    DirLock.ensureAvailable();
  }

  /** The open store, or WAL_CLOSED "open must come first". */
  get(): S {
    if (this.current === undefined) throw new WalError("WAL_CLOSED", "open must come first");
    return this.current;
  }

  /** Throws WAL_INVALID "<what> is already open" while a store is open. */
  assertClosed(): void {
    if (this.current !== undefined) throw new WalError("WAL_INVALID", `${this.what} is already open`);
  }
}

export interface LockedStoreOptions<S, C> {
  /** Names the store in "<store> is already open", e.g. "the event log". */
  store: string;
  parseConfig: (raw: unknown) => C;
  /** The adapter's own config, under every `open.config`; checked by the constructor. */
  defaults: C;
  /** Closes an open store (default: nothing to close). */
  close?: (store: S) => Promise<void> | void;
}

/** What an adapter's open callback made: the store, and the answer to `open`. */
export interface Opened<S, R> {
  store: S;
  result: R;
}

/**
 * An adapter over a single-writer store in one directory. Every op takes its turn behind
 * the one before, so ops pipelined behind `open` wait for it and appends are acknowledged
 * in order; open holds the directory's flock (`<dir>/LOCK`, as the reference WAL takes it)
 * until close, so a second process is refused with WAL_LOCKED.
 */
export class LockedStore<S, C> {
  private readonly mutex = new AsyncMutex();
  private readonly slot: OpenStore<S>;
  private lock: DirLock | undefined;

  constructor(private readonly options: LockedStoreOptions<S, C>) {
    options.parseConfig(options.defaults);
    this.slot = new OpenStore(options.store);
  }

  /**
   * In turn: refuses a second open, checks `{...defaults, ...config}`, creates `dir` and
   * takes its lock, then calls `open` with the config and the time open started. If that
   * throws, the lock is released (a store it half opened, it closes itself).
   */
  open<R>(
    dir: string,
    config: Record<string, unknown>,
    open: (config: C, started: number) => Promise<Opened<S, R>>,
  ): Promise<R> {
    return this.mutex.run(async () => {
      this.slot.assertClosed();
      const cfg = this.options.parseConfig({ ...this.options.defaults, ...config });
      const started = performance.now();
      ensureDir(dir);
      const held = DirLock.acquire(dir);
      let opened: Opened<S, R>;
      try {
        opened = await open(cfg, started);
      } catch (error) {
        held.release();
        throw error;
      }
      this.slot.current = opened.store;
      this.lock = held;
      return opened.result;
    });
  }

  /** Runs `op` on the open store (WAL_CLOSED if there is none) after every op before it. */
  run<T>(op: (store: S) => Promise<T> | T): Promise<T> {
    return this.mutex.run(() => op(this.slot.get()));
  }

  /** After every op in flight: closes the store and releases the lock. Idempotent. */
  async close(): Promise<void> {
    await this.mutex.run(() => undefined);
    const store = this.slot.current;
    if (store !== undefined) await this.options.close?.(store);
    this.slot.current = undefined;
    this.lock?.release();
    this.lock = undefined;
  }
}
