import { xmlText } from "./escape.js";
import { htmlPage } from "./html-page.js";
import { barChart, byteLabel, shortNumber, CHART_CSS, chartLegend, fitText, xyChart } from "./svg-chart.js";
import { coverageLines, diffLines, formatDuration, replayCommand } from "./markdown.js";
import { attributionHtml, TRACE_DIAGRAM_CSS } from "./trace-diagram.js";
import {
  environmentParts,
  type Environment,
  type ErrorCase,
  type FailedCase,
  type RunReport,
  type ScenarioReport,
} from "./report-schema.js";
import {
  cellText,
  SWEEP_FAULT_COLUMNS,
  SWEEP_OUTCOME_ORDER,
  SWEEP_OUTCOME_TEXT,
  sweepRows,
  sweepsOf,
  sweepSummary,
  worstOutcome,
} from "./sweep-view.js";

// The run report as one self-contained HTML page: no network at all (a Content-Security-Policy
// of default-src 'none' says so to the browser too), CSS in a <style>, no script, charts as
// inline SVG drawn here (a chart library would be a dependency and a script for a few bars).
// Every string from the report is escaped with `h` where it lands, SVG text included; no
// report string ever goes into an attribute, a URL or a script. Attributes carry only
// constants and numbers this file computes.
// Each chart is an <svg role="img"> and each of its data marks carries its value in data-value
// (as svg-chart.ts's marks do): test/reports/browser.test.ts finds a chart's data by them.

const LATENCY_OPS = ["append", "recovery", "truncate"] as const;
const STATS = ["p50", "p95", "p99", "max"] as const;

/** HTML text: & < > " ' as entities; controls HTML forbids become U+FFFD. */
export const h = (s: string | number): string => xmlText(String(s));

/** A number for an SVG attribute: finite, at most two decimals. */
const n = (x: number): string => (Number.isFinite(x) ? String(Math.round(x * 100) / 100) : "0");

/** A latency value for a label. */
const msLabel = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

const plural = (k: number, one: string, many = `${one}s`) => `${k} ${k === 1 ? one : many}`;

