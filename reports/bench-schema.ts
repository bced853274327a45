import { z } from "zod";
import { HelloFields } from "../harness/protocol/messages.js";
import { parseReportJson } from "./report-file.js";
import { EnvironmentSchema } from "./report-schema.js";

// The JSON report of `walcheck bench` (bench.json). Written first; the Markdown, the HTML
// page, the terminal summary and `--baseline` comparisons are all built from it. Objects
// are loose: a later walcheck may add fields, and this schema must still read its reports.

/** Bumped when a field changes meaning or a required field is added. */
export const BENCH_VERSION = 1;

const count = z.number().int().nonnegative();
const nonneg = z.number().nonnegative();
const positiveInt = z.number().int().positive();

/** tinybench's statistics under tinybench's own names (ms for latency; iterations/s for throughput). */
export const BenchStatsSchema = z.looseObject({
  mean: nonneg,
  p50: nonneg,
  p75: nonneg,
  p99: nonneg,
  p999: nonneg,
  sd: nonneg,
  /** Relative margin of error of the mean, in percent (95% confidence). */
  rme: nonneg,
  min: nonneg,
  max: nonneg,
  samplesCount: positiveInt,
});

export const BENCH_SUITES = ["append", "checkpoint", "recovery", "power", "crash"] as const;
/** What `walcheck bench` runs without --suites: power and crash (a minute or more per subject; half a minute) are asked for by name. */
export const DEFAULT_BENCH_SUITES = ["append", "checkpoint", "recovery"] as const;
export const BenchSuiteSchema = z.enum(BENCH_SUITES);
export type BenchSuite = z.infer<typeof BenchSuiteSchema>;

/** The subjects `--compare` can add beside the user's adapter. */
export const COMPARE_SUBJECTS = ["raw", "reference-inproc", "reference", "sqlite"] as const;
export type CompareSubject = (typeof COMPARE_SUBJECTS)[number];

export const BenchSubjectSchema = z.looseObject({
  /** Stable: "raw", "reference-inproc", "reference", "sqlite", or "adapter" (the one under test). */
  id: z.string().min(1),
  /** What the tables call it. */
  label: z.string().min(1),
  kind: z.enum(["raw", "in-process", "protocol"]),
  description: z.string(),
  /** The flags that select it again (`--adapter x`, `--adapter-cmd "..."`), for a protocol subject. */
  flags: z.array(z.string()).optional(),
  /** Its hello, for a protocol subject: strings from the adapter, escaped wherever they land. */
  hello: HelloFields.loose().optional(),
});

export const BenchTaskSchema = z.looseObject({
  /** Stable across runs, what `--baseline` matches on: `<subject>/<suite>/<params>`, e.g. "reference/append/b1/c1". */
  id: z.string().min(1),
  subject: z.string().min(1),
  suite: BenchSuiteSchema,
  /** append: batch, concurrency; checkpoint: appends (before each); recovery: batches; power: steps, fresh (1: a process per state). */
  params: z.record(z.string(), z.number()),
  name: z.string(),
  /** Operations one tinybench iteration performs: appends (concurrency of them), checkpoints, opens, power-loss states checked. */
  opsPerIteration: positiveInt,
  /** Per iteration, in ms: the wall round trip as walcheck sees it. */
  latency: BenchStatsSchema,
  throughput: BenchStatsSchema,
  period: nonneg,
  totalTime: nonneg,
  runs: positiveInt,
  /** opsPerIteration × 1000 / period. */
  opsPerSec: nonneg,
  extra: z.record(z.string(), z.unknown()).optional(),
});

export const BenchRatioSchema = z.looseObject({
  id: z.string().min(1),
  kind: z.enum(["vs-raw", "vs-reference", "protocol-overhead"]),
  description: z.string(),
  /** Task ids: numerator's ops/s over denominator's. */
  numerator: z.string().min(1),
  denominator: z.string().min(1),
  numeratorOpsPerSec: nonneg,
  denominatorOpsPerSec: nonneg,
  ratio: nonneg,
  /** protocol-overhead: mean latency through the protocol minus in process, in ms (per request). */
  latencyDeltaMs: z.number().optional(),
});

const Figure = z.looseObject({ mean: nonneg, rme: nonneg, opsPerSec: nonneg });

export const BenchDeltaSchema = z.looseObject({
  id: z.string().min(1),
  baseline: Figure,
  current: Figure,
  /** (current.mean - baseline.mean) / baseline.mean, in percent: positive is slower. */
  changePercent: z.number(),
  /** baseline.mean × baseline.rme% + current.mean × current.rme%: the combined margin of error, in ms. */
  marginMs: nonneg,
  verdict: z.enum(["regression", "improvement", "unchanged"]),
});

export const BenchComparisonSchema = z.looseObject({
  /** The baseline file as given. */
  baseline: z.string(),
  baselineStartedAt: z.string().optional(),
  thresholdPercent: nonneg,
  metric: z.literal("latency.mean"),
  regressions: z.array(BenchDeltaSchema),
  improvements: z.array(BenchDeltaSchema),
  unchanged: z.array(BenchDeltaSchema),
  /** Tasks in only one of the two reports: shown, never a regression. */
  missing: z.array(z.looseObject({ id: z.string(), onlyIn: z.enum(["baseline", "current"]) })),
  /** Where the two runs ran on different machines or software (cpu, file system, Node). */
  environmentDifferences: z.array(z.string()),
});

