import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { dir as tmpDir } from "tmp-promise";
import { AdapterClient, type ExitInfo, type ProtocolWarning, type Reply } from "../protocol/adapter-client.js";
import type { ServeArm } from "../protocol/serve-arm.js";
import { addWarning } from "../protocol/tolerant-reader.js";
import { AdapterError } from "../protocol/adapter-error.js";
import { WalcheckError } from "../protocol/errors.js";
import { dirBytes } from "./dir-bytes.js";
import type { SpareShelf } from "./spare-shelf.js";
import type { AdapterLaunch } from "./adapter-launch.js";
import { nativeCrashEnv, nativeFaultEnv } from "./fault-path.js";
import { CaseChecker, type StateRead } from "../checks/case-checker.js";
import type { Ledger } from "../checks/ledger.js";
import type { PrefixModel } from "../checks/prefix-model.js";
import type { BatchOp, Hello, Op, RequestFields, TransactionStep } from "../protocol/messages.js";
import { netOps } from "../protocol/transaction-steps.js";
import type { CrashInfo, Invariant, InvariantViolation } from "../checks/violation.js";
import type { SweepMatrix } from "../checks/sweep.js";

/** A crash to arm in the next process: the adapter kills itself there. */
export type CrashArm =
  { kind: "named"; point: string; nth: number } | { kind: "fs"; call: number; when: "before" | "after" | "mid" };

/**
 * A crash inside `open`, for the recovery after a crash (crash-recovery): a named point or the
 * k-th fs call armed in the recovering process, or a SIGKILL `delayMs` after its `open` was sent.
 */
export type RecoveryCrash =
  | CrashArm
  | AimedFsArm
  | { kind: "kill"; delayMs: number }
  /** A SIGKILL `share` (0 <= share < 1) of the way into `open`, timed by a dry run of that recovery on a copy. */
  | { kind: "kill-aimed"; share: number };

/**
 * An fs-call crash placed by a dry run: the process that takes it is first run on a copy of the
 * directory under the fs preload's trace (the same requests, no crash), and the crash goes to the
 * call at `share` (0 <= share < 1) of the counted calls it made; with `writes`, of its write-like
 * calls only (a write cut in half by `mid` needs a write). A life that makes no such call gets
 * the first counted call. The dry run makes the k of an fs crash mean the same thing for any
 * adapter: "40% into its recovery", rather than "its 7th call", which may be past its last.
 */
export interface AimedFsArm {
  kind: "fs-aimed";
  share: number;
  when: "before" | "after" | "mid";
  writes?: boolean;
}

/**
 * The counted calls that write data, by the trace's label: the Node preload's ("writeSync",
 * "promises.writeFile", "FileHandle.write") and the C preload's ("write", "pwrite64", "writev",
 * "pwritev2"...).
 */
const WRITE_LABEL =
  /^(?:(?:promises\.|FileHandle\.)?(?:write|writev|writeFile|appendFile)(?:Sync)?|pwrite(?:64)?|pwritev(?:64)?(?:v2)?)$/;

/** A file-system fault for the next process (`WALCHECK_FS_FAULT`, see fs-preload.ts): it goes on living. */
export interface FaultArm {
  kind: "fault";
  spec: string;
}

export interface SessionOptions {
  launch: AdapterLaunch;
  dir: string;
  openConfig: Record<string, unknown>;
  recoveryThresholdMs: number;
  timeoutMs: number;
  /** Absolute path of the compiled fs-call preload (for `fs` arms on Node adapters). */
  fsPreload?: string;
  /** The C preload (LD_PRELOAD library, see fault-path.ts): fault arms go through it instead of the fs preload. */
  nativeFaults?: string;
  /** The C preload (see fault-path.ts): `fs` arms and the dry runs that aim them go through its crash mode instead of the fs preload. */
  nativeFsCrash?: string;
  /** Start the next recovery process ahead of time (default true). */
  prespawn?: boolean;
  /** Where an unused spare goes when the case ends, and where the first comes from (the campaign worker's shelf). */
  spares?: SpareShelf;
}

/** What a session saw, summed into the run's report. */
export interface SessionStats {
  lives: number;
  crashes: { named: Record<string, number>; fs: Record<string, number>; signal: number };
  /** Arms whose point was never reached before the process ended otherwise. */
  armsNotReached: number;
  batchesSent: number;
  batchesAcked: number;
  /** Requests the adapter refused (ok:false): appends, transactions and opens. Under an injected fault, the fault at work. */
  refused: { append: number; open: number };
  /** Processes started with an injected file-system fault. */
  faultLives: number;
  checkpoints: number;
  recoveryMs: number[];
  /** Each recovery's time beside the bytes of the WAL directory it started from. */
  recoveries: { walBytes: number; ms: number }[];
  /**
   * Power-loss states judged, and the distinct directories recovered for them in fresh processes;
   * for an adapter that promises process durability only, the states that lost acknowledged
   * batches (`lostStates`) and the most batches one lost (`lostMax`).
   */
  powerStates: {
    checked: number;
    recovered: number;
    crossChecked: number;
    ms: number;
    /** The crash states enumerated for them, and of those, the ones not recovered: same bytes as one already recovered. */
    enumerated?: number;
    duplicates?: number;
    lostStates?: number;
    lostMax?: number;
    /** A replay of a failing state: how many recordings of the life it took, and whether one had the failing run's shape. */
    replay?: { recordings: number; matched: boolean };
  };
  /** The corruption sweep's matrix (corruption-sweep only). */
  sweep?: SweepMatrix;
  /** Per-op latency samples in ms (the adapter's own `elapsedMs` where it sends one, else the round trip). */
  latency: Record<string, number[]>;
  /** Time split of the case: process start-up, recovery (open), workload, verification. */
  timeMs: { startup: number; recovery: number; workload: number; verify: number };
  /** Deviations in informational answer fields (tolerated), one entry per (op, field, kind), counted. */
  warnings: ProtocolWarning[];
}

