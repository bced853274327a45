import fs from "node:fs";
import path from "node:path";
import { renderBenchHtml } from "./bench-html.js";
import { renderBenchMarkdown } from "./bench-markdown.js";
import { parseBenchReport, type BenchReport } from "./bench-schema.js";
import { writeJsonAtomic, writeTextAtomic } from "./json-file.js";
import { appendStepSummary, readReportText } from "./report-file.js";

/** Read and check a bench.json (exit 2 material: a UsageError naming the file and the first bad field). */
export function readBenchReport(file: string): BenchReport {
  return parseBenchReport(readReportText(file), file);
}

/** Whether `file` holds a walcheck bench report (by its `kind`), without checking the rest. */
export function isBenchReportFile(file: string): boolean {
  try {
    return (JSON.parse(fs.readFileSync(file, "utf8")) as { kind?: unknown } | null)?.kind === "walcheck-bench";
  } catch {
    return false;
  }
}

export interface BenchFiles {
  json: string;
  markdown: string;
  html: string;
  /** $GITHUB_STEP_SUMMARY, when the Markdown was appended to it. */
  stepSummary?: string;
  stepSummaryError?: string;
}

/**
 * Write bench.json (atomically, first), then bench.md and bench.html rendered from the JSON
 * read back and checked against the schema; append the Markdown to $GITHUB_STEP_SUMMARY when set.
 */
export function writeBenchFiles(dir: string, report: BenchReport, env: NodeJS.ProcessEnv = process.env): BenchFiles {
  const out = {
    json: path.join(dir, "bench.json"),
    markdown: path.join(dir, "bench.md"),
    html: path.join(dir, "bench.html"),
  };
  writeJsonAtomic(out.json, report);
  const written = readBenchReport(out.json);
  const md = renderBenchMarkdown(written);
  writeTextAtomic(out.markdown, md);
  writeTextAtomic(out.html, renderBenchHtml(written));
  return { ...out, ...appendStepSummary(md, env) };
}
