import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { expect, it } from "vitest";
import { CLI, tempDir } from "../helpers.js";

/** `walcheck run` on some scenarios, with its parsed JSON report. Latency only warns unless the test says otherwise. */
export async function runScenarios(args: string[]) {
  const reportDir = await tempDir();
  const defaults = args.includes("--latency") ? [] : ["--latency", "warn"];
  const result = await execa(
    process.execPath,
    [CLI, "run", "--report-dir", reportDir, "--recovery-threshold", "5000", ...defaults, ...args],
    {
      reject: false,
      env: { WALCHECK_LOG_LEVEL: "warn", GITHUB_STEP_SUMMARY: "" },
    },
  );
  const runs = fs.existsSync(reportDir) ? fs.readdirSync(reportDir) : [];
  const report = runs.length
    ? JSON.parse(fs.readFileSync(path.join(reportDir, runs[0]!, "report.json"), "utf8"))
    : undefined;
  return { ...result, report, reportDir: runs.length ? path.join(reportDir, runs[0]!) : undefined };
}

export const fixture = (name: string) => path.resolve("test/fixtures/adapters", `${name}.mjs`);

/** The report's entry for one scenario. */
export function scenarioOf(report: { scenarios: { name: string }[] }, name: string) {
  const found = report.scenarios.find((s) => s.name === name);
  if (!found) throw new Error(`no scenario ${name} in the report: ${report.scenarios.map((s) => s.name).join(", ")}`);
  return found as {
    name: string;
    status: string;
    reason?: string;
    cases: { run: number; passed: number; failed: number };
    failures: { violation: { invariant: string; message: string } }[];
  };
}

/**
 * One test per (scenario, bug): the scenario run against a fixture adapter with that bug
 * must fail (exit 1) in that scenario, naming one of `invariants`, with a replay line
 * (`extraArgs` go on the command line after the others).
 */
export function catchesBugs(
  cases: [scenario: string, fixtureName: string, invariants: string[], seed?: number, extraArgs?: string[]][],
): void {
  it.each(cases)(
    "%s catches %s",
    async (scenario, name, invariants, seed = 1, extraArgs = []) => {
      const r = await runScenarios([
        "--adapter",
        fixture(name),
        "--scenarios",
        scenario,
        "--seed",
        String(seed),
        "--runs",
        "40",
        "--budget",
        "60s",
        // Shrinking is tested in run.test.ts; here a short one keeps the table cheap.
        "--shrink-budget",
        "2s",
        ...extraArgs,
      ]);
      expect(r.exitCode, r.stdout + r.stderr).toBe(1);
      const entry = scenarioOf(r.report, scenario);
      expect(entry.status).toBe("failed");
      expect(invariants).toContain(entry.failures[0]!.violation.invariant);
      expect(r.stdout).toContain(`VIOLATION in ${scenario} case`);
      expect(r.stdout).toMatch(/replay: npx walcheck run --adapter \S+ --replay [A-Za-z0-9_-]+/);
    },
    180_000,
  );
}
