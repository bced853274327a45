import { z } from "zod";
import { HelloFields, PERSISTENCE_MODELS } from "../harness/protocol/messages.js";
import { PowerAttributionSchema } from "./attribution-schema.js";
import { parseReportJson } from "./report-file.js";

// The JSON report of `walcheck run` (report.json), as harness/cli/run-command.ts writes it:
// `{kind, version, adapter, flags, environment, ...RunSummary}` (RunSummary, ScenarioSummary
// in harness/engine/campaign.ts, CaseResult in harness/engine/case-runner.ts). Objects are
// loose: a later walcheck may add fields, and these renderers must still read its report.
// A report is valid at every moment of a run (it is rewritten after every case), so the
// statuses of a run still going ("running", "pending") are part of the schema.

/** Bumped when a field changes meaning or a required field is added. */
export const REPORT_VERSION = 2;

const count = z.number().int().nonnegative();
const ms = z.number().nonnegative();

const Tally = z.looseObject({ planned: count, run: count, passed: count, failed: count, errors: count });
const Crashes = z.looseObject({ named: z.record(z.string(), count), fs: z.record(z.string(), count), signal: count });
const Batches = z.looseObject({ sent: count, acked: count });
const TimeSplit = z.looseObject({ startup: ms, recovery: ms, workload: ms, verify: ms });

const RecoverySample = z.looseObject({ walBytes: count, ms });
/** Recovery time against WAL size (harness/checks/recovery-by-size.ts). Absent from reports of walcheck before 0.2. */
export const RecoveryBySizeSchema = z.looseObject({
  n: count,
  points: z.array(RecoverySample),
  buckets: z.array(z.looseObject({ fromBytes: count, toBytes: count, n: count, p50: ms, p95: ms, max: ms })),
  fit: z.looseObject({ msPerMiB: z.number(), interceptMs: z.number() }).optional(),
});

export const LatencyStatsSchema = z.looseObject({ n: count, p50: ms, p95: ms, p99: ms, p999: ms, max: ms });

const LatencyOp = z.enum(["append", "recovery", "truncate"]);
const verdict = { op: LatencyOp, stat: z.literal("p95"), valueMs: ms, n: count, targetMs: ms, criticalMs: ms };
const ThresholdVerdict = z.discriminatedUnion("status", [
  z.looseObject({ ...verdict, status: z.literal("ok") }),
  z.looseObject({ ...verdict, status: z.literal("warning"), reason: z.string() }),
  z.looseObject({ ...verdict, status: z.literal("critical"), reason: z.string() }),
]);

/** A case's own counters (SessionStats), kept with its result. */
const SessionStats = z.looseObject({
  lives: count,
  crashes: Crashes,
  armsNotReached: count,
  batchesSent: count,
  batchesAcked: count,
  refused: z.looseObject({ append: count, open: count }),
  faultLives: count,
  checkpoints: count,
  recoveryMs: z.array(ms),
  recoveries: z.array(RecoverySample).optional(),
  powerStates: z
    .looseObject({
      checked: count,
      recovered: count,
      crossChecked: count.optional(),
      ms,
      /** The crash states enumerated (every variant of every cut judged), and of those, the ones not recovered: their directory's bytes equal those of one already recovered. Absent from reports of walcheck before 0.2. */
      enumerated: count.optional(),
      duplicates: count.optional(),
      /** Durability "process" adapters: the states that lost acknowledged batches, and the most one lost. */
      lostStates: count.optional(),
      lostMax: count.optional(),
      /** A replay of a failing state (--replay): how many recordings of the life it took, and whether one had the failing run's shape at the failing cut. */
      replay: z.object({ recordings: count, matched: z.boolean() }).optional(),
    })
    .optional(),
  latency: z.record(z.string(), z.array(ms)),
  timeMs: TimeSplit,
});

const SweepFault = z.enum(["zeros", "junk", "bitflip", "eio-read", "swap"]);
const OutcomeCounts = z.looseObject({ intact: count, refused: count, changed: count, missing: count });
/**
 * The corruption sweep's matrix (scenario corruption-sweep, harness/checks/sweep.ts): one row per
 * region (consecutive blocks) of one file after one ending of the life, outcome counts per fault.
 */
