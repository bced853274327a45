import { xmlAttr, xmlText } from "./escape.js";

// Two small chart kinds drawn as inline SVG, for the self-contained HTML pages (run report,
// bench report): grouped bars and an x/y scatter (optionally joined by lines). A chart
// library would bring a script (the pages have none, and their CSP forbids one) or a
// dependency for a few dozen shapes. Every label is escaped where it lands; attributes carry
// only numbers computed here and constant class names. Each data mark has class "mark" and
// a data-value, so a test (or a person with devtools) can check a chart holds its data.

export interface Bar {
  series: string;
  value: number;
  /** Hover text; defaults to "<group> <series>: <value> <unit>". */
  title?: string;
}
export interface BarGroup {
  label: string;
  bars: Bar[];
}
export interface XYPoint {
  x: number;
  y: number;
  title?: string;
}
export interface XYSeries {
  name: string;
  points: XYPoint[];
}

/** Series colours: s0..s7, in order of the `series` list (cycling after 8). */
export const CHART_CSS = `
svg.chart text{font:11px system-ui,sans-serif;fill:#1d2330}
svg.chart line.axis{stroke:#9aa3af} svg.chart line.grid{stroke:#e5e7eb}
svg.chart .s0{fill:#2762a8;stroke:#2762a8}svg.chart .s1{fill:#d9822b;stroke:#d9822b}svg.chart .s2{fill:#2a8a7a;stroke:#2a8a7a}svg.chart .s3{fill:#b3261e;stroke:#b3261e}
svg.chart .s4{fill:#6a4fb3;stroke:#6a4fb3}svg.chart .s5{fill:#7a7a2a;stroke:#7a7a2a}svg.chart .s6{fill:#c2569b;stroke:#c2569b}svg.chart .s7{fill:#55606e;stroke:#55606e}
svg.chart polyline{fill:none;stroke-width:1.5} svg.chart circle.mark{fill-opacity:.75;stroke-width:0}
.chart-legend span{display:inline-block;margin-right:12px;font-size:12px}
.chart-legend svg{vertical-align:middle;margin-right:4px}
`;

const h = (s: string | number): string => xmlText(String(s));
/** A number for an attribute: finite, at most two decimals. */
const n = (x: number): string => (Number.isFinite(x) ? String(Math.round(x * 100) / 100) : "0");
const seriesClass = (i: number) => `s${((i % 8) + 8) % 8}`;

