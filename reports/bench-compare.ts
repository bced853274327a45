import type { Environment } from "./report-schema.js";
import type { BenchComparison, BenchDelta, BenchReport, BenchTask } from "./bench-schema.js";

// `walcheck bench --baseline old.json`: the current run's tasks against an earlier run's,
// matched by id, on the mean latency of an iteration. A task regressed when it got slower
// by more than the threshold AND by more than the two runs' combined margin of error, so
// neither noise alone nor a tiny but certain change fails a CI job.

/** The default --threshold: a mean latency more than 10% worse (and beyond the error margin) is a regression. */
export const DEFAULT_THRESHOLD_PERCENT = 10;

const figure = (t: BenchTask) => ({ mean: t.latency.mean, rme: t.latency.rme, opsPerSec: t.opsPerSec });

/** One task's verdict: regression, improvement or unchanged (see the file comment). */
export function compareTask(baseline: BenchTask, current: BenchTask, thresholdPercent: number): BenchDelta {
  const old = baseline.latency;
  const now = current.latency;
  const marginMs = (old.mean * old.rme) / 100 + (now.mean * now.rme) / 100;
  const diff = now.mean - old.mean;
  const changePercent = old.mean > 0 ? (diff / old.mean) * 100 : diff > 0 ? Infinity : 0;
  const beyond = Math.abs(diff) > marginMs && Math.abs(changePercent) > thresholdPercent;
  const verdict = !beyond ? "unchanged" : diff > 0 ? "regression" : "improvement";
  return {
    id: current.id,
    baseline: figure(baseline),
    current: figure(current),
    changePercent: Number.isFinite(changePercent) ? changePercent : 1e9,
    marginMs,
    verdict,
  };
}

/** What differs between the machines and software of two runs: cpu, cores, file systems, Node. */
export function environmentDifferences(baseline: Environment, current: Environment): string[] {
  const fields: [string, (e: Environment) => unknown][] = [
    ["cpu model", (e) => e.cpu?.model],
    ["cpu count", (e) => e.cpu?.count],
    ["file system (report)", (e) => e.fsType],
    ["file system (WAL directories)", (e) => (e as { walFsType?: unknown }).walFsType],
    ["node", (e) => e.node],
    ["os", (e) => (e.os ? `${e.os.platform} ${e.os.release ?? ""}`.trim() : undefined)],
  ];
  const out: string[] = [];
  for (const [name, get] of fields) {
    const a = get(baseline);
    const b = get(current);
    if (a !== undefined && b !== undefined && a !== b)
      out.push(`${name}: ${String(a)} (baseline) vs ${String(b)} (current)`);
  }
  return out;
}

/** Compare every task of `current` with the task of the same id in `baseline`. */
export function compareBench(
  current: BenchReport,
  baseline: BenchReport,
  o: { baselinePath: string; thresholdPercent: number },
): BenchComparison {
  const old = new Map(baseline.tasks.map((t) => [t.id, t]));
  const ids = new Set(current.tasks.map((t) => t.id));
  const deltas = current.tasks
    .filter((t) => old.has(t.id))
    .map((t) => compareTask(old.get(t.id)!, t, o.thresholdPercent));
  // Worst first: the table a person reads starts with the biggest slowdown.
  const by = (v: BenchDelta["verdict"]) =>
    deltas.filter((d) => d.verdict === v).sort((a, b) => Math.abs(b.changePercent) - Math.abs(a.changePercent));
  return {
    baseline: o.baselinePath,
    baselineStartedAt: baseline.environment.startedAt,
    thresholdPercent: o.thresholdPercent,
    metric: "latency.mean",
    regressions: by("regression"),
    improvements: by("improvement"),
    unchanged: deltas.filter((d) => d.verdict === "unchanged"),
    missing: [
      ...baseline.tasks.filter((t) => !ids.has(t.id)).map((t) => ({ id: t.id, onlyIn: "baseline" as const })),
      ...current.tasks.filter((t) => !old.has(t.id)).map((t) => ({ id: t.id, onlyIn: "current" as const })),
    ],
    environmentDifferences: environmentDifferences(baseline.environment, current.environment),
  };
}
