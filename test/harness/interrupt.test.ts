import fs from "node:fs";
import { randomUUID } from "node:crypto";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { CLI, processesMarked, readOnlyReport, tempDir, waitForOutput } from "../helpers.js";

describe("Ctrl-C", () => {
  it("SIGINT during a smoke run kills the adapter child, removes temp directories, keeps a valid partial report, exits 130", async () => {
    const tmp = await tempDir();
    const reportDir = await tempDir();
    const mark = randomUUID();
    const run = execa(
      process.execPath,
      [CLI, "smoke", "--seed", "5", "--cycles", "500", "--report-dir", reportDir, "--recovery-threshold", "5000"],
      {
        reject: false,
        env: { TMPDIR: tmp, WALCHECK_LOG_LEVEL: "debug", WALCHECK_TEST_MARK: mark },
      },
    );
    // Wait (on output, not on time) until a few cycles are done and a child is running.
    await waitForOutput(run.stderr!, "cycle 3/");
    expect(fs.readdirSync(tmp).length).toBeGreaterThan(0);
    run.kill("SIGINT");
    const result = await run;
    expect(result.exitCode).toBe(130);
    expect(result.stdout).toContain("INTERRUPTED (seed 5)");
    expect(fs.readdirSync(tmp)).toEqual([]);
    expect(processesMarked(mark)).toEqual([]);
    const report = readOnlyReport(reportDir);
    expect(report.status).toBe("interrupted");
    expect(report.cyclesRun).toBeGreaterThanOrEqual(3);
  });
});
