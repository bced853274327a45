import fs from "node:fs";
import type { z } from "zod";
import { UsageError } from "../harness/protocol/errors.js";

// Reading and checking a report file, and appending to the CI job summary: the same for the
// run report and the bench report.

/** The text of a report file; a missing or unreadable one is a UsageError naming it. */
export function readReportText(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      `${file}: ${code === "ENOENT" ? "no such file" : `cannot read it: ${(error as Error).message}`}`,
    );
  }
}

/** `scenarios[0].cases.run` for zod's `["scenarios", 0, "cases", "run"]`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) out += typeof key === "number" ? `[${key}]` : `${out ? "." : ""}${String(key)}`;
  return out || "(the report)";
}

/** What a report file must say it is, and how to say it is not. */
export interface ReportIdentity {
  kind: string;
  version: number;
  /** The text after `kind: ` for a report of another kind. */
  wrongKind: (kind: string) => string;
  /** The text after `version: ` for another version of this kind. */
  wrongVersion: (version: number) => string;
}

/**
 * Check `json` (parsed, or its text) against `schema`: text that is not JSON, a report of
 * another kind or version (said plainly, before any field) and a value the schema refuses
 * are UsageErrors naming `source` and the first bad field by its path.
 */
export function parseReportJson<S extends z.ZodType>(
  schema: S,
  json: unknown,
  source: string,
  identity: ReportIdentity,
): z.infer<S> {
  let value = json;
  if (typeof json === "string") {
    try {
      value = JSON.parse(json);
    } catch (error) {
      throw new UsageError(`${source}: not JSON: ${(error as Error).message}`);
    }
  }
  const { kind, version } = (value && typeof value === "object" ? value : {}) as { kind?: unknown; version?: unknown };
  if (typeof kind === "string" && kind !== identity.kind)
    throw new UsageError(`${source}: kind: ${identity.wrongKind(kind)}`);
  if (kind === identity.kind && typeof version === "number" && version !== identity.version)
    throw new UsageError(`${source}: version: ${identity.wrongVersion(version)}`);
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const [first, ...rest] = parsed.error.issues;
  const more = rest.length > 0 ? ` (and ${rest.length} more problem${rest.length > 1 ? "s" : ""})` : "";
  throw new UsageError(`${source}: ${fieldPath(first!.path)}: ${first!.message}${more}`);
}

/** Append Markdown to $GITHUB_STEP_SUMMARY when it is set: the file appended to, or why it could not be. */
export function appendStepSummary(
  md: string,
  env: NodeJS.ProcessEnv = process.env,
): { stepSummary?: string; stepSummaryError?: string } {
  const summary = env.GITHUB_STEP_SUMMARY;
  if (!summary) return {};
  try {
    fs.appendFileSync(summary, `${md}\n`);
    return { stepSummary: summary };
  } catch (error) {
    return { stepSummaryError: `cannot append to GITHUB_STEP_SUMMARY (${summary}): ${(error as Error).message}` };
  }
}
