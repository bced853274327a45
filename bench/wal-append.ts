import type { Logger } from "pino";
import type { WalMetrics } from "../reference-impl/index.js";
import { nextKey, taskJson, type RunOptions, type TaskJson } from "./bench-util.js";
import { appendTask } from "./tasks.js";
import { walTarget } from "./wal-target.js";

function metricsJson(m: WalMetrics): Record<string, unknown> {
  return {
    batchesPerSync: m.batchesPerSync,
    appends: m.appends,
    fsyncs: m.fsyncs,
    bytesWritten: m.bytesWritten,
  };
}

export interface WalAppendCase {
  sync: "always" | "batch" | "none";
  /** Appends in flight at once (closed loop: an iteration waits for all of them). */
  appenders: number;
  /** Ops per batch (default 1). */
  batchSize?: number;
  /** The workload's keys (default: the shared cycling keys). */
  key?: () => string;
  id?: string;
  name?: string;
}

/**
 * The reference WAL with `appenders` concurrent writers: one tinybench iteration is
 * Promise.all of `appenders` appends of `batchSize` ops each. With sync="always" and one
 * appender this is the plain sequential `await wal.append(...)` loop. A fresh WAL per phase
 * (warmup, run); the metrics reported are those of the run phase's handle.
 */
export async function benchWalAppend(
  dir: string,
  c: WalAppendCase,
  logger: Logger,
  opts: RunOptions,
): Promise<TaskJson> {
  const { sync, appenders } = c;
  const batchSize = c.batchSize ?? 1;
  const id = c.id ?? (sync === "always" ? "wal-always" : `wal-batch-${appenders}`);
  const name =
    c.name ??
    (sync === "always"
      ? "WAL sync=always, 1 writer"
      : `WAL sync=${sync}, ${appenders} appender${appenders === 1 ? "" : "s"}`);
  let runMetrics: WalMetrics | undefined;
  let lastSeq = 0;
  const target = walTarget(dir, id.replace(/\//g, "-"), logger, sync, (wal, phase) => {
    if (phase !== "run") return;
    runMetrics = wal.metrics();
    lastSeq = wal.lastSeq;
  });
  const task = await appendTask(name, target, { batchSize, concurrency: appenders, key: c.key ?? nextKey }, opts);
  if (!runMetrics) throw new Error(`${name}: no metrics from the run phase`);
  return taskJson(id, task, appenders, {
    sync,
    appenders,
    batchSize,
    appendsInRunPhase: lastSeq,
    ...metricsJson(runMetrics),
  });
}
