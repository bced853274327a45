import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { AdapterClient } from "../../protocol/adapter-client.js";
import { AdapterError } from "../../protocol/adapter-error.js";
import { CaseChecker, type RecoveryAnswer } from "../../checks/case-checker.js";
import type { KeyDiff } from "../../checks/prefix-model.js";
import type { Invariant } from "../../checks/violation.js";
import type { CrashState } from "./crash-states.js";
import { materialize } from "./crash-states.js";
import type { Recording } from "./record-life.js";
import type { Borrower, RecoverSlot, RecoveryKeeper } from "./recovery-keeper.js";

// Recover crash states in fresh adapter processes and hold each to the invariants of its
// cut. A directory is recovered once: states with the same bytes (the same key), at one
// cut or at several, share one recovery, and each is then judged against its own cut's
// acknowledged batches. That assumes what the protocol already does: what `open` and
// `read` answer is a function of the directory's bytes.

/** What a fresh process made of a directory, and how long its recovery took. */
export type Recovered = RecoveryAnswer & { ms: number };

/** A passing state may have lost acknowledged batches: only an adapter that promises process durability may (`lostAcked`, counted). */
export type PowerVerdict =
  { ok: true; lostAcked?: number } | { ok: false; invariant: Invariant; message: string; diff: KeyDiff[] };

/** Batches acknowledged before cut k, and batches whose I/O could have started by then. */
export function boundsAt(rec: Recording, k: number): { acked: number; possible: number } {
  let acked = 0;
  rec.ackedAt.forEach((a, b) => {
    if (a !== undefined && a <= k) acked = Math.max(acked, b + 1);
  });
  const possible = rec.sentAt.filter((s) => s < k).length;
  return { acked, possible };
}

/**
 * Judge what a process recovered from a state cut after trace line k: the case checker, with
 * the batches whose I/O could have started by then sent and those acknowledged by then acked.
 * With `durable` false (an adapter that promises process durability only) nothing is owed
 * across the power cut: the state must still be a whole prefix of what was sent (atomicity,
 * sequence, integrity, recovery), and the acknowledged batches it lost are counted.
 */
export function judgeState(rec: Recording, k: number, r: Recovered, durable = true): PowerVerdict {
  const { acked, possible } = boundsAt(rec, k);
  if (r.open === "failed" && r.code === DIED_RECOVERING) {
    const [head, tail] = splitOnce(r.message, "\n");
    return {
      ok: false,
      invariant: "recovery",
      message: `${head}, on a directory a power loss can leave (${acked} batches acknowledged by then)${tail === undefined ? "" : `\n${tail}`}`,
      diff: [],
    };
  }
  const finding = CaseChecker.after(rec.batches.slice(0, possible), durable ? acked : 0).judgeRecovery(r, {
    openFailed: `on a directory a power loss can leave (${acked} batches acknowledged by then)`,
    checkAfter: "after recovering this state",
  });
  if (finding) return { ok: false, ...finding };
  const lost = !durable && r.open === "ok" ? Math.max(0, acked - r.lastSeq) : 0;
  return lost > 0 ? { ok: true, lostAcked: lost } : { ok: true };
}

/**
 * The code of a recovery whose adapter process ended on its own (a signal such as SIGSEGV or
 * SIGABRT, an exit) while it recovered a crash state: a `recovery` failure of that state, like a
 * refused open, since a power loss can leave that directory. (A process that dies in the
 * recorded life, or before it was given a state, is still an adapter error.)
 */
export const DIED_RECOVERING = "ADAPTER_DIED_RECOVERING";

function splitOnce(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + sep.length)];
}

/** How much of the dead process's stderr a failure quotes. */
const STDERR_QUOTED = 2000;

/** `e` as the answer of a process that died during `op` of a recovery (its stderr tail on the lines after the first), or undefined if it is not that. */
function diedRecovering(e: unknown, op: string, ms: number): Recovered | undefined {
  if (!(e instanceof AdapterError) || e.code !== "ADAPTER_EXITED") return undefined;
  const { signal, exitCode, stderrTail } = e.details;
  const how = signal ? `died by ${signal}` : `exited with code ${String(exitCode)}`;
  const tail = stderrTail.trim().slice(-STDERR_QUOTED);
  return {
    open: "failed",
    code: DIED_RECOVERING,
    message: `the adapter process ${how} while recovering this state (during ${op})${tail ? `\n${tail}` : ""}`,
    ms,
  };
}

