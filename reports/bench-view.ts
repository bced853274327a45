import { fmtMs, fmtOps, fmtRatio, fmtRme } from "./bench-format.js";
import type { BenchComparison, BenchRatio, BenchReport, BenchStats, BenchTask } from "./bench-schema.js";

// What the bench renderers (Markdown, HTML, terminal) all show, picked out of the JSON once.

/** One row of the append grid: a batch size and a concurrency, the task of each subject that ran it. */
export interface AppendRow {
  batch: number;
  concurrency: number;
  bySubject: Map<string, BenchTask>;
}

/** The append tasks as a grid: rows (batch, concurrency) in the order they ran, a column per subject. */
export function appendRows(report: BenchReport): AppendRow[] {
  const rows = new Map<string, AppendRow>();
  for (const t of report.tasks.filter((x) => x.suite === "append")) {
    const batch = t.params.batch ?? 0;
    const concurrency = t.params.concurrency ?? 0;
    const key = `${batch}/${concurrency}`;
    let row = rows.get(key);
    if (!row) rows.set(key, (row = { batch, concurrency, bySubject: new Map() }));
    row.bySubject.set(t.subject, t);
  }
  return [...rows.values()].sort((a, b) => a.batch - b.batch || a.concurrency - b.concurrency);
}

export const suiteTasks = (report: BenchReport, suite: BenchTask["suite"]) =>
  report.tasks.filter((t) => t.suite === suite);

/** A WAL's own timing from a task's extra (adapterRecoveryMs, adapterCheckpointMs): its p50, if it reported one. */
export function reportedP50(task: BenchTask, field: "adapterRecoveryMs" | "adapterCheckpointMs"): number | undefined {
  const v = (task.extra?.[field] as { p50?: unknown; n?: unknown } | undefined) ?? undefined;
  return v && typeof v.p50 === "number" && v.n !== 0 ? v.p50 : undefined;
}

/** A number from a task's extra, if it is one. */
/** The power suite's rows: one per subject and mode, with the states and directories an iteration checked. */
export function powerRows(report: BenchReport): {
  task: BenchTask;
  mode: string;
  states: number | undefined;
  directories: number | undefined;
  secondsPerLife: number;
}[] {
  return suiteTasks(report, "power").map((task) => ({
    task,
    mode: task.params.fresh ? "a process per state" : "recover op (1 in 16 cross-checked fresh)",
    states: extraNumber(task, "states"),
    directories: extraNumber(task, "directories"),
    secondsPerLife: task.latency.mean / 1000,
  }));
}

export function extraNumber(task: BenchTask, field: string): number | undefined {
  const v = task.extra?.[field];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** "4 subjects, 27 tasks, 1000 ms per task". */
export function headline(report: BenchReport): string {
  const s = report.subjects.length;
  const t = report.tasks.length;
  return `${s} subject${s === 1 ? "" : "s"}, ${t} task${t === 1 ? "" : "s"}, ${report.config.timeMs} ms per task`;
}

/** "REGRESSION: 1 of 6 tasks slower by more than 10% and their margin of error" or "no regression". */
export function comparisonVerdict(c: BenchComparison): string {
  const compared = c.regressions.length + c.improvements.length + c.unchanged.length;
  if (c.regressions.length === 0)
    return `no regression: ${compared} task${compared === 1 ? "" : "s"} compared, none slower by more than ${c.thresholdPercent}% and the margin of error`;
  return `REGRESSION: ${c.regressions.length} of ${compared} tasks slower by more than ${c.thresholdPercent}% and their margin of error`;
}

/** A ratio's description, with the protocol's cost per iteration for the protocol-overhead ratio. */
export function ratioText(x: BenchRatio): string {
  if (x.latencyDeltaMs === undefined) return x.description;
  return `${x.description}; mean latency over the protocol minus in process: ${x.latencyDeltaMs >= 0 ? "+" : ""}${fmtMs(x.latencyDeltaMs)} ms per iteration`;
}

/** The crash suite's campaign table: its head, and a row of cells per adapter. */
export const CRASH_HEAD = ["subject", "verdict", "cases run", "crash cycles", "seconds", "cycles/min", "workers"];
export function crashRows(report: BenchReport): { subject: string; cells: string[] }[] {
  return (report.crash?.campaigns ?? []).map((c) => ({
    subject: c.subject,
    cells: [
      c.status,
      `${c.cases.run}/${c.cases.planned}`,
      String(c.cycles),
      (c.elapsedMs / 1000).toFixed(1),
      fmtOps(c.cyclesPerMinute),
      String(c.workers),
    ],
  }));
}

/** The protocol's cost per append as one line: "+0.367 ms per append (mean), +0.120 ms at p50: 2.73× in process". */
export function protocolCostText(report: BenchReport): string | undefined {
  const pc = report.crash?.protocolCost;
  if (!pc) return undefined;
  const signed = (v: number) => `${v >= 0 ? "+" : "-"}${fmtMs(Math.abs(v))}`;
  return `the protocol's cost: ${signed(pc.deltaMeanMs)} ms per append (mean), ${signed(pc.deltaP50Ms)} ms at p50; ${fmtRatio(pc.ratio)} the in-process time (reference WAL, batch ${pc.batch}, ${pc.concurrency} in flight)`;
}

/** The two measurements behind the protocol's cost: head, and a row per side. */
export const PROTOCOL_COST_HEAD = ["reference WAL append", "mean ms", "p50 ms", "p99 ms", "rme %", "samples"];
export function protocolCostRows(report: BenchReport): string[][] {
  const pc = report.crash?.protocolCost;
  if (!pc) return [];
  const cells = (label: string, s: BenchStats) => [
    label,
    fmtMs(s.mean),
    fmtMs(s.p50),
    fmtMs(s.p99),
    fmtRme(s.rme),
    String(s.samplesCount),
  ];
  return [cells("over the protocol (walcheck serve)", pc.protocol), cells("in process", pc.inProcess)];
}
