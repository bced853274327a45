import type { Logger } from "pino";
import { taskJson, type RunOptions, type TaskJson } from "./bench-util.js";
import { checkpointTask } from "./tasks.js";
import { walTarget } from "./wal-target.js";

/**
 * "Clear after commit" (design D): a small key-value state (100 keys), one committed batch,
 * then a truncate checkpoint: snapshot to a temp file, fsync, rename, fsync the directory,
 * drop the covered log. The sample is the checkpoint alone; its own `elapsedMs` is also
 * kept, the figure the WAL logs. `walcheck bench` asks for a larger state and more appends.
 */
export async function benchTruncateCheckpoint(
  dir: string,
  logger: Logger,
  opts: RunOptions,
  o: { stateKeys?: number; appendsBefore?: number; key?: () => string; id?: string; name?: string } = {},
): Promise<TaskJson> {
  const stateKeys = o.stateKeys ?? 100;
  let n = 0;
  const name = o.name ?? `WAL truncate checkpoint (${stateKeys}-key state)`;
  const { task, reported } = await checkpointTask(
    name,
    walTarget(dir, "checkpoint", logger),
    { stateKeys, appendsBefore: o.appendsBefore ?? 1, key: o.key ?? (() => `k${n++ % stateKeys}`) },
    opts,
  );
  return taskJson(o.id ?? "checkpoint-truncate", task, 1, {
    checkpointElapsedMs: reported ?? { n: 0, p50: 0, p95: 0, max: 0 },
  });
}
