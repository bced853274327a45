import fs from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { Wal } from "../reference-impl/index.js";
import { runOne, taskJson, VALUE, percentile, type RunOptions, type TaskJson } from "./bench-util.js";

/**
 * "Clear after commit" (design D): a small key-value state (100 keys), one committed batch,
 * then a truncate checkpoint: snapshot to a temp file, fsync, rename, fsync the directory,
 * drop the covered log. One tinybench iteration is the checkpoint alone; its own
 * `elapsedMs` is also kept, the figure the WAL logs.
 */
export async function benchTruncateCheckpoint(dir: string, logger: Logger, opts: RunOptions): Promise<TaskJson> {
  let wal: Wal | undefined;
  const elapsed: number[] = [];
  let n = 0;
  const task = await runOne(
    "WAL truncate checkpoint (100-key state)",
    async () => {
      const stats = await wal!.checkpoint("truncate");
      elapsed.push(stats.elapsedMs);
    },
    {
      async: true,
      beforeAll: async (mode) => {
        const walDir = path.join(dir, `checkpoint-${mode ?? "run"}`);
        fs.rmSync(walDir, { recursive: true, force: true });
        wal = await Wal.open(walDir, { logger, sync: "batch" });
        for (let i = 0; i < 100; i++) await wal.set(`key-${i}`, VALUE);
        elapsed.length = 0;
      },
      // A fresh commit before each checkpoint, outside the timed part, so every
      // iteration writes a new snapshot and drops a non-empty log.
      beforeEach: async () => {
        await wal!.set(`key-${n++ % 100}`, VALUE);
      },
      afterAll: async () => {
        if (!wal) return;
        await wal.close();
        fs.rmSync(wal.dir, { recursive: true, force: true });
        wal = undefined;
      },
    },
    opts,
  );
  const sorted = [...elapsed].sort((a, b) => a - b);
  return taskJson("checkpoint-truncate", task, 1, {
    checkpointElapsedMs: { n: sorted.length, p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), max: sorted.at(-1) ?? 0 },
  });
}
