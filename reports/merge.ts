import { mergeSweeps } from "./sweep-view.js";
import { UsageError } from "../harness/protocol/errors.js";
import { PERSISTENCE_MODELS } from "../harness/protocol/messages.js";
import { REPORT_VERSION, type PersistenceReport, type RunReport, type ScenarioReport } from "./report-schema.js";

// Merging the reports of `walcheck run --shard i/n` jobs (the same seed, adapter and
// scenarios; different slices of the cases) into the report of the whole run.
//
// Exact: every count (cases, crash cycles, crashes, batches, faults, checkpoints, power-loss
// states, time), the failures and errors, the latency histograms (counts per bin), each
// op's sample count and maximum, the statuses. Not exact: percentiles cannot be combined
// from percentiles, so a merged p50/p95/p99/p99.9 is the worst shard's (an upper bound of
// the true value), and the latency verdicts are the worst shard's; the report says so in
// `merged.notes`. Recovery-by-size points are pooled (thinned to the same bound), its
// buckets' percentiles are the worst shard's, and its fit is refitted from the pooled points.

type Status = ScenarioReport["status"];
type Verdict = ScenarioReport["thresholds"][number];
type Histogram = NonNullable<ScenarioReport["histograms"]>[string];
type LatencyStats = ScenarioReport["latency"][string];
type RecoveryBySize = NonNullable<RunReport["recoveryBySize"]>;
type Crashes = RunReport["crashes"];

/** A report to merge and where it came from (its file, for messages). */
export interface MergeInput {
  report: RunReport;
  source: string;
}

/** The shards a report covers: "2/4" is {indices: [2], count: 4}; "1-3/4 merged" is [1, 2, 3] of 4. */
export function parseShardSet(shard: string): { indices: number[]; count: number } | undefined {
  const m = /^([\d,-]+)\/(\d+)( merged)?$/.exec(shard);
  if (!m) return undefined;
  const count = Number(m[2]);
  const indices: number[] = [];
  for (const part of m[1]!.split(",")) {
    const r = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!r) return undefined;
    const from = Number(r[1]);
    const to = r[2] === undefined ? from : Number(r[2]);
    if (from < 1 || to < from || to > count) return undefined;
    for (let i = from; i <= to; i++) indices.push(i);
  }
  if (!m[3] && indices.length !== 1) return undefined;
  return { indices, count };
}

/** [1, 2, 3, 5] of 6 as "1-3,5/6 merged". */
export function formatShardSet(indices: readonly number[], count: number): string {
  const sorted = [...indices].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(j === i ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return `${parts.join(",")}/${count} merged`;
}

// Worst first: a merged scenario (or run) takes the worst status of its shards.
const SCENARIO_RANK: readonly Status[] = [
  "failed",
  "error",
  "interrupted",
  "running",
  "pending",
  "passed",
  "not-run",
  "skipped",
];
const RUN_RANK: readonly RunReport["status"][] = ["failed", "error", "interrupted", "running", "passed"];
const worst = <T>(rank: readonly T[], values: readonly T[]): T =>
  values.reduce((a, b) => (rank.indexOf(b) < rank.indexOf(a) ? b : a));

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const max = (xs: readonly number[]) => xs.reduce((a, b) => Math.max(a, b), 0);

function sumRecord(records: readonly Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) for (const [k, v] of Object.entries(r)) out[k] = (out[k] ?? 0) + v;
  return out;
}

function mergeCrashes(all: readonly Crashes[]): Crashes {
  return {
    named: sumRecord(all.map((c) => c.named)),
    fs: sumRecord(all.map((c) => c.fs)),
    signal: sum(all.map((c) => c.signal)),
  };
}

function mergeTally(all: readonly RunReport["cases"][]): RunReport["cases"] {
  return {
    planned: sum(all.map((t) => t.planned)),
    run: sum(all.map((t) => t.run)),
    passed: sum(all.map((t) => t.passed)),
    failed: sum(all.map((t) => t.failed)),
    errors: sum(all.map((t) => t.errors)),
  };
}

/** Latency statistics: n summed and max exact; each percentile the worst shard's (an upper bound). */
export function mergeLatencyStats(all: readonly LatencyStats[]): LatencyStats {
  const present = all.filter((s) => s.n > 0);
  return {
    n: sum(all.map((s) => s.n)),
    p50: max(present.map((s) => s.p50)),
    p95: max(present.map((s) => s.p95)),
    p99: max(present.map((s) => s.p99)),
    p999: max(present.map((s) => s.p999)),
    max: max(present.map((s) => s.max)),
  };
}

