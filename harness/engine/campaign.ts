import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { InvariantSpec, LatencyOp, Scenario, ScenarioEnv, Thresholds } from "./scenario.js";
import { AdapterClient, type ProtocolWarning } from "../protocol/adapter-client.js";
import { addWarning } from "../protocol/tolerant-reader.js";
import { AdapterError } from "../protocol/adapter-error.js";
import type { AdapterLaunch } from "./adapter-launch.js";
import { mergeStats, runCase, type CaseResult } from "./case-runner.js";
import { emptyStats, type SessionStats } from "./case-session.js";
import { SpareShelf } from "./spare-shelf.js";
import {
  judgeLatency,
  latencyHistogram,
  latencyStats,
  type LatencyHistogram,
  type LatencyStats,
  type ThresholdVerdict,
} from "../checks/latency-stats.js";
import { recoveryBySize, type RecoveryBySize } from "../checks/recovery-by-size.js";
import type { Hello } from "../protocol/messages.js";
import type { ReplayToken } from "./replay-token.js";

/** One scenario as a run plans it: how many cases, with which environment and levels. */
export interface PlannedScenario {
  scenario: Scenario;
  cases: number;
  env: ScenarioEnv;
  openConfig: Record<string, unknown>;
  thresholds: Thresholds;
  /** Whether its latency over a critical level fails the run (default: the scenario's own `gatesLatency`). */
  gatesLatency?: boolean;
  /**
   * Its name in the summary when one scenario is planned more than once (power-loss once per
   * persistence model: "power-loss (ext4-ordered)"); its cases keep the scenario's seeds.
   */
  label?: string;
}

const keyOf = (plan: PlannedScenario) => plan.label ?? plan.scenario.name;

export interface CampaignOptions {
  launch: AdapterLaunch;
  seed: number;
  /** The crash kinds of the run (after removing those the adapter cannot take). */
  crash: readonly string[];
  scenarios: PlannedScenario[];
  /** The order scenarios are listed in (the catalogue's). */
  order?: string[];
  /** Scenarios that do not apply to this adapter, with the reason (listed in the report, never run). */
  skipped?: { name: string; reason: string; invariants: readonly InvariantSpec[] }[];
  /** Stop starting cases after this long. */
  budgetMs?: number;
  workers: number;
  shard: { index: number; count: number };
  reportDir: string;
  recoveryThresholdMs: number;
  timeoutMs: number;
  /** Run exactly one case again (from a failure's replay line). */
  replay?: ReplayToken;
  fsPreload?: string;
  /** The C preload (LD_PRELOAD library) that injects fault arms, for adapters the fs preload cannot reach. */
  nativeFaults?: string;
  /** The C preload that takes fs-call crash points to an adapter the fs preload cannot see (see fault-path.ts). */
  nativeFsCrash?: string;
  /** How long a failing case may shrink (default 10 s). */
  shrinkBudgetMs?: number;
  /** Latency over a critical level: "gate" fails the run (default), "warn" only reports it. */
  latencyGate?: "gate" | "warn";
  /** Stop the whole run at the first failing case (default: only that scenario stops). */
  bail?: boolean;
  signal?: AbortSignal;
  /** Informational-field deviations seen before the campaign (the probe's), counted with the cases'. */
  warnings?: ProtocolWarning[];
  /** Called after every case, for progress and the report written as the run goes. */
  onCase?: (result: CaseResult, summary: RunSummary) => void;
}

type Tally = { planned: number; run: number; passed: number; failed: number; errors: number };

/** One scenario's part of the report. */
export interface ScenarioSummary {
  name: string;
  /** What the scenario checks (declared by the scenario): renderers read them here, not from the catalogue. */
  invariants: InvariantSpec[];
  /** not-run: the budget ran out (or the run bailed) before any of its cases started. */
  status: "passed" | "failed" | "error" | "skipped" | "interrupted" | "running" | "pending" | "not-run";
  /** Why it was skipped. */
  reason?: string;
  cases: Tally;
  cycles: number;
  crashes: SessionStats["crashes"];
  armsNotReached: number;
  batches: { sent: number; acked: number };
  /** Processes run with an injected fs fault, and the requests refused (the fault at work). */
  faults: { lives: number; refusedAppends: number; refusedOpens: number };
  checkpoints: number;
  latency: Record<string, LatencyStats>;
  /** Each op's samples in bins of doubling width (latency-stats.ts). */
  histograms: Record<string, LatencyHistogram>;
  /** Recovery time against the size of the WAL it started from. */
  recoveryBySize: RecoveryBySize;
  /** Power-loss states judged and directories recovered (power-loss scenario). */
  powerStates: SessionStats["powerStates"];
  /** The corruption sweep's matrix (corruption-sweep). */
  sweep?: SessionStats["sweep"];
  /** Time spent in its cases, summed (cases of one scenario may run side by side). */
  caseTimeMs: number;
  thresholds: ThresholdVerdict[];
  /** Latency over its levels is what this scenario provokes: never failing. */
  latencyExpected: boolean;
  /** Its latency over a critical level fails the run (measured alone); otherwise it only warns. */
  latencyGated: boolean;
  failures: Extract<CaseResult, { status: "failed" }>[];
  errors: Extract<CaseResult, { status: "error" }>[];
}