export interface PoolOptions {
  openConfig: Record<string, unknown>;
  check: boolean;
  /**
   * "fresh": every directory is recovered by a new process (open, read, check, SIGKILL),
   * `ahead` of them started in advance. "reuse": the adapter has the `recover` op, and a few
   * long-lived processes answer one `recover` per directory; `fresh()` is still there to
   * cross-check them (with `ahead` fresh processes kept started from its first call on).
   */
  mode: "fresh" | "reuse";
  ahead: number;
  /** Recoveries (`recover()`) at once, each in a process of its own; more wait their turn. Default: no limit. */
  size?: number;
  /** Processes kept between the cases of a run: borrowed from it, given back at `close` (recovery-keeper.ts). */
  keeper?: { keeper: RecoveryKeeper; borrower: Borrower };
}

/** Recoveries one long-lived process answers before it is replaced (bounds what a leak could build up). */
const REUSE_LIMIT = 400;

/** A counting semaphore: `take` waits for a free slot. */
class Slots {
  private readonly waiting: (() => void)[] = [];

  constructor(private free: number) {}

  take(): Promise<void> {
    if (this.free > 0) {
      this.free -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free += 1;
  }

  /** Let every waiter go (they find the pool closed). */
  drain(): void {
    for (let next = this.waiting.shift(); next; next = this.waiting.shift()) next();
  }
}

/** Adapter processes that recover crash-state directories. */
export class RecoveryPool {
  private ready: Promise<AdapterClient>[] = [];
  private idle: RecoverSlot[] = [];
  private readonly all = new Set<AdapterClient>();
  private readonly slots: Slots;
  private closed = false;

  constructor(
    private readonly spawn: () => AdapterClient,
    private readonly o: PoolOptions,
  ) {
    this.slots = new Slots(o.size ?? Number.POSITIVE_INFINITY);
    if (o.mode === "fresh") this.fillAhead();
  }

  get mode(): "fresh" | "reuse" {
    return this.o.mode;
  }

  private fillAhead(): void {
    while (this.ready.length < this.o.ahead && !this.closed) {
      const kept = this.o.keeper?.keeper.takeReady(this.o.keeper.borrower);
      if (kept) {
        this.all.add(kept);
        this.ready.push(Promise.resolve(kept));
      } else this.ready.push(this.started());
    }
  }

  private newClient(): AdapterClient {
    const client = this.o.keeper ? this.o.keeper.keeper.spawn(this.o.keeper.borrower) : this.spawn();
    this.all.add(client);
    return client;
  }

  private started(): Promise<AdapterClient> {
    const client = this.newClient();
    const ready = client.hello().then(() => client);
    // A process started ahead and never used is killed at close: its hello then fails, and nobody waits for it.
    ready.catch(() => undefined);
    return ready;
  }

  /** Recover `dir` the pool's way, `size` at a time. */
  async recover(dir: string): Promise<Recovered> {
    await this.slots.take();
    try {
      if (this.closed) throw new Error("recovery pool closed");
      return await (this.o.mode === "reuse" ? this.recoverInLongLived(dir) : this.fresh(dir));
    } finally {
      this.slots.give();
    }
  }

  /** Recover `dir` in a process of its own: open, read, check, then SIGKILL. */
  async fresh(dir: string): Promise<Recovered> {
    if (this.closed) throw new Error("recovery pool closed");
    const next = this.ready.shift() ?? this.started();
    this.fillAhead();
    const client = await next;
    const t = performance.now();
    let op = "open";
    try {
      const open = await client.request("open", { dir, config: this.o.openConfig });
      if (!open.ok)
        return { open: "failed", code: open.error.code, message: open.error.message, ms: performance.now() - t };
      const ms = open.recovery?.elapsedMs ?? performance.now() - t;
      op = "read";
      const read = await client.request("read", {});
      if (!read.ok)
        return { open: "failed", code: read.error.code, message: `read after open: ${read.error.message}`, ms };
      let check: string[] | undefined;
      if (this.o.check) {
        op = "check";
        const c = await client.request("check", {});
        check = c.ok ? c.result : [`check answered ${c.error.code}: ${c.error.message}`];
      }
      return { open: "ok", lastSeq: read.lastSeq, state: read.state, ...(check ? { check } : {}), ms };
    } catch (e) {
      // Not one walcheck killed (at close, at a case's timeout): the process died on this state.
      const died = this.closed || client.killedByWalcheck ? undefined : diedRecovering(e, op, performance.now() - t);
      if (died) return died;
      throw e;
    } finally {
      this.all.delete(client);
      await client.kill("SIGKILL");
    }
  }

