import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { CLI, tempDir } from "../helpers.js";

// `walcheck run` end to end: real adapter processes, real SIGKILL, fs-call crash points
// through the preload. Recovery-time thresholds are set high here except where that
// invariant is the subject (a loaded CI machine is not a slow WAL).

// The general crash campaign unless a test picks scenarios; latency levels only warn here
// (they gate in catalogue.test.ts, where they are the subject).
async function walcheckRun(args: string[]) {
  const reportDir = await tempDir();
  const defaults = [
    ...(args.includes("--scenarios") ? [] : ["--scenarios", "crash-mixed"]),
    ...(args.includes("--latency") ? [] : ["--latency", "warn"]),
  ];
  const result = await execa(process.execPath, [CLI, "run", "--report-dir", reportDir, ...defaults, ...args], {
    reject: false,
    env: { WALCHECK_LOG_LEVEL: "warn", GITHUB_STEP_SUMMARY: "" },
  });
  const runs = fs.existsSync(reportDir) ? fs.readdirSync(reportDir) : [];
  const report = runs.length
    ? JSON.parse(fs.readFileSync(path.join(reportDir, runs[0]!, "report.json"), "utf8"))
    : undefined;
  return { ...result, report };
}

const fixture = (name: string) => path.resolve("test/fixtures/adapters", `${name}.mjs`);

/**
 * A bug fixture's failing run (seed 1): the table below runs each, and the --replay test reads
 * ack-before-fsync's again instead of running it a second time (the same first failing case, shrunk
 * the same way: seed 1 fails at its case 1 however many cases are planned).
 */
const failingRuns = new Map<string, ReturnType<typeof walcheckRun>>();
function failingRun(bug: string) {
  let run = failingRuns.get(bug);
  if (!run) {
    run = walcheckRun([
      "--adapter",
      fixture(`bug-${bug}`),
      "--seed",
      "1",
      "--runs",
      "300",
      "--budget",
      "60s",
      "--recovery-threshold",
      "5000",
    ]);
    failingRuns.set(bug, run);
  }
  return run;
}

