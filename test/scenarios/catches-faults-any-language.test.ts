import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers.js";
import { runScenarios, scenarioOf } from "./run-scenarios.js";

// The fs fault scenarios on adapters that are not Node.js: walcheck injects the faults through
// the C preload (LD_PRELOAD, harness/faults/power/recorder.c) instead of skipping them, and says
// why when even that cannot reach the adapter (a statically linked program).

const FAULT_SCENARIOS = ["disk-full", "read-only", "fsync-error", "slow-storage"];
const PY_WAL = `python3 ${path.resolve("examples/python/wal.py")}`;
const PY_BUG = `python3 ${path.resolve("test/fixtures/adapters/py_bug_ack_after_fsync_error.py")}`;

describe("fs faults reach adapters in any language through the C preload", () => {
  it("the four fault scenarios run (not skipped) on the Python example and it passes them", async () => {
    const r = await runScenarios([
      "--adapter-cmd",
      PY_WAL,
      "--scenarios",
      FAULT_SCENARIOS.join(","),
      "--seed",
      "1",
      "--runs",
      "1",
    ]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    for (const name of FAULT_SCENARIOS) {
      const entry = scenarioOf(r.report, name);
      expect(entry.status, `${name}: ${entry.reason ?? ""}`).toBe("passed");
      expect(entry.cases.run).toBe(1);
    }
    expect(r.report.skipped ?? []).toEqual([]);
  }, 120_000);

  it("fsync-error catches a Python WAL that acks after a failed fsync (its retry succeeds)", async () => {
    const r = await runScenarios([
      "--adapter-cmd",
      PY_BUG,
      "--scenarios",
      "fsync-error",
      "--seed",
      "1",
      "--runs",
      "4",
      "--shrink-budget",
      "1s",
    ]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(1);
    const entry = scenarioOf(r.report, "fsync-error");
    expect(entry.status).toBe("failed");
    // The batch whose fsync failed is acked and gone: lost (durability), or, the next record
    // landing where it was, a log its own recovery refuses for the gap (recovery).
    expect(["durability", "no-ack-after-fsync-error", "recovery"]).toContain(entry.failures[0]!.violation.invariant);
    expect(r.stdout).toContain("VIOLATION in fsync-error case");
    expect(r.stdout).toMatch(/replay: npx walcheck run --adapter-cmd .+ --replay [A-Za-z0-9_-]+/);
  }, 120_000);

  it("a Node adapter whose I/O is native (--adapter sqlite) gets the faults through the C preload too, and passes fsync-error", async () => {
    const r = await runScenarios(["--adapter", "sqlite", "--scenarios", "fsync-error", "--seed", "1", "--runs", "2"]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(scenarioOf(r.report, "fsync-error")).toMatchObject({ status: "passed", cases: { run: 2 } });
    // The EIO reached SQLite's own I/O: it refused what it could not make durable.
    const [, opens, appends] = /fsync-error .*refused: (\d+) opens, (\d+) appends/.exec(r.stdout) ?? [];
    expect(Number(opens) + Number(appends), r.stdout).toBeGreaterThan(0);
  }, 120_000);

  it("a statically linked adapter: the fault scenarios are skipped with the reason", async (ctx) => {
    const bin = path.join(await tempDir(), "static-wal");
    const cc = await execa("cc", ["-O1", "-static", "-o", bin, path.resolve("test/fixtures/adapters/static-wal.c")], {
      reject: false,
    });
    if (cc.exitCode !== 0) ctx.skip(`cc -static cannot build here: ${cc.stderr.slice(0, 200)}`);
    const r = await runScenarios(["--adapter-cmd", bin, "--scenarios", "disk-full,crash-append", "--runs", "1"]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const skipped = scenarioOf(r.report, "disk-full");
    expect(skipped.status).toBe("skipped");
    expect(skipped.reason).toMatch(/C preload \(LD_PRELOAD\) saw none of the adapter's writes for \d+ acknowledged/);
    expect(skipped.reason).toContain("statically linked");
    expect(r.stdout).toMatch(/disk-full.*statically linked/);
  }, 120_000);
});