/**
 * Histograms summed bin by bin (exact: they count samples per bin, and every report bins
 * with the same edges). Bins between two shards' ranges are filled in with zero counts, so
 * the result is contiguous like the histograms a run writes.
 */
export function mergeHistograms(all: readonly Histogram[]): Histogram {
  const bins = new Map<number, { hi: number; count: number }>();
  for (const h of all)
    h.counts.forEach((count, i) => {
      const lo = h.edgesMs[i]!;
      const bin = bins.get(lo);
      bins.set(lo, { hi: h.edgesMs[i + 1]!, count: (bin?.count ?? 0) + count });
    });
  const sorted = [...bins.entries()].sort((a, b) => a[0] - b[0]);
  if (sorted.length === 0) return { edgesMs: [], counts: [] };
  const edgesMs: number[] = [];
  const counts: number[] = [];
  let hi = sorted[0]![0];
  for (const [lo, bin] of sorted) {
    // A gap between two shards' ranges: the bins double, as the run's do.
    while (hi < lo) {
      const next = hi > 0 && hi * 2 <= lo ? hi * 2 : lo;
      edgesMs.push(hi);
      counts.push(0);
      hi = next;
    }
    edgesMs.push(lo);
    counts.push(bin.count);
    hi = bin.hi;
  }
  edgesMs.push(hi);
  return { edgesMs, counts };
}

const MAX_POINTS = 200;

function leastSquares(points: readonly { walBytes: number; ms: number }[]): RecoveryBySize["fit"] {
  if (points.length < 5) return undefined;
  const xs = points.map((p) => p.walBytes / (1024 * 1024));
  const mx = sum(xs) / xs.length;
  const my = sum(points.map((p) => p.ms)) / points.length;
  let sxx = 0;
  let sxy = 0;
  points.forEach((p, i) => {
    sxx += (xs[i]! - mx) ** 2;
    sxy += (xs[i]! - mx) * (p.ms - my);
  });
  if (sxx === 0) return undefined;
  const msPerMiB = sxy / sxx;
  return { msPerMiB, interceptMs: my - msPerMiB * mx };
}

/** Recovery by size: points pooled (thinned to 200, the slowest kept), buckets by range with n summed and the worst percentiles, the fit redone on the pooled points. */
export function mergeRecoveryBySize(all: readonly RecoveryBySize[]): RecoveryBySize {
  let points = all.flatMap((r) => r.points).sort((a, b) => a.walBytes - b.walBytes || a.ms - b.ms);
  if (points.length > MAX_POINTS) {
    const slowest = [...points].sort((a, b) => b.ms - a.ms).slice(0, 10);
    const picked = new Set(slowest);
    const spread = MAX_POINTS - slowest.length;
    for (let i = 0; i < spread; i++) picked.add(points[Math.round((i * (points.length - 1)) / (spread - 1))]!);
    points = points.filter((p) => picked.has(p));
  }
  const buckets = new Map<number, RecoveryBySize["buckets"]>();
  for (const r of all)
    for (const b of r.buckets) (buckets.get(b.fromBytes) ?? buckets.set(b.fromBytes, []).get(b.fromBytes)!).push(b);
  const fit = leastSquares(points);
  return {
    n: sum(all.map((r) => r.n)),
    points: points.map((p) => ({ walBytes: p.walBytes, ms: p.ms })),
    buckets: [...buckets.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([fromBytes, bs]) => ({
        fromBytes,
        toBytes: bs[0]!.toBytes,
        n: sum(bs.map((b) => b.n)),
        p50: max(bs.map((b) => b.p50)),
        p95: max(bs.map((b) => b.p95)),
        max: max(bs.map((b) => b.max)),
      })),
    ...(fit ? { fit } : {}),
  };
}

const VERDICT_RANK: readonly Verdict["status"][] = ["critical", "warning", "ok"];

