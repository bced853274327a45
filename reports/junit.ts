import { xmlAttr, xmlText } from "./escape.js";
import { replayCommand } from "./markdown.js";
import type { RunReport, ScenarioReport } from "./report-schema.js";

// The run report as JUnit XML for CI systems: one <testsuite> per scenario, one <testcase>
// per invariant the scenario checks (as report.json lists them), a violation as a <failure> on its
// invariant's test case, an adapter error as an <error>, a skipped scenario's cases as
// <skipped>. A suite's time is the time spent in its scenario's cases (caseTimeMs). Its
// invariants are checked together, through every case, so each test case carries an equal
// share of it: the sum is right, the split between invariants is nominal. The root carries
// the run's wall time (less than the sum when cases ran side by side).

interface Problem {
  message: string;
  type: string;
  body: string;
}

interface TestCase {
  name: string;
  failures: Problem[];
  error?: Problem;
  skipped?: string;
}

function skipReason(s: ScenarioReport): string | undefined {
  switch (s.status) {
    case "skipped":
      return s.reason ?? "skipped";
    case "not-run":
      return "not run: the budget ran out, or the run stopped, before any of its cases started";
    case "interrupted":
    case "running":
    case "pending":
      return `${s.status}: ${s.cases.run} of ${s.cases.planned} cases finished before the report was written`;
    default:
      return undefined;
  }
}

/** The test cases of one scenario, with its violations, latency failures and adapter errors placed on them. */
function testCases(report: RunReport, s: ScenarioReport): TestCase[] {
  // The invariants the scenario declared, as the report carries them (a report written before
  // they were recorded has none: its scenario is one test case, plus one per violated invariant).
  const cases: (TestCase & { text: string })[] = (s.invariants ?? []).map(({ id, text }) => ({
    name: id,
    text,
    failures: [],
  }));
  if (cases.length === 0) cases.push({ name: s.name, text: "", failures: [] });
  const caseFor = (name: string, pick = (c: TestCase & { text: string }) => c.name === name) => {
    let found = cases.find(pick);
    if (!found) cases.push((found = { name, text: "", failures: [] }));
    return found;
  };

  const skipped = skipReason(s);
  if (skipped !== undefined && s.failures.length === 0 && s.errors.length === 0)
    return cases.map((c) => ({ ...c, skipped }));

  for (const f of s.failures) {
    const v = f.violation;
    const body = [
      v.description,
      `input: ${f.commands}`,
      `kept: ${f.keptDir}`,
      `replay: ${replayCommand(report, f)}`,
    ].join("\n");
    caseFor(v.invariant).failures.push({ message: v.message, type: "invariant", body });
  }
  const latency = report.latencyFailures.filter((l) => l.startsWith(`${s.name}: `));
  if (latency.length > 0) {
    caseFor("latency", (c) => c.name === "latency" || /latency/i.test(c.text)).failures.push({
      message: latency.join("; "),
      type: "latency",
      body: latency.join("\n"),
    });
  }
  for (const e of s.errors) {
    cases.push({
      name: `adapter error in case ${e.index}`,
      text: "",
      failures: [],
      error: {
        message: `${e.error.code}: ${e.error.message}`,
        type: e.error.code,
        body: `case ${e.index} (case seed ${e.seed}): ${e.error.code}: ${e.error.message}`,
      },
    });
  }
  return cases;
}

const attrs = (pairs: Record<string, string | number>) =>
  Object.entries(pairs)
    .map(([k, v]) => ` ${k}="${xmlAttr(String(v))}"`)
    .join("");

function problemXml(tag: "failure" | "error", p: Problem): string {
  return `      <${tag}${attrs({ message: p.message, type: p.type })}>${xmlText(p.body)}</${tag}>`;
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

function caseXml(c: TestCase, classname: string, timeMs: number): string {
  const open = `    <testcase${attrs({ name: c.name, classname, time: seconds(timeMs) })}`;
  const inner: string[] = [];
  if (c.skipped !== undefined) inner.push(`      <skipped${attrs({ message: c.skipped })}/>`);
  if (c.failures.length > 0) {
    // One <failure> per test case (the JUnit schema's rule); several violations of one invariant share it.
    const [first] = c.failures;
    inner.push(
      problemXml("failure", {
        message: first!.message,
        type: first!.type,
        body: c.failures.map((f) => f.body).join("\n\n"),
      }),
    );
  }
  if (c.error) inner.push(problemXml("error", c.error));
  return inner.length === 0 ? `${open}/>` : [`${open}>`, ...inner, "    </testcase>"].join("\n");
}

function properties(r: RunReport): string[] {
  const e = r.environment;
  const props: Record<string, string | number | undefined> = {
    seed: r.seed,
    adapter: r.adapter,
    "adapter.name": r.hello?.name,
    shard: r.shard,
    crash: r.crash.join(","),
    node: e.node,
    "fs.type": e.fsType,
    "git.commit": e.gitCommit,
    "walcheck.version": e.walcheckVersion,
  };
  const lines = Object.entries(props)
    .filter((p): p is [string, string | number] => p[1] !== undefined)
    .map(([name, value]) => `      <property${attrs({ name, value })}/>`);
  return ["    <properties>", ...lines, "    </properties>"];
}

type Counts = { tests: number; failures: number; errors: number; skipped: number };
const countOf = (cases: TestCase[]): Counts => ({
  tests: cases.length,
  failures: cases.filter((c) => c.failures.length > 0).length,
  errors: cases.filter((c) => c.error).length,
  skipped: cases.filter((c) => c.skipped !== undefined).length,
});

/** The whole report as JUnit XML; every string from the report is escaped (control characters XML forbids become U+FFFD). */
export function renderJUnit(report: RunReport): string {
  const total: Counts = { tests: 0, failures: 0, errors: 0, skipped: 0 };
  const timestamp = report.environment.startedAt.slice(0, 19);
  const suites = report.scenarios.map((s) => {
    const cases = testCases(report, s);
    const n = countOf(cases);
    for (const k of Object.keys(total) as (keyof Counts)[]) total[k] += n[k];
    const classname = `walcheck.${s.name}`;
    const timeMs = s.caseTimeMs ?? 0;
    const share = cases.length > 0 ? timeMs / cases.length : 0;
    return [
      `  <testsuite${attrs({ name: s.name, ...n, time: seconds(timeMs), timestamp })}>`,
      ...properties(report),
      ...cases.map((c) => caseXml(c, classname, share)),
      "  </testsuite>",
    ].join("\n");
  });
  const root = `<testsuites${attrs({ name: "walcheck run", ...total, time: seconds(report.elapsedMs) })}>`;
  return ['<?xml version="1.0" encoding="UTF-8"?>', root, ...suites, "</testsuites>", ""].join("\n");
}