const VERDICT_CLASS: Record<RunReport["status"], string> = {
  passed: "passed",
  failed: "failed",
  error: "error",
  interrupted: "interrupted",
  running: "running",
};
const STATUS_CLASSES = new Set([
  "passed",
  "failed",
  "error",
  "skipped",
  "interrupted",
  "running",
  "pending",
  "not-run",
]);
/** A class for a status: only ever one of the schema's constants. */
const statusClass = (s: string) => (STATUS_CLASSES.has(s) ? `st-${s}` : "st-unknown");

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d5d9e0;padding-bottom:4px} h3{font-size:15px;margin:16px 0 6px}
.verdict{border-radius:8px;padding:14px 18px;color:#fff}
.verdict .big{font-size:26px;font-weight:700;letter-spacing:.04em}
.v-passed{background:#1f7a3a}.v-failed{background:#b3261e}.v-error{background:#a15c00}.v-interrupted{background:#55606e}.v-running{background:#2d5fa8}
.facts{display:flex;flex-wrap:wrap;gap:4px 18px;margin-top:6px}
.env{font-size:12px;opacity:.9;margin-top:6px}
table{border-collapse:collapse;background:#fff;margin:6px 0;min-width:50%}
th,td{border:1px solid #d5d9e0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef0f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
.st-passed{color:#1f7a3a;font-weight:600}.st-failed{color:#b3261e;font-weight:700}.st-error{color:#a15c00;font-weight:700}
.st-skipped,.st-not-run,.st-pending{color:#6b7280}.st-interrupted{color:#55606e;font-weight:600}.st-running{color:#2d5fa8}.st-unknown{color:#000}
.note{font-size:13px;color:#4b5563;background:#fff8db;border-left:3px solid #e0b400;padding:6px 10px;margin:8px 0}
.charts{display:flex;flex-wrap:wrap;gap:16px}
figure{margin:0;background:#fff;border:1px solid #d5d9e0;border-radius:6px;padding:8px}
figcaption{font-weight:600;margin-bottom:4px}
svg text{font:11px system-ui,sans-serif;fill:#1d2330}
.b-p50{fill:#8fb8e8}.b-p95{fill:#4d8fd6}.b-p99{fill:#2762a8}.b-max{fill:#173d6b}
rect.over-target{stroke:#e0a000;stroke-width:2}rect.over-critical{stroke:#b3261e;stroke-width:3}
line.target{stroke:#e0a000;stroke-dasharray:5 3;stroke-width:1.5}line.critical{stroke:#b3261e;stroke-dasharray:2 2;stroke-width:1.5}
line.axis{stroke:#9aa3af}
.b-named{fill:#6a4fb3}.b-fs{fill:#2a8a7a}.b-signal{fill:#b05a2a}.b-arms{fill:#9aa3af}
ol.timeline{list-style:none;counter-reset:step;padding-left:0;border-left:3px solid #b3261e;margin-left:10px}
ol.timeline>li{counter-increment:step;position:relative;padding:4px 0 10px 22px}
ol.timeline>li::before{content:counter(step);position:absolute;left:-13px;top:3px;width:22px;height:22px;border-radius:11px;background:#b3261e;color:#fff;font-size:12px;text-align:center;line-height:22px}
.label{font-weight:600;display:block}
pre,code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-all}
pre{background:#1d2330;color:#f0f2f5;padding:8px 10px;border-radius:4px;margin:4px 0}
.violation{background:#fff;border:1px solid #e3c2bf;border-radius:6px;padding:8px 14px;margin:12px 0}
.panels{display:flex;gap:6px;flex-wrap:wrap}.op-panel{display:inline-block}.small{font-size:11px;color:#6b7280;max-width:140px}
.legend span{display:inline-block;margin-right:12px;font-size:12px}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}
.sweep-intact{background:#d7f0dc}.sweep-refused{background:#d6e4f7}.sweep-changed{background:#fde2bf}.sweep-missing{background:#f6c9c5;font-weight:600}.sweep-none{color:#9aa3af}
table.sweep td{font-size:12.5px}.sweep-legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12.5px}
.sweep-key{display:inline-block;padding:0 6px;border-radius:3px}
`;

function environmentLine(e: Environment): string {
  return environmentParts(e).map(h).join(" · ");
}

function verdict(r: RunReport): string {
  const c = r.cases;
  const hello = r.hello
    ? `${h(r.hello.name)} (durability ${h(r.hello.durability)}, features ${h(r.hello.features.join(", ") || "none")})`
    : "(no hello)";
  const notes = [
    r.status === "running"
      ? `<p class="note">This report was written while the run was going: the numbers are partial.</p>`
      : "",
    r.status === "interrupted"
      ? `<p class="note">The run was interrupted: the numbers are those of the cases that finished.</p>`
      : "",
    ...(r.merged?.notes ?? []).map((n) => `<p class="note">Merged: ${h(n)}</p>`),
  ].join("");
  return `<section id="verdict">
<h2>Verdict</h2>
<div class="verdict v-${VERDICT_CLASS[r.status]}">
<div class="big">${h(r.status.toUpperCase())}</div>
<div class="facts"><span>seed ${h(r.seed)}</span><span>cases ${h(c.run)}/${h(c.planned)} (${h(c.passed)} passed, ${h(c.failed)} failed, ${h(plural(c.errors, "error"))})</span><span>${h(plural(r.cycles, "crash cycle"))}</span><span>elapsed ${h(formatDuration(r.elapsedMs))}</span></div>
<div class="facts"><span>adapter: ${h(r.adapter)}</span><span>hello: ${hello}</span><span>crash kinds: ${h(r.crash.join(", ") || "none")}</span><span>shard ${h(r.shard)}</span></div>
<div class="env">${environmentLine(r.environment)}</div>
</div>${notes}
</section>`;
}

function scenarioTable(r: RunReport): string {
  const rows = r.scenarios.map((s) => {
    const c = s.cases;
    const skipped = s.status === "skipped";
    const cases = skipped
      ? "—"
      : `${c.run}/${c.planned}${c.failed ? `, ${c.failed} failed` : ""}${c.errors ? `, ${plural(c.errors, "error")}` : ""}`;
    const f = s.faults;
    const faults = f.lives > 0 ? `${f.lives} lives; refused ${f.refusedOpens} opens, ${f.refusedAppends} appends` : "—";
    return `<tr class="scenario-row"><td>${h(s.name)}</td><td class="${statusClass(s.status)}">${h(s.status)}</td><td class="num">${h(cases)}</td><td class="num">${skipped ? "—" : h(s.cycles)}</td><td>${h(faults)}</td><td>${s.reason !== undefined ? h(s.reason) : skipped ? "(no reason given)" : ""}</td></tr>`;
  });
  return `<section id="scenarios">
<h2>Scenarios</h2>
<table class="scenarios"><thead><tr><th>scenario</th><th>status</th><th>cases</th><th>crash cycles</th><th>faults</th><th>skipped reason</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody></table>
</section>`;
}

/** The power-loss verdict per persistence model (report.persistence). */
function persistenceSection(r: RunReport): string {
  const p = r.persistence;
  if (!p) return "";
  const rows = p.results.map(
    (x) =>
      `<tr><td>${h(x.model)}</td><td class="${statusClass(x.status)}">${h(x.status)}</td><td class="num">${h(x.statesChecked)}</td><td class="num">${h(x.directoriesRecovered)}</td><td class="num">${h(x.lostAcked.states > 0 ? `${x.lostAcked.batches} (${x.lostAcked.states})` : "0")}</td><td class="num">${h(formatDuration(x.elapsedMs))}</td><td>${x.failure ? h(`${x.failure.invariant}: ${x.failure.message}`) : "—"}</td></tr>`,
  );
  return `
<section id="persistence">
<h2>Power loss per persistence model</h2>
<p>Assumed model: ${h(p.assumed)} (from ${h(p.source)}); weakest model passed: ${h(p.weakestPassing ?? "none")}.</p>
<table class="scenarios"><thead><tr><th>model</th><th>verdict</th><th>states</th><th>directories</th><th>acked batches lost (states)</th><th>time</th><th>failure</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody></table>
</section>`;
}

/** The corruption sweep's matrix: file and region by fault kind, each cell coloured by its worst outcome. */
function sweepSection(r: RunReport): string {
  return sweepsOf(r)
    .map(({ scenario, sweep }) => {
      const rows = sweepRows(scenario, sweep).map(
        (row) =>
          `<tr><td>${h(row.ending)}</td><td><code>${h(row.file)}</code></td><td>${h(row.region)}</td>${row.cells
            .map((c) =>
              c
                ? `<td class="sweep-${worstOutcome(c)}" data-value="${worstOutcome(c)}">${h(cellText(c))}</td>`
                : `<td class="sweep-none">—</td>`,
            )
            .join("")}<td class="num${row.violations > 0 ? " st-failed" : ""}">${h(row.violations)}</td></tr>`,
      );
      const legend = SWEEP_OUTCOME_ORDER.map(
        (o) => `<li><span class="sweep-key sweep-${o}">${h(o)}</span> ${h(SWEEP_OUTCOME_TEXT[o])}</li>`,
      ).join("");
      const skipped = sweep.skipped.map((x) => `<li>${h(x.fault)} not swept: ${h(x.reason)}</li>`).join("");
      return `
<section id="corruption-sweep">
<h2>Corruption sweep (${h(scenario)})</h2>
<ul class="sweep-legend">${legend}</ul>
<table class="scenarios sweep"><thead><tr><th>ending</th><th>file</th><th>region</th>${SWEEP_FAULT_COLUMNS.map((f) => `<th>${h(f)}</th>`).join("")}<th>violations</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody></table>
<p>${h(sweepSummary(sweep))}</p>${skipped ? `<ul>${skipped}</ul>` : ""}
</section>`;
    })
    .join("");
}

/** The target and critical levels a scenario's thresholds give each op. */
function levels(s: ScenarioReport): Map<string, { target: number; critical: number }> {
  const out = new Map<string, { target: number; critical: number }>();
  for (const t of s.thresholds) out.set(t.op, { target: t.targetMs, critical: t.criticalMs });
  return out;
}

const CHART_H = 160;
const TOP = 16;
const BOTTOM = 34;
const LEFT = 44;

/**
 * One small bar chart per op (p50/p95/p99/max), each on its own scale (append and recovery
 * times differ by orders of magnitude), with the scenario's target and critical levels as
 * lines. A level far above the data (over 3× its max) would flatten the bars: it is named
 * under the chart instead of drawn.
 */
function opPanel(
  s: ScenarioReport,
  index: number,
  op: (typeof LATENCY_OPS)[number],
  level: { target: number; critical: number } | undefined,
  marks: string[],
): string {
  const stats = s.latency[op]!;
  const dataTop = Math.max(...STATS.map((st) => stats[st]));
  const shown = (v: number) => v <= Math.max(dataTop * 3, 1e-9);
  let top = dataTop;
  if (level) for (const v of [level.target, level.critical]) if (shown(v)) top = Math.max(top, v);
  const scale = top > 0 ? top * 1.1 : 1;
  const bw = 18;
  const gap = 5;
  const width = LEFT + STATS.length * (bw + gap) + 12;
  const height = CHART_H + TOP + BOTTOM;
  const y = (v: number) => TOP + CHART_H - (v / scale) * CHART_H;
  const parts: string[] = [];
  parts.push(`<line class="axis" x1="${LEFT}" y1="${TOP + CHART_H}" x2="${width - 4}" y2="${TOP + CHART_H}"/>`);
  parts.push(`<line class="axis" x1="${LEFT}" y1="${TOP}" x2="${LEFT}" y2="${TOP + CHART_H}"/>`);
  parts.push(
    `<text x="${LEFT - 4}" y="${TOP + 4}" text-anchor="end">${h(msLabel(scale))}</text><text x="${LEFT - 4}" y="${TOP + CHART_H}" text-anchor="end">0</text>`,
  );
  STATS.forEach((st, i) => {
    const v = stats[st];
    const over = level && v > level.critical ? " over-critical" : level && v > level.target ? " over-target" : "";
    if (over)
      marks.push(`${op} ${st} ${msLabel(v)} ms is over the ${over.includes("critical") ? "critical" : "target"} level`);
    const x = LEFT + 8 + i * (bw + gap);
    parts.push(
      `<rect class="bar b-${st}${over}" data-scenario="${index}" data-op="${op}" data-stat="${st}" x="${n(x)}" y="${n(y(v))}" width="${bw}" height="${n((v / scale) * CHART_H)}" data-value="${n(v)}"><title>${h(`${op} ${st}: ${msLabel(v)} ms (n=${stats.n})`)}</title></rect>`,
    );
    parts.push(`<text x="${n(x + bw / 2)}" y="${TOP + CHART_H + 12}" text-anchor="middle">${st}</text>`);
  });
  parts.push(`<text x="${n((LEFT + width) / 2)}" y="${TOP + CHART_H + 26}" text-anchor="middle">${op} (ms)</text>`);
  const offScale: string[] = [];
  if (level) {
    for (const [cls, v] of [
      ["target", level.target],
      ["critical", level.critical],
    ] as const) {
      if (!shown(v)) {
        offScale.push(`${cls} ${msLabel(v)} ms`);
        continue;
      }
      parts.push(
        `<line class="${cls}" data-op="${op}" x1="${LEFT}" x2="${width - 4}" y1="${n(y(v))}" y2="${n(y(v))}"><title>${h(`${op} p95 ${cls} ${msLabel(v)} ms`)}</title></line>`,
      );
    }
  }
  const svg = `<svg role="img" width="${n(width)}" height="${height}" viewBox="0 0 ${n(width)} ${height}">${parts.join("")}</svg>`;
  return `<div class="op-panel">${svg}${offScale.length > 0 ? `<div class="small">${h(offScale.join(", "))}: far above, not drawn</div>` : ""}</div>`;
}

/** How an op's samples spread: how many fell in each bin of doubling width (a log-scale x axis). */
function histogramPanel(s: ScenarioReport, op: string): string {
  const hist = s.histograms?.[op];
  if (!hist || hist.counts.length === 0) return "";
  const groups = hist.counts.map((count, i) => ({
    label: shortNumber(hist.edgesMs[i]!),
    bars: [
      {
        series: op,
        value: count,
        title: `${op}: ${count} samples in ${msLabel(hist.edgesMs[i]!)}–${msLabel(hist.edgesMs[i + 1]!)} ms`,
      },
    ],
  }));
  return `<div class="op-panel histogram" data-op="${LATENCY_OPS.find((o) => o === op) ?? "op"}">${barChart({ groups, series: [op], unit: `${op} (ms): samples`, ariaLabel: `${op} latency histogram`, height: 170 })}</div>`;
}

/** A scenario's latency: a panel per op with samples, its numbers, its threshold verdicts. */
function latencyChart(s: ScenarioReport, index: number): string | undefined {
  const ops = LATENCY_OPS.filter((op) => (s.latency[op]?.n ?? 0) > 0);
  if (ops.length === 0) return undefined;
  const lv = levels(s);
  const marks: string[] = [];
  const panels = ops.map((op) => opPanel(s, index, op, lv.get(op), marks));
  const histograms = ops.map((op) => histogramPanel(s, op)).filter(Boolean);
  const table = ops
    .map((op) => {
      const st = s.latency[op]!;
      return `<tr><td>${op}</td><td class="num">${st.n}</td>${STATS.map((k) => `<td class="num">${h(msLabel(st[k]))}</td>`).join("")}</tr>`;
    })
    .join("");
  const verdicts = s.thresholds.map(
    (t) =>
      `<li class="${t.status === "ok" ? "st-passed" : t.status === "warning" ? "st-error" : "st-failed"}">${h(`${t.op} p95 ${msLabel(t.valueMs)} ms (target ${msLabel(t.targetMs)}, critical ${msLabel(t.criticalMs)}): ${t.status}${"reason" in t && t.reason ? ` (${t.reason})` : ""}`)}</li>`,
  );
  return `<figure class="latency-chart">
<figcaption>${h(s.name)}</figcaption>
<div class="panels">${panels.join("")}</div>
${histograms.length > 0 ? `<div class="panels histograms">${histograms.join("")}</div>` : ""}
<table><thead><tr><th>op</th><th>n</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th></tr></thead><tbody>${table}</tbody></table>
${verdicts.length > 0 ? `<ul>${verdicts.join("")}</ul>` : ""}${marks.length > 0 ? `<p class="note">${marks.map(h).join("; ")}</p>` : ""}
</figure>`;
}

const legend = (items: [string, string][]) =>
  `<p class="legend">${items.map(([cls, label]) => `<span><svg width="10" height="10" class="sw"><rect class="${cls}" width="10" height="10"/></svg>${label}</span>`).join("")}</p>`;

function latencySection(r: RunReport): string {
  const charts = r.scenarios.map((s, i) => latencyChart(s, i)).filter((c): c is string => c !== undefined);
  const crossed = [
    ...r.latencyFailures.map((f) => `<li class="st-failed">over a critical level (fails the run): ${h(f)}</li>`),
    ...r.latencyWarnings.map((w) => `<li class="st-error">warning: ${h(w)}</li>`),
    ...r.latencyObserved.map((o) => `<li>observed (reported, never failing): ${h(o)}</li>`),
  ];
  return `<section id="latency">
<h2>Latency</h2>
${legend([
  ["b-p50", "p50"],
  ["b-p95", "p95"],
  ["b-p99", "p99"],
  ["b-max", "max"],
])}
<p class="legend"><span>dashed amber line: target (p95)</span><span>dotted red line: critical (p95)</span><span>amber / red outline: over target / over critical</span></p>
${charts.length > 0 ? `<div class="charts">${charts.join("\n")}</div>` : `<p>No scenario recorded latency samples.</p>`}
${crossed.length > 0 ? `<h3>Latency levels crossed</h3><ul>${crossed.join("")}</ul>` : ""}
</section>`;
}

/** Recovery time against the WAL size it started from: a scatter per scenario, size buckets, the linear fit. */
function recoveryBySizePart(r: RunReport): string {
  const all = r.recoveryBySize;
  if (!all)
    return `<p class="note">This report was written by a walcheck that did not record WAL sizes, so recovery time against WAL size cannot be drawn.</p>`;
  if (all.n === 0) return `<p>No recovery was measured against a WAL size.</p>`;
  const series = r.scenarios
    .filter((s) => (s.recoveryBySize?.points.length ?? 0) > 0)
    .map((s) => ({
      name: s.name,
      points: s.recoveryBySize!.points.map((p) => ({
        x: p.walBytes,
        y: p.ms,
        title: `${s.name}: ${byteLabel(p.walBytes)}, ${msLabel(p.ms)} ms`,
      })),
    }));
  const shown = series.reduce((a, s) => a + s.points.length, 0);
  const fit = all.fit
    ? `Least-squares fit over all ${all.n}: ${h(fitText(all))}.`
    : `Too few recoveries, or all at one size, for a fit.`;
  const rows = all.buckets.map(
    (b) =>
      `<tr><td>${h(byteLabel(b.fromBytes))} – ${h(byteLabel(b.toBytes))}</td><td class="num">${b.n}</td><td class="num">${h(msLabel(b.p50))}</td><td class="num">${h(msLabel(b.p95))}</td><td class="num">${h(msLabel(b.max))}</td></tr>`,
  );
  return `<h3>Against WAL size</h3>
<p>${h(plural(all.n, "recovery", "recoveries"))} with the bytes of the WAL directory each started from${shown < all.n ? ` (${shown} drawn: spread over the sizes, and the slowest)` : ""}. ${fit}</p>
${chartLegend(series.map((s) => s.name))}
<figure class="recovery-size-chart">${xyChart({ series, xLabel: "WAL directory size before recovery", yLabel: "recovery (ms)", ariaLabel: "recovery time against WAL size", xBytes: true, width: 620 })}</figure>
<table class="recovery-buckets"><thead><tr><th>WAL size</th><th>recoveries</th><th>p50 ms</th><th>p95 ms</th><th>max ms</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function recoverySection(r: RunReport): string {
  const rows = r.scenarios.map((s, i) => ({ s, i, st: s.latency.recovery })).filter((x) => x.st && x.st.n > 0);
  const bySize = recoveryBySizePart(r);
  const total = `<p>Whole run: ${h(plural(r.recoveryMs.n, "recovery", "recoveries"))}, p50 ${h(msLabel(r.recoveryMs.p50))} ms, p95 ${h(msLabel(r.recoveryMs.p95))} ms, max ${h(msLabel(r.recoveryMs.max))} ms.</p>`;
  if (rows.length === 0)
    return `<section id="recovery">\n<h2>Recovery time</h2>\n${total}<p>No scenario recorded recovery times.</p>\n${bySize}\n</section>`;
  const stats = ["p50", "p95", "max"] as const;
  const labelW = 170;
  const barH = 9;
  const rowH = stats.length * (barH + 2) + 10;
  const plotW = 420;
  const top = Math.max(...rows.flatMap((x) => stats.map((k) => x.st![k])));
  const scale = top > 0 ? top * 1.05 : 1;
  const height = rows.length * rowH + 24;
  const width = labelW + plotW + 70;
  const parts: string[] = [];
  rows.forEach(({ s, i, st }, ri) => {
    const y0 = 6 + ri * rowH;
    const name = s.name.length > 26 ? `${s.name.slice(0, 25)}…` : s.name;
    parts.push(
      `<text x="${labelW - 6}" y="${n(y0 + rowH / 2)}" text-anchor="end"><title>${h(s.name)}</title>${h(name)}</text>`,
    );
    stats.forEach((k, j) => {
      const v = st![k];
      const w = (v / scale) * plotW;
      const y = y0 + j * (barH + 2);
      parts.push(
        `<rect class="bar b-${k}" data-scenario="${i}" data-op="recovery" data-stat="${k}" x="${labelW}" y="${n(y)}" width="${n(w)}" height="${barH}" data-value="${n(v)}"><title>${h(`${s.name} recovery ${k}: ${msLabel(v)} ms`)}</title></rect>`,
      );
      parts.push(`<text x="${n(labelW + w + 4)}" y="${n(y + barH - 1)}">${k} ${h(msLabel(v))} ms</text>`);
    });
  });
  parts.push(`<line class="axis" x1="${labelW}" y1="2" x2="${labelW}" y2="${height - 20}"/>`);
  parts.push(
    `<text x="${labelW}" y="${height - 6}">0</text><text x="${labelW + plotW}" y="${height - 6}" text-anchor="end">${h(msLabel(scale))} ms</text>`,
  );
  return `<section id="recovery">
<h2>Recovery time</h2>
${total}
<h3>By scenario</h3>
${legend([
  ["b-p50", "p50"],
  ["b-p95", "p95"],
  ["b-max", "max"],
])}
<figure class="recovery-chart"><svg role="img" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join("")}</svg></figure>
${bySize}
</section>`;
}

/** Horizontal bars of labelled counts (crash points), scaled to the largest. */
function countBars(items: [string, number, string][]): string {
  if (items.length === 0) return "";
  const labelW = 230;
  const plotW = 320;
  const rowH = 16;
  const top = Math.max(1, ...items.map(([, v]) => v));
  const height = items.length * rowH + 6;
  const width = labelW + plotW + 50;
  const parts = items.map(([label, v, cls], i) => {
    const y = 3 + i * rowH;
    const w = (v / top) * plotW;
    const shown = label.length > 34 ? `${label.slice(0, 33)}…` : label;
    return `<text x="${labelW - 6}" y="${y + 11}" text-anchor="end"><title>${h(label)}</title>${h(shown)}</text><rect class="bar ${cls}" data-count="${v}" x="${labelW}" y="${y}" width="${n(w)}" height="${rowH - 4}" data-value="${v}"/><text x="${n(labelW + w + 4)}" y="${y + 11}">${v}</text>`;
  });
  return `<svg role="img" class="coverage-chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join("")}</svg>`;
}

const sortedEntries = (rec: Record<string, number>) =>
  Object.entries(rec).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));

function coverageSection(r: RunReport): string {
  const named = sortedEntries(r.crashes.named);
  const fsCalls = sortedEntries(r.crashes.fs);
  const bars: [string, number, string][] = [
    ...named.map(([k, v]): [string, number, string] => [`named: ${k}`, v, "b-named"]),
    ...fsCalls.map(([k, v]): [string, number, string] => [`fs call: ${k}`, v, "b-fs"]),
    ["SIGKILL", r.crashes.signal, "b-signal"],
    ["armed but not reached", r.armsNotReached, "b-arms"],
  ];
  const reach = coverageLines(r);
  const list = (rec: Record<string, number>) => {
    const e = sortedEntries(rec);
    return e.length === 0 ? "—" : e.map(([k, v]) => `${h(k)} ×${v}`).join("<br>");
  };
  const rows = r.scenarios.map(
    (s) =>
      `<tr><td>${h(s.name)}</td><td>${list(s.crashes.named)}</td><td>${list(s.crashes.fs)}</td><td class="num">${s.crashes.signal}</td><td class="num">${s.armsNotReached}</td></tr>`,
  );
  return `<section id="coverage">
<h2>Crash-point coverage</h2>
<p>${h(plural(named.length, "named crash point"))} hit, ${h(plural(fsCalls.length, "fs-call crash point"))}, ${h(plural(r.crashes.signal, "SIGKILL"))}, ${h(String(r.armsNotReached))} armed but not reached.</p>
${reach.map((line) => `<p class="reach">${h(line)}</p>`).join("\n")}
${legend([
  ["b-named", "named point"],
  ["b-fs", "fs call"],
  ["b-signal", "SIGKILL"],
  ["b-arms", "armed, not reached"],
])}
${countBars(bars)}
<table class="coverage"><thead><tr><th>scenario</th><th>named points hit</th><th>fs-call crashes</th><th>SIGKILLs</th><th>armed but not reached</th></tr></thead>
<tbody>
${rows.join("\n")}
<tr><th>all</th><td>${list(r.crashes.named)}</td><td>${list(r.crashes.fs)}</td><td class="num">${r.crashes.signal}</td><td class="num">${r.armsNotReached}</td></tr>
</tbody></table>
</section>`;
}

const step = (label: string, body: string) => `<li><span class="label">${label}</span>${body}</li>`;
const pre = (text: string) => `<pre>${h(text)}</pre>`;

function violation(r: RunReport, f: FailedCase, k: number): string {
  const v = f.violation;
  const message = v.message.startsWith(`${v.invariant}: `) ? v.message.slice(v.invariant.length + 2) : v.message;
  const { keys, ledger } = diffLines(v.description);
  return `<article class="violation">
<h3>${k}. ${h(f.scenario)} case ${f.index}: ${h(v.invariant)}</h3>
<p>case seed ${h(f.seed)}, shrunk ${h(plural(f.shrinks, "time"))}, ${h(plural(f.executions, "execution"))}</p>
<ol class="timeline">
${step("Input (shrunk): requests sent", pre(f.commands))}
${step("Crash", pre(v.crash ?? "none (clean run)"))}
${step("Recovery and check: the violation", `<p><strong>${h(v.invariant)}</strong>: ${h(message)}</p>${pre(v.description)}`)}
${v.attribution ? step("Power loss: the lost op and the missing barrier", attributionHtml(v.attribution)) : ""}
${step("What differed (keys)", keys.length > 0 ? `<ul>${keys.map((x) => `<li><code>${h(x)}</code></li>`).join("")}</ul>` : "<p>no key differences recorded</p>")}
${step("Ledger tail (requests and acks)", ledger.length > 0 ? `<ul>${ledger.map((x) => `<li><code>${h(x)}</code></li>`).join("")}</ul>` : "<p>no ledger lines recorded</p>")}
${step("Kept directory", `<code class="kept-dir">${h(f.keptDir)}</code>`)}
${step("Replay", `<pre class="replay">${h(replayCommand(r, f))}</pre>`)}
</ol>
</article>`;
}

const adapterError = (e: ErrorCase) =>
  `<li>${h(e.scenario)} case ${e.index} (case seed ${e.seed}): <code>${h(e.error.code)}</code>: ${h(e.error.message)}</li>`;

function violationsSection(r: RunReport): string {
  const errors =
    r.errors.length > 0
      ? `<h3>Adapter errors (${r.errors.length})</h3><ul>${r.errors.map(adapterError).join("")}</ul>`
      : "";
  const body =
    r.failures.length > 0 ? r.failures.map((f, i) => violation(r, f, i + 1)).join("\n") : "<p>No violations.</p>";
  return `<section id="violations">
<h2>Violations (${r.failures.length})</h2>
${body}
${errors}
</section>`;
}

/** The informational answer fields the adapter got wrong: tolerated, listed once each. */
function warningsSection(r: RunReport): string {
  const warnings = r.warnings ?? [];
  if (warnings.length === 0) return "";
  return `
<section id="protocol-warnings">
<h2>Protocol warnings</h2>
<p class="note">Informational fields the adapter got wrong: walcheck ignored them; the run is not affected.</p>
<ul>
${warnings.map((w) => `<li class="st-error">${h(w.message)} (${h(plural(w.count, "answer"))})</li>`).join("\n")}
</ul>
</section>`;
}

/** The whole report as one self-contained HTML page; every string from the report is escaped where it lands. */
export function renderHtml(report: RunReport): string {
  const title = `walcheck run: ${report.status.toUpperCase()} (seed ${report.seed})`;
  return htmlPage({
    title,
    css: `${CSS}${CHART_CSS}${TRACE_DIAGRAM_CSS}`,
    body: `<h1>${h(title)}</h1>
${verdict(report)}
${scenarioTable(report)}${persistenceSection(report)}${sweepSection(report)}
${latencySection(report)}
${recoverySection(report)}
${coverageSection(report)}${warningsSection(report)}
${violationsSection(report)}`,
  });
}
