import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { ExhaustiveReportSchema } from "../../reports/report-schema.js";
import { CLI, tempDir } from "../helpers.js";

async function walcheckRun(args: string[]) {
  const reportDir = await tempDir();
  const result = await execa(
    process.execPath,
    [CLI, "run", "--report-dir", reportDir, "--recovery-threshold", "5000", ...args],
    { reject: false, env: { WALCHECK_LOG_LEVEL: "warn", GITHUB_STEP_SUMMARY: "" } },
  );
  const [run] = fs.readdirSync(reportDir);
  const report = run ? JSON.parse(fs.readFileSync(path.join(reportDir, run, "report.json"), "utf8")) : undefined;
  return { ...result, report };
}

describe("walcheck run --exhaustive", () => {
  it("checks every fs-call crash point of the seed's workload on the reference WAL: all fire, none violates", async () => {
    const r = await walcheckRun(["--exhaustive", "--seed", "4"]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.report).toMatchObject({ kind: "walcheck-run-exhaustive", status: "passed", seed: 4 });
    // The report is what its schema (and docs/schema/) says it is.
    expect(ExhaustiveReportSchema.safeParse(r.report).error).toBeUndefined();
    expect(r.report.calls).toBeGreaterThan(20);
    // before and after for every call, plus mid-way through every write.
    expect(r.report.points).toBeGreaterThan(2 * r.report.calls);
    expect(r.report.checked).toBe(r.report.points);
    expect(r.report.fired).toBe(r.report.points);
  }, 300_000);

  it("finds the exact call where a checkpoint that truncates before its snapshot is durable loses data, and replays it", async () => {
    const fixture = path.resolve("test/fixtures/adapters/bug-truncate-before-snapshot.mjs");
    const r = await walcheckRun(["--exhaustive", "--seed", "4", "--adapter", fixture]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(1);
    expect(ExhaustiveReportSchema.safeParse(r.report).error).toBeUndefined();
    const failure = r.report.failures[0];
    expect(failure.violation.invariant).toBe("durability");
    expect(r.stdout).toContain(`VIOLATION at fs call #${failure.point.call} (${failure.point.when})`);
    const token = /--replay (\S+)/.exec(r.stdout)![1]!;
    const again = await walcheckRun(["--adapter", fixture, "--replay", token]);
    expect(again.exitCode).toBe(1);
    expect(again.report).toMatchObject({
      points: 1,
      failures: [{ point: failure.point, violation: { invariant: "durability" } }],
    });
  }, 300_000);
});