/** Per op, the worst shard's verdict (by status, then value), with the samples of every shard counted. */
function mergeThresholds(all: readonly (readonly Verdict[])[]): Verdict[] {
  const byOp = new Map<string, Verdict[]>();
  for (const list of all) for (const v of list) (byOp.get(v.op) ?? byOp.set(v.op, []).get(v.op)!).push(v);
  return [...byOp.values()].map((vs) => {
    const w = vs.reduce((a, b) => {
      const d = VERDICT_RANK.indexOf(b.status) - VERDICT_RANK.indexOf(a.status);
      return d < 0 || (d === 0 && b.valueMs > a.valueMs) ? b : a;
    });
    return { ...w, n: sum(vs.map((v) => v.n)) };
  });
}

function mergeScenario(parts: readonly ScenarioReport[]): ScenarioReport {
  const first = parts[0]!;
  const ops = [...new Set(parts.flatMap((p) => Object.keys(p.latency)))];
  const histOps = [...new Set(parts.flatMap((p) => Object.keys(p.histograms ?? {})))];
  const withPower = parts.flatMap((p) => (p.powerStates ? [p.powerStates] : []));
  const withRecovery = parts.flatMap((p) => (p.recoveryBySize ? [p.recoveryBySize] : []));
  const withCaseTime = parts.flatMap((p) => (p.caseTimeMs !== undefined ? [p.caseTimeMs] : []));
  const withSweep = parts.flatMap((p) => (p.sweep ? [p.sweep] : []));
  const reason = parts.find((p) => p.reason !== undefined)?.reason;
  const invariants = parts.find((p) => p.invariants)?.invariants;
  return {
    ...first,
    status: worst(
      SCENARIO_RANK,
      parts.map((p) => p.status),
    ),
    ...(reason !== undefined ? { reason } : {}),
    ...(invariants ? { invariants } : {}),
    cases: mergeTally(parts.map((p) => p.cases)),
    cycles: sum(parts.map((p) => p.cycles)),
    crashes: mergeCrashes(parts.map((p) => p.crashes)),
    armsNotReached: sum(parts.map((p) => p.armsNotReached)),
    batches: { sent: sum(parts.map((p) => p.batches.sent)), acked: sum(parts.map((p) => p.batches.acked)) },
    faults: {
      lives: sum(parts.map((p) => p.faults.lives)),
      refusedAppends: sum(parts.map((p) => p.faults.refusedAppends)),
      refusedOpens: sum(parts.map((p) => p.faults.refusedOpens)),
    },
    checkpoints: sum(parts.map((p) => p.checkpoints)),
    latency: Object.fromEntries(
      ops.map((op) => [op, mergeLatencyStats(parts.flatMap((p) => (p.latency[op] ? [p.latency[op]] : [])))]),
    ),
    ...(histOps.length > 0 || parts.some((p) => p.histograms)
      ? {
          histograms: Object.fromEntries(
            histOps.map((op) => [
              op,
              mergeHistograms(parts.flatMap((p) => (p.histograms?.[op] ? [p.histograms[op]] : []))),
            ]),
          ),
        }
      : {}),
    ...(withRecovery.length > 0 ? { recoveryBySize: mergeRecoveryBySize(withRecovery) } : {}),
    ...(withPower.length > 0
      ? {
          powerStates: {
            checked: sum(withPower.map((p) => p.checked)),
            recovered: sum(withPower.map((p) => p.recovered)),
            ...(withPower.some((p) => p.crossChecked !== undefined)
              ? { crossChecked: sum(withPower.map((p) => p.crossChecked ?? 0)) }
              : {}),
            ms: sum(withPower.map((p) => p.ms)),
            ...(withPower.some((p) => p.enumerated !== undefined)
              ? {
                  enumerated: sum(withPower.map((p) => p.enumerated ?? 0)),
                  duplicates: sum(withPower.map((p) => p.duplicates ?? 0)),
                }
              : {}),
          },
        }
      : {}),
    ...(withCaseTime.length > 0 ? { caseTimeMs: sum(withCaseTime) } : {}),
    ...(withSweep.length > 0 ? { sweep: mergeSweeps(withSweep) } : {}),
    thresholds: mergeThresholds(parts.map((p) => p.thresholds)),
    latencyExpected: parts.some((p) => p.latencyExpected),
    latencyGated: parts.some((p) => p.latencyGated),
    failures: parts.flatMap((p) => p.failures),
    errors: parts.flatMap((p) => p.errors),
  };
}

const unique = (xs: readonly string[]) => [...new Set(xs)];

