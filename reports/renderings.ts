import fs from "node:fs";
import path from "node:path";
import { UsageError } from "../harness/usage-error.js";
import { writeTextAtomic } from "./json-file.js";
import { renderHtml } from "./html.js";
import { renderJUnit } from "./junit.js";
import { renderMarkdown } from "./markdown.js";
import { parseRunReport, type RunReport } from "./report-schema.js";

/** Read and check a report.json; a missing, unreadable or invalid file is a UsageError naming why (and the bad field's path). */
export function readRunReport(file: string): RunReport {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`${file}: ${code === "ENOENT" ? "no such file" : `cannot read it: ${(error as Error).message}`}`);
  }
  return parseRunReport(text, file);
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
  const out: Renderings = { markdown: path.join(dir, "report.md"), junit: path.join(dir, "report.junit.xml"), html: path.join(dir, "report.html") };
  writeTextAtomic(out.markdown, md);
  writeTextAtomic(out.junit, renderJUnit(report));
  writeTextAtomic(out.html, renderHtml(report));
  const summary = env.GITHUB_STEP_SUMMARY;
  if (summary) {
    try {
      fs.appendFileSync(summary, `${md}\n`);
      out.stepSummary = summary;
    } catch (error) {
      out.stepSummaryError = `cannot append to GITHUB_STEP_SUMMARY (${summary}): ${(error as Error).message}`;
    }
  }
  return out;
}
