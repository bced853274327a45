import { fmtBytes, fmtChange, fmtMs, fmtOps, fmtRatio, fmtRme } from "./bench-format.js";
import type { BenchComparison, BenchDelta, BenchReport, BenchTask } from "./bench-schema.js";
import {
  appendRows,
  comparisonVerdict,
  CRASH_HEAD,
  crashRows,
  extraNumber,
  headline,
  powerRows,
  PROTOCOL_COST_HEAD,
  protocolCostRows,
  protocolCostText,
  ratioText,
  reportedP50,
  suiteTasks,
} from "./bench-view.js";
import { mdText } from "./escape.js";
import { environmentParts } from "./report-schema.js";

// The bench report as Markdown (bench.md, a CI job summary, the terminal summary): built
// from the JSON only. Subject ids are walcheck's own; labels and hello strings come from
// adapters and go through mdText.

const row = (cells: string[]) => `| ${cells.join(" | ")} |`;
const rule = (align: string[]) => row(align);
const opt = (v: number | undefined) => (v === undefined ? "—" : fmtMs(v));

function header(r: BenchReport): string[] {
  const lines = [`### walcheck bench: ${headline(r)}`, ""];
  if (r.comparison)
    lines.push(
      `**${r.comparison.regressions.length > 0 ? "❌ " : "✅ "}${mdText(comparisonVerdict(r.comparison))}** (baseline ${mdText(r.comparison.baseline)})`,
      "",
    );
  lines.push(row(["subject", "what", "hello"]), rule(["---", "---", "---"]));
  for (const s of r.subjects) {
    const hello = s.hello
      ? `${mdText(s.hello.name)}, durability ${mdText(s.hello.durability)}, features ${mdText(s.hello.features.join(", ") || "none")}`
      : "—";
    lines.push(row([`${mdText(s.id)}: ${mdText(s.label)}`, mdText(s.description), hello]));
  }
  lines.push("", `- environment: ${environmentParts(r.environment).map(mdText).join(" · ")}`);
  const walFs = (r.environment as { walFsType?: unknown }).walFsType;
  if (typeof walFs === "string") lines.push(`- WAL directories on ${mdText(walFs)}; seed ${r.config.seed}`);
  return lines;
}

function appendSection(r: BenchReport): string[] {
  const rows = appendRows(r);
  if (rows.length === 0) return [];
  const subjects = r.subjects.filter((s) => rows.some((x) => x.bySubject.has(s.id))).map((s) => s.id);
  const cell = (t: BenchTask | undefined) =>
    t ? `${fmtOps(t.opsPerSec)} (${fmtMs(t.latency.p50)} / ${fmtMs(t.latency.p99)})` : "—";
  return [
    "",
    "#### Append: appends/s (p50 / p99 ms per iteration)",
    "",
    row(["batch", "in flight", ...subjects.map(mdText)]),
    rule(["--:", "--:", ...subjects.map(() => "--:")]),
    ...rows.map((x) => row([String(x.batch), String(x.concurrency), ...subjects.map((s) => cell(x.bySubject.get(s)))])),
  ];
}

function checkpointSection(r: BenchReport): string[] {
  const tasks = suiteTasks(r, "checkpoint");
  if (tasks.length === 0) return [];
  return [
    "",
    `#### Checkpoint: truncate after ${r.config.checkpointAppends} appends, ${r.config.stateKeys}-key state`,
    "",
    row(["subject", "checkpoints/s", "p50 ms", "p99 ms", "rme %", "the WAL's own p50 ms"]),
    rule(["---", "--:", "--:", "--:", "--:", "--:"]),
    ...tasks.map((t) =>
      row([
        mdText(t.subject),
        fmtOps(t.opsPerSec),
        fmtMs(t.latency.p50),
        fmtMs(t.latency.p99),
        fmtRme(t.latency.rme),
        opt(reportedP50(t, "adapterCheckpointMs")),
      ]),
    ),
  ];
}

function recoverySection(r: BenchReport): string[] {
  const tasks = suiteTasks(r, "recovery");
  if (tasks.length === 0) return [];
  return [
    "",
    "#### Recovery: open after a crash, by WAL size",
    "",
    row(["subject", "batches", "WAL bytes", "open p50 ms", "p99 ms", "rme %", "reported recovery p50 ms"]),
    rule(["---", "--:", "--:", "--:", "--:", "--:", "--:"]),
    ...tasks.map((t) => {
      const bytes = extraNumber(t, "walBytes");
      return row([
        mdText(t.subject),
        String(t.params.batches ?? "?"),
        bytes === undefined ? "—" : fmtBytes(bytes),
        fmtMs(t.latency.p50),
        fmtMs(t.latency.p99),
        fmtRme(t.latency.rme),
        opt(reportedP50(t, "adapterRecoveryMs")),
      ]);
    }),
  ];
}

function powerSection(r: BenchReport): string[] {
  const rows = powerRows(r);
  if (rows.length === 0) return [];
  return [
    "",
    `#### Power loss: every crash state of a ${r.config.powerSteps ?? "?"}-step life, checked`,
    "",
    row(["subject", "recovered by", "states", "directories", "states/s", "s per life", "rme %"]),
    rule(["---", "---", "--:", "--:", "--:", "--:", "--:"]),
    ...rows.map((x) =>
      row([
        mdText(x.task.subject),
        x.mode,
        String(x.states ?? "—"),
        String(x.directories ?? "—"),
        fmtOps(x.task.opsPerSec),
        x.secondsPerLife.toFixed(2),
        fmtRme(x.task.latency.rme),
      ]),
    ),
  ];
}