/** The whole run, as the JSON report and the exit code see it. */
export interface RunSummary {
  status: "passed" | "failed" | "error" | "interrupted" | "running";
  seed: number;
  adapter: string;
  hello?: Hello;
  crash: string[];
  shard: string;
  cases: Tally;
  /** Crash cycles: a crash, then recovery and verification in a fresh process. */
  cycles: number;
  crashes: SessionStats["crashes"];
  armsNotReached: number;
  batches: { sent: number; acked: number };
  checkpoints: number;
  recoveryMs: { n: number; p50: number; p95: number; max: number };
  recoveryBySize: RecoveryBySize;
  timeMs: SessionStats["timeMs"];
  elapsedMs: number;
  cyclesPerMinute: number;
  scenarios: ScenarioSummary[];
  failures: Extract<CaseResult, { status: "failed" }>[];
  errors: Extract<CaseResult, { status: "error" }>[];
  /** Latency levels crossed by the gated (solo) measurements: warnings, and failures over a critical level. */
  latencyWarnings: string[];
  latencyFailures: string[];
  /** Levels crossed by latency measured beside crash cycles, or provoked on purpose: reported only. */
  latencyObserved: string[];
  /** Informational answer fields the adapter got wrong (tolerated; the run is not affected), each deviation once, counted. */
  warnings: { op: string; field: string; message: string; count: number }[];
}