export const SweepMatrixSchema = z.looseObject({
  rows: z.array(
    z.looseObject({
      ending: z.enum(["clean", "crash"]),
      file: z.string(),
      /** Bytes [fromByte, toByte) of the file, `blocks` blocks of `blockSize` bytes. */
      fromByte: count,
      toByte: count,
      blockSize: count,
      blocks: count,
      /** By fault kind; a fault not swept is absent. */
      counts: z.partialRecord(SweepFault, OutcomeCounts),
      violations: count,
    }),
  ),
  /** Damaged copies recovered, and the time their recoveries took (summed). */
  recoveries: count,
  ms,
  violations: count,
  /** Counted, not violations: silently changed values and losses after a bit flip, for adapters without `checksums`. */
  findings: z.looseObject({ changed: count, missing: count }),
  /** Faults not swept, and why. */
  skipped: z.array(z.looseObject({ fault: SweepFault, reason: z.string() })),
  /** Blocks left out to keep a case within its budget of recoveries. */
  blocksLeftOut: count,
});
export type SweepMatrixReport = z.infer<typeof SweepMatrixSchema>;

const caseBase = { scenario: z.string(), index: count, seed: count, stats: SessionStats, executions: count };

/** A failing case: the violation (strings from the adapter inside), its shrunk input, replay token and kept directory. */
export const FailedCaseSchema = z.looseObject({
  ...caseBase,
  status: z.literal("failed"),
  violation: z.looseObject({
    invariant: z.string(),
    message: z.string(),
    description: z.string(),
    crash: z.string().optional(),
    /** Power loss: the lost op, the missing barrier and where the adapter issued the op. */
    attribution: PowerAttributionSchema.optional(),
  }),
  commands: z.string(),
  shrinks: count,
  replayToken: z.string().min(1),
  keptDir: z.string(),
});

/** A case that ended in an adapter error (a malformed answer, a hang, an unexpected exit). */
export const ErrorCaseSchema = z.looseObject({
  ...caseBase,
  status: z.literal("error"),
  error: z.looseObject({ code: z.string(), message: z.string() }),
});

export const ScenarioReportSchema = z.looseObject({
  name: z.string().min(1),
  status: z.enum(["passed", "failed", "error", "skipped", "interrupted", "running", "pending", "not-run"]),
  reason: z.string().optional(),
  /** What the scenario checks, as it declares them: a violation names one of these ids. Absent from reports of walcheck before 0.2. */
  invariants: z.array(z.looseObject({ id: z.string().min(1), text: z.string() })).optional(),
  cases: Tally,
  cycles: count,
  crashes: Crashes,
  armsNotReached: count,
  batches: Batches,
  faults: z.looseObject({ lives: count, refusedAppends: count, refusedOpens: count }),
  checkpoints: count,
  latency: z.record(z.string(), LatencyStatsSchema),
  /** Each op's samples in bins of doubling width: counts[i] in [edgesMs[i], edgesMs[i+1]). Absent from reports of walcheck before 0.2. */
  histograms: z.record(z.string(), z.looseObject({ edgesMs: z.array(ms), counts: z.array(count) })).optional(),
  recoveryBySize: RecoveryBySizeSchema.optional(),
  /** Power-loss states judged, and the distinct directories recovered in fresh processes for them. */
  powerStates: z
    .looseObject({
      checked: count,
      recovered: count,
      crossChecked: count.optional(),
      ms,
      /** The crash states enumerated (every variant of every cut judged), and of those, the ones not recovered: their directory's bytes equal those of one already recovered. Absent from reports of walcheck before 0.2. */
      enumerated: count.optional(),
      duplicates: count.optional(),
      /** Durability "process" adapters: the states that lost acknowledged batches, and the most one lost. */
      lostStates: count.optional(),
      lostMax: count.optional(),
      /** A replay of a failing state (--replay): how many recordings of the life it took, and whether one had the failing run's shape at the failing cut. */
      replay: z.object({ recordings: count, matched: z.boolean() }).optional(),
    })
    .optional(),
  /** The corruption sweep's matrix (corruption-sweep only). */
  sweep: SweepMatrixSchema.optional(),
  /** Time spent in its cases, summed (they may run side by side). */
  caseTimeMs: ms.optional(),
  thresholds: z.array(ThresholdVerdict),
  latencyExpected: z.boolean(),
  latencyGated: z.boolean(),
  failures: z.array(FailedCaseSchema),
  errors: z.array(ErrorCaseSchema),
});

