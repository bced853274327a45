import { fmtMs, fmtOps, fmtRme as fmtPct } from "../reports/bench-format.js";
import type { TaskJson } from "./bench-util.js";
import type { RecoveryJson } from "./recovery-bench.js";

/** One evaluated target: `measured` against `target.value`, with the ratio that decides it. */
export interface RatioJson {
  id: string;
  description: string;
  /** What was measured (ops/s, or ms for recovery). */
  measured: number;
  /** What it is compared with: a baseline's ops/s, or the time budget in ms. */
  reference: number;
  unit: "ops/s" | "ms";
  /** measured / reference. */
  ratio: number;
  target: { op: ">=" | "<"; value: number; of: "ratio" | "ms" };
  verdict: "PASS" | "MISS";
  note?: string;
}

export interface BenchReport {
  schema: "walcheck-bench-wal/1";
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  environment: Record<string, unknown> & { fileSystemSummary: string };
  config: Record<string, unknown>;
  tasks: TaskJson[];
  recovery: RecoveryJson[];
  ratios: RatioJson[];
  notes: string[];
}

function row(cells: string[]): string {
  return `| ${cells.join(" | ")} |`;
}

/** The Markdown table (case, ops/s, p50 ms, p99 ms, rme %) then one line per target, all from the report JSON. */
export function renderMarkdown(report: BenchReport): string {
  const lines: string[] = [];
  lines.push(row(["case", "ops/s", "p50 ms", "p99 ms", "rme %"]));
  lines.push(row(["---", "---:", "---:", "---:", "---:"]));
  for (const t of report.tasks) {
    lines.push(row([t.name, fmtOps(t.opsPerSec), fmtMs(t.latency.p50), fmtMs(t.latency.p99), fmtPct(t.latency.rme)]));
  }
  for (const r of report.recovery) {
    const t = r.openClose;
    lines.push(row([t.name, fmtOps(t.opsPerSec), fmtMs(t.latency.p50), fmtMs(t.latency.p99), fmtPct(t.latency.rme)]));
  }
  lines.push("");
  for (const r of report.ratios) {
    if (r.unit === "ops/s") {
      lines.push(
        `${r.verdict}  ${r.description}: ${fmtOps(r.measured)} / ${fmtOps(r.reference)} ops/s = ${r.ratio.toFixed(2)}x (target >= ${r.target.value}x)${r.note ? `; ${r.note}` : ""}`,
      );
    } else {
      lines.push(
        `${r.verdict}  ${r.description}: ${fmtMs(r.measured)} ms vs ${r.target.value} ms budget = ${r.ratio.toFixed(3)}x of budget (target < ${r.target.value} ms)${r.note ? `; ${r.note}` : ""}`,
      );
    }
  }
  if (report.notes.length > 0) {
    lines.push("");
    for (const n of report.notes) lines.push(`- ${n}`);
  }
  return `${lines.join("\n")}\n`;
}
