import type { PowerAttributionReport } from "./attribution-schema.js";
import { xmlText } from "./escape.js";

// The power-loss trace around the cut as a picture (after Maelstrom's Lamport diagrams): one
// lane per file and per directory, the fs operations on a time axis in trace order, fsync
// barriers as bars across their lane, acknowledgments as flags above the lanes, the power cut as
// a vertical line, the lost operations crossed out in red and the culprit ringed and labelled
// with where the adapter issued it. Inline SVG, no script: hovering a mark shows its label
// (<title>). Every string is escaped where it lands.

type Diagram = PowerAttributionReport["diagram"];
type Op = Diagram["ops"][number];

const COL = 34;
const LANE = 34;
const LEFT = 170;
const TOP = 68;
const BARRIERS = new Set(["fsync", "dirsync"]);
const ENTRY_OPS = new Set(["create", "rename", "unlink", "link", "mkdir", "rmdir"]);
/** The op kinds a trace has: only these go into an attribute (the report's strings stay text). */
const KINDS = new Set([...BARRIERS, ...ENTRY_OPS, "write", "truncate"]);

export const TRACE_DIAGRAM_CSS = `
.trace-diagram { max-width: 100%; height: auto; font: 11px system-ui, sans-serif; }
.trace-diagram .lane-line { stroke: #d0d7de; }
.trace-diagram .lane-name { fill: #24292f; }
.trace-diagram .op.done { fill: #57606a; stroke: #57606a; }
.trace-diagram .op.landed { fill: #1a7f37; stroke: #1a7f37; }
.trace-diagram .op.lost { fill: #fff; stroke: #cf222e; stroke-width: 2; stroke-dasharray: 3 2; }
.trace-diagram .op.after { fill: #d0d7de; stroke: #d0d7de; }
.trace-diagram .barrier { stroke-width: 4; }
.trace-diagram .lost-x { stroke: #cf222e; stroke-width: 2; }
.trace-diagram .culprit-ring { fill: none; stroke: #cf222e; stroke-width: 2.5; }
.trace-diagram .culprit-label { fill: #cf222e; font-weight: 600; }
.trace-diagram .cut { stroke: #bc4c00; stroke-width: 2; stroke-dasharray: 6 4; }
.trace-diagram .cut-label { fill: #bc4c00; font-weight: 600; }
.trace-diagram .ack { fill: #0969da; }
.trace-diagram .op-no { fill: #6e7781; font-size: 9px; }
.trace-diagram .gap { fill: #6e7781; }
.attribution-text { font-weight: 600; }
`;

/** The lanes in order: the directories first, then files as they first appear. */
function lanesOf(ops: readonly Op[]): string[] {
  const dirs: string[] = [];
  const files: string[] = [];
  for (const o of ops) {
    const list = o.lane.startsWith("dir ") ? dirs : files;
    if (!list.includes(o.lane)) list.push(o.lane);
  }
  return [...dirs, ...files];
}

function laneName(lane: string): string {
  if (!lane.startsWith("dir ")) return lane;
  const d = lane.slice(4);
  return d === "." ? "directory (entries)" : `directory ${d}`;
}

/** The mark of one op at (x, y): a bar for a barrier, a diamond for a directory entry op, a box for data. */
function mark(o: Op, x: number, y: number): string {
  const cls = `op ${o.status}${BARRIERS.has(o.kind) ? " barrier" : ""}${o.culprit ? " culprit" : ""}`;
  const attrs = `class="${cls}" data-i="${o.i}" data-kind="${KINDS.has(o.kind) ? o.kind : "other"}" data-status="${o.status}"${o.culprit ? ' data-culprit="true"' : ""}`;
  const title = `<title>${xmlText(`${o.label}: ${o.status}${o.culprit ? " (the culprit)" : ""}`)}</title>`;
  let shape: string;
  if (BARRIERS.has(o.kind)) shape = `<line ${attrs} x1="${x}" y1="${y - 13}" x2="${x}" y2="${y + 13}">${title}</line>`;
  else if (ENTRY_OPS.has(o.kind))
    shape = `<polygon ${attrs} points="${x},${y - 8} ${x + 8},${y} ${x},${y + 8} ${x - 8},${y}">${title}</polygon>`;
  else shape = `<rect ${attrs} x="${x - 7}" y="${y - 6}" width="14" height="12" rx="2">${title}</rect>`;
  const cross =
    o.status === "lost"
      ? `<path class="lost-x" d="M${x - 5} ${y - 5}L${x + 5} ${y + 5}M${x + 5} ${y - 5}L${x - 5} ${y + 5}"/>`
      : "";
  const ring = o.culprit ? `<circle class="culprit-ring" cx="${x}" cy="${y}" r="13"/>` : "";
  return `${shape}${cross}${ring}<text class="op-no" x="${x}" y="${y + 24}" text-anchor="middle">#${o.i}</text>`;
}