/** Where and on what the run ran. Every field but `startedAt`, `node` and `fsType` is absent when it could not be learned. */
export const EnvironmentSchema = z.looseObject({
  /** When the run started (ISO 8601, UTC). */
  startedAt: z.iso.datetime(),
  /** process.version, e.g. "v20.20.2". */
  node: z.string().min(1),
  os: z
    .looseObject({ platform: z.string().min(1), release: z.string().optional(), arch: z.string().optional() })
    .optional(),
  cpu: z.looseObject({ model: z.string().optional(), count: count.optional() }).optional(),
  memoryBytes: count.optional(),
  /** The file system type of the report directory ("ext4", "tmpfs", "overlay"...; "unknown" where it cannot be read). */
  fsType: z.string().min(1),
  /** `git rev-parse HEAD` of the working directory, when it is a git checkout. */
  gitCommit: z
    .string()
    .regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/)
    .optional(),
  /** walcheck's own version (its package.json). */
  walcheckVersion: z.string().optional(),
});

const PersistenceModelSchema = z.enum(PERSISTENCE_MODELS);

/**
 * The power-loss verdict per persistence model (docs/power-loss.md): the model assumed (and
 * where that came from), one result per model run (`--persistence all`: each), and the
 * weakest model (first in PERSISTENCE_MODELS order) under which the run passed.
 */
export const PersistenceReportSchema = z.looseObject({
  assumed: PersistenceModelSchema,
  source: z.enum(["hello", "flag", "default"]),
  results: z.array(
    z.looseObject({
      model: PersistenceModelSchema,
      status: z.enum(["passed", "failed", "error"]),
      statesChecked: count,
      directoriesRecovered: count,
      /** Acknowledged batches lost, for a durability "process" adapter (counted, not a violation): states with a loss, most batches one lost. */
      lostAcked: z.looseObject({ states: count, batches: count }),
      elapsedMs: ms,
      failure: z.looseObject({ invariant: z.string(), message: z.string(), replay: z.string() }).optional(),
    }),
  ),
  weakestPassing: PersistenceModelSchema.nullable(),
});
export type PersistenceReport = z.infer<typeof PersistenceReportSchema>;

export const RunReportSchema = z.looseObject({
  kind: z.literal("walcheck-run"),
  version: z.literal(REPORT_VERSION),
  /** What the replay line needs to select the adapter again (`--adapter x` or `--adapter-cmd "..."`). */
  flags: z.array(z.string()),
  environment: EnvironmentSchema,
  /** Mutating fs calls the preload saw in one typical life: the range fs-call crash points are drawn from. Absent when fs crash points cannot reach the adapter. */
  fsCallsPerLife: count.optional(),
  status: z.enum(["passed", "failed", "error", "interrupted", "running"]),
  seed: count,
  adapter: z.string(),
  hello: HelloFields.loose().optional(),
  crash: z.array(z.string()),
  shard: z.string(),
  cases: Tally,
  cycles: count,
  crashes: Crashes,
  armsNotReached: count,
  batches: Batches,
  checkpoints: count,
  recoveryMs: z.looseObject({ n: count, p50: ms, p95: ms, max: ms }),
  recoveryBySize: RecoveryBySizeSchema.optional(),
  timeMs: TimeSplit,
  elapsedMs: ms,
  cyclesPerMinute: z.number().nonnegative(),
  scenarios: z.array(ScenarioReportSchema),
  failures: z.array(FailedCaseSchema),
  errors: z.array(ErrorCaseSchema),
  latencyWarnings: z.array(z.string()),
  latencyFailures: z.array(z.string()),
  latencyObserved: z.array(z.string()),
  /**
   * Informational answer fields the adapter got wrong (a checkpoint's stats, recovery, elapsedMs...):
   * tolerated and dropped, the run not affected; each deviation once, with how many answers had it.
   * Absent from reports of walcheck before 0.3.
   */
  warnings: z.array(z.looseObject({ op: z.string(), field: z.string(), message: z.string(), count: count })).optional(),
  /** The power-loss verdict per persistence model; absent when power-loss did not run. */
  persistence: PersistenceReportSchema.optional(),
  /** Set by `walcheck report merge`: the shards of the reports it combined ("1/4", ...), and what the merge could not keep exactly. */
  merged: z.looseObject({ shards: z.array(z.string()), notes: z.array(z.string()) }).optional(),
});