/** A short label for a value: 3 significant figures, k/M suffixes for large ones. */
export function shortNumber(v: number): string {
  if (!Number.isFinite(v)) return "—";
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${(v / 1e3).toPrecision(3)}k`;
  if (Number.isInteger(v)) return String(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a === 0) return "0";
  return v.toPrecision(2);
}

/** "1.5 KiB", "12 MiB": byte counts for axes. */
export function byteLabel(b: number): string {
  const units = ["B", "KiB", "MiB", "GiB"];
  let v = b;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return `${u === 0 ? v.toFixed(0) : v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`;
}

/** A legend: a coloured square per series. */
export function chartLegend(series: readonly string[]): string {
  return `<p class="chart-legend">${series.map((s, i) => `<span><svg width="10" height="10" class="chart"><rect class="${seriesClass(i)}" width="10" height="10"/></svg>${h(s)}</span>`).join("")}</p>`;
}

/** "Nice" axis top: 1, 2 or 5 times a power of ten at or above v. */
function niceTop(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** A nice top for a byte axis: 1, 2 or 5 (times 10, 100) KiB, MiB, GiB... at or above v. */
function niceBytesTop(v: number): number {
  if (!(v > 0)) return 1024;
  const unit = 1024 ** Math.max(0, Math.floor(Math.log(v) / Math.log(1024)));
  return niceTop(v / unit) * unit;
}

/** Log-axis bounds: whole decades around the data. */
function decades(min: number, max: number): [number, number] {
  const lo = 10 ** Math.floor(Math.log10(Math.max(min, 1e-9)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(max, lo * 10)));
  return [lo, hi === lo ? lo * 10 : hi];
}

const svgOpen = (width: number, height: number, label: string, kind: string) =>
  `<svg role="img" class="chart ${kind}" aria-label="${xmlAttr(label)}" width="${n(width)}" height="${n(height)}" viewBox="0 0 ${n(width)} ${n(height)}"><title>${h(label)}</title>`;

/**
 * Vertical bars in groups: one group per label (a batch size, a task), one bar per series in
 * it (a subject). A bar missing from a group leaves its slot empty. `log` draws the value
 * axis in decades, for values that span orders of magnitude (ops/s of fsync vs no fsync).
 */
export function barChart(o: {
  groups: BarGroup[];
  series: string[];
  unit: string;
  ariaLabel: string;
  log?: boolean;
  width?: number;
  height?: number;
}): string {
  const left = 56;
  const top = 12;
  const bottom = 42;
  const plotH = (o.height ?? 220) - top - bottom;
  const slot = 16;
  const groupGap = 18;
  const groupW = Math.max(1, o.series.length) * slot + groupGap;
  const width = Math.max(o.width ?? 0, left + o.groups.length * groupW + 12);
  const height = top + plotH + bottom;
  const values = o.groups.flatMap((g) => g.bars.map((b) => b.value)).filter((v) => Number.isFinite(v) && v > 0);
  const max = values.length > 0 ? Math.max(...values) : 1;
  const [lo, hi] = o.log ? decades(Math.min(...(values.length > 0 ? values : [1])), max) : [0, niceTop(max)];
  const frac = (v: number) =>
    o.log ? (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) : v / hi;
  const y = (v: number) => top + plotH - Math.min(1, Math.max(0, frac(v))) * plotH;
  const parts: string[] = [svgOpen(width, height, o.ariaLabel, "bar-chart")];
  const ticks = o.log
    ? Array.from({ length: Math.round(Math.log10(hi / lo)) + 1 }, (_, i) => lo * 10 ** i)
    : [0, hi / 2, hi];
  for (const t of ticks)
    parts.push(
      `<line class="grid" x1="${left}" x2="${n(width - 4)}" y1="${n(y(t))}" y2="${n(y(t))}"/><text x="${left - 4}" y="${n(y(t) + 4)}" text-anchor="end">${h(shortNumber(t))}</text>`,
    );
  parts.push(
    `<line class="axis" x1="${left}" y1="${top + plotH}" x2="${n(width - 4)}" y2="${top + plotH}"/><line class="axis" x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}"/>`,
  );
  o.groups.forEach((g, gi) => {
    const x0 = left + 8 + gi * groupW;
    for (const b of g.bars) {
      const si = o.series.indexOf(b.series);
      if (si < 0 || !Number.isFinite(b.value)) continue;
      const x = x0 + si * slot;
      const yy = y(b.value);
      const title = b.title ?? `${g.label} ${b.series}: ${shortNumber(b.value)} ${o.unit}`;
      parts.push(
        `<rect class="mark ${seriesClass(si)}" data-value="${n(b.value)}" x="${n(x)}" y="${n(yy)}" width="${slot - 3}" height="${n(Math.max(top + plotH - yy, b.value > 0 ? 1 : 0))}"><title>${h(title)}</title></rect>`,
      );
    }
    const label = g.label.length > 14 ? `${g.label.slice(0, 13)}…` : g.label;
    parts.push(
      `<text x="${n(x0 + (o.series.length * slot) / 2)}" y="${top + plotH + 14}" text-anchor="middle"><title>${h(g.label)}</title>${h(label)}</text>`,
    );
  });
  parts.push(
    `<text x="${n((left + width) / 2)}" y="${height - 6}" text-anchor="middle">${h(o.unit)}${o.log ? " (log scale)" : ""}</text></svg>`,
  );
  return parts.join("");
}

/**
 * Points on linear x and y axes from zero (recovery time against WAL size, latency against
 * concurrency): a circle per point, a polyline per series when `lines`, a colour per series.
 */
