import fs from "node:fs";
import path from "node:path";
import { writeJsonAtomic } from "../../reports/json-file.js";
import { mergeRunReports, type MergeInput } from "../../reports/merge.js";
import { readRunReport, writeRenderings } from "../../reports/renderings.js";
import { UsageError } from "../protocol/errors.js";
import { exitCodeOf } from "./exit.js";

/** `walcheck report merge` flags as commander parses them. */
export interface ReportMergeFlags {
  out?: string;
}

/**
 * The report.json files an argument names: the file itself, a run's directory (with a
 * report.json), or a directory of runs (a `--report-dir`, a downloaded artifact): the
 * report.json of each run directory in it.
 */
export function reportFilesOf(arg: string): string[] {
  let stat;
  try {
    stat = fs.statSync(arg);
  } catch {
    throw new UsageError(`walcheck report merge: ${arg}: no such file or directory`);
  }
  if (stat.isFile()) return [arg];
  const own = path.join(arg, "report.json");
  if (fs.existsSync(own)) return [own];
  const found = fs
    .readdirSync(arg, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(arg, e.name, "report.json")))
    .map((e) => path.join(arg, e.name, "report.json"))
    .sort();
  if (found.length === 0)
    throw new UsageError(
      `walcheck report merge: ${arg}: no report.json in it or in a run directory inside it (give the --report-dir of a walcheck run, or a run's directory)`,
    );
  return found;
}

/**
 * `walcheck report merge DIR… [--out DIR]`: the reports of `walcheck run --shard i/n` jobs as
 * the report of the whole run (report.json, report.md, report.junit.xml, report.html in --out,
 * the Markdown appended to $GITHUB_STEP_SUMMARY when set). Reports that are not shards of one
 * run are a UsageError (exit 2); otherwise the exit code is the merged run's verdict.
 */
export async function reportMergeCommand(args: readonly string[], flags: ReportMergeFlags): Promise<number> {
  const files = args.flatMap(reportFilesOf);
  const resolved = new Set<string>();
  for (const f of files) {
    const real = fs.realpathSync(f);
    if (resolved.has(real)) throw new UsageError(`walcheck report merge: ${f} is given twice`);
    resolved.add(real);
  }
  const inputs: MergeInput[] = files.map((file) => ({ report: readRunReport(file), source: file }));
  const merged = mergeRunReports(inputs);
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const outDir = path.resolve(flags.out ?? path.join("walcheck-reports", `merged-${stamp}-seed${merged.seed}`));
  const reportFile = path.join(outDir, "report.json");
  writeJsonAtomic(reportFile, merged);
  const written = writeRenderings(reportFile);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const c = merged.cases;
  out(
    `walcheck report merge — ${merged.status.toUpperCase()} (seed ${merged.seed}, shards ${merged.shard}: ${c.run}/${c.planned} cases, ${c.failed} failed, ${c.errors} errors, ${merged.cycles} crash cycles)`,
  );
  for (const note of merged.merged?.notes ?? []) if (note.includes("missing")) out(`  ${note}`);
  out(`  report: ${reportFile}`);
  out(`  report (markdown): ${written.markdown}\n  report (junit): ${written.junit}\n  report (html): ${written.html}`);
  if (written.stepSummary) out(`  job summary: appended to ${written.stepSummary}`);
  if (written.stepSummaryError) process.stderr.write(`walcheck: ${written.stepSummaryError}\n`);
  return exitCodeOf(merged.status);
}
