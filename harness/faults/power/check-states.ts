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
   * cross-check them.
   */
  mode: "fresh" | "reuse";
  ahead: number;
}

/** Recoveries one long-lived process answers before it is replaced (bounds what a leak could build up). */
const REUSE_LIMIT = 400;

/** Adapter processes that recover crash-state directories. */
export class RecoveryPool {
  private ready: Promise<AdapterClient>[] = [];
  private idle: { client: AdapterClient; uses: number }[] = [];
  private readonly all = new Set<AdapterClient>();
  private closed = false;

  constructor(
    private readonly spawn: () => AdapterClient,
    private readonly o: PoolOptions,
  ) {
    if (o.mode === "fresh") for (let i = 0; i < o.ahead; i++) this.ready.push(this.started());
  }

  get mode(): "fresh" | "reuse" {
    return this.o.mode;
  }

  private started(): Promise<AdapterClient> {
    const client = this.spawn();
    this.all.add(client);
    const ready = client.hello().then(() => client);
    // A process started ahead and never used is killed at close: its hello then fails, and nobody waits for it.
    ready.catch(() => undefined);
    return ready;
  }

  /** Recover `dir` the pool's way. */
  recover(dir: string): Promise<Recovered> {
    return this.o.mode === "reuse" ? this.recoverInLongLived(dir) : this.fresh(dir);
  }

  /** Recover `dir` in a process of its own: open, read, check, then SIGKILL. */
  async fresh(dir: string): Promise<Recovered> {
    if (this.closed) throw new Error("recovery pool closed");
    const next = this.o.mode === "fresh" ? (this.ready.shift() ?? this.started()) : this.started();
    if (this.o.mode === "fresh") this.ready.push(this.started());
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

  private async recoverInLongLived(dir: string): Promise<Recovered> {
    if (this.closed) throw new Error("recovery pool closed");
    const slot = this.idle.pop() ?? { client: await this.started(), uses: 0 };
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

  async close(): Promise<void> {
    this.closed = true;
    const pending = this.ready;
    this.ready = [];
    this.idle = [];
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
  /** The materialized directory (inside workDir). */
  dir: string;
}

export interface CheckResult {
  /** States judged (each state of each cut). */
  checked: number;
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
 * Judge every state of `states` (stopping at the first failure, or when `signal` aborts),
 * `workers` at a time; each distinct directory is materialized under `workDir` and
 * recovered by `pool`, then removed unless it failed. In reuse mode a failure is confirmed
 * by a fresh process before it is reported, and reported as that process saw it.
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
  const memo = new Map<string, Promise<{ recovered: Recovered; dir: string }>>();
  const result: CheckResult = {
    checked: 0,
    recovered: 0,
    crossChecked: 0,
    elapsedMs: 0,
    recoveryMs: [],
    lostAcked: { states: 0, batches: 0 },
  };
  const durable = o.durable ?? true;
  const iterator = o.states[Symbol.iterator]();
  let n = 0;
  let fresh = 0;
  const materialized = async (state: CrashState, dir: string) => {
    fs.mkdirSync(dir, { recursive: true });
    await materialize(state, dir);
    return dir;
  };
  // The same state recovered by a fresh process must give the same answer as `recover` did.
  const crossCheck = async (state: CrashState, reused: Recovered, dir: string) => {
    const freshDir = await materialized(state, `${dir}-fresh-${fresh++}`);
    const answer = await o.pool.fresh(freshDir);
    result.crossChecked += 1;
    if (!sameRecovery(reused, answer)) {
      throw new AdapterError(
        "ADAPTER_PROTOCOL",
        `recover is not isolated: for the power-loss state at cut ${state.cut} (variant ${state.variant}) recover answered ${summary(reused)}, but a fresh process answered ${summary(answer)}. The adapter's recover keeps something from what it recovered before (or its recovery is not deterministic); --fresh-recovery recovers every state in a process of its own`,
        { op: "recover", stderrTail: "" },
      );
    }
    return { fresh: answer, freshDir };
  };
  const recoverOnce = (state: CrashState) => {
    let p = memo.get(state.key);
    if (!p) {
      const index = n++;
      const dir = path.join(
        o.workDir,
        `state-${String(index).padStart(5, "0")}-${createHash("sha1").update(state.key).digest("hex").slice(0, 8)}`,
      );
      p = (async () => {
        const recovered = await o.pool.recover(await materialized(state, dir));
        result.recovered += 1;
        // A process that died has no recovery time to speak of (only how long it took to die).
        if (recovered.open === "ok" || recovered.code !== DIED_RECOVERING) result.recoveryMs.push(recovered.ms);
        if (o.pool.mode === "reuse" && index % CROSS_CHECK_EVERY === 0)
          fs.rmSync((await crossCheck(state, recovered, dir)).freshDir, { recursive: true, force: true });
        return { recovered, dir };
      })();
      memo.set(state.key, p);
    }
    return p;
  };
  const worker = async () => {
    for (;;) {
      if (result.failure || o.signal?.aborted) return;
      const next = iterator.next();
      if (next.done) return;
      const state = next.value;
      let { recovered, dir } = await recoverOnce(state);
      let verdict = judgeState(o.rec, state.cut, recovered, durable);
      if (!verdict.ok && o.pool.mode === "reuse") {
        ({ fresh: recovered, freshDir: dir } = await crossCheck(state, recovered, dir));
        verdict = judgeState(o.rec, state.cut, recovered, durable);
      }
      result.checked += 1;
      if (verdict.ok && verdict.lostAcked) {
        result.lostAcked.states += 1;
        result.lostAcked.batches = Math.max(result.lostAcked.batches, verdict.lostAcked);
      }
      o.onProgress?.(result.checked);
      if (!verdict.ok && !result.failure) result.failure = { state, verdict, recovered, dir };
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, o.workers) }, worker));
  } finally {
    // Keep only the failing state's directory.
    const keep = result.failure?.dir;
    for (const p of memo.values()) {
      const { dir } = await p.catch(() => ({ dir: undefined }));
      if (dir && dir !== keep) fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  result.elapsedMs = performance.now() - started;
  return result;
}
