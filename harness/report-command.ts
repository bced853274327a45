import path from "node:path";
import { writeTextAtomic } from "../reports/json-file.js";
import { renderHtml } from "../reports/html.js";
import { renderJUnit } from "../reports/junit.js";
import { renderMarkdown } from "../reports/markdown.js";
import { readRunReport } from "../reports/renderings.js";

/** `walcheck report` flags as commander parses them. */
export interface ReportFlags {
  format: "md" | "junit" | "json" | "html";
  out?: string;
}

/**
 * `walcheck report <report.json>`: check the report against its schema and print it (or
 * write it to --out) as Markdown, JUnit XML, the self-contained HTML page or the checked JSON. A missing or invalid file
 * throws a UsageError (exit 2) naming the bad field.
 */
export function reportCommand(file: string, flags: ReportFlags): number {
  const report = readRunReport(file);
  const text = flags.format === "md" ? renderMarkdown(report) : flags.format === "junit" ? renderJUnit(report) : flags.format === "html" ? renderHtml(report) : `${JSON.stringify(report, null, 2)}\n`;
  if (flags.out) {
    writeTextAtomic(path.resolve(flags.out), text);
    process.stderr.write(`walcheck report: wrote ${flags.out}\n`);
  } else {
    process.stdout.write(text);
  }
  return 0;
}
