import { fmtBytes, fmtChange, fmtMs, fmtOps, fmtRatio, fmtRme } from "./bench-format.js";
import type { BenchDelta, BenchReport, BenchTask } from "./bench-schema.js";
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
import { xmlText } from "./escape.js";
import { htmlPage } from "./html-page.js";
import { environmentParts } from "./report-schema.js";
import { barChart, CHART_CSS, chartLegend, xyChart } from "./svg-chart.js";

// The bench report as one self-contained HTML page, like the run report's: no network (a
// Content-Security-Policy of default-src 'none'), no script, CSS inline, charts as inline
// SVG from svg-chart.ts. Every string from the report is escaped with `h` where it lands;
// attributes carry only constants and numbers.

const h = (s: string | number): string => xmlText(String(s));

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d5d9e0;padding-bottom:4px}
.verdict{border-radius:8px;padding:12px 16px;color:#fff;margin:8px 0}.v-ok{background:#1f7a3a}.v-regression{background:#b3261e}
.env{font-size:12px;color:#4b5563}
table{border-collapse:collapse;background:#fff;margin:6px 0}
th,td{border:1px solid #d5d9e0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef0f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
.regression{color:#b3261e;font-weight:700}.improvement{color:#1f7a3a;font-weight:600}.unchanged{color:#6b7280}
figure{margin:8px 0;background:#fff;border:1px solid #d5d9e0;border-radius:6px;padding:8px;display:inline-block}
figcaption{font-weight:600;margin-bottom:4px}
.note{font-size:13px;color:#4b5563}
`;

const num = (v: string) => `<td class="num">${h(v)}</td>`;
const td = (v: string) => `<td>${h(v)}</td>`;
const table = (head: string[], rows: string[][]) =>
  `<table><thead><tr>${head.map((x) => `<th>${h(x)}</th>`).join("")}</tr></thead><tbody>\n${rows.map((r) => `<tr>${r.join("")}</tr>`).join("\n")}\n</tbody></table>`;
const figure = (caption: string, svg: string, series?: string[]) =>
  `<figure><figcaption>${h(caption)}</figcaption>${series ? chartLegend(series) : ""}${svg}</figure>`;
const section = (id: string, title: string, body: string) =>
  `<section id="${id}">\n<h2>${h(title)}</h2>\n${body}\n</section>`;

/** p50 and p99 of each task, grouped by statistic, one bar (colour) per subject. */
function latencyChart(tasks: BenchTask[], ariaLabel: string): string {
  const groups = (["p50", "p99"] as const).map((stat) => ({
    label: stat,
    bars: tasks.map((t) => ({
      series: t.subject,
      value: t.latency[stat],
      title: `${t.subject} ${stat}: ${fmtMs(t.latency[stat])} ms`,
    })),
  }));
  return barChart({ groups, series: tasks.map((t) => t.subject), unit: "ms", ariaLabel, log: true });
}

function subjectsSection(r: BenchReport): string {
  const rows = r.subjects.map((s) => {
    const hello = s.hello
      ? `${s.hello.name} (durability ${s.hello.durability}; features ${s.hello.features.join(", ") || "none"})`
      : "—";
    return [td(s.id), td(s.label), td(s.description), td(hello)];
  });
  const walFs = (r.environment as { walFsType?: unknown }).walFsType;
  const env = `<p class="env">${environmentParts(r.environment).map(h).join(" · ")}${typeof walFs === "string" ? ` · WAL directories on ${h(walFs)}` : ""} · seed ${h(r.config.seed)}</p>`;
  return section("subjects", "Subjects", `${table(["id", "subject", "what", "hello"], rows)}\n${env}`);
}

function appendSection(r: BenchReport): string {
  const rows = appendRows(r);
  if (rows.length === 0) return "";
  const subjects = r.subjects.map((s) => s.id).filter((id) => rows.some((x) => x.bySubject.has(id)));
  const groups = rows.map((x) => ({
    label: `b${x.batch} c${x.concurrency}`,
    bars: subjects.flatMap((s) => {
      const t = x.bySubject.get(s);
      return t
        ? [
            {
              series: s,
              value: t.opsPerSec,
              title: `${s}, batch ${x.batch}, ${x.concurrency} in flight: ${fmtOps(t.opsPerSec)} appends/s`,
            },
          ]
        : [];
    }),
  }));
  const chart = figure(
    "Append throughput by batch size (b) and appends in flight (c)",
    barChart({
      groups,
      series: subjects,
      unit: "appends/s",
      ariaLabel: "appends per second by batch size and concurrency, per subject",
      log: true,
    }),
    subjects,
  );
  // Latency at the first row of the grid (batch 1, one in flight by default), per subject.
  const first = rows[0]!;
  const firstSubjects = subjects.filter((s) => first.bySubject.has(s));
  const latency = figure(
    `Append latency per iteration, batch ${first.batch}, ${first.concurrency} in flight`,
    latencyChart(
      firstSubjects.map((s) => first.bySubject.get(s)!),
      "append latency p50 and p99 per subject",
    ),
    firstSubjects,
  );
  const cell = (t: BenchTask | undefined) =>
    num(t ? `${fmtOps(t.opsPerSec)} (${fmtMs(t.latency.p50)} / ${fmtMs(t.latency.p99)} ms)` : "—");
  const grid = table(
    ["batch", "in flight", ...subjects],
    rows.map((x) => [
      num(String(x.batch)),
      num(String(x.concurrency)),
      ...subjects.map((s) => cell(x.bySubject.get(s))),
    ]),
  );
  return section(
    "append",
    "Append",
    `${chart}\n${latency}\n<p class="note">appends/s (p50 / p99 ms per iteration); an iteration is c appends in flight at once.</p>\n${grid}`,
  );
}

function checkpointSection(r: BenchReport): string {
  const tasks = suiteTasks(r, "checkpoint");
  if (tasks.length === 0) return "";
  const chart = figure(
    "Truncate checkpoint latency",
    latencyChart(tasks, "checkpoint latency p50 and p99 per subject"),
    tasks.map((t) => t.subject),
  );
  const rows = tasks.map((t) => {
    const own = reportedP50(t, "adapterCheckpointMs");
    return [
      td(t.subject),
      num(fmtOps(t.opsPerSec)),
      num(fmtMs(t.latency.p50)),
      num(fmtMs(t.latency.p99)),
      num(fmtRme(t.latency.rme)),
      num(own === undefined ? "—" : fmtMs(own)),
    ];
  });
  return section(
    "checkpoint",
    `Checkpoint: truncate after ${r.config.checkpointAppends} appends, ${r.config.stateKeys}-key state`,
    `${chart}\n${table(["subject", "checkpoints/s", "p50 ms", "p99 ms", "rme %", "the WAL's own p50 ms"], rows)}`,
  );
}

function recoverySection(r: BenchReport): string {
  const tasks = suiteTasks(r, "recovery");
  if (tasks.length === 0) return "";
  const subjects = [...new Set(tasks.map((t) => t.subject))];
  const series = subjects.map((s) => ({
    name: s,
    points: tasks
      .filter((t) => t.subject === s)
      .map((t) => ({
        x: t.params.batches ?? 0,
        y: t.latency.p50,
        title: `${s}: ${t.params.batches} batches, open p50 ${fmtMs(t.latency.p50)} ms`,
      })),
  }));
  const chart = figure(
    "Recovery: open p50 after a crash, by WAL size",
    xyChart({
      series,
      xLabel: "WAL size (acknowledged batches)",
      yLabel: "open p50 (ms)",
      ariaLabel: "recovery time by WAL size, per subject",
      lines: true,
    }),
    subjects,
  );
  const rows = tasks.map((t) => {
    const bytes = extraNumber(t, "walBytes");
    const own = reportedP50(t, "adapterRecoveryMs");
    return [
      td(t.subject),
      num(String(t.params.batches ?? "?")),
      num(bytes === undefined ? "—" : fmtBytes(bytes)),
      num(fmtMs(t.latency.p50)),
      num(fmtMs(t.latency.p99)),
      num(fmtRme(t.latency.rme)),
      num(own === undefined ? "—" : fmtMs(own)),
    ];
  });
  return section(
    "recovery",
    "Recovery",
    `${chart}\n${table(["subject", "batches", "WAL bytes", "open p50 ms", "p99 ms", "rme %", "reported recovery p50 ms"], rows)}`,
  );
}

function powerSection(r: BenchReport): string {
  const rows = powerRows(r);
  if (rows.length === 0) return "";
  const subjects = [...new Set(rows.map((x) => x.task.subject))];
  const groups = [0, 1]
    .filter((fresh) => rows.some((x) => (x.task.params.fresh ?? 0) === fresh))
    .map((fresh) => ({
      label: fresh ? "a process per state" : "recover op",
      bars: rows
        .filter((x) => (x.task.params.fresh ?? 0) === fresh)
        .map((x) => ({
          series: x.task.subject,
          value: x.task.opsPerSec,
          title: `${x.task.subject}, ${x.mode}: ${fmtOps(x.task.opsPerSec)} states/s`,
        })),
    }));
  const chart = figure(
    "Power-loss states checked per second",
    barChart({
      groups,
      series: subjects,
      unit: "states/s",
      ariaLabel: "power-loss states checked per second, per recovery mode and subject",
    }),
    subjects,
  );
  const table_ = table(
    ["subject", "recovered by", "states", "directories", "states/s", "s per life", "rme %"],
    rows.map((x) => [
      td(x.task.subject),
      td(x.mode),
      num(String(x.states ?? "—")),
      num(String(x.directories ?? "—")),
      num(fmtOps(x.task.opsPerSec)),
      num(x.secondsPerLife.toFixed(2)),
      num(fmtRme(x.task.latency.rme)),
    ]),
  );
  return section(
    "power",
    `Power loss: every crash state of a ${r.config.powerSteps ?? "?"}-step life`,
    `${chart}\n${table_}`,
  );
}

function crashSection(r: BenchReport): string {
  if (!r.crash) return "";
  const rows = crashRows(r);
  const campaigns =
    rows.length > 0
      ? table(
          CRASH_HEAD,
          rows.map((x) => [td(x.subject), ...x.cells.map((c, i) => (i === 0 ? td(c) : num(c)))]),
        )
      : `<p class="note">${h("no adapter process to crash (see the notes)")}</p>`;
  const cost = protocolCostText(r);
  const costBody = cost
    ? `<p><strong>${h(cost)}</strong></p>\n${table(
        PROTOCOL_COST_HEAD,
        protocolCostRows(r).map(([label = "", ...rest]) => [td(label), ...rest.map(num)]),
      )}`
    : "";
  return section(
    "crash",
    `Crash cycles: walcheck run over the crash-* scenarios, ${r.config.crashRuns ?? "?"} case(s) each`,
    [campaigns, costBody].filter(Boolean).join("\n"),
  );
}

function ratioSection(r: BenchReport): string {
  if (r.ratios.length === 0) return "";
  const rows = r.ratios.map((x) => [
    td(ratioText(x)),
    num(fmtRatio(x.ratio)),
    td(`${fmtOps(x.numeratorOpsPerSec)} (${x.numerator})`),
    td(`${fmtOps(x.denominatorOpsPerSec)} (${x.denominator})`),
  ]);
  return section("ratios", "Ratios (append ops/s)", table(["ratio", "value", "of", "over"], rows));
}

const VERDICT_CLASS: Record<BenchDelta["verdict"], string> = {
  regression: "regression",
  improvement: "improvement",
  unchanged: "unchanged",
};

function comparisonSection(r: BenchReport): string {
  const c = r.comparison;
  if (!c) return "";
  const deltas = [...c.regressions, ...c.improvements, ...c.unchanged];
  const rows = deltas.map((d) => [
    td(d.id),
    num(`${fmtMs(d.baseline.mean)} ${fmtRme(d.baseline.rme)}%`),
    num(`${fmtMs(d.current.mean)} ${fmtRme(d.current.rme)}%`),
    num(fmtChange(d.changePercent)),
    num(fmtMs(d.marginMs)),
    `<td class="${VERDICT_CLASS[d.verdict]}">${h(d.verdict)}</td>`,
  ]);
  const extra = [
    ...c.missing.map((m) => `only in the ${m.onlyIn === "baseline" ? "baseline" : "current run"}: ${m.id}`),
    ...c.environmentDifferences.map((e) => `environments differ: ${e}`),
  ];
  const list = extra.length > 0 ? `<ul>${extra.map((x) => `<li>${h(x)}</li>`).join("")}</ul>` : "";
  return section(
    "comparison",
    `Compared with ${c.baseline} (mean latency, threshold ${c.thresholdPercent}%)`,
    `${table(["task", "baseline mean ms", "current mean ms", "change", "margin ms", "verdict"], rows)}\n${list}`,
  );
}

function tasksSection(r: BenchReport): string {
  const rows = r.tasks.map((t) => {
    const l = t.latency;
    return [
      td(t.id),
      num(fmtOps(t.opsPerSec)),
      num(fmtMs(l.mean)),
      num(fmtMs(l.p50)),
      num(fmtMs(l.p75)),
      num(fmtMs(l.p99)),
      num(fmtMs(l.p999)),
      num(fmtRme(l.rme)),
      num(String(l.samplesCount)),
    ];
  });
  return section(
    "tasks",
    "All tasks",
    table(["task", "ops/s", "mean ms", "p50", "p75", "p99", "p999", "rme %", "samples"], rows),
  );
}

function notesSection(r: BenchReport): string {
  const skipped = r.skipped.map((s) => `${s.subject} ${s.suite} skipped: ${s.reason}`);
  return section(
    "notes",
    "How it was measured",
    `<ul>${[...skipped, ...r.notes].map((n) => `<li>${h(n)}</li>`).join("")}</ul>`,
  );
}

/** bench.html: one self-contained page; every string from the report is escaped where it lands. */
export function renderBenchHtml(report: BenchReport): string {
  const title = `walcheck bench: ${headline(report)}`;
  const c = report.comparison;
  const verdict = c
    ? `<div class="verdict ${c.regressions.length > 0 ? "v-regression" : "v-ok"}">${h(comparisonVerdict(c))}</div>`
    : "";
  const sections = [
    subjectsSection(report),
    comparisonSection(report),
    appendSection(report),
    checkpointSection(report),
    recoverySection(report),
    powerSection(report),
    crashSection(report),
    ratioSection(report),
    tasksSection(report),
    notesSection(report),
  ];
  return htmlPage({
    title,
    css: `${CSS}${CHART_CSS}`,
    body: [`<h1>${h(title)}</h1>`, verdict, ...sections].filter(Boolean).join("\n"),
  });
}
