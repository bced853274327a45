import fs from "node:fs";
import { randomUUID } from "node:crypto";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { CLI, processesMarked, readOnlyReport, tempDir, waitForOutput } from "../helpers.js";

describe("walcheck run and Ctrl-C", () => {
  it("SIGINT kills every adapter child, removes temp directories, keeps the partial report and exits 130", async () => {
    const tmp = await tempDir();
    const reportDir = await tempDir();
    const mark = randomUUID();
    const run = execa(
      process.execPath,
      [
        CLI,
        "run",
        "--scenarios",
        "crash-mixed",
        "--seed",
        "9",
        "--runs",
        "500",
        "--report-dir",
        reportDir,
        "--recovery-threshold",
        "5000",
      ],
      {
        reject: false,
        env: { TMPDIR: tmp, WALCHECK_TEST_MARK: mark, GITHUB_STEP_SUMMARY: "" },
      },
    );
    // Wait (on output, not time) until two cases are done and more are running.
    await waitForOutput(run.stderr!, "case 2/");
    run.kill("SIGINT");
    const result = await run;
    expect(result.exitCode).toBe(130);
    expect(result.stdout).toContain("walcheck run — INTERRUPTED (seed 9");
    expect(fs.readdirSync(tmp)).toEqual([]);
    expect(processesMarked(mark)).toEqual([]);
    const report = readOnlyReport(reportDir);
    expect(report.status).toBe("interrupted");
    expect(report.cases.run).toBeGreaterThanOrEqual(2);
  });
});
