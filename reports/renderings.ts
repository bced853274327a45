import path from "node:path";
import { writeTextAtomic } from "./json-file.js";
import { renderHtml } from "./html.js";
import { renderJUnit } from "./junit.js";
import { renderMarkdown } from "./markdown.js";
import { appendStepSummary, readReportText } from "./report-file.js";
import { parseRunReport, type RunReport } from "./report-schema.js";

/** Read and check a report.json; a missing, unreadable or invalid file is a UsageError naming why (and the bad field's path). */
export function readRunReport(file: string): RunReport {
  return parseRunReport(readReportText(file), file);
}

export interface Renderings {
  markdown: string;
  junit: string;
  html: string;
  /** The file the Markdown was appended to ($GITHUB_STEP_SUMMARY), if it was. */
  stepSummary?: string;
  /** Why it could not be appended there (the report files are written all the same). */
  stepSummaryError?: string;
}

/**
 * At the end of a run: render the final report.json (checked against its schema first) as
 * report.md, report.junit.xml and report.html beside it, and append the Markdown to $GITHUB_STEP_SUMMARY
 * when that is set.
 */
export function writeRenderings(reportFile: string, env: NodeJS.ProcessEnv = process.env): Renderings {
  const report = readRunReport(reportFile);
  const dir = path.dirname(reportFile);
  const md = renderMarkdown(report);
  const out: Renderings = {
    markdown: path.join(dir, "report.md"),
    junit: path.join(dir, "report.junit.xml"),
    html: path.join(dir, "report.html"),
  };
  writeTextAtomic(out.markdown, md);
  writeTextAtomic(out.junit, renderJUnit(report));
  writeTextAtomic(out.html, renderHtml(report));
  return { ...out, ...appendStepSummary(md, env) };
}