/** The crash suite's campaign for one adapter: `walcheck run` over the crash-* scenarios, its rate of crash cycles. */
export const BenchCrashCampaignSchema = z.looseObject({
  subject: z.string().min(1),
  scenarios: z.array(z.string()),
  /** Cases per scenario (`walcheck run --runs`). */
  runs: positiveInt,
  workers: positiveInt,
  seed: count,
  /** The run's verdict: crash cycles of a WAL that fails still count, and the verdict says so. */
  status: z.enum(["passed", "failed", "error"]),
  cases: z.looseObject({ planned: count, run: count, passed: count, failed: count, errors: count }),
  /** Crash cycles: a crash, then recovery and verification in a fresh process. */
  cycles: count,
  /** The campaign's wall time, as the run measured it. */
  elapsedMs: nonneg,
  /** cycles × 60000 / elapsedMs. */
  cyclesPerMinute: nonneg,
});

/** The crash suite's protocol cost: the reference WAL's append over adapter protocol v1 beside the same WAL in process. */
export const BenchProtocolCostSchema = z.looseObject({
  batch: positiveInt,
  concurrency: positiveInt,
  /** Per append, in ms: the reference WAL behind walcheck serve, and called in walcheck's process. */
  protocol: BenchStatsSchema,
  inProcess: BenchStatsSchema,
  /** protocol.mean - inProcess.mean, and the same of p50, in ms per request. */
  deltaMeanMs: z.number(),
  deltaP50Ms: z.number(),
  /** protocol.mean / inProcess.mean: how many times slower an append is over the protocol. */
  ratio: nonneg,
});

export const BenchCrashSchema = z.looseObject({
  campaigns: z.array(BenchCrashCampaignSchema),
  protocolCost: BenchProtocolCostSchema.optional(),
});

export const BenchConfigSchema = z.looseObject({
  timeMs: positiveInt,
  timeoutMs: positiveInt,
  suites: z.array(BenchSuiteSchema),
  batchSizes: z.array(positiveInt),
  concurrency: z.array(positiveInt),
  recoverySizes: z.array(positiveInt),
  /** Steps of the recorded life the power suite checks every state of. */
  powerSteps: positiveInt.optional(),
  /** Cases per crash-* scenario in the crash suite's campaign. */
  crashRuns: positiveInt.optional(),
  /** Appends before each timed checkpoint. */
  checkpointAppends: positiveInt,
  /** Keys in the state every checkpoint snapshots. */
  stateKeys: positiveInt,
  seed: count,
  valueBytes: positiveInt,
  compare: z.array(z.string()),
});

export const BenchReportSchema = z
  .looseObject({
    kind: z.literal("walcheck-bench"),
    version: z.literal(BENCH_VERSION),
    environment: EnvironmentSchema,
    config: BenchConfigSchema,
    elapsedMs: nonneg,
    subjects: z.array(BenchSubjectSchema),
    tasks: z.array(BenchTaskSchema),
    /** Suites a subject could not run (a feature it lacks), with the reason. */
    skipped: z.array(z.looseObject({ subject: z.string(), suite: BenchSuiteSchema, reason: z.string() })),
    ratios: z.array(BenchRatioSchema),
    /** The crash suite: crash cycles per minute of each adapter, and the protocol's cost per request. */
    crash: BenchCrashSchema.optional(),
    notes: z.array(z.string()),
    comparison: BenchComparisonSchema.optional(),
  })
  .superRefine((r, ctx) => {
    const subjects = new Set(r.subjects.map((s) => s.id));
    const seen = new Set<string>();
    r.tasks.forEach((t, i) => {
      if (seen.has(t.id))
        ctx.addIssue({
          code: "custom",
          path: ["tasks", i, "id"],
          message: `task id ${JSON.stringify(t.id)} appears twice`,
        });
      seen.add(t.id);
      if (!subjects.has(t.subject))
        ctx.addIssue({
          code: "custom",
          path: ["tasks", i, "subject"],
          message: `no subject ${JSON.stringify(t.subject)} in subjects`,
        });
    });
  });

export type BenchReport = z.infer<typeof BenchReportSchema>;
export type BenchTask = z.infer<typeof BenchTaskSchema>;
export type BenchSubject = z.infer<typeof BenchSubjectSchema>;
export type BenchRatio = z.infer<typeof BenchRatioSchema>;
export type BenchStats = z.infer<typeof BenchStatsSchema>;
export type BenchDelta = z.infer<typeof BenchDeltaSchema>;
export type BenchComparison = z.infer<typeof BenchComparisonSchema>;
export type BenchConfig = z.infer<typeof BenchConfigSchema>;
export type BenchCrash = z.infer<typeof BenchCrashSchema>;
export type BenchCrashCampaign = z.infer<typeof BenchCrashCampaignSchema>;
export type BenchProtocolCost = z.infer<typeof BenchProtocolCostSchema>;

/**
 * Check a bench report (the parsed JSON, or its text) and return it typed. One that is not
 * throws a UsageError naming the first bad field by its path, e.g.
 * `old.json: tasks[0].latency.rme: Invalid input: expected number, received string`.
 */
export function parseBenchReport(json: unknown, source = "bench report"): BenchReport {
  return parseReportJson(BenchReportSchema, json, source, {
    kind: "walcheck-bench",
    version: BENCH_VERSION,
    wrongKind: (kind) => `this is a "${kind}" report, not the JSON of walcheck bench ("walcheck-bench")`,
    wrongVersion: (version) =>
      `this is a version ${version} bench report; this walcheck reads version ${BENCH_VERSION} (run walcheck bench again to get one)`,
  });
}
