import { setMaxListeners } from "node:events";
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { dir as tmpDir } from "tmp-promise";
import {
  BENCH_NOTES,
  BenchInterrupted,
  computeRatios,
  runBench,
  type BenchPlan,
  type PlannedSubject,
} from "../../bench/bench-run.js";
import { KEY_SPACE, VALUE_BYTES } from "../../bench/bench-util.js";
import { BenchError, ClientPool } from "../../bench/protocol-suites.js";
import { checkOutputDir } from "./output-dir.js";
import { compareBench, DEFAULT_THRESHOLD_PERCENT } from "../../reports/bench-compare.js";
import { readBenchReport, writeBenchFiles } from "../../reports/bench-files.js";
import { comparisonMarkdown, renderBenchSummary } from "../../reports/bench-markdown.js";
import {
  BENCH_SUITES,
  DEFAULT_BENCH_SUITES,
  BENCH_VERSION,
  COMPARE_SUBJECTS,
  type BenchComparison,
  type BenchReport,
  type BenchSuite,
  type CompareSubject,
} from "../../reports/bench-schema.js";
import { collectEnvironment, fileSystemType } from "../../reports/environment.js";
import { resolveAdapter } from "../engine/adapter-launch.js";
import { defaultWorkers } from "../engine/campaign.js";
import { createLogger } from "./logger.js";
import { UsageError } from "../protocol/errors.js";
import { EXIT, onInterrupt } from "./exit.js";

/** `walcheck bench` flags as commander parses them (lists still as text). */
export interface BenchFlags {
  adapter?: string;
  adapterCmd?: string;
  /** A list, or false for --no-compare. */
  compare?: string | false;
  suites?: string;
  batchSizes?: string;
  concurrency?: string;
  recoverySizes?: string;
  powerSteps?: number;
  crashRuns?: number;
  time?: number;
  timeout?: number;
  out?: string;
  baseline?: string;
  threshold?: number;
  seed?: number;
}

export const BENCH_DEFAULTS = {
  batchSizes: [1, 16, 64],
  concurrency: [1, 8],
  recoverySizes: [1000, 10_000],
  powerSteps: 20,
  /** Cases per crash-* scenario in the crash suite (6 scenarios: about half a minute on 2 cores). */
  crashRuns: 3,
  timeMs: 1000,
  timeoutMs: 10_000,
  checkpointAppends: 100,
  seed: 1,
} as const;

const COMPARED: Record<CompareSubject, PlannedSubject> = {
  raw: {
    id: "raw",
    kind: "raw",
    label: "raw write + fdatasync",
    description:
      "writeSync + fdatasyncSync on one O_APPEND file, in walcheck's process: the disk's limit for one synchronous writer",
  },
  "reference-inproc": {
    id: "reference-inproc",
    kind: "in-process",
    label: "reference WAL, in process",
    description: "the reference WAL (sync: batch, group commit) called in walcheck's process: no protocol, no pipes",
  },
  reference: {
    id: "reference",
    kind: "protocol",
    label: "reference WAL over the protocol",
    description: "the reference WAL (sync: batch) behind walcheck serve, over adapter protocol v1",
    launch: resolveAdapter({ adapter: "reference" }),
  },
  sqlite: {
    id: "sqlite",
    kind: "protocol",
    label: "SQLite over the protocol",
    description: "better-sqlite3, journal_mode=WAL, synchronous=FULL, one transaction per batch, behind walcheck serve",
    launch: resolveAdapter({ adapter: "sqlite" }),
  },
};

/** Comma-separated names, each one of `allowed`, no repeats. */
function parseChoices<T extends string>(flag: string, raw: string, allowed: readonly T[]): T[] {
  const items = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new UsageError(`${flag} is empty`);
  for (const item of items)
    if (!allowed.includes(item as T))
      throw new UsageError(`${flag}: unknown ${JSON.stringify(item)} (one of ${allowed.join(", ")})`);
  if (new Set(items).size !== items.length) throw new UsageError(`${flag}: ${raw} names one twice`);
  return items as T[];
}

/** Comma-separated integers in [1, max], no repeats, in the order given. */
function parseSizes(flag: string, raw: string | undefined, fallback: readonly number[], max: number): number[] {
  if (raw === undefined) return [...fallback];
  const items = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new UsageError(`${flag} is empty`);
  const out = items.map((s) => {
    const n = Number(s);
    if (!/^\d+$/.test(s) || !Number.isSafeInteger(n) || n < 1 || n > max)
      throw new UsageError(`${flag}: each must be an integer from 1 to ${max}, got ${JSON.stringify(s)}`);
    return n;
  });
  if (new Set(out).size !== out.length) throw new UsageError(`${flag}: ${raw} names one twice`);
  return out;
}

