import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers.js";
import { runScenarios, scenarioOf } from "./run-scenarios.js";

// fs-call crash points on adapters that are not Node.js: walcheck takes them through the C
// preload (LD_PRELOAD, harness/faults/power/recorder.c in crash mode) instead of skipping them,
// and says why when even that cannot reach the adapter (a statically linked program).

const PY_WAL = `python3 ${path.resolve("examples/python/wal.py")}`;
const PY_REWRITE = `python3 ${path.resolve("test/fixtures/adapters/py_bug_recovery_rewrite.py")}`;
const PY_TIDY = `python3 ${path.resolve("test/fixtures/adapters/py_tidy_after_close.py")}`;

/** The report's fs-call crashes, summed over their kinds. */
const fsCrashes = (report: { crashes: { fs: Record<string, number> } }) =>
  Object.values(report.crashes.fs).reduce((a, b) => a + b, 0);

/** `walcheck run` of `scenarios` on the adapter command `cmd`, with a seed and a number of runs. */
const runOn = (cmd: string, scenarios: string, seed: number, runs: number, ...more: string[]) =>
  runScenarios([
    "--adapter-cmd",
    cmd,
    "--scenarios",
    scenarios,
    "--seed",
    String(seed),
    "--runs",
    String(runs),
    ...more,
  ]);

describe("fs-call crash points reach adapters in any language through the C preload", () => {
  // Its repair rewrites the log in place (truncate to 0, write the records back): a SIGKILL never
  // tears its single-write records, so only a write cut in half (mid) leaves a tail to repair,
  // and only a crash inside that repair loses acked records. Seeds 1 to 8 each catch it within
  // 8 cases (seed 1: the third).
  it("crash-recovery catches a Python WAL whose torn-tail repair rewrites the log in place", async () => {
    const r = await runOn(PY_REWRITE, "crash-recovery", 1, 12, "--shrink-budget", "1s");
    expect(r.exitCode, r.stdout + r.stderr).toBe(1);
    const entry = scenarioOf(r.report, "crash-recovery");
    expect(entry.status).toBe("failed");
    expect(["durability", "atomicity", "sequence"]).toContain(entry.failures[0]!.violation.invariant);
    expect(fsCrashes(r.report)).toBeGreaterThan(0);
    expect(r.stdout).toMatch(/replay: npx walcheck run --adapter-cmd .+ --replay [A-Za-z0-9_-]+/);
  }, 180_000);

  it("crash-append and torn-tail, one recovery each, pass that same WAL (with fs crashes in crash-append)", async () => {
    const r = await runOn(PY_REWRITE, "crash-append,torn-tail", 1, 4);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(scenarioOf(r.report, "crash-append")).toMatchObject({ status: "passed", cases: { run: 4 } });
    expect(scenarioOf(r.report, "torn-tail")).toMatchObject({ status: "passed", cases: { run: 4 } });
    expect(fsCrashes(r.report)).toBeGreaterThan(0);
  }, 180_000);

  it("the Python example passes crash-recovery and crash-append with fs-call crashes reaching it", async () => {
    const r = await runOn(PY_WAL, "crash-recovery,crash-append", 1, 4);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.report.crash).toContain("fs");
    expect(r.report.fsCallsPerLife).toBeGreaterThanOrEqual(4);
    expect(fsCrashes(r.report)).toBeGreaterThan(0);
    // Some of them inside open, aimed by a dry run of the recovery under the C preload.
    expect(
      Object.keys(r.report.crashes.fs).some((k) => k.endsWith("in open")),
      JSON.stringify(r.report.crashes),
    ).toBe(true);
  }, 180_000);

  // Its close answers first, then fsyncs and closes its files (a runtime tidying up on the way
  // out), so an fs-call crash point can fire after the answer. That is a crash like any other,
  // judged by recovery. walcheck once called it ADAPTER_EXITED: exit 2 in seed 2's first case.
  it("a crash at an fs call made after close was answered is a crash, judged by recovery, not an adapter error", async () => {
    const r = await runOn(PY_TIDY, "crash-append", 2, 4);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(scenarioOf(r.report, "crash-append")).toMatchObject({ status: "passed", cases: { run: 4 } });
    expect(fsCrashes(r.report)).toBeGreaterThan(0);
  }, 180_000);

  it("a statically linked adapter: --crash fs is a usage error with the reason", async (ctx) => {
    const bin = path.join(await tempDir(), "static-wal");
    const cc = await execa("cc", ["-O1", "-static", "-o", bin, path.resolve("test/fixtures/adapters/static-wal.c")], {
      reject: false,
    });
    if (cc.exitCode !== 0) ctx.skip(`cc -static cannot build here: ${cc.stderr.slice(0, 200)}`);
    const r = await runScenarios(["--adapter-cmd", bin, "--crash", "fs", "--scenarios", "crash-append", "--runs", "1"]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(
      /--crash fs: the adapter is not a Node.js process, and the C preload \(LD_PRELOAD\) counted 0 fs calls/,
    );
    expect(r.stderr).toContain("statically linked");
  }, 120_000);
});