describe("walcheck run", () => {
  it("the reference WAL holds every invariant under named, fs-call and SIGKILL crashes (exit 0, JSON report)", async () => {
    const r = await walcheckRun(["--seed", "11", "--runs", "4", "--workers", "2", "--recovery-threshold", "5000"]);
    expect(r.stdout).toContain("walcheck run — PASSED (seed 11, 4/4 cases");
    expect(r.exitCode).toBe(0);
    expect(r.report).toMatchObject({
      kind: "walcheck-run",
      status: "passed",
      seed: 11,
      cases: { planned: 4, run: 4, passed: 4, failed: 0 },
    });
    expect(r.report.crash).toEqual(["named", "signal", "fs"]);
    expect(r.report.cycles).toBeGreaterThan(4);
    expect(r.report.batches.acked).toBeGreaterThan(20);
  }, 180_000);

  it("SQLite in WAL mode with synchronous=FULL shows no violation; fs crash points reach its native I/O through the C preload", async () => {
    const r = await walcheckRun(["--adapter", "sqlite", "--seed", "3", "--runs", "3", "--recovery-threshold", "5000"]);
    expect(r.stdout).toContain("PASSED");
    expect(r.exitCode).toBe(0);
    expect(r.report.crash).toEqual(["named", "signal", "fs"]);
    expect(r.report.fsCallsPerLife).toBeGreaterThanOrEqual(4);
    expect(r.report.hello.name).toMatch(/^sqlite 3\.\d+/);
  }, 300_000);

  it("an adapter in another language (Python, over --adapter-cmd) is driven with SIGKILL and fs-call crashes and passes", async () => {
    const r = await walcheckRun([
      "--adapter-cmd",
      `python3 ${fixture("py_wal").replace(/\.mjs$/, ".py")}`,
      "--seed",
      "1",
      "--runs",
      "2",
      "--recovery-threshold",
      "5000",
    ]);
    expect(r.stdout).toContain("PASSED");
    expect(r.exitCode).toBe(0);
    // Not Node: fs-call points through the C preload; no named points in its hello.
    expect(r.report.crash).toEqual(["signal", "fs"]);
    expect(r.report.hello.name).toBe("py-wal");
    expect(r.report.cycles).toBeGreaterThan(0);
  });

  it("a correct adapter module passes", async () => {
    const r = await walcheckRun([
      "--adapter",
      fixture("simple-wal"),
      "--seed",
      "5",
      "--runs",
      "4",
      "--recovery-threshold",
      "5000",
    ]);
    expect(r.stdout).toContain("PASSED");
    expect(r.exitCode).toBe(0);
  });

  const bugs: [string, string[]][] = [
    ["ack-before-fsync", ["durability"]],
    ["truncate-before-snapshot", ["durability"]],
    ["batch-as-records", ["atomicity", "sequence"]],
    ["split-newline", ["recovery", "durability", "atomicity"]],
    ["seq-restart", ["durability", "sequence"]],
  ];
  it.each(bugs)(
    "catches %s: exit 1, the invariant named, a shrunk case, a replay line and the kept directory",
    async (bug, invariants) => {
      const r = await failingRun(bug);
      expect(r.exitCode, r.stdout + r.stderr).toBe(1);
      const failure = r.report.failures[0];
      expect(invariants).toContain(failure.violation.invariant);
      expect(r.stdout).toContain(`invariant ${failure.violation.invariant} violated`);
      expect(r.stdout).toMatch(/replay: npx walcheck run --adapter \S+ --replay [A-Za-z0-9_-]+/);
      expect(fs.existsSync(path.join(failure.keptDir, "wal"))).toBe(true);
      expect(fs.readFileSync(path.join(failure.keptDir, "violation.txt"), "utf8")).toContain(
        failure.violation.invariant,
      );
    },
    180_000,
  );

  it("--replay runs the shrunk case again and finds the same violation", async () => {
    const first = await failingRun("ack-before-fsync");
    expect(first.exitCode).toBe(1);
    const token = /--replay (\S+)/.exec(first.stdout)![1]!;
    const again = await walcheckRun([
      "--adapter",
      fixture("bug-ack-before-fsync"),
      "--replay",
      token,
      "--recovery-threshold",
      "5000",
    ]);
    expect(again.exitCode).toBe(1);
    expect(again.report.failures[0].violation.invariant).toBe(first.report.failures[0].violation.invariant);
    expect(again.report.failures[0].commands).toBe(first.report.failures[0].commands);
  });

  it("--shrink-budget 0s reports the case as found (shrunk 0 times), and its replay still reproduces it; a bad duration is exit 2", async () => {
    const args = ["--adapter", fixture("bug-ack-before-fsync"), "--seed", "1", "--runs", "50"];
    const found = await walcheckRun([...args, "--shrink-budget", "0s", "--recovery-threshold", "5000"]);
    expect(found.exitCode, found.stdout + found.stderr).toBe(1);
    const failure = found.report.failures[0];
    expect(failure.shrinks).toBe(0);
    expect(found.stdout).toMatch(/VIOLATION in crash-mixed case \d+ \(case seed \d+\), shrunk 0 times/);
    const token = /--replay (\S+)/.exec(found.stdout)![1]!;
    // The same recovery threshold as the run: a slow recovery on a loaded machine is not what is replayed.
    const again = await walcheckRun([
      ...["--adapter", fixture("bug-ack-before-fsync"), "--replay", token, "--recovery-threshold", "5000"],
    ]);
    expect(again.exitCode, again.stdout + again.stderr).toBe(1);
    expect(again.report.failures[0].commands).toBe(failure.commands);
    const bad = await walcheckRun([...args, "--shrink-budget", "soon"]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('--shrink-budget must be a duration like 10s, 0s or 500ms, got "soon"');
  });

  it("a recovery over the threshold is a recovery-time violation", async () => {
    const r = await walcheckRun(["--adapter", fixture("slow-recovery"), "--seed", "1", "--runs", "1"]);
    expect(r.exitCode).toBe(1);
    expect(r.report.failures[0].violation.invariant).toBe("recovery-time");
    expect(r.stdout).toContain("recovery took 500.0 ms, over the 200 ms threshold");
  });

  it("--shard i/n runs a deterministic slice", async () => {
    const r = await walcheckRun([
      "--seed",
      "2",
      "--runs",
      "4",
      "--shard",
      "2/2",
      "--crash",
      "signal",
      "--recovery-threshold",
      "5000",
    ]);
    expect(r.exitCode).toBe(0);
    expect(r.report).toMatchObject({ shard: "2/2", cases: { planned: 2, run: 2 }, crash: ["signal"] });
  });

  it("reads walcheck.config.mjs (defineConfig) and names a bad field with its path", async () => {
    const dir = await tempDir();
    const good = path.join(dir, "walcheck.config.mjs");
    fs.writeFileSync(
      good,
      `export default { seed: 77, runs: 1, crash: "signal", recoveryThresholdMs: 5000, budget: "1h" };\n`,
    );
    const r = await walcheckRun(["--config", good]);
    expect(r.exitCode).toBe(0);
    expect(r.report).toMatchObject({ seed: 77, cases: { run: 1 }, crash: ["signal"] });

    const bad = path.join(dir, "bad.json");
    fs.writeFileSync(bad, JSON.stringify({ runs: 0, crash: "sometimes", adapterConfig: [], budget: "soon" }));
    const b = await walcheckRun(["--config", bad]);
    expect(b.exitCode).toBe(2);
    expect(b.stderr).toContain("runs:");
    expect(b.stderr).toContain("crash:");
    expect(b.stderr).toContain("adapterConfig:");
    expect(b.stderr).toContain("budget:");
  });

  it("bad input is a usage or adapter error: exit 2 with a message", async () => {
    const cases: [string[], string][] = [
      [["--shard", "3/2"], "--shard must be i/n"],
      [["--crash", "sometimes"], "argument 'sometimes' is invalid"],
      [["--replay", "not-a-token"], "--replay:"],
      [["--exhaustive", "--adapter-cmd", "python3 my_adapter.py"], "need a Node.js adapter"],
      [["--adapter-cmd", "/no/such/adapter --flag"], "ADAPTER_START"],
      [["--adapter", "no/such/file.js"], "no such file"],
      [["--adapter", "x.js", "--adapter-cmd", "y"], "not both"],
      [["--budget", "soon"], "--budget must be a duration"],
    ];
    // A report directory that is a file: refused before any case runs, not by mkdir after them.
    const file = path.join(await tempDir(), "a-file");
    fs.writeFileSync(file, "keep me");
    cases.push([["--report-dir", file], `--report-dir ${file}: it exists and is not a directory`]);
    for (const [args, message] of cases) {
      const r = await walcheckRun(args);
      expect(r.exitCode, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr + r.stdout).toContain(message);
    }
    expect(fs.readFileSync(file, "utf8")).toBe("keep me");
  });
});