/** The subjects, suites and sizes the flags ask for; a UsageError for anything wrong. */
export function benchPlan(flags: BenchFlags): BenchPlan {
  const compare =
    flags.compare === false
      ? []
      : parseChoices("--compare", flags.compare ?? COMPARE_SUBJECTS.join(","), COMPARE_SUBJECTS);
  const user =
    flags.adapter !== undefined || flags.adapterCmd !== undefined
      ? resolveAdapter({ adapter: flags.adapter, adapterCmd: flags.adapterCmd })
      : undefined;
  // `--adapter reference` (or sqlite) is also a default comparison: measure it once, as the adapter.
  const twin = user && (flags.adapter === "reference" || flags.adapter === "sqlite") ? flags.adapter : undefined;
  const subjects: PlannedSubject[] = COMPARE_SUBJECTS.filter((c) => compare.includes(c) && c !== twin).map(
    (id) => COMPARED[id],
  );
  if (user)
    subjects.push({
      id: "adapter",
      kind: "protocol",
      label: user.label,
      description: "the adapter under test, over adapter protocol v1",
      launch: user,
    });
  if (subjects.length === 0)
    throw new UsageError("nothing to benchmark: give --adapter or --adapter-cmd, or leave out --no-compare");
  const suites =
    flags.suites === undefined
      ? [...DEFAULT_BENCH_SUITES]
      : parseChoices<BenchSuite>("--suites", flags.suites, BENCH_SUITES);
  const referenceId = subjects.some((s) => s.id === "reference")
    ? "reference"
    : twin === "reference"
      ? "adapter"
      : undefined;
  return {
    subjects,
    suites,
    batchSizes: parseSizes("--batch-sizes", flags.batchSizes, BENCH_DEFAULTS.batchSizes, 100_000),
    concurrency: parseSizes("--concurrency", flags.concurrency, BENCH_DEFAULTS.concurrency, 4096),
    recoverySizes: parseSizes("--recovery-sizes", flags.recoverySizes, BENCH_DEFAULTS.recoverySizes, 10_000_000),
    powerSteps: flags.powerSteps ?? BENCH_DEFAULTS.powerSteps,
    crashRuns: flags.crashRuns ?? BENCH_DEFAULTS.crashRuns,
    workers: defaultWorkers(),
    timeMs: flags.time ?? BENCH_DEFAULTS.timeMs,
    timeoutMs: flags.timeout ?? BENCH_DEFAULTS.timeoutMs,
    checkpointAppends: BENCH_DEFAULTS.checkpointAppends,
    stateKeys: KEY_SPACE,
    seed: flags.seed ?? BENCH_DEFAULTS.seed,
    ...(referenceId ? { referenceId } : {}),
  };
}

/** tinybench's version, from its package.json (its "exports" hide it from require.resolve). */
function tinybenchVersion(): string | undefined {
  try {
    const main = import.meta.resolve("tinybench");
    let dir = path.dirname(new URL(main).pathname);
    for (let i = 0; i < 4; i++, dir = path.dirname(dir)) {
      const file = path.join(dir, "package.json");
      if (fs.existsSync(file))
        return (JSON.parse(fs.readFileSync(file, "utf8")) as { name?: string; version?: string }).version;
    }
  } catch {
    // not found: left out
  }
  return undefined;
}

/** The environment differences and the regressions, said on stderr as warnings (the tables go to stdout). */
function warnComparison(c: BenchComparison, warn: (m: string) => void): void {
  for (const e of c.environmentDifferences)
    warn(`walcheck bench: the baseline ran elsewhere: ${e}; the comparison may not mean much`);
}

