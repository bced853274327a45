import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { BENCH_VERSION, type BenchReport, type BenchTask } from "../../reports/bench-schema.js";
import { CLI } from "../helpers.js";
import { quote } from "shell-quote";

/** `walcheck <args>`: logs at warn, and never into a real CI job summary. */
export const walcheck = (args: string[], env: Record<string, string> = {}) =>
  execa(process.execPath, [CLI, ...args], {
    reject: false,
    env: { WALCHECK_LOG_LEVEL: "warn", GITHUB_STEP_SUMMARY: "", ...env },
  });

/** The slowed simple WAL: `delayMs` per append (0: full speed), optionally a hello name. */
/** The --adapter-cmd of the slow WAL fixture, quoted as a shell would need it (a name may hold `<`, spaces). */
export const slowWal = (delayMs: number, name?: string) =>
  quote(["node", path.resolve("test/fixtures/adapters/slow-wal.mjs"), String(delayMs), ...(name ? [name] : [])]);

/** The three files `walcheck bench` writes into its --out directory. */
export function benchFiles(dir: string): { json: BenchReport; md: string; html: string } {
  return {
    json: JSON.parse(fs.readFileSync(path.join(dir, "bench.json"), "utf8")) as BenchReport,
    md: fs.readFileSync(path.join(dir, "bench.md"), "utf8"),
    html: fs.readFileSync(path.join(dir, "bench.html"), "utf8"),
  };
}

const stats = (mean: number, rme: number, samplesCount = 50) => ({
  mean,
  p50: mean,
  p75: mean,
  p99: mean * 1.5,
  p999: mean * 2,
  sd: mean / 10,
  rme,
  min: mean / 2,
  max: mean * 2,
  samplesCount,
});

/** An append task of subject "adapter" with this mean latency (ms) and relative margin of error (%). */
export function task(id: string, mean: number, rme: number): BenchTask {
  const [subject = "adapter", , batch = "b1", conc = "c1"] = id.split("/");
  return {
    id,
    subject,
    suite: "append",
    params: { batch: Number(batch.slice(1)), concurrency: Number(conc.slice(1)) },
    name: id,
    opsPerIteration: 1,
    latency: stats(mean, rme),
    throughput: stats(1000 / mean, rme),
    period: mean,
    totalTime: mean * 50,
    runs: 50,
    opsPerSec: 1000 / mean,
  };
}

/** A valid bench report holding `tasks` (subjects made to match). */
export function report(tasks: BenchTask[], environment: Partial<BenchReport["environment"]> = {}): BenchReport {
  const subjects = [...new Set(tasks.map((t) => t.subject))];
  return {
    kind: "walcheck-bench",
    version: BENCH_VERSION,
    environment: {
      startedAt: "2026-01-02T03:04:05.000Z",
      node: "v20.20.2",
      fsType: "ext4",
      cpu: { model: "Test CPU", count: 2 },
      ...environment,
    },
    config: {
      timeMs: 100,
      timeoutMs: 10_000,
      suites: ["append"],
      batchSizes: [1],
      concurrency: [1],
      recoverySizes: [1000],
      checkpointAppends: 100,
      stateKeys: 1000,
      seed: 1,
      valueBytes: 128,
      compare: [],
    },
    elapsedMs: 1234,
    subjects: subjects.map((id) => ({ id, label: id, kind: "protocol" as const, description: `subject ${id}` })),
    tasks,
    skipped: [],
    ratios: [],
    notes: ["constructed by a test"],
  };
}

/** Write `value` as JSON into `dir`/`name` and return the path. */
export function writeJson(dir: string, name: string, value: unknown): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(value, null, 2));
  return file;
}