/** The SVG of an attribution's diagram. */
export function traceDiagramSvg(a: PowerAttributionReport): string {
  const d = a.diagram;
  const lanes = lanesOf(d.ops);
  // Columns: one per op, and one more for each gap in the trace numbers ("…").
  const colOf = new Map<number, number>();
  const gaps: number[] = [];
  let col = 0;
  d.ops.forEach((o, k) => {
    if (k > 0 && o.i !== d.ops[k - 1]!.i + 1) gaps.push(col++);
    colOf.set(o.i, col++);
  });
  const xAt = (c: number) => LEFT + COL / 2 + c * COL;
  // A position just after op i (an ack, the cut): halfway to the next column.
  const after = (i: number): number | undefined => {
    const here = colOf.get(i);
    if (here !== undefined) return xAt(here) + COL / 2;
    const next = d.ops.find((o) => o.i > i);
    return next ? xAt(colOf.get(next.i)!) - COL / 2 : undefined;
  };
  const culprit = d.ops.find((o) => o.culprit);
  const culpritLabel = culprit ? `lost: ${culprit.label}${d.where ? `, ${d.where}` : ""}` : "";
  const legendText =
    "box: write or truncate · diamond: create, rename, unlink… · bar: fsync · grey: done · green: landed · red ✕: lost · pale: after the cut";
  // Text is about 6.5 px a character at 11 px (legend: 9 px).
  const width = Math.max(LEFT + col * COL + 40, 20 + culpritLabel.length * 6.5, LEFT + legendText.length * 5.2);
  const laneY = (lane: string) => TOP + lanes.indexOf(lane) * LANE + LANE / 2;
  const height = TOP + lanes.length * LANE + 48;
  const parts: string[] = [];
  lanes.forEach((lane) => {
    const y = laneY(lane);
    parts.push(
      `<line class="lane-line" x1="${LEFT}" y1="${y}" x2="${width - 20}" y2="${y}"/><text class="lane-name" x="${LEFT - 8}" y="${y + 4}" text-anchor="end">${xmlText(laneName(lane))}</text>`,
    );
  });
  for (const g of gaps) parts.push(`<text class="gap" x="${xAt(g)}" y="${TOP + 4}" text-anchor="middle">…</text>`);
  // Acks close together get their labels on two rows.
  let lastX = -Infinity;
  let raised = false;
  for (const ack of d.acks) {
    const x = ack.at === 0 ? LEFT : after(ack.at);
    if (x === undefined) continue;
    raised = x - lastX < 40 ? !raised : false;
    lastX = x;
    const y = TOP - 30 - (raised ? 12 : 0);
    parts.push(
      `<g class="ack" data-batch="${ack.batch}"><path d="M${x} ${TOP - 6}V${y + 4}l9 4l-9 4z"/><text x="${x + 2}" y="${y}" text-anchor="middle">ack ${ack.batch}</text></g>`,
    );
  }
  const cutX = d.cut === 0 ? LEFT : after(d.cut);
  if (cutX !== undefined)
    parts.push(
      `<line class="cut" x1="${cutX}" y1="16" x2="${cutX}" y2="${height - 30}"/><text class="cut-label" x="${cutX + 4}" y="12">power cut</text>`,
    );
  for (const o of d.ops) parts.push(mark(o, xAt(colOf.get(o.i)!), laneY(o.lane)));
  if (culprit) {
    // The culprit's label on a row of its own below the lanes, a leader line up to its mark.
    const x = xAt(colOf.get(culprit.i)!);
    const fits = x + culpritLabel.length * 6.5 < width;
    parts.push(
      `<path class="culprit-ring" d="M${x} ${laneY(culprit.lane) + 13}V${height - 26}"/><text class="culprit-label" x="${fits ? x : 10}" y="${height - 14}">${xmlText(culpritLabel)}</text>`,
    );
  }
  const legend = `<text class="op-no" x="${LEFT}" y="${height + 2}">${xmlText(legendText)}</text>`;
  return `<svg class="trace-diagram" role="figure" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + 8}" viewBox="0 0 ${width} ${height + 8}"><title>${xmlText(`the trace around the power cut: ${a.op.label} was lost`)}</title>${parts.join("")}${legend}</svg>`;
}

/** The attribution for the HTML report: the sentence, the diagram, and the frames where the op was issued. */
export function attributionHtml(a: PowerAttributionReport): string {
  const frames = [
    ...(a.where?.js ?? []).map((f) => `${f.function ? `${f.function} ` : ""}${f.file}:${f.line}:${f.column}`),
    ...(a.where?.js?.length ? [] : (a.where?.native ?? [])).map(
      (f) =>
        `${f.function ?? "?"}${f.file ? ` ${f.file}:${f.line}` : ""} (${f.module}+${f.offset}${f.symbolised === "debug-info" ? "" : `, ${f.symbolised === "symbol" ? "dynamic symbol" : "no symbol"}`})`,
    ),
  ];
  const stack =
    frames.length > 0
      ? `<details><summary>where the op was issued (${frames.length} frames)</summary><pre>${xmlText(frames.join("\n"))}</pre></details>`
      : "";
  return `<p class="attribution-text">${xmlText(a.text)}</p><div class="diagram-box">${traceDiagramSvg(a)}</div>${stack}`;
}
