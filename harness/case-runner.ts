import path from "node:path";
import { performance } from "node:perf_hooks";
import fc from "fast-check";
import { AdapterError } from "./adapter-error.js";
import type { AdapterLaunch } from "./adapter-launch.js";
import { emptyStats, keepFailure, sessionInTempDir, type SessionStats } from "./case-session.js";
import type { Hello } from "./protocol.js";
import { encodeReplayToken } from "./replay-token.js";
import { InvariantViolation } from "./violation.js";
import { workloadCommands, type CrashKinds } from "./workload.js";

export interface CaseOptions {
  launch: AdapterLaunch;
  hello: Hello;
  crash: CrashKinds;
  maxCommands: number;
  openConfig: Record<string, unknown>;
  recoveryThresholdMs: number;
  timeoutMs: number;
  /** Where a failing case's directory and the adapter's stderr are kept. */
  reportDir: string;
  fsPreload?: string;
  fsCallsPerLife?: number;
  /** A case running longer than this is stopped and reported as an error with what it was doing (default 120 s). */
  caseTimeoutMs?: number;
  /** How long shrinking may go on after the first failure (default 10 s): the smallest case found by then is reported. */
  shrinkBudgetMs?: number;
  signal?: AbortSignal;
}

/** The result of one case: a discriminated union on `status`. */
export type CaseResult =
  | { status: "passed"; index: number; seed: number; stats: SessionStats; executions: number }
  | {
      status: "failed";
      index: number;
      seed: number;
      stats: SessionStats;
      executions: number;
      violation: { invariant: string; message: string; description: string; crash?: string | undefined };
      commands: string;
      shrinks: number;
      replayToken: string;
      keptDir: string;
    }
  | { status: "error"; index: number; seed: number; stats: SessionStats; executions: number; error: { code: string; message: string } }
  | { status: "interrupted"; index: number; seed: number; stats: SessionStats; executions: number };

export function mergeStats(into: SessionStats, from: SessionStats): void {
  into.lives += from.lives;
  for (const [k, n] of Object.entries(from.crashes.named)) into.crashes.named[k] = (into.crashes.named[k] ?? 0) + n;
  for (const [k, n] of Object.entries(from.crashes.fs)) into.crashes.fs[k] = (into.crashes.fs[k] ?? 0) + n;
  into.crashes.signal += from.crashes.signal;
  into.armsNotReached += from.armsNotReached;
  into.batchesSent += from.batchesSent;
  into.batchesAcked += from.batchesAcked;
  into.checkpoints += from.checkpoints;
  into.recoveryMs.push(...from.recoveryMs);
  for (const k of ["startup", "recovery", "workload", "verify"] as const) into.timeMs[k] += from.timeMs[k];
}

/**
 * Run one case: fast-check generates a command list from `seed` (or replays `path`), the
 * commands drive a fresh adapter on a fresh directory, and a violation is shrunk to the
 * smallest command list that still shows it. The directory of the smallest failing run is
 * kept under the report folder.
 */
export async function runCase(index: number, seed: number, opts: CaseOptions, replay?: { path: string; replayPath?: string }): Promise<CaseResult> {
  const stats = emptyStats();
  let executions = 0;
  let lastFailure: { dir: string; stderr: string } | undefined;
  let adapterFault: AdapterError | undefined;
  let abandoned: Error | undefined;
  const keptDir = path.join(opts.reportDir, `case-${index}-seed-${seed}`);
  const commands = workloadCommands({
    hello: opts.hello,
    crash: opts.crash,
    maxCommands: opts.maxCommands,
    fsCallsPerLife: opts.fsCallsPerLife ?? 40,
    ...(replay?.replayPath ? { replayPath: replay.replayPath } : {}),
  });

  let firstFailureAt: number | undefined;
  const shrinkBudgetMs = opts.shrinkBudgetMs ?? 10_000;
  const property = fc.asyncProperty(commands, async (cmds) => {
    if (opts.signal?.aborted) return;
    // Past the shrink budget every further candidate "passes", which ends shrinking at
    // the smallest failing command list found so far.
    if (firstFailureAt !== undefined && performance.now() - firstFailureAt > shrinkBudgetMs) return;
    // An adapter error is not shrunk: the first one is the report.
    if (adapterFault || abandoned) return;
    executions += 1;
    const { session, cleanup } = await sessionInTempDir("walcheck-case-", {
      launch: opts.launch,
      openConfig: opts.openConfig,
      recoveryThresholdMs: opts.recoveryThresholdMs,
      timeoutMs: opts.timeoutMs,
      ...(opts.fsPreload ? { fsPreload: opts.fsPreload } : {}),
    });
    const onAbort = () => void session.dispose("interrupted");
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const caseTimeoutMs = opts.caseTimeoutMs ?? 120_000;
    const watchdog = setTimeout(() => void session.dispose(`CASE_TIMEOUT: the case ran over ${caseTimeoutMs} ms, stuck in ${session.step}`), caseTimeoutMs);
    try {
      await session.start();
      await fc.asyncModelRun(() => ({ model: {}, real: session }), cmds);
      session.step = "final close and reopen";
      await session.finish();
    } catch (error) {
      if (opts.signal?.aborted) return;
      firstFailureAt ??= performance.now();
      if (error instanceof InvariantViolation) {
        // The last failing execution is the shrunk counterexample: keep its files.
        keepFailure(session, keptDir, error);
        lastFailure = { dir: keptDir, stderr: session.stderrTail };
      } else if (error instanceof AdapterError) {
        adapterFault = error;
      } else {
        abandoned = error as Error;
      }
      throw error;
    } finally {
      clearTimeout(watchdog);
      opts.signal?.removeEventListener("abort", onAbort);
      await cleanup();
      mergeStats(stats, session.stats);
    }
  });

  const details = await fc.check(property, {
    seed,
    numRuns: 1,
    ...(replay ? { path: replay.path, endOnFailure: true } : {}),
  });
  if (opts.signal?.aborted) return { status: "interrupted", index, seed, stats, executions };
  if (!details.failed) return { status: "passed", index, seed, stats, executions };
  const error = details.errorInstance;
  if (error instanceof InvariantViolation && lastFailure) {
    const commandsText = String(details.counterexample?.[0] ?? "");
    const replayPath = /replayPath="([^"]*)"/.exec(commandsText)?.[1];
    return {
      status: "failed",
      index,
      seed,
      stats,
      executions,
      violation: { invariant: error.invariant, message: error.message, description: error.describe(), crash: error.crash ? `${error.crash.kind} at ${error.crash.at}` : undefined },
      commands: commandsText.replace(/\/\*replayPath=.*?\*\//, "").trim(),
      shrinks: details.numShrinks,
      replayToken: encodeReplayToken({ seed, path: details.counterexamplePath ?? "0", ...(replayPath ? { replayPath } : {}), crash: [...opts.crash], maxCommands: opts.maxCommands }),
      keptDir: lastFailure.dir,
    };
  }
  const fault = adapterFault ?? abandoned ?? (error instanceof Error ? error : new Error(String(error)));
  return { status: "error", index, seed, stats, executions, error: { code: (fault as { code?: string }).code ?? "EINTERNAL", message: fault.message } };
}