  private async longLived(): Promise<RecoverSlot> {
    const slot = this.idle.pop() ?? this.o.keeper?.keeper.takeIdle(this.o.keeper.borrower);
    if (slot) {
      this.all.add(slot.client);
      return slot;
    }
    const client = this.newClient();
    await client.hello();
    return { client, uses: 0 };
  }

  private async recoverInLongLived(dir: string): Promise<Recovered> {
    const slot = await this.longLived();
    const t = performance.now();
    let r;
    try {
      r = await slot.client.request("recover", { dir, config: this.o.openConfig });
    } catch (e) {
      this.all.delete(slot.client);
      const ours = this.closed || slot.client.killedByWalcheck;
      await slot.client.kill("SIGKILL");
      const died = ours ? undefined : diedRecovering(e, "recover", performance.now() - t);
      if (died) return died;
      throw e;
    }
    slot.uses += 1;
    if (slot.uses < REUSE_LIMIT && !this.closed) this.idle.push(slot);
    else {
      this.all.delete(slot.client);
      await slot.client.kill("SIGKILL");
    }
    if (!r.ok) return { open: "failed", code: r.error.code, message: r.error.message, ms: performance.now() - t };
    return {
      open: "ok",
      lastSeq: r.lastSeq,
      state: r.state,
      ...(r.check ? { check: r.check } : this.o.check ? { check: ["recover answered no check lines"] } : {}),
      ms: r.recovery?.elapsedMs ?? performance.now() - t,
    };
  }

