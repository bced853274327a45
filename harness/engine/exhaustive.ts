import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import fc from "fast-check";
import { dir as tmpDir } from "tmp-promise";
import { AdapterClient } from "../protocol/adapter-client.js";
import { AdapterError } from "../protocol/adapter-error.js";
import type { AdapterLaunch } from "./adapter-launch.js";
import { mergeStats } from "./case-runner.js";
import { emptyStats, keepFailure, sessionInTempDir, type SessionStats } from "./case-session.js";
import type { BatchOp, Hello } from "../protocol/messages.js";
import { encodeReplayToken } from "./replay-token.js";
import { InvariantViolation } from "../checks/violation.js";

/** One step of the fixed exhaustive workload: sequential, so every run makes the same fs calls. */
export type ExhaustiveStep = { kind: "append"; ops: BatchOp[] } | { kind: "checkpoint"; mode: "passive" | "truncate" };

/** An fs crash point: the k-th mutating call, and when the process dies around it. */
export interface FsPoint {
  call: number;
  when: "before" | "after" | "mid";
}

export interface ExhaustiveOptions {
  launch: AdapterLaunch;
  hello: Hello;
  seed: number;
  fsPreload: string;
  openConfig: Record<string, unknown>;
  recoveryThresholdMs: number;
  timeoutMs: number;
  workers: number;
  reportDir: string;
  /** Run only this point (a replay). */
  only?: FsPoint;
  signal?: AbortSignal;
  onPoint?: (done: number, total: number) => void;
}

export interface ExhaustiveFailure {
  point: FsPoint;
  violation: { invariant: string; message: string; description: string; crash?: string | undefined };
  keptDir: string;
  replayToken: string;
}

export interface ExhaustiveResult {
  status: "passed" | "failed" | "error" | "interrupted";
  seed: number;
  workload: string[];
  /** Mutating fs calls the workload makes in one life. */
  calls: number;
  /** Crash points checked: every call before and after, and mid-way through every write. */
  points: number;
  checked: number;
  fired: number;
  elapsedMs: number;
  pointsPerSecond: number;
  stats: SessionStats;
  failures: ExhaustiveFailure[];
  errors: { point: FsPoint; code: string; message: string }[];
}

const WRITE_CALLS = /(^|\.)(write|writev|writeFile|appendFile)(Sync)?$/;

/** The bounded workload of an exhaustive run, drawn from the seed: appends with checkpoints between. */
export function exhaustiveWorkload(seed: number, hello: Hello): ExhaustiveStep[] {
  const key = fc.constantFrom("a", "b", "c", "d");
  const op = fc.record({ key, value: fc.option(fc.string({ maxLength: 12 }), { freq: 4, nil: null }) });
  const append = fc.array(op, { minLength: 1, maxLength: 4 }).map((ops): ExhaustiveStep => ({ kind: "append", ops }));
  const [appends] = fc.sample(fc.array(append, { minLength: 6, maxLength: 6 }), { seed, numRuns: 1 });
  const steps: ExhaustiveStep[] = [...appends!.slice(0, 3)];
  const features = new Set(hello.features);
  if (features.has("checkpoint"))
    steps.push({ kind: "checkpoint", mode: features.has("checkpoint.truncate") ? "truncate" : "passive" });
  steps.push(...appends!.slice(3, 5));
  if (features.has("checkpoint")) steps.push({ kind: "checkpoint", mode: "passive" });
  steps.push(appends![5]!);
  return steps;
}

const describeStep = (s: ExhaustiveStep) =>
  s.kind === "append"
    ? `append(${s.ops.map((o) => `${o.key}${o.value === null ? "-" : "="}`).join(",")})`
    : `checkpoint(${s.mode})`;

