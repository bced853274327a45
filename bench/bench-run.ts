import fs from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { WalcheckError } from "../harness/protocol/errors.js";
import type { AdapterLaunch } from "../harness/engine/adapter-launch.js";
import type { Hello } from "../harness/protocol/messages.js";
import { resolveAdapter } from "../harness/engine/adapter-launch.js";
import type {
  BenchCrash,
  BenchProtocolCost,
  BenchRatio,
  BenchSubject,
  BenchSuite,
  BenchTask,
} from "../reports/bench-schema.js";
import { KEY_SPACE, seededKeys, taskJson, type RunOptions, type TaskJson } from "./bench-util.js";
import { benchTruncateCheckpoint } from "./checkpoint-bench.js";
import { benchCrashCampaign, CrashCampaignError } from "./crash-bench.js";
import { BenchError, ClientPool, clientTarget, protocolRecovery } from "./protocol-suites.js";
import { benchRawDisk, RAW_WRITE_BYTES } from "./raw-disk.js";
import { benchPowerStates, recordBenchLife } from "./power-bench.js";
import { benchRecovery } from "./recovery-bench.js";
import { appendTask, checkpointTask } from "./tasks.js";
import { benchWalAppend } from "./wal-append.js";

// `walcheck bench`: the same suites for every subject (append by batch size × concurrency, a
// truncate checkpoint, recovery by WAL size), in process for the raw disk limit and the
// reference WAL, and over adapter protocol v1 for everything else. The tasks come back as
// the JSON report's tasks; tables and charts are drawn from that JSON later.

/** A subject to measure: in walcheck's process, or an adapter process started from `launch`. */
export type PlannedSubject =
  | { id: "raw" | "reference-inproc"; kind: "raw" | "in-process"; label: string; description: string }
  | { id: string; kind: "protocol"; label: string; description: string; launch: AdapterLaunch };

export interface BenchPlan {
  subjects: PlannedSubject[];
  suites: BenchSuite[];
  batchSizes: number[];
  concurrency: number[];
  recoverySizes: number[];
  /** Steps of the life the power suite records (default 20, as an exhaustive `--crash power` case). */
  powerSteps: number;
  /** Cases per crash-* scenario in the crash suite's campaign. */
  crashRuns: number;
  /** Cases the crash suite's campaign runs at once (the cores). */
  workers: number;
  timeMs: number;
  timeoutMs: number;
  checkpointAppends: number;
  stateKeys: number;
  seed: number;
  /** The subject that stands for the reference WAL in ratios ("reference", or "adapter" when it is the reference). */
  referenceId?: string;
}

export interface BenchContext {
  /** A temp directory for every WAL; the caller removes it. */
  root: string;
  log: (message: string) => void;
  /** The reference WAL's own log, in process. */
  walLogger: Logger;
  signal: AbortSignal;
  pool: ClientPool;
}

/** The benchmark was interrupted (SIGINT, SIGTERM): no result, and nothing left running. */
export class BenchInterrupted extends WalcheckError {
  override readonly name = "BenchInterrupted";
  declare readonly code: "INTERRUPTED";

  constructor(message = "interrupted", options: { cause?: unknown } = {}) {
    super("INTERRUPTED", message, options);
  }
}

/** `<subject>/<suite>/<params>`: stable across runs, what --baseline matches. */
export function taskId(subject: string, suite: BenchSuite, params: Record<string, number>): string {
  if (suite === "append") return `${subject}/append/b${params.batch}/c${params.concurrency}`;
  if (suite === "checkpoint") return `${subject}/checkpoint/a${params.appends}`;
  if (suite === "power") return `${subject}/power/s${params.steps}/${params.fresh ? "fresh" : "reuse"}`;
  return `${subject}/recovery/n${params.batches}`;
}

const benchTask = (
  json: TaskJson,
  subject: string,
  suite: BenchSuite,
  params: Record<string, number>,
  extra?: Record<string, unknown>,
): BenchTask => ({
  ...json,
  id: taskId(subject, suite, params),
  subject,
  suite,
  params,
  ...(extra || json.extra ? { extra: { ...json.extra, ...extra } } : {}),
});

export interface BenchResult {
  subjects: BenchSubject[];
  tasks: BenchTask[];
  skipped: { subject: string; suite: BenchSuite; reason: string }[];
  /** The crash suite's figures, when it ran. */
  crash?: BenchCrash;
}

/** Run every suite of the plan for every subject, in order; throws BenchError (naming subject and task) or BenchInterrupted. */
export async function runBench(plan: BenchPlan, ctx: BenchContext): Promise<BenchResult> {
  return new BenchRunner(plan, ctx).run();
}