  /** Stop: processes in use are killed; with a keeper, idle long-lived ones and unused fresh ones go back to it. */
  async close(): Promise<void> {
    this.closed = true;
    this.slots.drain();
    const pending = this.ready;
    const idle = this.idle;
    this.ready = [];
    this.idle = [];
    const keeper = this.o.keeper?.keeper;
    if (keeper) {
      await Promise.all([
        ...idle.map(async (slot) => {
          this.all.delete(slot.client);
          await keeper.giveIdle(slot);
        }),
        ...pending.map(async (p) => {
          const client = await p.catch(() => undefined);
          if (!client) return;
          this.all.delete(client);
          await keeper.giveReady(client);
        }),
      ]);
    }
    await Promise.all([...this.all].map((c) => c.kill("SIGKILL")));
    await Promise.allSettled(pending);
  }
}

/** Same answer from two recoveries of the same state: same open outcome (code), same seq, state and check lines. */
export function sameRecovery(a: Recovered, b: Recovered): boolean {
  if (a.open === "failed" || b.open === "failed")
    return a.open === "failed" && b.open === "failed" && a.code === b.code;
  if (a.lastSeq !== b.lastSeq || JSON.stringify(a.check ?? null) !== JSON.stringify(b.check ?? null)) return false;
  const ka = Object.keys(a.state);
  return ka.length === Object.keys(b.state).length && ka.every((k) => b.state[k] === a.state[k]);
}

function summary(r: Recovered): string {
  if (r.open === "failed") return `open failed with ${r.code}`;
  return `lastSeq ${r.lastSeq}, ${Object.keys(r.state).length} keys${r.check ? `, check ${JSON.stringify(r.check)}` : ""}`;
}

export interface StateFailure {
  state: CrashState;
  verdict: Extract<PowerVerdict, { ok: false }>;
  recovered: Recovered;
  /** The state's directory as it was built, before any recovery (inside workDir). */
  dir: string;
}

export interface CheckResult {
  /** States judged (each distinct directory of each cut). */
  checked: number;
  /**
   * The crash states the persistence model enumerated for them: every variant of each cut,
   * before the variants of a cut that leave the same bytes are merged into one state.
   */
  enumerated: number;
  /**
   * Enumerated states that were not recovered: their directory's bytes (names, sizes,
   * contents) equal those of one already recovered, at their cut or an earlier one; they were
   * judged on that recovery (`enumerated` − `recovered`).
   */
  duplicates: number;
  /** Directories recovered (distinct contents). */
  recovered: number;
  /** Of those, recovered a second time by a fresh process to cross-check `recover` (reuse mode). */
  crossChecked: number;
  elapsedMs: number;
  recoveryMs: number[];
  /** Process durability only: the states that lost acknowledged batches, and the most batches one lost. */
  lostAcked: { states: number; batches: number };
  failure?: StateFailure;
}

/** In "reuse" mode, one directory in this many (the first included) is also recovered by a fresh process; the answers must agree. */
export const CROSS_CHECK_EVERY = 16;

/**
 * Judge every state of `states`, in their order, stopping at the first that fails (or when
 * `signal` aborts). Each distinct directory is built under `workDir` and recovered by `pool`
 * (`workers` directories at once, the next ones built meanwhile), then removed; a state whose
 * bytes were already recovered is judged on that recovery, and one with the same bytes and
 * the same bounds (acknowledged, possibly sent) as one already judged gets its verdict. In
 * reuse mode one directory in CROSS_CHECK_EVERY is recovered again by a fresh process beside
 * the others, and a failure is confirmed by a fresh process before it is reported, as that
 * process saw it.
 *
 * The result does not depend on `workers` or on timing: the failure reported is the first
 * failing state in the order of `states` (states after it that were already under way are
 * not counted), and so are the counts.
 */
export async function checkStates(o: {
  states: Iterable<CrashState>;
  rec: Recording;
  pool: RecoveryPool;
  workDir: string;
  workers: number;
  /** false: the adapter promises process durability only (judgeState). */
  durable?: boolean;
  signal?: AbortSignal;
  onProgress?: (checked: number) => void;
}): Promise<CheckResult> {
  const started = performance.now();
  const durable = o.durable ?? true;
  const workers = Math.max(1, o.workers);
  const reuse = o.pool.mode === "reuse";

  /** A distinct directory: its place among them, the first state that had it, its recovery. */
  interface Dir {
    n: number;
    firstAt: number;
    dir: string;
    recovery: Promise<Recovered>;
    recovered?: Recovered;
    crossChecked?: boolean;
  }
  /** What became of the i-th state. */
  interface Outcome {
    state: CrashState;
    verdict?: PowerVerdict;
    recovered?: Recovered;
    confirmed?: boolean;
    error?: unknown;
  }
  const dirs = new Map<string, Dir>();
  const outcomes: Outcome[] = [];
  const verdicts = new Map<string, PowerVerdict>();
  /** A periodic cross-check that failed (`recover` not isolated, an adapter error), by the index of the state whose directory it was. */
  const crossErrors: { at: number; error: unknown }[] = [];
  /** The index of the first state (so far) that failed or hit an error: nothing after it is started. */
  let stopAt = Number.POSITIVE_INFINITY;
  const stop = (i: number) => (stopAt = Math.min(stopAt, i));
  const background = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    const settled = p.catch(() => undefined).finally(() => background.delete(settled));
    background.add(settled);
  };
  const removed = (dir: string) => track(fs.promises.rm(dir, { recursive: true, force: true }));
  let freshDirs = 0;
  let done = 0;
  const crossSlots = new Slots(workers);

