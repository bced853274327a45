import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Bench, type FnOptions, type Statistics, type Task } from "tinybench";
import { Prng } from "../harness/engine/prng.js";

// Shared pieces of the WAL benchmark: the workload, tinybench plumbing and the
// environment description that goes into the JSON report.

/** Every case writes 128-byte values. */
export const VALUE_BYTES = 128;
/** A fixed 128-byte ASCII value (one byte per character, so no JSON escaping). */
export const VALUE = "v".repeat(VALUE_BYTES - 16) + "0123456789abcdef";
/** Keys cycle over 1000 distinct names: `k<n mod 1000>`. */
export const KEY_SPACE = 1000;

let counter = 0;
/** The next key of the shared workload. */
export function nextKey(): string {
  const key = `k${counter % KEY_SPACE}`;
  counter += 1;
  return key;
}

/** A seeded key stream over the same key space: `walcheck bench --seed` draws its workload from it. */
export function seededKeys(seed: number): () => string {
  const prng = new Prng(seed);
  return () => `k${prng.int(0, KEY_SPACE - 1)}`;
}

/** `size` one-op batches of the shared value, keys from `key` (`size` is the batch size). */
export function makeBatch(size: number, key: () => string = nextKey): { key: string; value: string }[] {
  const ops = new Array<{ key: string; value: string }>(size);
  for (let i = 0; i < size; i++) ops[i] = { key: key(), value: VALUE };
  return ops;
}

/** tinybench's statistics under tinybench's own names (ms for latency, ops/s for throughput). */
export type StatsJson = {
  mean: number;
  p50: number;
  p75: number;
  p99: number;
  p999: number;
  sd: number;
  rme: number;
  min: number;
  max: number;
  samplesCount: number;
};

export interface TaskJson {
  id: string;
  name: string;
  /** Operations (appends, inserts, writes, opens) that one tinybench iteration performs. */
  opsPerIteration: number;
  /** tinybench `latency` statistics of one iteration, in ms. */
  latency: StatsJson;
  /** tinybench `throughput` statistics, in iterations/s (mean of per-sample 1000/latency). */
  throughput: StatsJson;
  /** tinybench `period`: totalTime / runs, in ms. */
  period: number;
  /** tinybench `totalTime`, in ms. */
  totalTime: number;
  runs: number;
  /** Derived: opsPerIteration × 1000 / period (i.e. operations per second of measured time). */
  opsPerSec: number;
  /** Case-specific figures (WAL metrics, pragmas, ...). */
  extra?: Record<string, unknown>;
}

function pickStats(s: Statistics): StatsJson {
  return {
    mean: s.mean,
    p50: s.p50,
    p75: s.p75,
    p99: s.p99,
    p999: s.p999,
    sd: s.sd,
    rme: s.rme,
    min: s.min,
    max: s.max,
    samplesCount: s.samplesCount,
  };
}

/** The tinybench figures of a finished task; throws if it did not complete. */
export function taskJson(id: string, task: Task, opsPerIteration: number, extra?: Record<string, unknown>): TaskJson {
  const r = task.result;
  if (r.state === "errored") throw new Error(`bench task ${task.name} failed: ${r.error.message}`, { cause: r.error });
  if (r.state !== "completed") throw new Error(`bench task ${task.name} ended in state ${r.state}`);
  const json: TaskJson = {
    id,
    name: task.name,
    opsPerIteration,
    latency: pickStats(r.latency),
    throughput: pickStats(r.throughput),
    period: r.period,
    totalTime: r.totalTime,
    runs: task.runs,
    opsPerSec: r.period > 0 ? (opsPerIteration * 1000) / r.period : 0,
  };
  if (extra) json.extra = extra;
  return json;
}

export interface RunOptions {
  /** tinybench `time` budget in ms. */
  time: number;
  /** tinybench minimum `iterations`. */
  iterations?: number;
  warmup?: boolean;
  warmupTime?: number;
  warmupIterations?: number;
  /** Stops the task between iterations (tinybench's own abort). */
  signal?: AbortSignal;
  /** Progress lines (default: stderr). */
  log?: (message: string) => void;
}

/** Progress to `opts.log`, or to stderr as the WAL benchmark script prints it. */
export function progress(opts: RunOptions, message: string): void {
  if (opts.log) opts.log(message);
  else process.stderr.write(`  ${message}\n`);
}