/** The shards' protocol warnings, one per op, field and message, their counts summed (absent when no shard has any). */
function mergeWarnings(reports: readonly RunReport[]): Pick<RunReport, "warnings"> {
  const byKey = new Map<string, NonNullable<RunReport["warnings"]>[number]>();
  for (const w of reports.flatMap((r) => r.warnings ?? [])) {
    const key = JSON.stringify([w.op, w.field, w.message]);
    const seen = byKey.get(key);
    byKey.set(key, seen ? { ...seen, count: seen.count + w.count } : { ...w });
  }
  return byKey.size > 0 ? { warnings: [...byKey.values()] } : {};
}
const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Refuse reports that are not shards of one run, with a message naming the two that differ. */
function checkCompatible(inputs: readonly MergeInput[]): { indices: number[]; count: number }[] {
  if (inputs.length === 0) throw new UsageError("walcheck report merge: no reports to merge");
  const first = inputs[0]!;
  const differ = (what: string, other: MergeInput, a: unknown, b: unknown) =>
    new UsageError(
      `walcheck report merge: ${first.source} and ${other.source} are not shards of one run: different ${what} (${JSON.stringify(a)} and ${JSON.stringify(b)})`,
    );
  const shards = inputs.map(({ report, source }) => {
    if (report.kind !== "walcheck-run" || report.version !== REPORT_VERSION)
      throw new UsageError(
        `walcheck report merge: ${source}: a ${String(report.kind)} report of version ${String(report.version)}; merge reads walcheck-run reports of version ${REPORT_VERSION}`,
      );
    const set = parseShardSet(report.shard);
    if (!set)
      throw new UsageError(`walcheck report merge: ${source}: shard ${JSON.stringify(report.shard)} is not i/n`);
    return set;
  });
  const scenarioNames = (r: RunReport) => r.scenarios.map((s) => s.name);
  for (const [i, input] of inputs.entries()) {
    const r = input.report;
    const f = first.report;
    if (r.version !== f.version) throw differ("report versions", input, f.version, r.version);
    if (r.seed !== f.seed) throw differ("seeds", input, f.seed, r.seed);
    if (r.adapter !== f.adapter || !sameList(r.flags, f.flags)) throw differ("adapters", input, f.adapter, r.adapter);
    if (!sameList(r.crash, f.crash)) throw differ("crash kinds", input, f.crash, r.crash);
    if (!sameList(scenarioNames(r), scenarioNames(f)))
      throw differ("scenarios", input, scenarioNames(f), scenarioNames(r));
    if (shards[i]!.count !== shards[0]!.count)
      throw differ("shard counts", input, `/${shards[0]!.count}`, `/${shards[i]!.count}`);
  }
  const seen = new Map<number, string>();
  for (const [i, set] of shards.entries())
    for (const index of set.indices) {
      const other = seen.get(index);
      if (other !== undefined)
        throw new UsageError(
          `walcheck report merge: shard ${index}/${set.count} is in both ${other} and ${inputs[i]!.source}: each shard may be merged once`,
        );
      seen.set(index, inputs[i]!.source);
    }
  return shards;
}

/**
 * The report of the whole run from the reports of its shards: the same seed, adapter, crash
 * kinds and scenarios, each shard at most once (a UsageError otherwise). Shards may be missing
 * (a job that did not finish): the report says which.
 */
type ModelResult = PersistenceReport["results"][number];
const MODEL_RANK: readonly ModelResult["status"][] = ["error", "failed", "passed"];

/**
 * The power-loss verdict per model over the shards: per model the worst status, states and
 * directories and case time summed, the states that lost acknowledged batches summed (and the
 * most one lost), the first shard's failure; the weakest passing model recomputed over them.
 */
export function mergePersistence(all: readonly PersistenceReport[]): PersistenceReport {
  const results: ModelResult[] = [];
  for (const model of PERSISTENCE_MODELS) {
    const rs = all.flatMap((p) => p.results.filter((r) => r.model === model));
    if (rs.length === 0) continue;
    const failure = rs.find((r) => r.failure)?.failure;
    results.push({
      model,
      status: worst(
        MODEL_RANK,
        rs.map((r) => r.status),
      ),
      statesChecked: sum(rs.map((r) => r.statesChecked)),
      directoriesRecovered: sum(rs.map((r) => r.directoriesRecovered)),
      lostAcked: { states: sum(rs.map((r) => r.lostAcked.states)), batches: max(rs.map((r) => r.lostAcked.batches)) },
      elapsedMs: sum(rs.map((r) => r.elapsedMs)),
      ...(failure ? { failure } : {}),
    });
  }
  return {
    ...all[0]!,
    results,
    weakestPassing: results.find((r) => r.status === "passed")?.model ?? null,
  };
}

