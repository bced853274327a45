import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { AdapterLaunch } from "../harness/engine/adapter-launch.js";
import { checkStates, RecoveryPool, type CheckResult } from "../harness/faults/power/check-states.js";
import { allStates } from "../harness/faults/power/crash-states.js";
import { recordLife, type Recording } from "../harness/faults/power/record-life.js";
import { RecoveryKeeper } from "../harness/faults/power/recovery-keeper.js";
import { ensureRecorder, recordEnv } from "../harness/faults/power/recorder-build.js";
import type { Hello } from "../harness/protocol/messages.js";
import { powerWorkload } from "../scenarios/power-loss.js";
import { runOne, timedPart, type RunOptions } from "./bench-util.js";
import { BenchError, type ClientPool } from "./protocol-suites.js";

// The power-loss suite: how many crash states per second walcheck checks for one recorded
// life of a bounded workload (20 steps by default, the length of an exhaustive `--crash power`
// case). The life is recorded once; one tinybench iteration enumerates and checks every state
// of it (exhaustive mode), so ops per iteration is the number of states and ops/s is states
// per second.

export interface PowerBenchResult {
  task: Awaited<ReturnType<typeof runOne>>;
  states: number;
  extra: Record<string, unknown>;
}

/** Record one life of `steps` steps with the recorder preloaded; the trace stays in `dir`. */
export async function recordBenchLife(
  pool: ClientPool,
  launch: AdapterLaunch,
  hello: Hello,
  dir: string,
  steps: number,
  seed: number,
): Promise<Recording> {
  const recorder = await ensureRecorder();
  const walDir = path.join(dir, "life");
  fs.mkdirSync(walDir, { recursive: true });
  const traceFile = path.join(dir, "power.trace");
  const root = fs.realpathSync(walDir);
  const client = pool.start({ ...launch, env: { ...launch.env, ...recordEnv(traceFile, root, recorder) } });
  try {
    return await recordLife(client, {
      dir: root,
      traceFile,
      openConfig: {},
      steps: powerWorkload(hello.features, steps, seed),
    });
  } finally {
    await client.kill();
  }
}

/** Check every state of `rec`, `mode` fresh (a process per directory) or reuse (the recover op), once per iteration. */
export async function benchPowerStates(
  pool: ClientPool,
  launch: AdapterLaunch,
  hello: Hello,
  rec: Recording,
  o: { dir: string; mode: "fresh" | "reuse"; seed: number; name: string },
  opts: RunOptions,
): Promise<PowerBenchResult> {
  let last: CheckResult | undefined;
  let iteration = 0;
  // A recovery process per core, as a run's power-loss case on an otherwise idle machine.
  const workers = Math.max(1, os.availableParallelism());
  // Processes kept from one iteration (one life) to the next, as a run keeps them between cases.
  const keeper = new RecoveryKeeper(() => pool.start(launch));
  const borrower = { adopt: () => () => undefined, onWarning: () => undefined };
  let task;
  try {
    task = await runOne(
      o.name,
      async () => {
        const recovery = new RecoveryPool(() => pool.start(launch), {
          mode: o.mode,
          ahead: workers,
          size: workers,
          openConfig: {},
          check: hello.features.includes("check"),
          keeper: { keeper, borrower },
        });
        try {
          const result = await checkStates({
            states: allStates(rec.initial, rec.trace, o.seed),
            rec,
            pool: recovery,
            workDir: path.join(o.dir, `states-${iteration++}`),
            workers,
            ...(opts.signal ? { signal: opts.signal } : {}),
          });
          if (result.failure)
            throw new BenchError(
              "POWER_STATE_FAILED",
              `a power-loss state failed (cut ${result.failure.state.cut}, variant ${result.failure.state.variant}): ${result.failure.verdict.message}`,
            );
          last = result;
          return timedPart(result.elapsedMs, result.elapsedMs);
        } finally {
          await recovery.close();
        }
      },
      { async: true },
      opts,
    );
  } finally {
    await keeper.close();
  }
  if (!last) throw new Error(`${o.name}: no iteration finished`);
  return {
    task,
    states: last.checked,
    extra: {
      mode: o.mode,
      steps: rec.stepAt.length,
      traceOps: rec.trace.length,
      states: last.checked,
      /** Every variant at every cut, and those not recovered (same bytes as a directory already recovered). */
      enumerated: last.enumerated,
      duplicates: last.duplicates,
      directories: last.recovered,
      crossChecked: last.crossChecked,
      statesPerDirectory: last.checked / Math.max(1, last.recovered),
      recoverers: workers,
    },
  };
}
