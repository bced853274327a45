// WAL benchmark: the disk's raw fdatasync limit, the reference WAL (sync=always, and group
// commit with 1/16/64 appenders), better-sqlite3 in WAL mode, and recovery time, in one run
// on real files under <project>/.bench-tmp/. Writes the full results as JSON to
// walcheck-reports/bench-wal-<timestamp>.json, then prints a Markdown table built from it.
// A report, not a gate: exit code 0 on a MISS, non-zero only on an error.
//
//   npm run bench:wal
//   WAL_BENCH_TIME_MS=500 WAL_BENCH_RECOVERY_1M_RUNS=3 npm run bench:wal   (quicker)

import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { encodeBatchBinary } from "../reference-impl/kv-batch.js";
import { FRAME_HEADER_BYTES } from "../reference-impl/binary-codec.js";
import { writeJsonAtomic } from "../reports/json-file.js";
import {
  describeFs,
  environment,
  KEY_SPACE,
  VALUE,
  VALUE_BYTES,
  type FileSystemInfo,
  type TaskJson,
} from "./bench-util.js";
import { renderMarkdown, type BenchReport, type RatioJson } from "./bench-table.js";
import { benchTruncateCheckpoint } from "./checkpoint-bench.js";
import { benchRawDisk, RAW_WRITE_BYTES } from "./raw-disk.js";
import { benchRecovery, type RecoveryJson } from "./recovery-bench.js";
import { benchSqlite, sqliteVersion } from "./sqlite-insert.js";
import { benchWalAppend } from "./wal-append.js";

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0)
    throw new Error(`${name} must be a non-negative number, got ${JSON.stringify(raw)}`);
  return v;
}

/** The project root: the nearest folder above this file with a package.json (works from dist/bench and bench). */
function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, "package.json"))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error("no package.json above the benchmark");
    dir = parent;
  }
}

function packageVersion(root: string, name: string): string {
  // Read node_modules/<name>/package.json directly: some packages' "exports" hide it from require.resolve.
  try {
    return (
      JSON.parse(fs.readFileSync(path.join(root, "node_modules", name, "package.json"), "utf8")) as { version: string }
    ).version;
  } catch {
    return "unknown";
  }
}

const ALTERNATING_ROUNDS = 3;

/** The round with the median ops/s. */
function medianRun(rounds: TaskJson[]): TaskJson {
  const sorted = [...rounds].sort((a, b) => a.opsPerSec - b.opsPerSec);
  return {
    ...sorted[Math.floor(sorted.length / 2)]!,
    extra: { ...sorted[Math.floor(sorted.length / 2)]!.extra, roundsOpsPerSec: rounds.map((r) => r.opsPerSec) },
  };
}

function byId(tasks: TaskJson[], id: string): TaskJson {
  const t = tasks.find((x) => x.id === id);
  if (!t) throw new Error(`no task ${id}`);
  return t;
}

function atLeast(
  id: string,
  description: string,
  measured: number,
  reference: number,
  target: number,
  note?: string,
): RatioJson {
  const ratio = reference > 0 ? measured / reference : Infinity;
  const r: RatioJson = {
    id,
    description,
    measured,
    reference,
    unit: "ops/s",
    ratio,
    target: { op: ">=", value: target, of: "ratio" },
    verdict: ratio >= target ? "PASS" : "MISS",
  };
  if (note) r.note = note;
  return r;
}

function under(rec: RecoveryJson, budgetMs: number): RatioJson {
  const { p50, max } = rec.recoveryElapsedMs;
  return {
    id: `${rec.id}-under-${budgetMs}ms`,
    description: `${rec.id} (${rec.records.toLocaleString("en-US")} records, ${(rec.onDisk.bytes / 1024 / 1024).toFixed(1)} MiB) recovery.elapsedMs p50`,
    measured: p50,
    reference: budgetMs,
    unit: "ms",
    ratio: p50 / budgetMs,
    target: { op: "<", value: budgetMs, of: "ms" },
    verdict: p50 < budgetMs ? "PASS" : "MISS",
    note: `max ${max.toFixed(1)} ms over ${rec.recoveryElapsedMs.runs} runs (${max < budgetMs ? "within" : "OVER"} budget)`,
  };
}