/** `walcheck bench`: run the suites, write bench.json then bench.md and bench.html, compare with --baseline. Exit 0, 1 (regression), 2, 130. */
export async function benchCommand(flags: BenchFlags): Promise<number> {
  const plan = benchPlan(flags);
  const threshold = flags.threshold ?? DEFAULT_THRESHOLD_PERCENT;
  // A bad baseline fails now, not after minutes of measuring.
  const baseline = flags.baseline !== undefined ? readBenchReport(flags.baseline) : undefined;
  const logger = createLogger();
  const startedAt = new Date();
  const outDir = path.resolve(
    flags.out ?? path.join("walcheck-reports", `bench-${startedAt.toISOString().replace(/[:.]/g, "-")}`),
  );
  checkOutputDir("--out", outDir);
  logger.info(
    {
      subjects: plan.subjects.map((s) => s.id),
      suites: plan.suites,
      batchSizes: plan.batchSizes,
      concurrency: plan.concurrency,
      recoverySizes: plan.recoverySizes,
      timeMs: plan.timeMs,
    },
    `walcheck bench: ${plan.subjects.map((s) => s.id).join(", ")}; ${plan.timeMs} ms per task`,
  );

  const controller = new AbortController();
  // Every tinybench task listens on this one signal (dozens of them in a run).
  setMaxListeners(0, controller.signal);
  const pool = new ClientPool(plan.timeoutMs);
  const offInterrupt = onInterrupt(controller, () => void pool.killAll());
  const t0 = performance.now();
  const work = await tmpDir({ prefix: "walcheck-bench-", unsafeCleanup: true });
  const walFsType = fileSystemType(work.path);
  let result;
  try {
    result = await runBench(plan, {
      root: work.path,
      log: (m) => logger.info(m),
      walLogger: logger.child({ subject: "reference-inproc" }, { level: "warn" }),
      signal: controller.signal,
      pool,
    });
  } catch (error) {
    if (error instanceof BenchInterrupted) {
      process.stderr.write(
        "walcheck bench: interrupted; every adapter process was stopped and the temp directories removed, no report written\n",
      );
      return EXIT.interrupted;
    }
    if (error instanceof BenchError) {
      process.stderr.write(`walcheck bench: ${error.code}: ${error.message}\n`);
      return EXIT.usage;
    }
    throw error;
  } finally {
    await pool.killAll();
    await work.cleanup();
    offInterrupt();
  }

  const tinybench = tinybenchVersion();
  const environment = {
    ...(await collectEnvironment({ reportDir: outDir, startedAt })),
    walFsType,
    ...(tinybench ? { tinybench } : {}),
  };
  const report: BenchReport = {
    kind: "walcheck-bench",
    version: BENCH_VERSION,
    environment,
    config: {
      timeMs: plan.timeMs,
      timeoutMs: plan.timeoutMs,
      suites: plan.suites,
      batchSizes: plan.batchSizes,
      concurrency: plan.concurrency,
      recoverySizes: plan.recoverySizes,
      ...(plan.suites.includes("power") ? { powerSteps: plan.powerSteps } : {}),
      ...(plan.suites.includes("crash") ? { crashRuns: plan.crashRuns } : {}),
      checkpointAppends: plan.checkpointAppends,
      stateKeys: plan.stateKeys,
      seed: plan.seed,
      valueBytes: VALUE_BYTES,
      compare: plan.subjects.filter((s) => s.id !== "adapter").map((s) => s.id),
    },
    elapsedMs: performance.now() - t0,
    subjects: result.subjects,
    tasks: result.tasks,
    skipped: result.skipped,
    ratios: computeRatios(result.tasks, plan),
    ...(result.crash ? { crash: result.crash } : {}),
    notes: BENCH_NOTES(plan),
  };
  if (baseline)
    report.comparison = compareBench(report, baseline, { baselinePath: flags.baseline!, thresholdPercent: threshold });
  const files = writeBenchFiles(outDir, report);
  if (report.comparison) warnComparison(report.comparison, (m) => logger.warn(m));
  process.stdout.write(renderBenchSummary(report));
  process.stdout.write(
    `\n  report (json): ${files.json}\n  report (markdown): ${files.markdown}\n  report (html): ${files.html}\n`,
  );
  if (files.stepSummary) process.stdout.write(`  job summary: appended to ${files.stepSummary}\n`);
  if (files.stepSummaryError) process.stderr.write(`walcheck: ${files.stepSummaryError}\n`);
  return report.comparison && report.comparison.regressions.length > 0 ? EXIT.violation : EXIT.pass;
}

/** `walcheck bench compare <new.json> --baseline <old.json>`: runs nothing; exit 0, 1 (regression) or 2. */
export function benchCompareCommand(file: string, flags: { baseline: string; threshold?: number }): number {
  const current = readBenchReport(file);
  const baseline = readBenchReport(flags.baseline);
  const comparison = compareBench(current, baseline, {
    baselinePath: flags.baseline,
    thresholdPercent: flags.threshold ?? DEFAULT_THRESHOLD_PERCENT,
  });
  warnComparison(comparison, (m) => process.stderr.write(`${m}\n`));
  process.stdout.write(`${[`walcheck bench compare: ${file}`, ...comparisonMarkdown(comparison)].join("\n")}\n`);
  return comparison.regressions.length > 0 ? EXIT.violation : EXIT.pass;
}
