import path from "node:path";
import { writeTextAtomic } from "../../reports/json-file.js";
import { renderHtml } from "../../reports/html.js";
import { renderJUnit } from "../../reports/junit.js";
import { renderMarkdown } from "../../reports/markdown.js";
import { readRunReport } from "../../reports/renderings.js";
import { UsageError } from "../protocol/errors.js";
import { EXIT } from "./exit.js";

/** `walcheck report` flags as commander parses them. */
export interface ReportFlags {
  format: "md" | "junit" | "json" | "html";
  out?: string;
}

/** A bench.json (kind "walcheck-bench") as Markdown, HTML or the checked JSON; JUnit is for run reports. */
async function renderBench(file: string, format: ReportFlags["format"]): Promise<string> {
  if (format === "junit")
    throw new UsageError(
      `${file}: --format junit is for the reports of walcheck run; a bench report renders as md, html or json`,
    );
  const [{ readBenchReport }, { renderBenchMarkdown }, { renderBenchHtml }] = await Promise.all([
    import("../../reports/bench-files.js"),
    import("../../reports/bench-markdown.js"),
    import("../../reports/bench-html.js"),
  ]);
  const report = readBenchReport(file);
  return format === "md"
    ? renderBenchMarkdown(report)
    : format === "html"
      ? renderBenchHtml(report)
      : `${JSON.stringify(report, null, 2)}\n`;
}

/**
 * `walcheck report <report.json>`: check the report against its schema and print it (or
 * write it to --out) as Markdown, JUnit XML, the self-contained HTML page or the checked JSON.
 * A bench.json (kind "walcheck-bench") renders the same way, but for JUnit. A missing or
 * invalid file throws a UsageError (exit 2) naming the bad field.
 */
export async function reportCommand(file: string, flags: ReportFlags): Promise<number> {
  const { isBenchReportFile } = await import("../../reports/bench-files.js");
  let text: string;
  if (isBenchReportFile(file)) {
    text = await renderBench(file, flags.format);
  } else {
    const report = readRunReport(file);
    text =
      flags.format === "md"
        ? renderMarkdown(report)
        : flags.format === "junit"
          ? renderJUnit(report)
          : flags.format === "html"
            ? renderHtml(report)
            : `${JSON.stringify(report, null, 2)}\n`;
  }
  if (flags.out) {
    writeTextAtomic(path.resolve(flags.out), text);
    process.stderr.write(`walcheck report: wrote ${flags.out}\n`);
  } else {
    process.stdout.write(text);
  }
  return EXIT.pass;
}
