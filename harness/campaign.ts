import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { AdapterClient } from "./adapter-client.js";
import { AdapterError } from "./adapter-error.js";
import type { AdapterLaunch } from "./adapter-launch.js";
import { mergeStats, runCase, type CaseResult } from "./case-runner.js";
import { emptyStats, type SessionStats } from "./case-session.js";
import type { Hello } from "./protocol.js";
import type { ReplayToken } from "./replay-token.js";
import type { CrashKinds } from "./workload.js";

export interface CampaignOptions {
  launch: AdapterLaunch;
  seed: number;
  /** Cases in the whole campaign (all shards together). */
  runs: number;
  /** Stop starting cases after this long. */
  budgetMs?: number;
  crash: CrashKinds;
  workers: number;
  shard: { index: number; count: number };
  reportDir: string;
  recoveryThresholdMs: number;
  timeoutMs: number;
  maxCommands: number;
  openConfig: Record<string, unknown>;
  /** Run exactly one case again (from a failure's replay line). */
  replay?: ReplayToken;
  fsPreload?: string;
  /** How long a failing case may shrink (default 10 s). */
  shrinkBudgetMs?: number;
  /** Mutating fs calls in one typical life, counted with the preload's trace. */
  fsCallsPerLife?: number;
  signal?: AbortSignal;
  /** Called after every case, for progress and the report written as the run goes. */
  onCase?: (result: CaseResult, summary: RunSummary) => void;
}

/** The whole run, as the JSON report and the exit code see it. */
export interface RunSummary {
  status: "passed" | "failed" | "error" | "interrupted" | "running";
  seed: number;
  adapter: string;
  hello?: Hello;
  crash: string[];
  shard: string;
  cases: { planned: number; run: number; passed: number; failed: number; errors: number };
  /** Crash cycles: a crash, then recovery and verification in a fresh process. */
  cycles: number;
  crashes: SessionStats["crashes"];
  armsNotReached: number;
  batches: { sent: number; acked: number };
  checkpoints: number;
  recoveryMs: { n: number; p50: number; p95: number; max: number };
  timeMs: SessionStats["timeMs"];
  elapsedMs: number;
  cyclesPerMinute: number;
  failures: Extract<CaseResult, { status: "failed" }>[];
  errors: Extract<CaseResult, { status: "error" }>[];
}