export function xyChart(o: {
  series: XYSeries[];
  xLabel: string;
  yLabel: string;
  ariaLabel: string;
  lines?: boolean;
  width?: number;
  height?: number;
  /** The x values are byte counts: KiB/MiB labels and a binary-nice axis. */
  xBytes?: boolean;
}): string {
  const left = 56;
  const top = 12;
  const bottom = 42;
  const right = 16;
  const width = o.width ?? 560;
  const height = o.height ?? 260;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const all = o.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const xMax = Math.max(0, ...all.map((p) => p.x));
  const xTop = o.xBytes ? niceBytesTop(xMax) : niceTop(xMax);
  const yTop = niceTop(Math.max(0, ...all.map((p) => p.y)));
  const fx = o.xBytes ? byteLabel : shortNumber;
  const X = (x: number) => left + (Math.max(0, x) / xTop) * plotW;
  const Y = (v: number) => top + plotH - (Math.max(0, v) / yTop) * plotH;
  const parts: string[] = [svgOpen(width, height, o.ariaLabel, "xy-chart")];
  for (const f of [0, 0.5, 1]) {
    parts.push(
      `<line class="grid" x1="${left}" x2="${n(left + plotW)}" y1="${n(Y(yTop * f))}" y2="${n(Y(yTop * f))}"/><text x="${left - 4}" y="${n(Y(yTop * f) + 4)}" text-anchor="end">${h(shortNumber(yTop * f))}</text>`,
    );
    parts.push(
      `<text x="${n(X(xTop * f))}" y="${top + plotH + 14}" text-anchor="${f === 0 ? "start" : f === 1 ? "end" : "middle"}">${h(fx(xTop * f))}</text>`,
    );
  }
  parts.push(
    `<line class="axis" x1="${left}" y1="${top + plotH}" x2="${n(left + plotW)}" y2="${top + plotH}"/><line class="axis" x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}"/>`,
  );
  o.series.forEach((s, si) => {
    const pts = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
    const cls = seriesClass(si);
    if (o.lines && pts.length > 1) {
      const sorted = [...pts].sort((a, b) => a.x - b.x);
      parts.push(`<polyline class="${cls}" points="${sorted.map((p) => `${n(X(p.x))},${n(Y(p.y))}`).join(" ")}"/>`);
    }
    for (const p of pts) {
      const title = p.title ?? `${s.name}: ${fx(p.x)} → ${shortNumber(p.y)}`;
      parts.push(
        `<circle class="mark ${cls}" data-value="${n(p.y)}" data-x="${n(p.x)}" cx="${n(X(p.x))}" cy="${n(Y(p.y))}" r="3.5"><title>${h(title)}</title></circle>`,
      );
    }
  });
  parts.push(`<text x="${n(left + plotW / 2)}" y="${height - 6}" text-anchor="middle">${h(o.xLabel)}</text>`);
  parts.push(
    `<text transform="translate(12 ${n(top + plotH / 2)}) rotate(-90)" text-anchor="middle">${h(o.yLabel)}</text></svg>`,
  );
  return parts.join("");
}

/**
 * A recovery fit as a person reads it, in the unit of the sizes it was fitted over (per KiB
 * under 1 MiB: a slope per MiB from a few KiB of WAL would be an extrapolation), with that range.
 */
export function fitText(r: {
  fit?: { msPerMiB: number; interceptMs: number };
  points: { walBytes: number }[];
  buckets: { fromBytes: number; toBytes: number }[];
}): string {
  if (!r.fit) return "";
  const sizes = r.points.map((p) => p.walBytes);
  const lo = Math.min(...sizes);
  const hi = Math.max(...sizes);
  const perKiB = hi < 1024 * 1024;
  const slope = perKiB ? r.fit.msPerMiB / 1024 : r.fit.msPerMiB;
  return `${shortNumber(r.fit.interceptMs)} ms + ${shortNumber(slope)} ms per ${perKiB ? "KiB" : "MiB"}, over WAL sizes ${byteLabel(lo)} to ${byteLabel(hi)}`;
}