/** Design D's "clear after commit < 5 ms": the p95 of the truncate checkpoint's own elapsedMs. */
function clearUnder(task: TaskJson, budgetMs: number, criticalMs: number): RatioJson {
  const e = task.extra?.checkpointElapsedMs as { n: number; p50: number; p95: number; max: number };
  return {
    id: `checkpoint-truncate-under-${budgetMs}ms`,
    description: "truncate checkpoint (clear after commit) of a 100-key state, elapsedMs p50",
    measured: e.p50,
    reference: budgetMs,
    unit: "ms",
    ratio: e.p50 / budgetMs,
    target: { op: "<", value: budgetMs, of: "ms" },
    // Design D gives a target and a critical level: p50 under the target, p95 under the critical level.
    verdict: e.p50 < budgetMs && e.p95 < criticalMs ? "PASS" : "MISS",
    note: `p50 ${e.p50.toFixed(2)} ms (target < ${budgetMs}), p95 ${e.p95.toFixed(2)} ms (critical < ${criticalMs}), max ${e.max.toFixed(2)} ms over ${e.n} checkpoints`,
  };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const t0 = performance.now();
  const root = projectRoot();
  const taskTime = envNumber("WAL_BENCH_TIME_MS", 2000);
  const recovery1mRuns = Math.max(1, Math.round(envNumber("WAL_BENCH_RECOVERY_1M_RUNS", 4)));
  const records10k = 10_000;
  const records1m = Math.round(envNumber("WAL_BENCH_RECOVERY_BIG", 1_000_000));

  const benchRoot = path.join(root, ".bench-tmp");
  fs.mkdirSync(benchRoot, { recursive: true });
  const runDir = fs.mkdtempSync(path.join(benchRoot, "wal-bench-"));
  const cleanup = () => fs.rmSync(runDir, { recursive: true, force: true });
  const onSignal = (sig: NodeJS.Signals) => {
    cleanup();
    process.stderr.write(`wal-bench: ${sig}, removed ${runDir}\n`);
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const logger = pino({ level: "silent" });
  const env = environment(runDir, {
    sqlite: sqliteVersion(),
    betterSqlite3: packageVersion(root, "better-sqlite3"),
    tinybench: packageVersion(root, "tinybench"),
  });
  const fsSummary = describeFs(env.fileSystem as FileSystemInfo);
  process.stderr.write(`wal-bench: ${runDir} on ${fsSummary}; ${taskTime} ms per task\n`);

  const sampleFrameBytes = FRAME_HEADER_BYTES + encodeBatchBinary([{ key: "k500", value: VALUE }]).length;
  const common = { time: taskTime, iterations: 16, warmupTime: 250, warmupIterations: 8 };

  const tasks: TaskJson[] = [];
  const rawRounds: TaskJson[] = [];
  const alwaysRounds: TaskJson[] = [];
  const recovery: RecoveryJson[] = [];
  try {
    // The disk's speed drifts by tens of percent over a minute: raw and sync=always are run
    // in alternating rounds and compared by their medians, so drift hits both alike.
    for (let round = 0; round < ALTERNATING_ROUNDS; round++) {
      rawRounds.push(await benchRawDisk(runDir, { ...common, time: common.time / 2 }));
      alwaysRounds.push(
        await benchWalAppend(runDir, { sync: "always", appenders: 1 }, logger, { ...common, time: common.time / 2 }),
      );
    }
    tasks.push(medianRun(rawRounds), medianRun(alwaysRounds));
    for (const n of [1, 16, 64])
      tasks.push(await benchWalAppend(runDir, { sync: "batch", appenders: n }, logger, common));
    tasks.push(await benchSqlite(runDir, "FULL", common));
    tasks.push(await benchSqlite(runDir, "NORMAL", common));
    tasks.push(await benchTruncateCheckpoint(runDir, logger, common));
    recovery.push(
      await benchRecovery(runDir, records10k, logger, {
        time: Math.min(taskTime, 1500),
        iterations: 16,
        warmupTime: 250,
        warmupIterations: 4,
      }),
    );
    // Large log: a small fixed number of measured opens (time 0 = iterations alone decide), one warmup open.
    recovery.push(
      await benchRecovery(runDir, records1m, logger, {
        time: 0,
        iterations: recovery1mRuns,
        warmupTime: 0,
        warmupIterations: 1,
      }),
    );
  } finally {
    cleanup();
    try {
      fs.rmdirSync(benchRoot); // only if nothing else is in it
    } catch {
      // other runs' folders, or not empty: leave it
    }
  }

  const raw = byId(tasks, "raw");
  const always = byId(tasks, "wal-always");
  const batch64 = byId(tasks, "wal-batch-64");
  const sqliteFull = byId(tasks, "sqlite-full");
  const rec10k = recovery[0]!;
  const rec1m = recovery[1]!;
  const ratios: RatioJson[] = [
    atLeast(
      "always-vs-raw",
      `WAL sync=always vs raw fdatasync limit (medians of ${ALTERNATING_ROUNDS} alternating rounds)`,
      always.opsPerSec,
      raw.opsPerSec,
      0.8,
      `per-round ratios ${rawRounds.map((r, i) => (alwaysRounds[i]!.opsPerSec / r.opsPerSec).toFixed(2)).join(", ")}`,
    ),
    atLeast(
      "batch64-vs-sqlite-full",
      "WAL group commit, 64 appenders vs SQLite WAL synchronous=FULL",
      batch64.opsPerSec,
      sqliteFull.opsPerSec,
      10,
      `batchesPerSync ${Number(batch64.extra?.batchesPerSync ?? 0).toFixed(1)}`,
    ),
    under(rec10k, 100),
    under(rec1m, 2000),
    clearUnder(byId(tasks, "checkpoint-truncate"), 5, 10),
  ];

  const notes: string[] = [
    `file system: ${fsSummary}${(env.tmpdirFileSystem as FileSystemInfo).fsType ? `; os.tmpdir() is ${describeFs(env.tmpdirFileSystem as FileSystemInfo)}` : ""}`,
    ...[1, 16, 64].map((n) => {
      const t = byId(tasks, `wal-batch-${n}`);
      const fsyncs = t.extra?.fsyncs as { count: number; p50: number } | undefined;
      return `group commit, ${n} appender(s): ${Number(t.extra?.batchesPerSync ?? 0).toFixed(2)} batches per fdatasync (fdatasync p50 ${fmt(fsyncs?.p50)} ms over ${fsyncs?.count ?? 0})`;
    }),
    ...recovery.map(
      (r) =>
        `${r.id}: ${r.records.toLocaleString("en-US")} records, ${r.onDisk.bytes.toLocaleString("en-US")} bytes on disk in ${r.onDisk.segments} segment(s) (built in ${(r.build.elapsedMs / 1000).toFixed(1)} s); recovery.elapsedMs p50 ${fmt(r.recoveryElapsedMs.p50)} / max ${fmt(r.recoveryElapsedMs.max)} ms over ${r.recoveryElapsedMs.runs} runs (warm page cache)`,
    ),
    "group commit is measured closed-loop: each iteration waits for all N appends, so encoding the next group never overlaps the current fdatasync",
    `one record = ${sampleFrameBytes} bytes on disk (28-byte frame header + ${sampleFrameBytes - FRAME_HEADER_BYTES}-byte binary batch holding the ${VALUE_BYTES}-byte value), and each fdatasync adds a ${FRAME_HEADER_BYTES + 8}-byte sync marker; the raw loop writes ${RAW_WRITE_BYTES} bytes`,
  ];

  const finishedAt = new Date();
  const report: BenchReport = {
    schema: "walcheck-bench-wal/1",
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: performance.now() - t0,
    environment: { ...env, fileSystemSummary: fsSummary },
    config: {
      valueBytes: VALUE_BYTES,
      keySpace: KEY_SPACE,
      opsPerBatch: 1,
      recordFrameBytes: sampleFrameBytes,
      rawWriteBytes: RAW_WRITE_BYTES,
      tinybench: common,
      recovery10k: { records: records10k },
      recovery1m: { records: records1m, measuredRuns: recovery1mRuns, warmupRuns: 1 },
      opsPerSec: "opsPerIteration * 1000 / tinybench period (period = totalTime / runs)",
      recoveryPercentiles: "nearest-rank over the measured opens",
    },
    tasks,
    recovery,
    ratios,
    notes,
  };
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
  const out = path.join(root, "walcheck-reports", `bench-wal-${stamp}.json`);
  writeJsonAtomic(out, report);

  // Everything printed below comes from the JSON just written.
  const written = JSON.parse(fs.readFileSync(out, "utf8")) as BenchReport;
  process.stdout.write(renderMarkdown(written));
  process.stdout.write(`\nJSON: ${path.relative(root, out)} (${(written.durationMs / 1000).toFixed(1)} s run)\n`);
}

function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return "n/a";
  return v < 10 ? v.toFixed(3) : v.toFixed(1);
}

main().then(
  () => {
    process.exitCode = 0;
  },
  (error: unknown) => {
    process.stderr.write(
      `wal-bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
