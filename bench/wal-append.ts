import fs from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { Wal, type WalMetrics } from "../reference-impl/index.js";
import { nextKey, runOne, taskJson, VALUE, type RunOptions, type TaskJson } from "./bench-util.js";

function metricsJson(m: WalMetrics): Record<string, unknown> {
  return {
    batchesPerSync: m.batchesPerSync,
    appends: m.appends,
    fsyncs: m.fsyncs,
    bytesWritten: m.bytesWritten,
  };
}

/**
 * The reference WAL with `appenders` concurrent writers: one tinybench iteration is
 * Promise.all of `appenders` appends of one op each. With sync="always" and one appender
 * this is the plain sequential `await wal.append(...)` loop. A fresh WAL per phase (warmup,
 * run); the metrics reported are those of the run phase's handle.
 */
export async function benchWalAppend(
  dir: string,
  sync: "always" | "batch",
  appenders: number,
  logger: Logger,
  opts: RunOptions,
): Promise<TaskJson> {
  const id = sync === "always" ? "wal-always" : `wal-batch-${appenders}`;
  const name = sync === "always" ? "WAL sync=always, 1 writer" : `WAL sync=batch, ${appenders} appender${appenders === 1 ? "" : "s"}`;
  let wal: Wal | undefined;
  let runMetrics: WalMetrics | undefined;
  let lastSeq = 0;

  const one = () => wal!.append([{ key: nextKey(), value: VALUE }]);
  const fn =
    appenders === 1
      ? async () => {
          await one();
        }
      : async () => {
          const pending = new Array<Promise<unknown>>(appenders);
          for (let i = 0; i < appenders; i++) pending[i] = one();
          await Promise.all(pending);
        };

  const task = await runOne(
    name,
    fn,
    {
      async: true,
      beforeAll: async (mode) => {
        const walDir = path.join(dir, `${id}-${mode ?? "run"}`);
        fs.rmSync(walDir, { recursive: true, force: true });
        wal = await Wal.open(walDir, { sync, logger });
      },
      afterAll: async (mode) => {
        if (!wal) return;
        if (mode === "run") {
          runMetrics = wal.metrics();
          lastSeq = wal.lastSeq;
        }
        await wal.close();
        fs.rmSync(wal.dir, { recursive: true, force: true });
        wal = undefined;
      },
    },
    opts,
  );
  if (!runMetrics) throw new Error(`${name}: no metrics from the run phase`);
  return taskJson(id, task, appenders, { sync, appenders, appendsInRunPhase: lastSeq, ...metricsJson(runMetrics) });
}
