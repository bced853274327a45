import { performance } from "node:perf_hooks";
import type { Task } from "tinybench";
import { makeBatch, percentile, runOne, timedPart, VALUE, type RunOptions } from "./bench-util.js";

// The task shapes shared by the in-process and protocol-level benchmarks: the same loop
// drives the reference WAL's `append` in process and an adapter's `append` request.

type Phase = "warmup" | "run";

/** What a task drives: appends (and truncate checkpoints), with optional per-phase set-up. */
export interface BenchTarget {
  /** Before each phase (warmup, run): open a fresh WAL, say. */
  setUp?(phase: Phase): Promise<void>;
  /** After each phase. */
  tearDown?(phase: Phase): Promise<void>;
  append(ops: { key: string; value: string }[]): Promise<unknown>;
  /** A truncate checkpoint; resolves with the WAL's own elapsedMs when it reports one. */
  checkpoint?(): Promise<number | undefined>;
}

const hooks = (target: BenchTarget, beforeAll?: (phase: Phase) => void | Promise<void>) => ({
  async: true as const,
  beforeAll: async (mode?: string) => {
    const phase = mode === "warmup" ? "warmup" : "run";
    await target.setUp?.(phase);
    await beforeAll?.(phase);
  },
  afterAll: async (mode?: string) => {
    await target.tearDown?.(mode === "warmup" ? "warmup" : "run");
  },
});

/** One iteration = `concurrency` appends of `batchSize` ops in flight at once (closed loop: it waits for all). */
export function appendTask(
  name: string,
  target: BenchTarget,
  c: { batchSize: number; concurrency: number; key: () => string },
  opts: RunOptions,
): Promise<Task> {
  const one = () => target.append(makeBatch(c.batchSize, c.key));
  const fn =
    c.concurrency === 1
      ? async () => {
          await one();
        }
      : async () => {
          const pending = new Array<Promise<unknown>>(c.concurrency);
          for (let i = 0; i < c.concurrency; i++) pending[i] = one();
          await Promise.all(pending);
        };
  return runOne(name, fn, hooks(target), opts);
}

export interface CheckpointCase {
  /** Keys written before the first checkpoint (k0, k1, ...), so every snapshot holds the same state size. */
  stateKeys: number;
  /** Appends (pipelined, one op each) before each checkpoint, outside the measured part. */
  appendsBefore: number;
  key: () => string;
}

/** The WAL's own checkpoint elapsedMs over the run phase, when it reports one. */
export interface ReportedElapsed {
  n: number;
  p50: number;
  p95: number;
  max: number;
}

export function reportedElapsed(samples: number[]): ReportedElapsed | undefined {
  if (samples.length === 0) return undefined;
  return {
    n: samples.length,
    p50: percentile(samples, 0.5),
    p95: percentile(samples, 0.95),
    max: Math.max(...samples),
  };
}

/**
 * A truncate checkpoint after `appendsBefore` appends: the sample is the checkpoint alone,
 * the appends count against the time budget (so a slow WAL cannot stretch the task).
 */
export async function checkpointTask(
  name: string,
  target: BenchTarget,
  c: CheckpointCase,
  opts: RunOptions,
): Promise<{ task: Task; reported?: ReportedElapsed }> {
  if (!target.checkpoint) throw new TypeError(`checkpointTask: the target has no checkpoint, got ${name}`);
  const checkpoint = target.checkpoint.bind(target);
  const elapsed: number[] = [];
  const fill = async () => {
    elapsed.length = 0;
    for (let i = 0; i < c.stateKeys; i += 100) {
      const n = Math.min(100, c.stateKeys - i);
      await target.append(Array.from({ length: n }, (_, j) => ({ key: `k${i + j}`, value: VALUE })));
    }
  };
  const task = await runOne(
    name,
    async () => {
      const t0 = performance.now();
      await Promise.all(Array.from({ length: c.appendsBefore }, () => target.append(makeBatch(1, c.key))));
      const t1 = performance.now();
      const own = await checkpoint();
      const t2 = performance.now();
      if (own !== undefined) elapsed.push(own);
      return timedPart(t2 - t1, t2 - t0);
    },
    hooks(target, fill),
    opts,
  );
  const reported = reportedElapsed(elapsed);
  return reported ? { task, reported } : { task };
}