/** Case seeds are spread from the campaign seed, so any case runs alone with the same commands. */
export function caseSeed(seed: number, index: number): number {
  let x = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** Start the adapter once to learn its name, features and crash points. */
export async function probeAdapter(launch: AdapterLaunch, timeoutMs: number): Promise<Hello> {
  const client = AdapterClient.start({ file: launch.file, args: launch.args, env: launch.env, timeoutMs });
  try {
    const hello = await client.request("hello", {});
    if (!hello.ok) throw new AdapterError("ADAPTER_PROTOCOL", `hello answered ${hello.error.code}: ${hello.error.message}`, { op: "hello", stderrTail: client.stderrTail });
    const { ok: _ok, ...rest } = hello;
    return rest;
  } finally {
    await client.kill();
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/**
 * Run a campaign: the cases of this shard, `workers` at a time, until they are done, the
 * budget is spent, a case fails (the run stops starting new ones), or the run is aborted.
 */
export async function runCampaign(opts: CampaignOptions, hello: Hello): Promise<RunSummary> {
  const started = performance.now();
  const stats: SessionStats = emptyStats();
  const indices = opts.replay ? [0] : Array.from({ length: opts.runs }, (_, i) => i).filter((i) => i % opts.shard.count === opts.shard.index);
  const summary: RunSummary = {
    status: "running",
    seed: opts.replay ? opts.replay.seed : opts.seed,
    adapter: opts.launch.label,
    hello,
    crash: [...opts.crash],
    shard: `${opts.shard.index + 1}/${opts.shard.count}`,
    cases: { planned: indices.length, run: 0, passed: 0, failed: 0, errors: 0 },
    cycles: 0,
    crashes: stats.crashes,
    armsNotReached: 0,
    batches: { sent: 0, acked: 0 },
    checkpoints: 0,
    recoveryMs: { n: 0, p50: 0, p95: 0, max: 0 },
    timeMs: stats.timeMs,
    elapsedMs: 0,
    cyclesPerMinute: 0,
    failures: [],
    errors: [],
  };
  const refresh = () => {
    const sorted = [...stats.recoveryMs].sort((a, b) => a - b);
    summary.recoveryMs = { n: sorted.length, p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), max: sorted.at(-1) ?? 0 };
    summary.cycles = stats.crashes.signal + Object.values(stats.crashes.named).reduce((a, b) => a + b, 0) + Object.values(stats.crashes.fs).reduce((a, b) => a + b, 0);
    summary.armsNotReached = stats.armsNotReached;
    summary.batches = { sent: stats.batchesSent, acked: stats.batchesAcked };
    summary.checkpoints = stats.checkpoints;
    summary.elapsedMs = performance.now() - started;
    summary.cyclesPerMinute = summary.elapsedMs > 0 ? (summary.cycles * 60_000) / summary.elapsedMs : 0;
  };

  let next = 0;
  let stop = false;
  // The first failure stops the campaign: cases still running elsewhere are abandoned
  // (not shrunk in parallel), as fast-check ends a property at its first failure.
  const siblings = new AbortController();
  const onOuterAbort = () => siblings.abort();
  opts.signal?.addEventListener("abort", onOuterAbort, { once: true });
  const worker = async () => {
    while (!stop && next < indices.length) {
      if (opts.signal?.aborted) return;
      if (opts.budgetMs !== undefined && performance.now() - started > opts.budgetMs) return;
      const index = indices[next++]!;
      const seed = opts.replay ? opts.replay.seed : caseSeed(opts.seed, index);
      const result = await runCase(
        index,
        seed,
        {
          launch: opts.launch,
          hello,
          crash: opts.replay ? opts.replay.crash : opts.crash,
          maxCommands: opts.replay ? opts.replay.maxCommands : opts.maxCommands,
          openConfig: opts.openConfig,
          recoveryThresholdMs: opts.recoveryThresholdMs,
          timeoutMs: opts.timeoutMs,
          reportDir: path.join(opts.reportDir, "cases"),
          ...(opts.fsPreload ? { fsPreload: opts.fsPreload } : {}),
          ...(opts.fsCallsPerLife ? { fsCallsPerLife: opts.fsCallsPerLife } : {}),
          signal: siblings.signal,
          ...(opts.shrinkBudgetMs !== undefined ? { shrinkBudgetMs: opts.shrinkBudgetMs } : {}),
        },
        opts.replay ? { path: opts.replay.path, ...(opts.replay.replayPath ? { replayPath: opts.replay.replayPath } : {}) } : undefined,
      );
      mergeStats(stats, result.stats);
      if (result.status === "interrupted") return;
      summary.cases.run += 1;
      if (result.status === "passed") summary.cases.passed += 1;
      if (result.status === "failed") {
        summary.cases.failed += 1;
        summary.failures.push(result);
        stop = true;
        siblings.abort();
      }
      if (result.status === "error") {
        summary.cases.errors += 1;
        summary.errors.push(result);
        stop = true;
        siblings.abort();
      }
      refresh();
      opts.onCase?.(result, summary);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.workers, indices.length || 1)) }, worker));
  opts.signal?.removeEventListener("abort", onOuterAbort);
  refresh();
  summary.status = summary.failures.length > 0 ? "failed" : summary.errors.length > 0 ? "error" : opts.signal?.aborted ? "interrupted" : "passed";
  return summary;
}

/** The default worker count: the machine's cores. */
export function defaultWorkers(): number {
  return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}