export type RunReport = z.infer<typeof RunReportSchema>;

/**
 * A report type without the index signatures of its loose objects: what a writer must supply.
 * `value satisfies Written<RunReport>` holds a writer's own types (the engine's summaries) to
 * the schema at compile time; the schema stays the one definition of the report.
 */
export type Written<T> = T extends readonly (infer U)[]
  ? Written<U>[]
  : T extends object
    ? { [K in keyof T as string extends K ? never : K]: Written<T[K]> }
    : T;
export type ScenarioReport = z.infer<typeof ScenarioReportSchema>;
export type FailedCase = z.infer<typeof FailedCaseSchema>;
export type ErrorCase = z.infer<typeof ErrorCaseSchema>;
export type Environment = z.infer<typeof EnvironmentSchema>;
export type RecoveryBySizeReport = z.infer<typeof RecoveryBySizeSchema>;

/** A crash point of `walcheck run --exhaustive`: before or after the n-th mutating fs call, or mid-way through a write. */
const FsPointSchema = z.looseObject({ call: z.number().int().positive(), when: z.enum(["before", "after", "mid"]) });

export const EXHAUSTIVE_REPORT_VERSION = 1;

/** The report of `walcheck run --exhaustive` (report.json, kind "walcheck-run-exhaustive"). */
export const ExhaustiveReportSchema = z.looseObject({
  kind: z.literal("walcheck-run-exhaustive"),
  version: z.literal(EXHAUSTIVE_REPORT_VERSION),
  adapter: z.string(),
  hello: HelloFields.loose(),
  status: z.enum(["passed", "failed", "error", "interrupted"]),
  seed: count,
  /** The bounded workload, one step a string. */
  workload: z.array(z.string()),
  /** Mutating fs calls the workload makes in one life. */
  calls: count,
  /** Crash points: every call before and after, and mid-way through every write. */
  points: count,
  checked: count,
  fired: count,
  elapsedMs: ms,
  pointsPerSecond: ms,
  stats: SessionStats,
  failures: z.array(
    z.looseObject({
      point: FsPointSchema,
      violation: FailedCaseSchema.shape.violation,
      keptDir: z.string(),
      replayToken: z.string().min(1),
    }),
  ),
  errors: z.array(z.looseObject({ point: FsPointSchema, code: z.string(), message: z.string() })),
});

export type ExhaustiveReport = z.infer<typeof ExhaustiveReportSchema>;

/**
 * Check a run report (the parsed JSON, or its text) and return it typed. A report that is
 * not one throws a UsageError naming the first bad field by its path, e.g.
 * `scenarios[0].cases.run: Invalid input: expected number, received string`.
 */
export function parseRunReport(json: unknown, source = "report"): RunReport {
  return parseReportJson(RunReportSchema, json, source, {
    kind: "walcheck-run",
    version: REPORT_VERSION,
    wrongKind: (kind) =>
      `this is a "${kind}" report; walcheck report reads the reports of walcheck run ("walcheck-run")`,
    wrongVersion: (version) =>
      `this is a version ${version} report; this walcheck reads version ${REPORT_VERSION} (run the scenarios again to get one)`,
  });
}

/** The environment as short human phrases ("Node v20…", "2 × AMD EPYC", "report on ext4"), for every renderer. */
export function environmentParts(e: Environment): string[] {
  const parts = [`Node ${e.node}`];
  if (e.os) parts.push([e.os.platform, e.os.release, e.os.arch].filter(Boolean).join(" "));
  if (e.cpu) parts.push(`${e.cpu.count ?? "?"} × ${e.cpu.model ?? "CPU"}`);
  if (e.memoryBytes !== undefined) parts.push(`${(e.memoryBytes / 2 ** 30).toFixed(1)} GiB`);
  parts.push(`report on ${e.fsType}`);
  if (e.gitCommit) parts.push(`commit ${e.gitCommit.slice(0, 12)}`);
  if (e.walcheckVersion) parts.push(`walcheck ${e.walcheckVersion}`);
  parts.push(`started ${e.startedAt}`);
  return parts;
}