class BenchRunner {
  private readonly appendOpts: RunOptions;
  private readonly checkpointOpts: RunOptions;
  private readonly recoveryOpts: RunOptions;
  private readonly powerOpts: RunOptions;
  private readonly key: () => string;

  constructor(
    private readonly plan: BenchPlan,
    private readonly ctx: BenchContext,
  ) {
    const t = plan.timeMs;
    const base = { signal: ctx.signal, log: ctx.log };
    this.appendOpts = { ...base, time: t, iterations: 8, warmupTime: Math.min(250, t / 2), warmupIterations: 4 };
    this.checkpointOpts = { ...base, time: t, iterations: 5, warmupTime: Math.min(250, t / 2), warmupIterations: 2 };
    // Every recovery iteration starts a process: a few of them, the time budget counting the whole iteration.
    this.recoveryOpts = { ...base, time: t, iterations: 3, warmupTime: 0, warmupIterations: 1 };
    // An iteration checks every state of a life (seconds, or a minute a process per state): two, no warmup.
    this.powerOpts = { ...base, time: 0, iterations: 2, warmup: false };
    this.key = seededKeys(plan.seed);
  }

  async run(): Promise<BenchResult> {
    const result: BenchResult = { subjects: [], tasks: [], skipped: [] };
    const crash: BenchCrash | undefined = this.plan.suites.includes("crash") ? { campaigns: [] } : undefined;
    if (crash) {
      // Before the campaigns: their crashed processes and written-back files would disturb it.
      const dir = path.join(this.ctx.root, "protocol-cost");
      fs.mkdirSync(dir, { recursive: true });
      crash.protocolCost = await this.protocolCost(dir);
      fs.rmSync(dir, { recursive: true, force: true });
      result.crash = crash;
    }
    // Every adapter answers hello before anything is measured: a broken one fails in a second, not after minutes.
    const hellos = new Map<string, Hello>();
    await Promise.all(
      this.plan.subjects.map(async (s) => {
        if (s.kind === "protocol")
          hellos.set(s.id, await this.attempt(s.id, "hello", () => this.ctx.pool.probe(s.launch)));
      }),
    );
    for (const s of this.plan.subjects) {
      const hello = hellos.get(s.id);
      result.subjects.push({
        id: s.id,
        label: s.label,
        kind: s.kind,
        description: s.description,
        ...(s.kind === "protocol" ? { flags: s.launch.flags } : {}),
        ...(hello ? { hello } : {}),
      });
      const dir = path.join(this.ctx.root, s.id);
      fs.mkdirSync(dir, { recursive: true });
      this.ctx.log(`bench ${s.id}: ${s.label}`);
      for (const suite of this.plan.suites) {
        const why = skipReason(s, suite, hello);
        if (why) {
          result.skipped.push({ subject: s.id, suite, reason: why });
          this.ctx.log(`bench ${s.id}: ${suite} skipped: ${why}`);
        } else if (suite === "append") {
          result.tasks.push(...(await this.append(s, dir)));
        } else if (suite === "checkpoint") {
          result.tasks.push(await this.checkpoint(s, dir));
        } else if (suite === "power") {
          result.tasks.push(...(await this.power(s, dir, hello!)));
        } else if (suite === "crash") {
          crash!.campaigns.push(await this.crashCampaign(s, dir));
        } else {
          for (const batches of this.plan.recoverySizes) result.tasks.push(await this.recovery(s, dir, batches));
        }
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
    return result;
  }

  /** The crash suite's campaign for one adapter: walcheck run over the crash-* scenarios (crash-bench.ts). */
  private async crashCampaign(s: PlannedSubject, dir: string) {
    if (s.kind !== "protocol") throw new TypeError(`crash suite: a protocol subject, got ${s.id}`);
    const task = `${s.id}/crash (campaign)`;
    this.ctx.log(
      `bench ${s.id}: crash campaign, ${this.plan.crashRuns} case(s) per crash-* scenario, ${this.plan.workers} workers`,
    );
    try {
      return await benchCrashCampaign({
        subject: s.id,
        launch: s.launch,
        seed: this.plan.seed,
        runs: this.plan.crashRuns,
        workers: this.plan.workers,
        timeoutMs: this.plan.timeoutMs,
        dir: path.join(dir, "crash"),
        signal: this.ctx.signal,
      });
    } catch (error) {
      if (this.ctx.signal.aborted || (error instanceof CrashCampaignError && error.interrupted))
        throw new BenchInterrupted("interrupted", { cause: error });
      throw BenchError.inTask(s.id, task, error);
    }
  }

  /**
   * The crash suite's protocol cost: append, batch 1, 1 in flight, to the reference WAL behind
   * walcheck serve and to the same WAL in walcheck's process, one after the other in this run.
   */
  private async protocolCost(dir: string): Promise<BenchProtocolCost> {
    const params = { batch: 1, concurrency: 1 };
    const workload = { batchSize: 1, concurrency: 1, key: this.key };
    const launch = resolveAdapter({ adapter: "reference" });
    const task = "protocol-cost";
    const session = await this.attempt("reference", `${task} (open)`, () =>
      this.ctx.pool.open(launch, path.join(dir, "protocol")),
    );
    let protocol: TaskJson;
    try {
      protocol = await this.attempt("reference", task, async () =>
        taskJson(
          task,
          await appendTask(
            "reference append over the protocol, batch 1, 1 in flight",
            clientTarget(session.client),
            workload,
            this.appendOpts,
          ),
          1,
        ),
      );
    } finally {
      await session.client.kill();
    }
    const inProcess = await this.attempt("reference-inproc", task, () =>
      benchWalAppend(
        dir,
        {
          sync: "batch",
          appenders: 1,
          batchSize: 1,
          key: this.key,
          id: task,
          name: "reference append in process, batch 1, 1 in flight",
        },
        this.ctx.walLogger,
        this.appendOpts,
      ),
    );
    const p = protocol.latency;
    const i = inProcess.latency;
    return {
      ...params,
      protocol: p,
      inProcess: i,
      deltaMeanMs: p.mean - i.mean,
      deltaP50Ms: p.p50 - i.p50,
      ratio: i.mean > 0 ? p.mean / i.mean : 0,
    };
  }

  /** Run one task; its failure names the subject and the task, an interrupt is only that. */
  private async attempt<T>(subject: string, task: string, fn: () => Promise<T>): Promise<T> {
    if (this.ctx.signal.aborted) throw new BenchInterrupted("interrupted");
    try {
      return await fn();
    } catch (error) {
      if (this.ctx.signal.aborted) throw new BenchInterrupted("interrupted", { cause: error });
      throw BenchError.inTask(subject, task, error);
    }
  }

  private async append(s: PlannedSubject, dir: string): Promise<BenchTask[]> {
    const out: BenchTask[] = [];
    const grid = this.plan.batchSizes.flatMap((batch) =>
      (s.id === "raw" ? [1] : this.plan.concurrency).map((concurrency) => ({ batch, concurrency })),
    );
    const name = (p: { batch: number; concurrency: number }) =>
      `${s.id} append batch ${p.batch}, ${p.concurrency} in flight`;
    // One adapter process for the whole grid: start-up is paid once, the WAL grows across tasks.
    const session =
      s.kind === "protocol"
        ? await this.attempt(s.id, `${s.id}/append (open)`, () =>
            this.ctx.pool.open(s.launch, path.join(dir, "append")),
          )
        : undefined;
    if (session) this.ctx.log(`bench ${s.id}: append suite in adapter process ${session.client.pid ?? "?"}`);
    try {
      for (const params of grid) {
        const id = taskId(s.id, "append", params);
        const json = await this.attempt(s.id, id, async () => {
          if (session)
            return taskJson(
              id,
              await appendTask(
                name(params),
                clientTarget(session.client),
                { batchSize: params.batch, concurrency: params.concurrency, key: this.key },
                this.appendOpts,
              ),
              params.concurrency,
            );
          // The raw limit is one synchronous writer: concurrency does not apply.
          if (s.id === "raw") return benchRawDisk(dir, this.appendOpts, { records: params.batch, id });
          return benchWalAppend(
            dir,
            {
              sync: "batch",
              appenders: params.concurrency,
              batchSize: params.batch,
              key: this.key,
              id,
              name: name(params),
            },
            this.ctx.walLogger,
            this.appendOpts,
          );
        });
        out.push(benchTask(json, s.id, "append", params, { recordsPerSec: json.opsPerSec * params.batch }));
      }
    } finally {
      await session?.client.kill();
    }
    return out;
  }

  private async checkpoint(s: PlannedSubject, dir: string): Promise<BenchTask> {
    const params = { appends: this.plan.checkpointAppends };
    const id = taskId(s.id, "checkpoint", params);
    const name = `${s.id} truncate checkpoint after ${this.plan.checkpointAppends} appends`;
    const c = { stateKeys: this.plan.stateKeys, appendsBefore: this.plan.checkpointAppends, key: this.key };
    const extra = { stateKeys: this.plan.stateKeys };
    if (s.kind !== "protocol") {
      const json = await this.attempt(s.id, id, () =>
        benchTruncateCheckpoint(dir, this.ctx.walLogger, this.checkpointOpts, { ...c, id, name }),
      );
      const { checkpointElapsedMs, ...rest } = json.extra ?? {};
      return benchTask({ ...json, extra: rest }, s.id, "checkpoint", params, {
        ...extra,
        adapterCheckpointMs: checkpointElapsedMs,
      });
    }
    const session = await this.attempt(s.id, id, () => this.ctx.pool.open(s.launch, path.join(dir, "checkpoint")));
    try {
      const { task, reported } = await this.attempt(s.id, id, () =>
        checkpointTask(name, clientTarget(session.client), c, this.checkpointOpts),
      );
      return benchTask(taskJson(id, task, 1), s.id, "checkpoint", params, {
        ...extra,
        ...(reported ? { adapterCheckpointMs: reported } : {}),
      });
    } finally {
      await session.client.kill();
    }
  }

  /** Every power-loss state of one recorded life: with the recover op when the adapter has it, and a process per state. */
  private async power(s: PlannedSubject, dir: string, hello: Hello): Promise<BenchTask[]> {
    if (s.kind !== "protocol") throw new TypeError(`power suite: a protocol subject, got ${s.id}`);
    const steps = this.plan.powerSteps;
    const powerDir = path.join(dir, "power");
    const rec = await this.attempt(s.id, `${s.id}/power (record)`, () =>
      recordBenchLife(this.ctx.pool, s.launch, hello, powerDir, steps, this.plan.seed),
    );
    const modes: ("reuse" | "fresh")[] = hello.features.includes("recover") ? ["reuse", "fresh"] : ["fresh"];
    const out: BenchTask[] = [];
    for (const mode of modes) {
      const params = { steps, fresh: mode === "fresh" ? 1 : 0 };
      const id = taskId(s.id, "power", params);
      const name = `${s.id} power-loss states of a ${steps}-step life, ${mode === "fresh" ? "a process per state" : "recover op"}`;
      // Three iterations with recover (seconds each), two with a process per state (up to minutes each).
      const opts = { ...this.powerOpts, iterations: mode === "fresh" ? 2 : 3 };
      const r = await this.attempt(s.id, id, () =>
        benchPowerStates(
          this.ctx.pool,
          s.launch,
          hello,
          rec,
          { dir: powerDir, mode, seed: this.plan.seed, name },
          opts,
        ),
      );
      out.push(benchTask(taskJson(id, r.task, r.states), s.id, "power", params, r.extra));
    }
    return out;
  }

  private async recovery(s: PlannedSubject, dir: string, batches: number): Promise<BenchTask> {
    const params = { batches };
    const id = taskId(s.id, "recovery", params);
    const name = `${s.id} recovery of ${batches} batches`;
    if (s.kind === "protocol") {
      const { task, extra } = await this.attempt(s.id, id, () =>
        protocolRecovery(this.ctx.pool, s.launch, dir, batches, this.key, name, this.recoveryOpts),
      );
      return benchTask(taskJson(id, task, 1), s.id, "recovery", params, extra);
    }
    const rec = await this.attempt(s.id, id, () =>
      benchRecovery(dir, batches, this.ctx.walLogger, this.recoveryOpts, { openOnly: true, id, key: this.key }),
    );
    const r = rec.recoveryElapsedMs;
    return benchTask(rec.openClose, s.id, "recovery", params, {
      batches,
      walBytes: rec.onDisk.bytes,
      walFiles: Object.keys(rec.onDisk.files).length,
      buildMs: rec.build.elapsedMs,
      measured: "Wal.open in walcheck's process, on the log just written and closed",
      adapterRecoveryMs: { n: r.runs, p50: r.p50, max: r.max },
    });
  }
}

/** Why a subject does not run a suite, or undefined when it does. */
function skipReason(s: PlannedSubject, suite: BenchSuite, hello: Hello | undefined): string | undefined {
  if (s.id === "raw" && suite !== "append")
    return "the raw write + fdatasync loop has no checkpoints and nothing to recover";
  if (suite === "crash" && s.kind !== "protocol")
    return "crash cycles kill adapter processes, and this subject runs in walcheck's process (the protocol's cost beside it is in the crash section)";
  if (suite === "power") {
    if (s.kind !== "protocol") return "power-loss states are recovered by adapter processes: see the reference subject";
    if (hello?.durability !== "power")
      return 'hello.durability is not "power": its acks promise nothing across a power loss';
  }
  if (
    suite === "checkpoint" &&
    hello &&
    !(hello.features.includes("checkpoint") && hello.features.includes("checkpoint.truncate"))
  ) {
    return "hello.features does not list checkpoint and checkpoint.truncate";
  }
  return undefined;
}

/**
 * The ratios of the report, at the first batch size and concurrency of the plan (1 and 1 by
 * default): each subject's append ops/s against the raw fdatasync limit and against the
 * reference WAL over the protocol, and the protocol's cost (reference in process vs over it).
 */
export function computeRatios(
  tasks: BenchTask[],
  plan: Pick<BenchPlan, "batchSizes" | "concurrency" | "referenceId">,
): BenchRatio[] {
  const batch = Math.min(...plan.batchSizes);
  const concurrency = Math.min(...plan.concurrency);
  const at = (subject: string, c = concurrency) =>
    tasks.find((t) => t.id === taskId(subject, "append", { batch, concurrency: c }));
  const raw = at("raw", 1);
  const refId = plan.referenceId;
  const ref = refId ? at(refId) : undefined;
  const where = `append, batch ${batch}, ${concurrency} in flight`;
  const ratio = (
    kind: BenchRatio["kind"],
    id: string,
    description: string,
    num: BenchTask,
    den: BenchTask,
  ): BenchRatio => ({
    id,
    kind,
    description,
    numerator: num.id,
    denominator: den.id,
    numeratorOpsPerSec: num.opsPerSec,
    denominatorOpsPerSec: den.opsPerSec,
    ratio: den.opsPerSec > 0 ? num.opsPerSec / den.opsPerSec : 0,
  });
  const out: BenchRatio[] = [];
  const subjects = [...new Set(tasks.filter((t) => t.suite === "append" && t.subject !== "raw").map((t) => t.subject))];
  for (const s of subjects) {
    const mine = at(s);
    if (!mine) continue;
    if (raw)
      out.push(
        ratio(
          "vs-raw",
          `${s}/vs-raw`,
          `${s} vs the raw write + fdatasync limit (${where}; raw: one writer)`,
          mine,
          raw,
        ),
      );
    if (ref && s !== refId && s !== "reference-inproc")
      out.push(
        ratio("vs-reference", `${s}/vs-reference`, `${s} vs the reference WAL over the protocol (${where})`, mine, ref),
      );
  }
  const inproc = at("reference-inproc");
  if (inproc && ref) {
    out.push({
      ...ratio(
        "protocol-overhead",
        "protocol-overhead",
        `protocol overhead: the reference WAL in process vs over adapter protocol v1 (${where})`,
        inproc,
        ref,
      ),
      latencyDeltaMs: ref.latency.mean - inproc.latency.mean,
    });
  }
  return out;
}

export const BENCH_NOTES = (plan: BenchPlan): string[] => [
  "Latency is the wall-clock round trip measured by walcheck, per tinybench iteration; an adapter's own elapsedMs is not used (recovery and checkpoint tables show the one it reports beside it).",
  `An append iteration with concurrency k sends k appends at once (pipelined) and waits for all k; ops/s counts appends (batches), records/s counts key-value ops (× batch size). An adapter without group commit simply serialises them.`,
  `The raw subject is one synchronous writer: a batch of b is one write of b × ${RAW_WRITE_BYTES} bytes and one fdatasync.`,
  `checkpoint: a truncate checkpoint on a state of ${plan.stateKeys} keys, after ${plan.checkpointAppends} appends (not timed, but counted against the task's time).`,
  "recovery: N one-op batches appended and acknowledged, the adapter SIGKILLed, then open timed in a fresh process on a copy of that directory (warm page cache); reference-inproc times Wal.open on the files it just wrote.",
  `Keys are drawn with seed ${plan.seed} from ${KEY_SPACE} names; values are 128 bytes.`,
  ...(plan.suites.includes("crash")
    ? [
        `crash: walcheck run over the crash-* scenarios (${plan.crashRuns} case(s) each, seed ${plan.seed}, ${plan.workers} workers) for each adapter; crash cycles per minute is its crash cycles over its wall time. The protocol's cost is the reference WAL's append (batch 1, 1 in flight) behind walcheck serve minus the same WAL in walcheck's process, measured one after the other in this run.`,
      ]
    : []),
];