export function mergeRunReports(inputs: readonly MergeInput[]): RunReport {
  const shardSets = checkCompatible(inputs);
  // In shard order, whatever the order given: the environment and hello are the first shard's.
  const order = inputs
    .map((input, i) => ({ input, set: shardSets[i]! }))
    .sort((a, b) => Math.min(...a.set.indices) - Math.min(...b.set.indices));
  const reports = order.map((o) => o.input.report);
  const first = reports[0]!;
  const count = order[0]!.set.count;
  const indices = order.flatMap((o) => o.set.indices);
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !indices.includes(i));

  const scenarios = first.scenarios.map((s) =>
    mergeScenario(reports.map((r) => r.scenarios.find((x) => x.name === s.name)!)),
  );
  const recoveries = reports.flatMap((r) => (r.recoveryBySize ? [r.recoveryBySize] : []));
  const persistence = reports.flatMap((r) => (r.persistence ? [r.persistence] : []));
  const elapsedMs = max(reports.map((r) => r.elapsedMs));
  const cycles = sum(reports.map((r) => r.cycles));
  const recoveryMs = reports.map((r) => r.recoveryMs).filter((m) => m.n > 0);
  const notes = [
    `from the reports of shards ${reports.map((r) => r.shard).join(", ")}`,
    ...(missing.length > 0
      ? [
          `shard${missing.length > 1 ? "s" : ""} ${missing.map((i) => `${i}/${count}`).join(", ")} missing: the cases of ${missing.length > 1 ? "those shards were" : "that shard were"} not run or not merged`,
        ]
      : []),
    "latency percentiles (p50, p95, p99, p99.9) and latency verdicts are the worst shard's, an upper bound (percentiles do not combine); sample counts, maxima and histograms are exact",
    "elapsed time is the longest shard's (shards run side by side); crash cycles per minute are over it",
  ];
  return {
    ...first,
    status: worst(
      RUN_RANK,
      reports.map((r) => r.status),
    ),
    shard: formatShardSet(indices, count),
    cases: mergeTally(reports.map((r) => r.cases)),
    cycles,
    crashes: mergeCrashes(reports.map((r) => r.crashes)),
    armsNotReached: sum(reports.map((r) => r.armsNotReached)),
    batches: { sent: sum(reports.map((r) => r.batches.sent)), acked: sum(reports.map((r) => r.batches.acked)) },
    checkpoints: sum(reports.map((r) => r.checkpoints)),
    recoveryMs: {
      n: sum(recoveryMs.map((m) => m.n)),
      p50: max(recoveryMs.map((m) => m.p50)),
      p95: max(recoveryMs.map((m) => m.p95)),
      max: max(recoveryMs.map((m) => m.max)),
    },
    ...(recoveries.length > 0 ? { recoveryBySize: mergeRecoveryBySize(recoveries) } : {}),
    ...(persistence.length > 0 ? { persistence: mergePersistence(persistence) } : {}),
    timeMs: {
      startup: sum(reports.map((r) => r.timeMs.startup)),
      recovery: sum(reports.map((r) => r.timeMs.recovery)),
      workload: sum(reports.map((r) => r.timeMs.workload)),
      verify: sum(reports.map((r) => r.timeMs.verify)),
    },
    elapsedMs,
    cyclesPerMinute: elapsedMs > 0 ? (cycles * 60_000) / elapsedMs : 0,
    scenarios,
    failures: reports.flatMap((r) => r.failures),
    errors: reports.flatMap((r) => r.errors),
    latencyWarnings: unique(reports.flatMap((r) => r.latencyWarnings)),
    latencyFailures: unique(reports.flatMap((r) => r.latencyFailures)),
    latencyObserved: unique(reports.flatMap((r) => r.latencyObserved)),
    ...mergeWarnings(reports),
    merged: { shards: reports.map((r) => r.shard), notes },
  };
}