/** Run the workload once with the preload's trace on, and return the calls it made. */
async function traceCalls(opts: ExhaustiveOptions, steps: ExhaustiveStep[]): Promise<{ call: string }[]> {
  const work = await tmpDir({ prefix: "walcheck-trace-", unsafeCleanup: true });
  const trace = path.join(work.path, "trace.jsonl");
  const env = {
    ...opts.launch.env,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${opts.fsPreload}`.trim(),
    WALCHECK_FS_TRACE: trace,
  };
  const client = AdapterClient.start({
    file: opts.launch.file,
    args: opts.launch.args,
    env,
    timeoutMs: opts.timeoutMs,
  });
  try {
    await client.request("hello", {});
    await client.request("open", { dir: path.join(work.path, "wal"), config: opts.openConfig });
    for (const step of steps) {
      if (step.kind === "append") await client.request("append", { ops: step.ops });
      else await client.request("checkpoint", { mode: step.mode });
    }
    await client.request("close", {});
    await client.waitExit();
    return fs
      .readFileSync(trace, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { call: string });
  } finally {
    await client.kill();
    await work.cleanup();
  }
}

/**
 * Every fs-call crash point of a bounded workload: for each mutating call k the workload
 * makes, a fresh directory, a process armed to die before call k, after it, and (for
 * writes) half way through it; then recovery in a fresh process, the invariants, the rest
 * of the workload and a final clean reopen.
 */
export async function runExhaustive(opts: ExhaustiveOptions): Promise<ExhaustiveResult> {
  const started = performance.now();
  const steps = exhaustiveWorkload(opts.seed, opts.hello);
  const calls = await traceCalls(opts, steps);
  const points: FsPoint[] = opts.only
    ? [opts.only]
    : calls.flatMap((c, i) => [
        { call: i + 1, when: "before" as const },
        { call: i + 1, when: "after" as const },
        ...(WRITE_CALLS.test(c.call) ? [{ call: i + 1, when: "mid" as const }] : []),
      ]);
  const stats = emptyStats();
  const result: ExhaustiveResult = {
    status: "passed",
    seed: opts.seed,
    workload: steps.map(describeStep),
    calls: calls.length,
    points: points.length,
    checked: 0,
    fired: 0,
    elapsedMs: 0,
    pointsPerSecond: 0,
    stats,
    failures: [],
    errors: [],
  };

  let next = 0;
  const worker = async () => {
    while (
      next < points.length &&
      result.failures.length === 0 &&
      result.errors.length === 0 &&
      !opts.signal?.aborted
    ) {
      const point = points[next++]!;
      const { session, cleanup } = await sessionInTempDir("walcheck-exhaustive-", {
        launch: opts.launch,
        openConfig: opts.openConfig,
        recoveryThresholdMs: opts.recoveryThresholdMs,
        timeoutMs: opts.timeoutMs,
        fsPreload: opts.fsPreload,
      });
      const onAbort = () => void session.dispose("interrupted");
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      try {
        await session.start({ kind: "fs", call: point.call, when: point.when });
        for (const step of steps) {
          session.step = describeStep(step);
          if (step.kind === "append") await session.appendBurst([step.ops]);
          else await session.checkpoint(step.mode);
        }
        await session.finish();
        result.checked += 1;
      } catch (error) {
        if (opts.signal?.aborted) return;
        if (error instanceof InvariantViolation) {
          const keptDir = path.join(opts.reportDir, "exhaustive", `call-${point.call}-${point.when}`);
          keepFailure(session, keptDir, error);
          result.failures.push({
            point,
            violation: {
              invariant: error.invariant,
              message: error.message,
              description: error.describe(),
              crash: error.crash ? `${error.crash.kind} at ${error.crash.at}` : undefined,
            },
            keptDir,
            replayToken: encodeReplayToken({
              seed: opts.seed,
              path: "",
              crash: ["fs"],
              maxCommands: 0,
              exhaustive: point,
            }),
          });
        } else {
          const e = error as Error & { code?: string };
          result.errors.push({
            point,
            code: error instanceof AdapterError ? error.code : (e.code ?? "EINTERNAL"),
            message: e.message,
          });
        }
      } finally {
        opts.signal?.removeEventListener("abort", onAbort);
        await cleanup();
        mergeStats(stats, session.stats);
        opts.onPoint?.(result.checked + result.failures.length + result.errors.length, points.length);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.workers) }, worker));
  result.fired = Object.values(stats.crashes.fs).reduce((a, b) => a + b, 0);
  result.elapsedMs = performance.now() - started;
  result.pointsPerSecond = (result.checked * 1000) / result.elapsedMs;
  result.status = result.failures.length
    ? "failed"
    : result.errors.length
      ? "error"
      : opts.signal?.aborted
        ? "interrupted"
        : "passed";
  return result;
}