  await fs.promises.mkdir(o.workDir, { recursive: true });
  const materialized = async (state: CrashState, dir: string) => {
    await fs.promises.mkdir(dir);
    await materialize(state, dir);
    return dir;
  };
  // The same state recovered by a fresh process must give the same answer as `recover` did.
  const crossCheck = async (state: CrashState, reused: Recovered, dir: string): Promise<Recovered> => {
    const freshDir = `${dir}-fresh-${freshDirs++}`;
    try {
      const answer = await o.pool.fresh(await materialized(state, freshDir));
      if (!sameRecovery(reused, answer)) {
        throw new AdapterError(
          "ADAPTER_PROTOCOL",
          `recover is not isolated: for the power-loss state at cut ${state.cut} (variant ${state.variant}) recover answered ${summary(reused)}, but a fresh process answered ${summary(answer)}. The adapter's recover keeps something from what it recovered before (or its recovery is not deterministic); --fresh-recovery recovers every state in a process of its own`,
          { op: "recover", stderrTail: "" },
        );
      }
      return answer;
    } finally {
      removed(freshDir);
    }
  };
  const dirOf = (i: number, state: CrashState): Dir => {
    let d = dirs.get(state.key);
    if (d) return d;
    const n = dirs.size;
    const dir = path.join(
      o.workDir,
      `state-${String(n).padStart(5, "0")}-${createHash("sha1").update(state.key).digest("hex").slice(0, 8)}`,
    );
    const recovery = (async () => {
      try {
        return await o.pool.recover(await materialized(state, dir));
      } finally {
        removed(dir);
      }
    })();
    const entry: Dir = { n, firstAt: i, dir, recovery };
    d = entry;
    dirs.set(state.key, entry);
    recovery.then((r) => (entry.recovered = r)).catch(() => undefined);
    if (reuse && n % CROSS_CHECK_EVERY === 0) {
      // Beside the other recoveries, not in their way: its result counts at the end.
      track(
        (async () => {
          const reused = await recovery;
          await crossSlots.take();
          try {
            if (stopAt < i) return;
            await crossCheck(state, reused, dir);
            entry.crossChecked = true;
          } finally {
            crossSlots.give();
          }
        })().catch((error: unknown) => {
          crossErrors.push({ at: i, error });
          stop(i);
        }),
      );
    }
    return entry;
  };
  const judged = async (i: number, state: CrashState): Promise<void> => {
    const outcome: Outcome = { state };
    outcomes[i] = outcome;
    const d = dirOf(i, state);
    let recovered = await d.recovery;
    const { acked, possible } = boundsAt(o.rec, state.cut);
    const same = `${state.key} ${acked} ${possible}`;
    let verdict = verdicts.get(same) ?? judgeState(o.rec, state.cut, recovered, durable);
    verdicts.set(same, verdict);
    if (!verdict.ok && reuse) {
      recovered = await crossCheck(state, recovered, d.dir);
      verdict = judgeState(o.rec, state.cut, recovered, durable);
      outcome.confirmed = true;
    }
    outcome.recovered = recovered;
    outcome.verdict = verdict;
    if (!verdict.ok) stop(i);
    done += 1;
    o.onProgress?.(done);
  };

  const inflight = new Set<Promise<void>>();
  const iterator = o.states[Symbol.iterator]();
  let next = 0;
  try {
    while (stopAt === Number.POSITIVE_INFINITY && !o.signal?.aborted) {
      const item = iterator.next();
      if (item.done) break;
      const i = next++;
      const p: Promise<void> = judged(i, item.value)
        .catch((error: unknown) => {
          outcomes[i] = { state: item.value, error };
          stop(i);
        })
        .finally(() => inflight.delete(p));
      inflight.add(p);
      // The directories being recovered and the next ones being built.
      if (inflight.size >= 2 * workers) await Promise.race(inflight);
    }
  } finally {
    await Promise.all(inflight);
    while (background.size > 0) await Promise.all(background);
  }

  // What a sequential check would have seen: the states up to the first failure (or error).
  const last = Number.isFinite(stopAt) ? stopAt : next - 1;
  const crossError = crossErrors.filter((e) => e.at === stopAt)[0];
  if (crossError) throw crossError.error;
  const first = Number.isFinite(stopAt) ? outcomes[stopAt] : undefined;
  if (first?.error !== undefined) throw first.error;

  const result: CheckResult = {
    checked: 0,
    enumerated: 0,
    duplicates: 0,
    recovered: 0,
    crossChecked: 0,
    elapsedMs: 0,
    recoveryMs: [],
    lostAcked: { states: 0, batches: 0 },
  };
  for (let i = 0; i <= last; i++) {
    const x = outcomes[i];
    if (!x?.verdict) continue;
    result.checked += 1;
    result.enumerated += 1 + x.state.alsoVariants.length;
    if (x.confirmed) result.crossChecked += 1;
    if (x.verdict.ok && x.verdict.lostAcked) {
      result.lostAcked.states += 1;
      result.lostAcked.batches = Math.max(result.lostAcked.batches, x.verdict.lostAcked);
    }
  }
  for (const d of dirs.values()) {
    if (d.firstAt > last || !d.recovered) continue;
    result.recovered += 1;
    if (d.crossChecked) result.crossChecked += 1;
    // A process that died has no recovery time to speak of (only how long it took to die).
    if (d.recovered.open === "ok" || d.recovered.code !== DIED_RECOVERING) result.recoveryMs.push(d.recovered.ms);
  }
  result.duplicates = Math.max(0, result.enumerated - result.recovered);
  if (first?.verdict && !first.verdict.ok) {
    // The state as it was built, for a person (recoveries may have changed their copies).
    const dir = path.join(o.workDir, "failed-state");
    await fs.promises.rm(dir, { recursive: true, force: true });
    await materialized(first.state, dir);
    result.failure = { state: first.state, verdict: first.verdict, recovered: first.recovered!, dir };
  }
  result.elapsedMs = performance.now() - started;
  return result;
}
