import path from "node:path";
import { DEFAULT_TIMEOUT_MS } from "../protocol/json-lines-child.js";
import { performance } from "node:perf_hooks";
import fc from "fast-check";
import { AdapterError } from "../protocol/adapter-error.js";
import { addWarning } from "../protocol/tolerant-reader.js";
import type { AdapterLaunch } from "./adapter-launch.js";
import { emptyStats, keepFailure, sessionInTempDir, type SessionStats } from "./case-session.js";
import type { Scenario, ScenarioEnv } from "./scenario.js";
import type { SpareShelf } from "./spare-shelf.js";
import { encodeReplayToken, type PowerStateRef, type SweepCellRef } from "./replay-token.js";
import { emptySweep, mergeSweep } from "../checks/sweep.js";
import { InvariantViolation } from "../checks/violation.js";
import type { PowerAttribution } from "../faults/power/attribute.js";

export interface CaseOptions {
  launch: AdapterLaunch;
  scenario: Scenario;
  env: ScenarioEnv;
  openConfig: Record<string, unknown>;
  recoveryThresholdMs: number;
  timeoutMs: number;
  /** Where a failing case's directory and the adapter's stderr are kept. */
  reportDir: string;
  fsPreload?: string;
  /** The C preload that injects fault arms instead of the fs preload (see fault-path.ts). */
  nativeFaults?: string;
  /** The C preload that takes fs-call crash points to an adapter the fs preload cannot see (see fault-path.ts). */
  nativeFsCrash?: string;
  /** A case running longer than this is stopped and reported as an error with what it was doing (default 120 s). */
  caseTimeoutMs?: number;
  /** How long shrinking may go on after the first failure (default 10 s): the smallest case found by then is reported. */
  shrinkBudgetMs?: number;
  signal?: AbortSignal;
  /** The campaign worker's shelf: an unused spare process passes from one case to the next. */
  spares?: SpareShelf;
}

/** The result of one case: a discriminated union on `status`. */
export type CaseResult =
  | { status: "passed"; scenario: string; index: number; seed: number; stats: SessionStats; executions: number }
  | {
      status: "failed";
      scenario: string;
      index: number;
      seed: number;
      stats: SessionStats;
      executions: number;
      violation: {
        invariant: string;
        message: string;
        description: string;
        crash?: string | undefined;
        /** Power loss: the lost op, the missing barrier and where the adapter issued the op. */
        attribution?: PowerAttribution;
      };
      commands: string;
      shrinks: number;
      replayToken: string;
      keptDir: string;
    }
  | {
      status: "error";
      scenario: string;
      index: number;
      seed: number;
      stats: SessionStats;
      executions: number;
      error: { code: string; message: string };
    }
  | { status: "interrupted"; scenario: string; index: number; seed: number; stats: SessionStats; executions: number };

export function mergeStats(into: SessionStats, from: SessionStats): void {
  into.lives += from.lives;
  for (const [k, n] of Object.entries(from.crashes.named)) into.crashes.named[k] = (into.crashes.named[k] ?? 0) + n;
  for (const [k, n] of Object.entries(from.crashes.fs)) into.crashes.fs[k] = (into.crashes.fs[k] ?? 0) + n;
  into.crashes.signal += from.crashes.signal;
  into.armsNotReached += from.armsNotReached;
  into.batchesSent += from.batchesSent;
  into.batchesAcked += from.batchesAcked;
  into.refused.append += from.refused.append;
  into.refused.open += from.refused.open;
  into.faultLives += from.faultLives;
  into.checkpoints += from.checkpoints;
  into.recoveryMs.push(...from.recoveryMs);
  into.recoveries.push(...from.recoveries);
  for (const k of ["checked", "recovered", "crossChecked", "ms"] as const) into.powerStates[k] += from.powerStates[k];
  for (const k of ["enumerated", "duplicates"] as const)
    if (from.powerStates[k] !== undefined) into.powerStates[k] = (into.powerStates[k] ?? 0) + from.powerStates[k];
  if (from.powerStates.lostStates) {
    into.powerStates.lostStates = (into.powerStates.lostStates ?? 0) + from.powerStates.lostStates;
    into.powerStates.lostMax = Math.max(into.powerStates.lostMax ?? 0, from.powerStates.lostMax ?? 0);
  }
  if (from.powerStates.replay) into.powerStates.replay = from.powerStates.replay;
  if (from.sweep) mergeSweep((into.sweep ??= emptySweep()), from.sweep);
  for (const [op, samples] of Object.entries(from.latency)) (into.latency[op] ??= []).push(...samples);
  for (const k of ["startup", "recovery", "workload", "verify"] as const) into.timeMs[k] += from.timeMs[k];
  for (const w of from.warnings) addWarning(into.warnings, w);
}

/** A case's input as a person reads it: a command list prints itself, anything else as fast-check shows values. */
function show(input: unknown): string {
  const own = typeof input === "object" && input !== null && (input as { toString?: unknown }).toString;
  return own && own !== Object.prototype.toString ? String(input) : fc.stringify(input);
}