/** Case seeds are spread from the campaign seed and the scenario, so any case runs alone with the same input. */
export function caseSeed(seed: number, index: number, scenario = ""): number {
  let salt = 0;
  for (let i = 0; i < scenario.length; i++) salt = Math.imul(salt ^ scenario.charCodeAt(i), 0x01000193) >>> 0;
  let x = (seed ^ salt ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** Start the adapter once to learn its name, features and crash points. */
export async function probeAdapter(
  launch: AdapterLaunch,
  timeoutMs: number,
  onWarning?: (w: Omit<ProtocolWarning, "count">) => void,
): Promise<Hello> {
  const client = AdapterClient.start({
    file: launch.file,
    args: launch.args,
    env: launch.env,
    timeoutMs,
    ...(onWarning ? { onWarning } : {}),
  });
  try {
    return await client.hello();
  } finally {
    await client.kill();
  }
}

const cyclesOf = (s: SessionStats) =>
  s.crashes.signal +
  Object.values(s.crashes.named).reduce((a, b) => a + b, 0) +
  Object.values(s.crashes.fs).reduce((a, b) => a + b, 0);
const LATENCY_OPS: readonly LatencyOp[] = ["append", "recovery", "truncate"];
const emptyTally = (planned: number): Tally => ({ planned, run: 0, passed: 0, failed: 0, errors: 0 });

/**
 * Run a campaign: the cases of every planned scenario (this shard's), `workers` at a time,
 * until they are done, the budget is spent, or the run is aborted. A failing case stops its
 * own scenario (its other running cases are abandoned, not shrunk in parallel); the other
 * scenarios go on unless `bail`.
 */
export async function runCampaign(opts: CampaignOptions, hello: Hello): Promise<RunSummary> {
  const started = performance.now();
  const total: SessionStats = emptyStats();
  for (const w of opts.warnings ?? []) addWarning(total.warnings, w);
  const perScenario = new Map<string, SessionStats>();
  const summaries = new Map<string, ScenarioSummary>();
  const stops = new Map<string, AbortController>();
  const onOuterAbort = () => stops.forEach((c) => c.abort());
  opts.signal?.addEventListener("abort", onOuterAbort, { once: true });

  const jobs: { plan: PlannedScenario; index: number }[] = [];
  for (const plan of opts.scenarios) {
    const indices = opts.replay
      ? [0]
      : Array.from({ length: plan.cases }, (_, i) => i).filter((i) => i % opts.shard.count === opts.shard.index);
    for (const index of indices) jobs.push({ plan, index });
    perScenario.set(keyOf(plan), emptyStats());
    stops.set(keyOf(plan), new AbortController());
    summaries.set(keyOf(plan), {
      ...blankScenario(keyOf(plan), plan.scenario.invariants, "pending", indices.length),
      latencyExpected: plan.scenario.latencyExpected === true,
      latencyGated: plan.gatesLatency ?? plan.scenario.gatesLatency === true,
    });
  }
  for (const skip of opts.skipped ?? [])
    summaries.set(skip.name, { ...blankScenario(skip.name, skip.invariants, "skipped", 0), reason: skip.reason });

  const summary: RunSummary = {
    status: "running",
    seed: opts.replay ? opts.replay.seed : opts.seed,
    adapter: opts.launch.label,
    hello,
    crash: [...opts.crash],
    shard: `${opts.shard.index + 1}/${opts.shard.count}`,
    cases: emptyTally(jobs.length),
    cycles: 0,
    crashes: total.crashes,
    armsNotReached: 0,
    batches: { sent: 0, acked: 0 },
    checkpoints: 0,
    recoveryMs: { n: 0, p50: 0, p95: 0, max: 0 },
    recoveryBySize: recoveryBySize([]),
    timeMs: total.timeMs,
    elapsedMs: 0,
    cyclesPerMinute: 0,
    scenarios: [],
    failures: [],
    errors: [],
    latencyWarnings: [],
    latencyFailures: [],
    latencyObserved: [],
    warnings: [],
  };
  const refresh = () => {
    const r = latencyStats(total.recoveryMs);
    summary.recoveryMs = { n: r.n, p50: r.p50, p95: r.p95, max: r.max };
    summary.recoveryBySize = recoveryBySize(total.recoveries);
    summary.cycles = cyclesOf(total);
    summary.armsNotReached = total.armsNotReached;
    summary.batches = { sent: total.batchesSent, acked: total.batchesAcked };
    summary.checkpoints = total.checkpoints;
    summary.elapsedMs = performance.now() - started;
    summary.cyclesPerMinute = summary.elapsedMs > 0 ? (summary.cycles * 60_000) / summary.elapsedMs : 0;
    summary.warnings = total.warnings.map(({ op, field, message, count }) => ({ op, field, message, count }));
    summary.latencyWarnings = [];
    summary.latencyFailures = [];
    summary.latencyObserved = [];
    for (const plan of opts.scenarios) {
      const s = summaries.get(keyOf(plan))!;
      const stats = perScenario.get(keyOf(plan))!;
      s.cycles = cyclesOf(stats);
      s.crashes = stats.crashes;
      s.armsNotReached = stats.armsNotReached;
      s.batches = { sent: stats.batchesSent, acked: stats.batchesAcked };
      s.faults = { lives: stats.faultLives, refusedAppends: stats.refused.append, refusedOpens: stats.refused.open };
      s.checkpoints = stats.checkpoints;
      s.recoveryBySize = recoveryBySize(stats.recoveries);
      s.powerStates = stats.powerStates;
      if (stats.sweep) s.sweep = stats.sweep;
      s.histograms = Object.fromEntries(
        Object.entries(stats.latency).map(([op, samples]) => [op, latencyHistogram(samples)]),
      );
      s.latency = Object.fromEntries(Object.entries(stats.latency).map(([op, samples]) => [op, latencyStats(samples)]));
      s.thresholds = LATENCY_OPS.flatMap((op) => judgeLatency(op, stats.latency[op] ?? [], plan.thresholds[op]) ?? []);
      for (const t of s.thresholds) {
        if (t.status === "ok") continue;
        const line = `${keyOf(plan)}: ${t.reason}${s.latencyExpected ? " (provoked on purpose)" : ""}`;
        if (!s.latencyGated || s.latencyExpected) summary.latencyObserved.push(line);
        else if (t.status === "critical" && opts.latencyGate !== "warn") summary.latencyFailures.push(line);
        else summary.latencyWarnings.push(line);
      }
    }
    summary.scenarios = ordered();
  };
  const rank = (name: string) => {
    const i = opts.order?.indexOf(name) ?? -1;
    return i === -1 ? Infinity : i;
  };
  const ordered = () => [...summaries.values()].sort((a, b) => rank(a.name) - rank(b.name));

  let next = 0;
  let bailed = false;
  const worker = async () => {
    const spares = new SpareShelf();
    try {
      await workOn(spares);
    } finally {
      await spares.close();
    }
  };
  const workOn = async (spares: SpareShelf) => {
    while (!bailed && next < jobs.length) {
      if (opts.signal?.aborted) return;
      if (opts.budgetMs !== undefined && performance.now() - started > opts.budgetMs) return;
      const { plan, index } = jobs[next++]!;
      const name = plan.scenario.name;
      const key = keyOf(plan);
      const stop = stops.get(key)!;
      if (stop.signal.aborted) continue;
      const s = summaries.get(key)!;
      if (s.status === "pending") s.status = "running";
      const seed = opts.replay ? opts.replay.seed : caseSeed(opts.seed, index, name);
      const caseStarted = performance.now();
      const result = await runCase(
        index,
        seed,
        {
          launch: opts.launch,
          scenario: plan.scenario,
          env: plan.env,
          openConfig: plan.openConfig,
          recoveryThresholdMs: opts.recoveryThresholdMs,
          timeoutMs: opts.timeoutMs,
          reportDir: path.join(opts.reportDir, "cases"),
          ...(opts.fsPreload ? { fsPreload: opts.fsPreload } : {}),
          ...(opts.nativeFaults ? { nativeFaults: opts.nativeFaults } : {}),
          ...(opts.nativeFsCrash ? { nativeFsCrash: opts.nativeFsCrash } : {}),
          signal: stop.signal,
          spares,
          ...(opts.shrinkBudgetMs !== undefined ? { shrinkBudgetMs: opts.shrinkBudgetMs } : {}),
        },
        opts.replay
          ? { path: opts.replay.path, ...(opts.replay.replayPath ? { replayPath: opts.replay.replayPath } : {}) }
          : undefined,
      );
      s.caseTimeMs += performance.now() - caseStarted;
      mergeStats(total, result.stats);
      mergeStats(perScenario.get(key)!, result.stats);
      if (result.status === "interrupted") continue;
      for (const tally of [summary.cases, s.cases]) {
        tally.run += 1;
        if (result.status === "passed") tally.passed += 1;
        if (result.status === "failed") tally.failed += 1;
        if (result.status === "error") tally.errors += 1;
      }
      if (result.status === "failed") {
        summary.failures.push(result);
        s.failures.push(result);
      }
      if (result.status === "error") {
        summary.errors.push(result);
        s.errors.push(result);
      }
      if (result.status === "failed" || result.status === "error") {
        stop.abort();
        if (opts.bail) {
          bailed = true;
          stops.forEach((c) => c.abort());
        }
      }
      refresh();
      opts.onCase?.(result, summary);
    }
  };
  // Solo scenarios (the latency gate) first, one case at a time, with nothing beside them;
  // then the rest, `workers` at a time.
  const solo = jobs.filter((j) => j.plan.scenario.solo);
  const shared = jobs.filter((j) => !j.plan.scenario.solo);
  jobs.splice(0, jobs.length, ...solo);
  await worker();
  jobs.splice(0, jobs.length, ...shared);
  next = 0;
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.workers, jobs.length || 1)) }, worker));
  opts.signal?.removeEventListener("abort", onOuterAbort);
  refresh();
  for (const s of summaries.values()) {
    if (s.status === "skipped") continue;
    const critical =
      s.latencyGated &&
      !s.latencyExpected &&
      opts.latencyGate !== "warn" &&
      !opts.signal?.aborted &&
      s.thresholds.some((t) => t.status === "critical");
    const unfinished = s.cases.run < s.cases.planned;
    s.status =
      s.failures.length > 0 || critical
        ? "failed"
        : s.errors.length > 0
          ? "error"
          : unfinished && opts.signal?.aborted
            ? "interrupted"
            : s.cases.run === 0 && s.cases.planned > 0
              ? "not-run"
              : "passed";
  }
  summary.scenarios = ordered();
  // Latency levels judge a whole run: an interrupted one only reports them.
  const interrupted = opts.signal?.aborted === true;
  summary.status =
    summary.failures.length > 0
      ? "failed"
      : summary.errors.length > 0
        ? "error"
        : interrupted
          ? "interrupted"
          : summary.latencyFailures.length > 0
            ? "failed"
            : "passed";
  return summary;
}

function blankScenario(
  name: string,
  invariants: readonly InvariantSpec[],
  status: ScenarioSummary["status"],
  planned: number,
): ScenarioSummary {
  return {
    name,
    invariants: invariants.map(({ id, text }) => ({ id, text })),
    status,
    cases: emptyTally(planned),
    cycles: 0,
    crashes: { named: {}, fs: {}, signal: 0 },
    armsNotReached: 0,
    batches: { sent: 0, acked: 0 },
    faults: { lives: 0, refusedAppends: 0, refusedOpens: 0 },
    checkpoints: 0,
    latency: {},
    histograms: {},
    recoveryBySize: recoveryBySize([]),
    powerStates: { checked: 0, recovered: 0, crossChecked: 0, ms: 0 },
    caseTimeMs: 0,
    thresholds: [],
    latencyExpected: false,
    latencyGated: false,
    failures: [],
    errors: [],
  };
}

/** The default worker count: the machine's cores. */
export function defaultWorkers(): number {
  return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}