/** Run one task in its own Bench (so each case gets its own budget); errors are thrown, not recorded. */
export async function runOne(name: string, fn: () => unknown, fnOpts: FnOptions, opts: RunOptions): Promise<Task> {
  const bench = new Bench({
    name,
    time: opts.time,
    iterations: opts.iterations ?? 16,
    warmup: opts.warmup ?? true,
    warmupTime: opts.warmupTime ?? 250,
    warmupIterations: opts.warmupIterations ?? 8,
    throws: true,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  bench.add(name, fn, fnOpts);
  const [task] = await bench.run();
  if (!task) throw new Error(`tinybench returned no task for ${name}`);
  progress(opts, `done: ${name} (${task.runs} iterations)`);
  return task;
}

/**
 * A tinybench iteration whose sample is only part of it (the checkpoint after its appends,
 * the open after a process start): the sample is `measuredMs`, and the whole iteration
 * counts against the time budget, so slow set-up cannot stretch a task without bound.
 */
export function timedPart(
  measuredMs: number,
  iterationMs: number,
): { overriddenDuration: number; overriddenIterationCost: number } {
  return { overriddenDuration: measuredMs, overriddenIterationCost: iterationMs };
}

/** Nearest-rank percentile of unsorted samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** Total bytes of the regular files in `dir` and below (keys: paths relative to `dir`). */
export function dirBytes(dir: string): { bytes: number; files: Record<string, number> } {
  const files: Record<string, number> = {};
  let bytes = 0;
  const walk = (at: string, rel: string) => {
    for (const entry of fs.readdirSync(at, { withFileTypes: true })) {
      const name = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(path.join(at, entry.name), name);
      else if (entry.isFile()) {
        const size = fs.statSync(path.join(at, entry.name)).size;
        files[name] = size;
        bytes += size;
      }
    }
  };
  walk(dir, "");
  return { bytes, files };
}

// ---- environment -----------------------------------------------------------------

const FS_MAGIC: Record<number, string> = {
  0xef53: "ext2/3/4",
  0x01021994: "tmpfs",
  0x58465342: "xfs",
  0x9123683e: "btrfs",
  0x794c7630: "overlayfs",
  0x2fc12fc1: "zfs",
  0x6969: "nfs",
  0x65735546: "fuse",
  0xf2f52010: "f2fs",
};

export interface FileSystemInfo {
  path: string;
  /** From /proc/self/mountinfo: the mount that holds `path`. */
  fsType?: string;
  source?: string;
  mountPoint?: string;
  mountOptions?: string;
  /** From statfs(2). */
  statfsType?: string;
}

/** Which file system holds `dir` (Linux: /proc/self/mountinfo longest mount-point prefix, plus statfs magic). */
export function fileSystemOf(dir: string): FileSystemInfo {
  const real = fs.realpathSync(dir);
  const info: FileSystemInfo = { path: real };
  try {
    const st = fs.statfsSync(real);
    info.statfsType = FS_MAGIC[st.type] ?? `0x${st.type.toString(16)}`;
  } catch {
    // statfs unavailable: mountinfo alone.
  }
  try {
    let best: { mountPoint: string; fsType: string; source: string; options: string } | undefined;
    for (const line of fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
      // id parent major:minor root mountPoint options [optional...] - fsType source superOptions
      const [left, right] = line.split(" - ");
      if (!left || !right) continue;
      const l = left.split(" ");
      const r = right.split(" ");
      const mountPoint = unescapeMount(l[4] ?? "");
      const inside = real === mountPoint || real.startsWith(mountPoint.endsWith("/") ? mountPoint : `${mountPoint}/`);
      if (inside && (!best || mountPoint.length >= best.mountPoint.length)) {
        best = { mountPoint, fsType: r[0] ?? "?", source: r[1] ?? "?", options: l[5] ?? "" };
      }
    }
    if (best) {
      info.fsType = best.fsType;
      info.source = best.source;
      info.mountPoint = best.mountPoint;
      info.mountOptions = best.options;
    }
  } catch {
    // Not Linux: statfs only.
  }
  return info;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function describeFs(f: FileSystemInfo): string {
  const type = f.fsType ?? f.statfsType ?? "unknown";
  return `${type}${f.source ? ` on ${f.source}` : ""}${f.mountPoint ? ` (mounted at ${f.mountPoint}${f.mountOptions ? `, ${f.mountOptions}` : ""})` : ""}`;
}

export function environment(benchDir: string, extra: Record<string, unknown>): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    node: process.version,
    v8: process.versions.v8,
    os: { platform: process.platform, type: os.type(), release: os.release(), arch: process.arch },
    cpu: { model: cpus[0]?.model ?? "unknown", cores: cpus.length },
    memoryBytes: os.totalmem(),
    benchDir,
    fileSystem: fileSystemOf(benchDir),
    tmpdirFileSystem: fileSystemOf(os.tmpdir()),
    ...extra,
  };
}
