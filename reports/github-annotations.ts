// GitHub Actions workflow commands for a run report: each violation and each adapter error as
// an `::error` annotation, each latency warning as a `::warning`, so a pull request shows
// them beside its checks. Printed on stdout by `walcheck run` when GITHUB_ACTIONS=true.
// https://docs.github.com/actions/reference/workflow-commands-for-github-actions

/** The parts of a run report the annotations need (a RunReport, or the summary before it is written). */
export interface AnnotatedRun {
  flags: readonly string[];
  failures: readonly {
    scenario: string;
    index: number;
    seed: number;
    violation: { invariant: string; message: string };
    replayToken: string;
  }[];
  errors: readonly { scenario: string; index: number; seed: number; error: { code: string; message: string } }[];
  latencyWarnings: readonly string[];
  latencyFailures: readonly string[];
}

/** A workflow command's message: `%`, CR and LF escaped as GitHub reads them. */
export function escapeData(s: string): string {
  return s.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}

/** A workflow command's property value: as escapeData, and `:` and `,` too. */
export function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, "%3A").replace(/,/g, "%2C");
}

function command(kind: "error" | "warning", title: string, message: string): string {
  return `::${kind} title=${escapeProperty(title)}::${escapeData(message)}`;
}

/** The annotation lines of a run, in report order: violations, adapter errors, latency failures, latency warnings. */
export function githubAnnotations(report: AnnotatedRun): string[] {
  const flags = report.flags.length > 0 ? `${report.flags.join(" ")} ` : "";
  return [
    ...report.failures.map((f) =>
      command(
        "error",
        `walcheck ${f.scenario}: ${f.violation.invariant}`,
        `${f.violation.message} — replay: npx walcheck run ${flags}--replay ${f.replayToken}`,
      ),
    ),
    ...report.errors.map((e) =>
      command(
        "error",
        `walcheck ${e.scenario}: adapter error ${e.error.code}`,
        `${e.error.message} (case ${e.index}, case seed ${e.seed})`,
      ),
    ),
    ...report.latencyFailures.map((l) => command("error", "walcheck latency", l)),
    ...report.latencyWarnings.map((l) => command("warning", "walcheck latency", l)),
  ];
}

/** The parts of an exhaustive run's report the annotations need. */
export interface AnnotatedExhaustiveRun {
  flags: readonly string[];
  failures: readonly {
    point: { call: number; when: string };
    violation: { invariant: string; message: string };
    replayToken: string;
  }[];
  errors: readonly { point: { call: number; when: string }; code: string; message: string }[];
}

/** The annotation lines of `walcheck run --exhaustive`: a violation or an adapter error per crash point. */
export function githubExhaustiveAnnotations(report: AnnotatedExhaustiveRun): string[] {
  const flags = report.flags.length > 0 ? `${report.flags.join(" ")} ` : "";
  return [
    ...report.failures.map((f) =>
      command(
        "error",
        `walcheck exhaustive: ${f.violation.invariant}`,
        `${f.violation.message} (crash ${f.point.when} fs call #${f.point.call}) — replay: npx walcheck run ${flags}--replay ${f.replayToken}`,
      ),
    ),
    ...report.errors.map((e) =>
      command(
        "error",
        `walcheck exhaustive: adapter error ${e.code}`,
        `${e.message} (crash ${e.point.when} fs call #${e.point.call})`,
      ),
    ),
  ];
}

/** Whether the environment is a GitHub Actions job. */
export function inGitHubActions(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.GITHUB_ACTIONS === "true";
}