function crashSection(r: BenchReport): string[] {
  if (!r.crash) return [];
  const lines = [
    "",
    `#### Crash cycles: walcheck run over the crash-* scenarios, ${r.config.crashRuns ?? "?"} case(s) each`,
    "",
  ];
  const rows = crashRows(r);
  if (rows.length > 0)
    lines.push(
      row(CRASH_HEAD),
      rule(["---", "---", "--:", "--:", "--:", "--:", "--:"]),
      ...rows.map((x) => row([mdText(x.subject), ...x.cells.map(mdText)])),
    );
  else lines.push("- no adapter process to crash (see Skipped)");
  const cost = protocolCostText(r);
  if (cost)
    lines.push(
      "",
      `**${mdText(cost)}**`,
      "",
      row(PROTOCOL_COST_HEAD),
      rule(["---", "--:", "--:", "--:", "--:", "--:"]),
      ...protocolCostRows(r).map((cells) => row(cells.map(mdText))),
    );
  return lines;
}

function ratioSection(r: BenchReport): string[] {
  if (r.ratios.length === 0) return [];
  return [
    "",
    "#### Ratios (append ops/s)",
    "",
    row(["ratio", "value", "of", "over"]),
    rule(["---", "--:", "---", "---"]),
    ...r.ratios.map((x) =>
      row([
        mdText(ratioText(x)),
        fmtRatio(x.ratio),
        `${fmtOps(x.numeratorOpsPerSec)} (${mdText(x.numerator)})`,
        `${fmtOps(x.denominatorOpsPerSec)} (${mdText(x.denominator)})`,
      ]),
    ),
  ];
}

const deltaRow = (d: BenchDelta) =>
  row([
    mdText(d.id),
    `${fmtMs(d.baseline.mean)} ${fmtRme(d.baseline.rme)}%`,
    `${fmtMs(d.current.mean)} ${fmtRme(d.current.rme)}%`,
    fmtChange(d.changePercent),
    fmtMs(d.marginMs),
    d.verdict,
  ]);

/** The comparison with a baseline: verdict, the regressions and improvements with both figures, what is missing on either side. */
export function comparisonMarkdown(c: BenchComparison): string[] {
  const lines = [
    "",
    `#### Compared with ${mdText(c.baseline)} (mean latency, threshold ${c.thresholdPercent}%)`,
    "",
    `**${mdText(comparisonVerdict(c))}**`,
  ];
  const changed = [...c.regressions, ...c.improvements];
  if (changed.length > 0) {
    lines.push(
      "",
      row(["task", "baseline mean ms", "current mean ms", "change", "margin ms", "verdict"]),
      rule(["---", "--:", "--:", "--:", "--:", "---"]),
      ...changed.map(deltaRow),
    );
  }
  if (c.unchanged.length > 0)
    lines.push(
      "",
      `- unchanged (within ${c.thresholdPercent}% or the margin of error): ${c.unchanged.map((d) => `${mdText(d.id)} ${fmtChange(d.changePercent)}`).join(", ")}`,
    );
  for (const m of c.missing)
    lines.push(`- only in the ${m.onlyIn === "baseline" ? "baseline" : "current run"}: ${mdText(m.id)}`);
  for (const e of c.environmentDifferences) lines.push(`- ⚠️ environments differ: ${mdText(e)}`);
  return lines;
}

function allTasks(r: BenchReport): string[] {
  return [
    "",
    "#### All tasks",
    "",
    row(["task", "ops/s", "mean ms", "p50 ms", "p75 ms", "p99 ms", "rme %", "samples"]),
    rule(["---", "--:", "--:", "--:", "--:", "--:", "--:", "--:"]),
    ...r.tasks.map((t) => {
      const l = t.latency;
      return row([
        mdText(t.id),
        fmtOps(t.opsPerSec),
        fmtMs(l.mean),
        fmtMs(l.p50),
        fmtMs(l.p75),
        fmtMs(l.p99),
        fmtRme(l.rme),
        String(l.samplesCount),
      ]);
    }),
  ];
}

function footer(r: BenchReport): string[] {
  const lines: string[] = [];
  if (r.skipped.length > 0)
    lines.push(
      "",
      "#### Skipped",
      "",
      ...r.skipped.map((s) => `- ${mdText(s.subject)} ${s.suite}: ${mdText(s.reason)}`),
    );
  lines.push("", "#### How it was measured", "", ...r.notes.map((n) => `- ${mdText(n)}`));
  return lines;
}

/** The summary walcheck bench prints: subjects, the suite tables, ratios and the comparison. */
export function renderBenchSummary(r: BenchReport): string {
  return `${[...header(r), ...appendSection(r), ...checkpointSection(r), ...recoverySection(r), ...powerSection(r), ...crashSection(r), ...ratioSection(r), ...(r.comparison ? comparisonMarkdown(r.comparison) : [])].join("\n")}\n`;
}

/** bench.md: the summary, then every task's statistics, what was skipped and how it was measured. */
export function renderBenchMarkdown(r: BenchReport): string {
  return `${renderBenchSummary(r).trimEnd()}\n${[...allTasks(r), ...footer(r)].join("\n")}\n`;
}