/** Zeroed stats, to be summed into. */
export function emptyStats(): SessionStats {
  return {
    lives: 0,
    crashes: { named: {}, fs: {}, signal: 0 },
    armsNotReached: 0,
    batchesSent: 0,
    batchesAcked: 0,
    refused: { append: 0, open: 0 },
    faultLives: 0,
    checkpoints: 0,
    recoveryMs: [],
    recoveries: [],
    powerStates: { checked: 0, recovered: 0, crossChecked: 0, ms: 0 },
    latency: {},
    timeMs: { startup: 0, recovery: 0, workload: 0, verify: 0 },
    warnings: [],
  };
}

/** Thrown when a case is stopped from outside (its time limit, Ctrl-C) while it runs. */
export class CaseAbandoned extends WalcheckError {
  override readonly name = "CaseAbandoned";
  declare readonly code: "CASE_ABANDONED";

  constructor(message: string) {
    super("CASE_ABANDONED", message);
  }
}

/** Thrown by a request when the adapter died of the crash walcheck armed or sent: not an error (control flow). */
export class CrashHappened extends WalcheckError {
  override readonly name = "CrashHappened";
  declare readonly code: "CRASH_HAPPENED";

  constructor() {
    super("CRASH_HAPPENED", "");
  }
}

const describeArm = (arm: CrashArm): CrashInfo =>
  arm.kind === "named"
    ? { kind: "named", at: `${arm.point}:${arm.nth}` }
    : { kind: "fs", at: `#${arm.call} ${arm.when}` };

/** Why a case's session is disposed when nothing went wrong. */
const CASE_ENDED = "the case ended";

/** The session a spare taken from the shelf now serves (its warnings go there). */
const owners = new WeakMap<AdapterClient, CaseSession>();

/**
 * The real system a case drives: one adapter process at a time on one directory (spawning,
 * the spare process kept warm, crash arms, kills, timeouts). After every crash a fresh
 * process recovers the directory and hands what it answers to the case's checker
 * (checks/case-checker.ts) before the workload goes on.
 */
export class CaseSession {
  /** The prefix model, the ledger and the violations of this case. */
  readonly checker: CaseChecker;
  readonly stats: SessionStats = emptyStats();
  hello: Hello | undefined;
  /** The last `open` answer (a scenario may hold it to more than the protocol's invariants). */
  lastOpen: Reply<"open"> | undefined;
  /** What the case is doing now (the command running), for a timed-out case's report. */
  step = "start";
  /** Set by power-loss before it fails the case: the state that failed, for the replay token. */
  powerState: import("./replay-token.js").PowerStateRef | undefined;
  /** Set by corruption-sweep before it fails the case: the damaged copy that failed, for the replay token. */
  sweepCell: import("./replay-token.js").SweepCellRef | undefined;
  /** A failing power-loss state's attribution (faults/power/attribute.ts): the lost op, the missing barrier, where. */
  powerAttribution: import("../faults/power/attribute.js").PowerAttribution | undefined;
  private client: AdapterClient | undefined;
  private spare: AdapterClient | undefined;
  private armed: CrashArm | undefined;
  private killing = false;
  private disposed: string | undefined;
  /** Set after an `ok:false` append: the process is not used again (fail-stop). */
  private stopped = false;
  private readonly extras: AdapterClient[] = [];
  /**
   * Crashes for the recovery after the next crash: each, in turn, is a process crashed inside
   * its `open`, before the clean recovery that is judged as every recovery is. Consumed by
   * that crash; empty for every scenario but crash-recovery.
   */
  recoveryCrashes: RecoveryCrash[] = [];

  constructor(private readonly opts: SessionOptions) {
    this.checker = new CaseChecker({ recoveryThresholdMs: opts.recoveryThresholdMs });
  }

  /** The checker's prefix model (scenarios that send or retract batches by hand). */
  get model(): PrefixModel {
    return this.checker.model;
  }

  get ledger(): Ledger {
    return this.checker.ledger;
  }

  /** Called with every state read (after recovery and live), before the prefix model judges it: a scenario's own invariants. */
  get onRecovered(): ((read: StateRead) => void) | undefined {
    return this.checker.onRecovered;
  }

  set onRecovered(hook: ((read: StateRead) => void) | undefined) {
    this.checker.onRecovered = hook;
  }

  /** The WAL directory every process of this case opens. */
  get dirPath(): string {
    return this.opts.dir;
  }

  /** The config every `open` of this case sends. */
  get openConfig(): Record<string, unknown> {
    return this.opts.openConfig;
  }

