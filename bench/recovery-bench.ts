import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import { Wal } from "../reference-impl/index.js";
import {
  dirBytes,
  nextKey,
  percentile,
  progress,
  runOne,
  taskJson,
  timedPart,
  VALUE,
  type RunOptions,
  type TaskJson,
} from "./bench-util.js";

export interface RecoveryJson {
  id: string;
  records: number;
  /** How the log was built: sync="none", this many appends in flight per chunk (group commit packs them). */
  build: { sync: "none"; appendsInFlight: number; elapsedMs: number };
  onDisk: { bytes: number; segments: number; files: Record<string, number> };
  /** `wal.recovery.elapsedMs` of every measured open (warmup opens excluded). */
  recoveryElapsedMs: { p50: number; max: number; min: number; mean: number; runs: number; samples: number[] };
  recordsReplayed: number;
  /** tinybench statistics of one `Wal.open` + `close` (what a restart pays). */
  openClose: TaskJson;
}

/** Fill a fresh WAL with `records` one-op batches, many in flight at once so each write carries a large group. */
async function buildLog(
  dir: string,
  records: number,
  inFlight: number,
  logger: Logger,
  key: () => string,
): Promise<number> {
  fs.rmSync(dir, { recursive: true, force: true });
  const t0 = performance.now();
  const wal = await Wal.open(dir, { sync: "none", logger });
  try {
    for (let done = 0; done < records;) {
      const n = Math.min(inFlight, records - done);
      const pending = new Array<Promise<unknown>>(n);
      for (let i = 0; i < n; i++) pending[i] = wal.append([{ key: key(), value: VALUE }]);
      await Promise.all(pending);
      done += n;
    }
    if (wal.lastSeq !== records) throw new Error(`built ${wal.lastSeq} records, wanted ${records}`);
  } finally {
    await wal.close();
  }
  return performance.now() - t0;
}

/**
 * Recovery time of a log of `records` records: build it once, then time `Wal.open` (+ close)
 * repeatedly with tinybench, collecting `wal.recovery.elapsedMs` of each measured open. The
 * files were just written, so this is warm-page-cache recovery (replay cost, not disk reads).
 * With `openOnly` the sample is the open alone (the close still counts against the budget).
 */
export async function benchRecovery(
  root: string,
  records: number,
  logger: Logger,
  opts: RunOptions,
  o: { openOnly?: boolean; id?: string; key?: () => string } = {},
): Promise<RecoveryJson> {
  const id = o.id ?? `recovery-${records >= 1_000_000 ? `${records / 1_000_000}M` : `${records / 1000}k`}`;
  const dir = path.join(root, id.replace(/\//g, "-"));
  const inFlight = 10_000;
  progress(opts, `building ${records} records in ${dir} ...`);
  const buildMs = await buildLog(dir, records, inFlight, logger, o.key ?? nextKey);
  const onDisk = dirBytes(dir);
  const segments = Object.keys(onDisk.files).filter((f) => f.startsWith("seg-")).length;

  let phase: string | undefined;
  const samples: number[] = [];
  let recordsReplayed = -1;
  const task = await runOne(
    `recovery ${records.toLocaleString("en-US")} records (open+close)`,
    async () => {
      const t0 = performance.now();
      const wal = await Wal.open(dir, { sync: "batch", logger });
      const opened = performance.now();
      try {
        if (phase === "run") {
          samples.push(wal.recovery.elapsedMs);
          recordsReplayed = wal.recovery.recordsReplayed;
        }
      } finally {
        await wal.close();
      }
      return o.openOnly ? timedPart(opened - t0, performance.now() - t0) : undefined;
    },
    {
      async: true,
      beforeAll: (mode) => {
        phase = mode;
      },
    },
    opts,
  );
  if (recordsReplayed !== records)
    throw new Error(`${id}: recovery replayed ${recordsReplayed} records, wanted ${records}`);
  const openClose = taskJson(id, task, 1);
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    id,
    records,
    build: { sync: "none", appendsInFlight: inFlight, elapsedMs: buildMs },
    onDisk: { bytes: onDisk.bytes, segments, files: onDisk.files },
    recoveryElapsedMs: {
      p50: percentile(samples, 0.5),
      max: Math.max(...samples),
      min: Math.min(...samples),
      mean: samples.reduce((a, b) => a + b, 0) / samples.length,
      runs: samples.length,
      samples,
    },
    recordsReplayed,
    openClose,
  };
}