/**
 * Run one case of a scenario: fast-check draws its input from `seed` (or replays `path`),
 * the scenario drives a fresh adapter on a fresh directory with it, and a violation is
 * shrunk to the smallest input that still shows it. The directory of the smallest failing
 * run is kept under the report folder.
 */
export async function runCase(
  index: number,
  seed: number,
  opts: CaseOptions,
  replay?: { path: string; replayPath?: string },
): Promise<CaseResult> {
  const stats = emptyStats();
  const scenario = opts.scenario.name;
  let executions = 0;
  let lastFailure:
    | {
        dir: string;
        stderr: string;
        powerState?: PowerStateRef | undefined;
        sweepCell?: SweepCellRef | undefined;
        attribution?: PowerAttribution | undefined;
      }
    | undefined;
  let adapterFault: AdapterError | undefined;
  let abandoned: Error | undefined;
  const keptDir = path.join(opts.reportDir, `${scenario}-case-${index}-seed-${seed}`);
  const env: ScenarioEnv = { ...opts.env, ...(replay?.replayPath ? { replayPath: replay.replayPath } : {}) };
  const inputs = opts.scenario.arbitrary(env);

  let firstFailureAt: number | undefined;
  const shrinkBudgetMs = opts.shrinkBudgetMs ?? 10_000;
  const property = fc.asyncProperty(inputs, async (input) => {
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
      ...(opts.nativeFaults ? { nativeFaults: opts.nativeFaults } : {}),
      ...(opts.nativeFsCrash ? { nativeFsCrash: opts.nativeFsCrash } : {}),
      ...(opts.scenario.solo ? { prespawn: false } : { ...(opts.spares ? { spares: opts.spares } : {}) }),
    });
    const onAbort = () => void session.dispose("interrupted");
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    // A case may take as much longer as its requests may: --timeout 60000 (a slow engine) gives
    // six times the scenario's own case time.
    const caseTimeoutMs =
      opts.caseTimeoutMs ??
      (opts.scenario.caseTimeoutMs?.(opts.env) ?? 120_000) * Math.max(1, opts.timeoutMs / DEFAULT_TIMEOUT_MS);
    const watchdog = setTimeout(
      () => void session.dispose(`CASE_TIMEOUT: the case ran over ${caseTimeoutMs} ms, stuck in ${session.step}`),
      caseTimeoutMs,
    );
    try {
      await opts.scenario.execute(input, session, env);
    } catch (error) {
      if (opts.signal?.aborted) return;
      firstFailureAt ??= performance.now();
      if (error instanceof InvariantViolation) {
        // The last failing execution is the shrunk counterexample: keep its files.
        keepFailure(session, keptDir, error);
        lastFailure = {
          dir: keptDir,
          stderr: session.stderrTail,
          powerState: session.powerState,
          sweepCell: session.sweepCell,
          attribution: session.powerAttribution,
        };
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
  if (opts.signal?.aborted) return { status: "interrupted", scenario, index, seed, stats, executions };
  if (!details.failed) return { status: "passed", scenario, index, seed, stats, executions };
  const error = details.errorInstance;
  if (error instanceof InvariantViolation && lastFailure) {
    const commandsText = show(details.counterexample?.[0] ?? "");
    const replayPath = /replayPath="([^"]*)"/.exec(commandsText)?.[1];
    return {
      status: "failed",
      scenario,
      index,
      seed,
      stats,
      executions,
      violation: {
        invariant: error.invariant,
        message: error.message,
        description: error.describe(),
        crash: error.crash ? `${error.crash.kind} at ${error.crash.at}` : undefined,
        ...(lastFailure.attribution ? { attribution: lastFailure.attribution } : {}),
      },
      commands: commandsText.replace(/\/\*replayPath=.*?\*\//, "").trim(),
      shrinks: details.numShrinks,
      replayToken: encodeReplayToken({
        seed,
        path: details.counterexamplePath ?? "0",
        ...(replayPath ? { replayPath } : {}),
        crash: [...opts.env.crash],
        maxCommands: opts.env.maxCommands,
        scenario,
        ...(opts.env.power?.exhaustive ? { power: "exhaustive" as const } : {}),
        ...(lastFailure.powerState ? { powerState: lastFailure.powerState } : {}),
        ...(lastFailure.powerState && opts.env.power?.model ? { persistence: opts.env.power.model } : {}),
        // The power-loss arbitrary depends on it (its cases only): absent, the replay draws sequential lives.
        ...(scenario === "power-loss" && opts.env.power?.pipeline ? { pipeline: opts.env.power.pipeline } : {}),
        ...(lastFailure.sweepCell ? { sweepCell: lastFailure.sweepCell } : {}),
      }),
      keptDir: lastFailure.dir,
    };
  }
  const fault = adapterFault ?? abandoned ?? (error instanceof Error ? error : new Error(String(error)));
  return {
    status: "error",
    scenario,
    index,
    seed,
    stats,
    executions,
    error: { code: (fault as { code?: string }).code ?? "EINTERNAL", message: fault.message },
  };
}