  get stderrTail(): string {
    return this.client?.stderrTail ?? "";
  }

  get features(): string[] {
    return this.hello?.features ?? [];
  }

  /** Start a process (armed or not), recover the directory and check every invariant. */
  async start(arm?: CrashArm): Promise<void> {
    if (this.disposed) throw new CaseAbandoned(this.disposed);
    this.armed = arm;
    this.killing = false;
    this.stopped = false;
    this.stats.lives += 1;
    let t = performance.now();
    const late = this.takeProcess(arm);
    if (this.opts.prespawn !== false && !this.spare) this.spare = this.nextSpare();
    try {
      if (late) await this.client!.arm(late);
      const hello = this.must("hello", await this.request("hello", {}));
      this.hello ??= hello;
      this.stats.timeMs.startup += performance.now() - t;
      const walBytes = await dirBytes(this.opts.dir);
      t = performance.now();
      const open = await this.request("open", { dir: this.opts.dir, config: this.opts.openConfig });
      this.lastOpen = open;
      const rtt = performance.now() - t;
      this.stats.timeMs.recovery += rtt;
      if (!open.ok) this.checker.openRefused(open.error);
      const recoveryMs = open.recovery?.elapsedMs ?? rtt;
      this.stats.recoveryMs.push(recoveryMs);
      (this.stats.latency.recovery ??= []).push(recoveryMs);
      if (open.ok) this.stats.recoveries.push({ walBytes, ms: recoveryMs });
      this.checker.recoveryTook(recoveryMs);
      t = performance.now();
      await this.verify(open.lastSeq);
      this.stats.timeMs.verify += performance.now() - t;
    } catch (error) {
      if (error instanceof CrashHappened) return this.afterCrash();
      throw error;
    }
  }

  /**
   * Make the process for a life armed with `arm` (or unarmed) the current one. A spare process,
   * started while the previous life ran, takes it when it can: its start-up (most of a crash
   * cycle's time) then overlapped the workload. It can take an unarmed life, and, for walcheck's
   * own `walcheck serve` hosting a built-in adapter (launch.armable), a named crash point, an fs
   * crash or an fs fault of the Node preload, armed by walcheck's private request before its
   * hello (returned here, to be sent): the adapter code then runs exactly as in a process armed
   * by its environment, since no crash point or counted fs call comes before `open`. Any other
   * arm (the C preload's, another adapter's) needs its environment: a new process is started
   * with it, and the spare waits for the next life.
   */
  private takeProcess(arm?: CrashArm | FaultArm): ServeArm | undefined {
    if (!this.spare && this.opts.prespawn !== false) this.spare = this.fromShelf();
    const late = arm && this.lateArm(arm);
    if (this.spare && (!arm || late)) {
      this.client = this.spare;
      this.spare = undefined;
      return late;
    }
    this.client = this.spawn(this.envFor(arm));
    return undefined;
  }

  /** `arm` as walcheck's private arm request, when the launch takes one and the arm is the Node preload's or a named point. */
  private lateArm(arm: CrashArm | FaultArm): ServeArm | undefined {
    if (!this.opts.launch.armable) return undefined;
    if (arm.kind === "named") return { crashAt: `${arm.point}:${arm.nth}` };
    if (!this.opts.fsPreload) return undefined;
    if (arm.kind === "fs") return this.opts.nativeFsCrash ? undefined : { fsCrash: `${arm.call}:${arm.when}` };
    return this.opts.nativeFaults ? undefined : { fsFault: arm.spec };
  }

  /** The environment of a process armed with `arm` (a crash or a fault), or of a plain one; `dir` is where it works (a copy of the case's directory, say). */
  envFor(arm?: CrashArm | FaultArm, dir = this.opts.dir): Record<string, string> {
    const env: Record<string, string> = { ...this.opts.launch.env };
    if (arm?.kind === "named") env.WALCHECK_CRASH_AT = `${arm.point}:${arm.nth}`;
    if (arm?.kind === "fault" && this.opts.nativeFaults)
      return { ...env, ...nativeFaultEnv(this.opts.nativeFaults, dir, arm.spec) };
    if (arm?.kind === "fs" && this.opts.nativeFsCrash)
      return {
        ...env,
        ...nativeCrashEnv(this.opts.nativeFsCrash, dir, { crash: `${arm.call}:${arm.when}` }),
      };
    if (arm?.kind === "fs" || arm?.kind === "fault") {
      if (!this.opts.fsPreload) throw new TypeError(`${arm.kind} arms need the fs preload`);
      env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ""} --import ${this.opts.fsPreload}`.trim();
      if (arm.kind === "fs") env.WALCHECK_FS_CRASH = `${arm.call}:${arm.when}`;
      else env.WALCHECK_FS_FAULT = arm.spec;
    }
    return env;
  }

  /** Record one latency sample of `op`: the adapter's own figure if it sent one, else the round trip. */
  sample(op: string, reply: object, rttMs: number): number {
    const own = (reply as { elapsedMs?: unknown }).elapsedMs;
    const ms = typeof own === "number" && Number.isFinite(own) ? own : rttMs;
    (this.stats.latency[op] ??= []).push(ms);
    return ms;
  }

  /** Read the recovered WAL and run `check`, for the checker to judge; then settle its model. */
  private async verify(openedSeq?: number): Promise<void> {
    const read = this.must("read", await this.request("read", {}));
    this.checker.recovered(read, openedSeq);
    if (this.features.includes("check")) {
      const check = this.must("check", await this.request("check", {}));
      this.checker.checked(check.result);
    }
    this.checker.settle(read.lastSeq);
  }

  /** A read in the middle of a workload: the state must be exactly what was acknowledged. */
  async readCompare(): Promise<void> {
    await this.guard(async () => {
      const read = this.must("read", await this.request("read", {}));
      this.checker.liveRead(read);
    });
  }

  async check(): Promise<void> {
    if (!this.features.includes("check")) return;
    await this.guard(async () => {
      const check = this.must("check", await this.request("check", {}));
      this.checker.checked(check.result);
    });
  }

  async checkpoint(mode: "passive" | "truncate"): Promise<void> {
    await this.guard(async () => {
      this.stats.checkpoints += 1;
      const t = performance.now();
      const reply = this.must("checkpoint", await this.request("checkpoint", { mode }));
      this.sample(mode, reply, performance.now() - t);
    });
  }

  /** A checkpoint of `mode`, with a SIGKILL `delayMs` after it was sent (or when it is answered, if sooner). */
  async checkpointKill(mode: "passive" | "truncate", delayMs: number): Promise<void> {
    if (
      !this.features.includes("checkpoint") ||
      (mode === "truncate" && !this.features.includes("checkpoint.truncate"))
    )
      return;
    await this.guard(async () => {
      this.stats.checkpoints += 1;
      const client = this.client!;
      const timer = setTimeout(() => {
        this.killing = true;
        void client.kill("SIGKILL");
      }, delayMs);
      try {
        await this.request("checkpoint", { mode });
      } finally {
        clearTimeout(timer);
      }
      this.killing = true;
      await client.kill("SIGKILL");
      throw new CrashHappened();
    });
  }

  /**
   * Send `batches` pipelined. With `kill`, SIGKILL the adapter `delayMs` after request
   * number `kill.after` was answered, with the requests after it in flight: the external
   * crash for black-box adapters.
   */
  async appendBurst(
    batches: BatchOp[][],
    kill?: { after: number; delayMs: number },
    opts: { noAckAfterFailure?: string } = {},
  ): Promise<void> {
    await this.guard(async () => {
      if (this.stopped) return;
      const t = performance.now();
      const pending: Promise<void>[] = [];
      let timer: NodeJS.Timeout | undefined;
      // With `noAckAfterFailure`, no batch after a failed one may be acknowledged (in either arrival order).
      const order = this.checker.ackOrder(opts.noAckAfterFailure);
      for (const [i, ops] of batches.entries()) {
        const entry = this.checker.send(ops, this.stats.lives);
        const seq = entry.seq;
        this.stats.batchesSent += 1;
        const sentAt = performance.now();
        pending.push(
          this.request("append", { ops }).then((reply) => {
            if (!reply.ok) {
              // Indeterminate from here on: fail-stop, recover from the directory.
              this.checker.refused(entry);
              this.stats.refused.append += 1;
              this.stopped = true;
              order.failed(seq);
              return;
            }
            order.acked(seq);
            if (this.stopped) return;
            this.checker.acked(entry, reply.seq, "append");
            this.sample("append", reply, performance.now() - sentAt);
            this.stats.batchesAcked += 1;
          }),
        );
        if (kill && i === kill.after) {
          // The kill lands `delayMs` after the answer to request `after`, not after it was
          // sent: the batches up to it are settled the same way in every replay, and only
          // those still in flight behind it race the kill (the model allows either outcome).
          const client = this.client!;
          void pending.at(-1)!.then(
            () => {
              if (!this.stopped)
                timer = setTimeout(() => ((this.killing = true), void client.kill("SIGKILL")), kill.delayMs);
            },
            () => undefined,
          );
        }
      }
      const settled = await Promise.allSettled(pending);
      clearTimeout(timer);
      this.stats.timeMs.workload += performance.now() - t;
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
      if (failed) throw failed.reason;
      if (kill) {
        // Every request was answered before the delay ran out: the kill still comes.
        this.killing = true;
        await this.client!.kill("SIGKILL");
        throw new CrashHappened();
      }
      if (this.stopped) {
        this.killing = true;
        await this.client!.kill("SIGKILL");
        throw new CrashHappened();
      }
    });
  }

  /**
   * One `transaction` request (protocol extension): its surviving writes are one batch of the
   * model. With `kill`, SIGKILL the adapter `delayMs` after it was sent (or once answered).
   */
  async transaction(steps: TransactionStep[], kill?: { delayMs: number }): Promise<void> {
    if (!this.features.includes("transaction")) return;
    const ops = netOps(steps);
    if ("error" in ops || ops.length === 0)
      throw new TypeError(
        `walcheck generated an invalid transaction: ${"error" in ops ? ops.error : "no surviving write"}`,
      );
    await this.guard(async () => {
      if (this.stopped) return;
      const client = this.client!;
      const entry = this.checker.send(ops, this.stats.lives);
      this.stats.batchesSent += 1;
      const timer = kill
        ? setTimeout(() => {
            this.killing = true;
            void client.kill("SIGKILL");
          }, kill.delayMs)
        : undefined;
      const t = performance.now();
      let reply: Reply<"transaction">;
      try {
        reply = await this.request("transaction", { steps });
      } finally {
        clearTimeout(timer);
      }
      if (reply.ok) {
        this.checker.acked(entry, reply.seq, "transaction");
        this.sample("transaction", reply, performance.now() - t);
        this.stats.batchesAcked += 1;
      } else {
        this.checker.refused(entry);
        this.stats.refused.append += 1;
        this.stopped = true;
      }
      if (kill || this.stopped) {
        this.killing = true;
        await client.kill("SIGKILL");
        throw new CrashHappened();
      }
    });
  }

  /**
   * Kill the current process, start one armed to crash at `arm`, and drive it towards the
   * point: `batches` appended, then checkpoints of `mode` (enough for the n-th hit of a
   * checkpoint point). If the point is not reached, the life simply goes on.
   */
  async arm(
    target: CrashArm | AimedFsArm,
    batches: BatchOp[][],
    mode: "passive" | "truncate" | undefined,
  ): Promise<void> {
    await this.endLife();
    const arm = target.kind === "fs-aimed" ? await this.aim(target, batches) : target;
    await this.start(arm);
    if (!this.armed) return; // it already fired during recovery
    for (const ops of batches) {
      await this.appendBurst([ops]);
      if (!this.armed) return;
    }
    if (
      mode &&
      this.features.includes("checkpoint") &&
      (mode === "passive" || this.features.includes("checkpoint.truncate"))
    ) {
      const rounds = arm.kind === "named" ? arm.nth : 2;
      for (let i = 0; i < rounds && this.armed; i++) {
        await this.appendBurst([batches[i % batches.length]!]);
        if (this.armed) await this.checkpoint(mode);
      }
    }
  }

  /** Clean close (every acknowledged batch must survive it exactly) and a fresh process. */
  async closeReopen(): Promise<void> {
    // An armed crash can fire inside close: recovery has then already started a process.
    if (await this.closeProcess()) return;
    if (this.armed) this.stats.armsNotReached += 1;
    this.armed = undefined;
    this.checker.closedCleanly();
    // Every request was answered before close, so the prefix model allows exactly one
    // state: all acknowledged batches, nothing else.
    await this.start();
  }

  /** End of the case: a last clean close and recovery check, then stop the process. */
  async finish(): Promise<void> {
    await this.closeReopen();
    await this.guard(async () => {
      this.must("close", await this.request("close", {}));
      await this.client!.waitExit();
    });
  }

  /** Stop whatever runs, for good (end of a case, an error, a timeout); `why` is reported if the case was still going. */
  async dispose(why = CASE_ENDED): Promise<void> {
    this.disposed ??= why;
    this.killing = true;
    const spare = this.spare;
    this.spare = undefined;
    // A case that simply ended leaves its spare (never sent a request) to the worker's next case.
    const keep = spare && this.opts.spares && this.disposed === CASE_ENDED;
    await Promise.all([
      this.client?.kill("SIGKILL"),
      keep ? this.opts.spares!.give(spare) : spare?.kill("SIGKILL"),
      ...this.extras.map((c) => c.kill("SIGKILL")),
    ]);
  }

  // --- for scenarios that drive processes by hand (faults, tampering, a second opener) ---

  /** SIGKILL the current process and do not start another: the next `start` or `openRaw` recovers. */
  async crash(at: CrashInfo = { kind: "signal", at: "SIGKILL from walcheck" }): Promise<void> {
    await this.guard(async () => {
      this.killing = true;
      await this.client?.kill("SIGKILL");
      this.client = undefined;
    });
    if (this.armed) this.stats.armsNotReached += 1;
    this.armed = undefined;
    if (at.kind === "signal") this.stats.crashes.signal += 1;
    this.checker.crashed(at);
  }

  /**
   * After `crash` (and whatever the scenario did to the directory then): the recoveries
   * `recoveryCrashes` plans, each crashed inside `open`, then a clean one, judged as `start` judges.
   */
  async recoverAfterCrash(): Promise<void> {
    await this.crashRecoveries(this.checker.lastCrash ?? { kind: "signal", at: "SIGKILL from walcheck" });
    await this.start();
  }

  /** Clean close of the current process (every acknowledged batch must survive it); no new process. */
  async closeClean(): Promise<void> {
    if (await this.closeProcess()) return this.closeClean();
    this.client = undefined;
    this.checker.closedCleanly();
  }

  /**
   * Send close and wait for the process to exit 0 (else ADAPTER_EXITED). True when an armed
   * crash fired inside close instead: recovery has then already started a new process.
   */
  private closeProcess(): Promise<boolean> {
    return this.guard(async () => {
      this.must("close", await this.request("close", {}));
      const exit = await this.client!.waitExit();
      // An armed fs-call crash can fire after the answer, at a call the process makes on its
      // way out (a language runtime closing its files at exit): a crash like any other, after
      // which every batch acknowledged before close must be recovered (docs/faults.md).
      if (this.crashedByWalcheck(exit)) throw new CrashHappened();
      if (exit.exitCode !== 0)
        throw new AdapterError(
          "ADAPTER_EXITED",
          `the adapter exited with ${exit.signal ?? exit.exitCode} after close`,
          { ...exit, stderrTail: this.stderrTail },
        );
    });
  }

  /** Say what was done to the directory, for a violation found after it (a torn tail, a flipped bit). */
  tampered(at: CrashInfo): void {
    this.checker.tampered(at);
  }

  /**
   * Start a process (with a fault, or plain) and send `open`, without judging the answer:
   * the scenario decides what a refusal means. `broken` says the process died, or answered
   * with a message that is not protocol, instead of answering.
   */
  async openRaw(arm?: FaultArm): Promise<{ reply: Reply<"open"> } | { broken: string }> {
    if (this.disposed) throw new CaseAbandoned(this.disposed);
    if (this.client) throw new TypeError("openRaw needs the previous process ended (crash or closeClean first)");
    this.armed = undefined;
    this.killing = false;
    this.stopped = false;
    this.stats.lives += 1;
    this.client = this.spawn(this.envFor(arm));
    if (arm) this.stats.faultLives += 1;
    try {
      const hello = this.must("hello", await this.request("hello", {}));
      this.hello ??= hello;
      const t = performance.now();
      const reply = await this.request("open", { dir: this.opts.dir, config: this.opts.openConfig });
      this.lastOpen = reply;
      if (reply.ok) (this.stats.latency.recovery ??= []).push(reply.recovery?.elapsedMs ?? performance.now() - t);
      else this.stats.refused.open += 1;
      return { reply };
    } catch (error) {
      if (!(error instanceof AdapterError) || (error.code !== "ADAPTER_EXITED" && error.code !== "ADAPTER_PROTOCOL"))
        throw error;
      if (error.code === "ADAPTER_PROTOCOL") {
        await this.crash({ kind: "fault", at: this.checker.faultNote ?? "open" });
        return { broken: `it answered with an invalid message: ${error.message}` };
      }
      const exit = await this.client.exited;
      this.client = undefined;
      return { broken: `it died (${exit.signal ?? `exit code ${exit.exitCode}`})\n${error.details.stderrTail.trim()}` };
    }
  }

  /** After an `openRaw` that succeeded: read, judge against the model, check, settle. */
  async verifyOpened(): Promise<void> {
    const open = this.lastOpen;
    await this.verify(open?.ok ? open.lastSeq : undefined);
  }

  /**
   * Place `aimed` in a process that recovers the directory and then takes `batches`: a dry run of
   * that life on a copy of the directory, traced by the fs preload, counts the calls.
   */
  async aim(aimed: AimedFsArm, batches: BatchOp[][]): Promise<CrashArm> {
    if (!this.opts.fsPreload && !this.opts.nativeFsCrash) throw new TypeError("fs arms need the fs preload");
    const labels: string[] = [];
    await this.dryRun(batches, async (trace) => {
      const text = fs.existsSync(trace) ? await fs.promises.readFile(trace, "utf8") : "";
      for (const line of text.split("\n")) {
        if (!line) continue;
        try {
          labels.push(String((JSON.parse(line) as { call?: unknown }).call));
        } catch {
          // a line cut by the kill
        }
      }
    });
    const indices = labels.flatMap((label, i) => (!aimed.writes || WRITE_LABEL.test(label) ? [i + 1] : []));
    const call =
      indices.length > 0 ? indices[Math.min(indices.length - 1, Math.floor(aimed.share * indices.length))]! : 1;
    return { kind: "fs", call, when: aimed.when };
  }

  /** A SIGKILL `share` of the way into a recovery of the directory: a dry run on a copy times its `open`. */
  private async aimKill(share: number): Promise<{ kind: "kill"; delayMs: number }> {
    const openMs = await this.dryRun([]);
    return { kind: "kill", delayMs: Math.round(share * (openMs ?? 0) * 10) / 10 };
  }

  /**
   * Run a life on a copy of the directory (quiescent: no process on it) in a process of its own:
   * `hello`, `open` of the copy, `batches`, then SIGKILL. With `traced`, under the fs preload's
   * trace, handed to `traced` before the copy and the trace are removed. What the life answers
   * does not matter: the case's own run of it is judged. Returns the round trip of `open`
   * (undefined if it did not answer: an adapter that refuses the copy is aimed with what it did).
   */
  private async dryRun(batches: BatchOp[][], traced?: (trace: string) => Promise<void>): Promise<number | undefined> {
    const work = await fs.promises.mkdtemp(path.join(path.dirname(this.opts.dir), "dry-run-"));
    const copy = path.join(work, path.basename(this.opts.dir));
    const trace = path.join(work, "fs-trace.jsonl");
    try {
      if (fs.existsSync(this.opts.dir)) await fs.promises.cp(this.opts.dir, copy, { recursive: true });
      const env: Record<string, string> = !traced
        ? {}
        : this.opts.nativeFsCrash
          ? nativeCrashEnv(this.opts.nativeFsCrash, copy, { trace })
          : {
              NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${this.opts.fsPreload}`.trim(),
              WALCHECK_FS_TRACE: trace,
            };
      const client = this.spawnExtra(env);
      let openMs: number | undefined;
      try {
        await client.request("hello", {});
        const t = performance.now();
        const opened = await client.request("open", { dir: copy, config: this.opts.openConfig });
        openMs = performance.now() - t;
        if (opened.ok) for (const ops of batches) await client.request("append", { ops });
      } catch {
        // it died or refused: aim with what it did
      } finally {
        await client.kill("SIGKILL");
      }
      await traced?.(trace);
      return openMs;
    } finally {
      await fs.promises.rm(work, { recursive: true, force: true });
    }
  }

  /** A process beside the session's own (a second opener, a recorded life, a recovery of a crash state), with `env` added; `dispose` kills it too. */
  spawnExtra(env: Record<string, string> = {}): AdapterClient {
    const client = this.spawn({ ...this.opts.launch.env, ...env });
    this.extras.push(client);
    void client.exited.then(() => {
      const i = this.extras.indexOf(client);
      if (i !== -1) this.extras.splice(i, 1);
    });
    return client;
  }

  /**
   * A process started elsewhere (one lent to this case for a while: a recovery process kept
   * between power-loss cases) that `dispose` kills too, until the returned function is called.
   */
  adopt(client: AdapterClient): () => void {
    // Lent to a case that already ended (a timeout while it was being lent): it dies with it.
    if (this.disposed) void client.kill("SIGKILL");
    this.extras.push(client);
    return () => {
      const i = this.extras.indexOf(client);
      if (i !== -1) this.extras.splice(i, 1);
    };
  }

  /** The crash that later violations are reported after: a power loss walcheck simulated (`at` says where and how). */
  simulatedCrash(at: string): void {
    this.checker.simulatedCrash(at);
  }

  /** A request to the current process, answered as it is (a scenario judges it). */
  async send<O extends Op>(op: O, fields: RequestFields<O>): Promise<Reply<O>> {
    return this.request(op, fields);
  }

  /** An invariant that does not hold, reported with the session's crash and ledger. */
  fail(invariant: Invariant, message: string, diff: InvariantViolation["diff"] = []): never {
    this.checker.fail(invariant, message, diff);
  }

  private spawn(env: Record<string, string>): AdapterClient {
    const client: AdapterClient = AdapterClient.start({
      file: this.opts.launch.file,
      args: this.opts.launch.args,
      env,
      timeoutMs: this.opts.timeoutMs,
      // A spare handed to the next case (SpareShelf) warns into that case's stats.
      onWarning: (w) => addWarning((owners.get(client) ?? this).stats.warnings, w),
    });
    return client;
  }

  /** The next spare: the one an earlier case of this worker left on the shelf, else a new process. */
  private nextSpare(): AdapterClient {
    return this.fromShelf() ?? this.spawn({ ...this.opts.launch.env });
  }

  /** The spare an earlier case of this worker left on the shelf, now this session's, if there is one. */
  private fromShelf(): AdapterClient | undefined {
    const kept = this.opts.spares?.take();
    if (kept) owners.set(kept, this);
    return kept;
  }

  private async endLife(): Promise<void> {
    if (this.armed) this.stats.armsNotReached += 1;
    this.armed = undefined;
    this.killing = true;
    await this.client?.kill("SIGKILL");
    this.stats.crashes.signal += 1;
    this.checker.crashed({ kind: "signal", at: "before re-arming" });
  }

  /**
   * Run a step; a crash inside it is recorded and followed by recovery in a fresh process.
   * Returns whether that happened (the step's own follow-up must then not run).
   */
  private async guard(step: () => Promise<void>): Promise<boolean> {
    try {
      await step();
      return false;
    } catch (error) {
      if (!(error instanceof CrashHappened)) throw error;
      await this.afterCrash();
      return true;
    }
  }

  private async afterCrash(): Promise<void> {
    const arm = this.armed;
    let at: CrashInfo;
    if (arm && !this.killing) {
      at = describeArm(arm);
      const bucket = arm.kind === "named" ? this.stats.crashes.named : this.stats.crashes.fs;
      const key = arm.kind === "named" ? arm.point : `#${arm.call} ${arm.when}`;
      bucket[key] = (bucket[key] ?? 0) + 1;
    } else {
      at = { kind: "signal", at: "SIGKILL from walcheck" };
      this.stats.crashes.signal += 1;
    }
    this.armed = undefined;
    this.checker.crashed(at);
    await this.crashRecoveries(at);
    await this.start();
  }

  /** The recoveries `recoveryCrashes` plans after the crash `first`, each crashed inside `open`. */
  private async crashRecoveries(first: CrashInfo): Promise<void> {
    const plan = this.recoveryCrashes.splice(0);
    let story = first.at;
    for (const planned of plan) {
      const crash =
        planned.kind === "fs-aimed"
          ? await this.aim(planned, [])
          : planned.kind === "kill-aimed"
            ? await this.aimKill(planned.share)
            : planned;
      const what =
        crash.kind === "kill" ? `SIGKILL ${crash.delayMs}ms into open` : `${describeArm(crash).at} inside open`;
      story = `${story}, then ${what}`;
      await this.openCrashing(crash, { kind: crash.kind === "kill" ? "signal" : crash.kind, at: story });
    }
  }

  /**
   * One recovery crashed inside `open` by `crash`. Should `open` finish first (the point was
   * not on its path, k was past its last fs call, the delay too long), its recovery is judged
   * as any other, and the process is then SIGKILLed with nothing in flight.
   */
  private async openCrashing(
    crash: Exclude<RecoveryCrash, AimedFsArm | { kind: "kill-aimed" }>,
    at: CrashInfo,
  ): Promise<void> {
    if (this.disposed) throw new CaseAbandoned(this.disposed);
    const arm = crash.kind === "kill" ? undefined : crash;
    this.armed = arm;
    this.killing = false;
    this.stopped = false;
    this.stats.lives += 1;
    const late = this.takeProcess(arm);
    const client = this.client!;
    // The clean recovery after this one takes the spare.
    if (this.opts.prespawn !== false && !this.spare) this.spare = this.nextSpare();
    let timer: NodeJS.Timeout | undefined;
    try {
      if (late) await client.arm(late);
      const hello = this.must("hello", await this.request("hello", {}));
      this.hello ??= hello;
      if (crash.kind === "kill")
        timer = setTimeout(() => ((this.killing = true), void client.kill("SIGKILL")), crash.delayMs);
      const t = performance.now();
      const open = await this.request("open", { dir: this.opts.dir, config: this.opts.openConfig });
      clearTimeout(timer);
      this.lastOpen = open;
      if (!open.ok) this.checker.openRefused(open.error);
      this.checker.recoveryTook(open.recovery?.elapsedMs ?? performance.now() - t);
      await this.verify(open.lastSeq);
      if (arm) this.stats.armsNotReached += 1;
      this.killing = true;
      await client.kill("SIGKILL");
      this.stats.crashes.signal += 1;
      this.checker.crashed({ kind: "signal", at: `${at.at} (open finished first; SIGKILL after it)` });
    } catch (error) {
      clearTimeout(timer);
      if (!(error instanceof CrashHappened)) throw error;
      if (arm) {
        const bucket = arm.kind === "named" ? this.stats.crashes.named : this.stats.crashes.fs;
        const key = `${arm.kind === "named" ? arm.point : `#${arm.call} ${arm.when}`} in open`;
        bucket[key] = (bucket[key] ?? 0) + 1;
      } else this.stats.crashes.signal += 1;
      this.checker.crashed(at);
    } finally {
      this.armed = undefined;
      this.client = undefined;
    }
  }

  /** Whether the process died of a crash walcheck caused: its own SIGKILL, or the armed crash firing. */
  private crashedByWalcheck(exit: ExitInfo): boolean {
    const expected = this.killing || this.armed !== undefined;
    // A wrapper around the adapter (sh, bash, uv run) reports the SIGKILL of an armed crash
    // point as exit code 137 (128 + 9), as shells do.
    const killed = exit.signal === "SIGKILL" || (this.armed !== undefined && exit.exitCode === 137);
    return killed && expected;
  }

  /** A request; the adapter dying of a crash walcheck caused becomes CrashHappened. */
  private async request<O extends Op>(op: O, fields: RequestFields<O>): Promise<Reply<O>> {
    const client = this.client!;
    try {
      return await client.request(op, fields);
    } catch (error) {
      if (error instanceof AdapterError && error.code === "ADAPTER_EXITED") {
        const exit = await client.exited;
        if (this.crashedByWalcheck(exit)) throw new CrashHappened();
        if (op === "open" && this.checker.lastCrash) {
          this.checker.fail(
            "recovery",
            `the adapter died while recovering (${exit.signal ?? `exit code ${exit.exitCode}`})\n${error.details.stderrTail.trim()}`,
          );
        }
      }
      throw error;
    }
  }

  private must<O extends Op>(op: O, reply: Reply<O>): Extract<Reply<O>, { ok: true }> {
    if (!reply.ok) {
      throw new AdapterError("ADAPTER_PROTOCOL", `${op} answered ${reply.error.code}: ${reply.error.message}`, {
        op,
        stderrTail: this.stderrTail,
      });
    }
    return reply as Extract<Reply<O>, { ok: true }>;
  }
}

/** A session on a fresh temporary directory; `cleanup` stops its processes and removes the directory. */
export async function sessionInTempDir(
  prefix: string,
  opts: Omit<SessionOptions, "dir">,
): Promise<{ session: CaseSession; cleanup: () => Promise<void> }> {
  const work = await tmpDir({ prefix, unsafeCleanup: true });
  const session = new CaseSession({ ...opts, dir: path.join(work.path, "wal") });
  return {
    session,
    cleanup: async () => {
      await session.dispose();
      await work.cleanup();
    },
  };
}

/** Keep a failing case for a person: its WAL directory, the adapter's stderr, the violation. */
export function keepFailure(session: CaseSession, keptDir: string, violation: InvariantViolation): void {
  fs.rmSync(keptDir, { recursive: true, force: true });
  fs.mkdirSync(keptDir, { recursive: true });
  if (fs.existsSync(session.dirPath)) fs.cpSync(session.dirPath, path.join(keptDir, "wal"), { recursive: true });
  fs.writeFileSync(path.join(keptDir, "adapter-stderr.log"), session.stderrTail);
  fs.writeFileSync(path.join(keptDir, "violation.txt"), `${violation.describe()}\n`);
}
