import fs from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { execa } from "execa";
import { afterEach, describe, expect, it } from "vitest";
import { splitCommand } from "../../harness/engine/adapter-launch.js";
import { UsageError } from "../../harness/protocol/errors.js";
import { CLI, processesMarked, readOnlyReport, tempDir, waitForOutput } from "../helpers.js";

// Wrappers around the adapter (npx tsx, cargo run, uv run, a shell script): walcheck starts
// every adapter in a process group of its own and kills the whole group, at every crash and
// at the end, so no WAL process outlives its "crash" with its lock held; and --adapter-cmd is
// split as a shell splits words. The adapter here is a Python WAL that holds an exclusive
// flock and refuses to open while another process holds it, lives on after its stdin closes,
// and (PY_WAL_HELPER=1) forks a helper that inherits the lock and the pipes; it runs under
// test/fixtures/adapters/wrapper.sh, which starts it as a child rather than exec'ing it.

const adapters = path.resolve("test/fixtures/adapters");
const LINGERING = `sh ${adapters}/wrapper.sh python3 ${adapters}/py_locked_wal.py`;

// Processes a test started and a failing run left behind: killed, so one failure stays one.
const marks: string[] = [];
afterEach(() => {
  for (const mark of marks.splice(0))
    for (const pid of processesMarked(mark)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
});

function run(args: string[], env: Record<string, string> = {}) {
  const mark = randomUUID();
  marks.push(mark);
  const child = execa(process.execPath, [CLI, ...args], {
    reject: false,
    // A run that hangs (a wrapper's orphan holding its pipes) is ended, and the test fails on it.
    timeout: 150_000,
    env: { WALCHECK_TEST_MARK: mark, GITHUB_STEP_SUMMARY: "", WALCHECK_LOG_LEVEL: "warn", ...env },
  });
  return { child, mark };
}

describe("adapters in process groups", () => {
  it("a wrapper's WAL and its helper die at every crash (SIGKILL from walcheck, or the WAL's own crash point): recovery never meets the lock held, and nothing is left", async () => {
    const reportDir = await tempDir();
    const { child, mark } = run(
      [
        "run",
        "--adapter-cmd",
        LINGERING,
        "--scenarios",
        "crash-mixed,crash-append",
        "--runs",
        "2",
        "--seed",
        "3",
        "--report-dir",
        reportDir,
        "--recovery-threshold",
        "5000",
        "--latency",
        "warn",
      ],
      { PY_WAL_HELPER: "1" },
    );
    const r = await child;
    expect(r.stdout).toContain("walcheck run — PASSED (seed 3, 4/4 cases");
    expect(r.exitCode).toBe(0);
    const report = readOnlyReport(reportDir);
    expect(report.cases).toMatchObject({ planned: 4, run: 4, passed: 4 });
    // Both kinds of crash happened: walcheck's SIGKILL, and the WAL killing itself under the wrapper.
    expect(report.crashes.signal).toBeGreaterThan(0);
    expect(Object.values(report.crashes.named as Record<string, number>).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(processesMarked(mark)).toEqual([]);
  }, 180_000);

  it("Ctrl-C: walcheck kills every adapter group itself, exits 130, says how many of the planned cases ran, and leaves no process", async () => {
    const reportDir = await tempDir();
    const { child, mark } = run(
      [
        "run",
        "--adapter-cmd",
        LINGERING,
        "--scenarios",
        "crash-mixed",
        "--runs",
        "200",
        "--seed",
        "5",
        "--report-dir",
        reportDir,
        "--recovery-threshold",
        "5000",
        "--latency",
        "warn",
      ],
      { PY_WAL_HELPER: "1" },
    );
    // Wait (on output, not time) until a case is done and more are running.
    await waitForOutput(child.stderr!, "case 1/");
    child.kill("SIGINT");
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(r.stdout).toMatch(/walcheck run — INTERRUPTED \(seed 5, \d+ of 200 planned cases ran, /);
    expect(readOnlyReport(reportDir).status).toBe("interrupted");
    expect(processesMarked(mark)).toEqual([]);
  }, 180_000);
});

describe("the verdict line", () => {
  it("says how many of the planned cases ran when the budget ran out first", async () => {
    const reportDir = await tempDir();
    const { child } = run([
      "run",
      ...["--scenarios", "crash-append", "--runs", "200", "--budget", "3s", "--seed", "4"],
      ...["--report-dir", reportDir, "--recovery-threshold", "5000", "--latency", "warn"],
    ]);
    const r = await child;
    expect(r.exitCode).toBe(0);
    const { cases } = readOnlyReport(reportDir);
    expect(cases.run).toBeLessThan(200);
    expect(r.stdout).toContain(`walcheck run — PASSED (seed 4, ${cases.run} of 200 planned cases ran, `);
  });
});

/** Resolves once a process marked `mark` has `text` in its command line (waiting on /proc, not on time). */
async function processStarted(mark: string, text: string): Promise<void> {
  for (;;) {
    for (const pid of processesMarked(mark)) {
      try {
        if (fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(text)) return;
      } catch {
        // gone
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("Ctrl-C while an adapter is being started", () => {
  // An "adapter" under a wrapper that never answers hello: walcheck is still probing it.
  const probing = async (command: string) => {
    const reportDir = await tempDir();
    const args =
      command === "list"
        ? ["list", "--adapter-cmd", `sh ${adapters}/wrapper.sh sleep 617`]
        : [
            "run",
            "--adapter-cmd",
            `sh ${adapters}/wrapper.sh sleep 617`,
            "--timeout",
            "120000",
            "--report-dir",
            reportDir,
          ];
    const { child, mark } = run(args);
    await processStarted(mark, "sleep\u0000617");
    child.kill("SIGINT");
    return { r: await child, mark };
  };

  it("walcheck list, which does not listen for it, ends as Ctrl-C ends it and kills the adapter group", async () => {
    const { r, mark } = await probing("list");
    expect(r.signal ?? r.exitCode).toBe("SIGINT");
    expect(processesMarked(mark)).toEqual([]);
  }, 180_000);

  it("walcheck run, in its pre-flight, exits 130 and kills the adapter group", async () => {
    const { r, mark } = await probing("run");
    expect(r.exitCode).toBe(130);
    expect(processesMarked(mark)).toEqual([]);
  }, 180_000);
});

describe("--adapter-cmd is split as a shell splits words, without a shell", () => {
  it("quotes and backslashes: a path with spaces and a bash -c command run as written", async () => {
    const dir = path.join(await tempDir(), "my adapters");
    fs.mkdirSync(dir);
    const wal = path.join(dir, "py wal.py");
    fs.copyFileSync(path.join(adapters, "py_wal.py"), wal);
    const escaped = wal.replace(/ /g, "\\ ");
    for (const command of [`bash -c 'python3 "${wal}"; true'`, `python3 ${escaped}`]) {
      const reportDir = await tempDir();
      const { child } = run([
        "run",
        ...["--adapter-cmd", command, "--scenarios", "torn-tail", "--runs", "1", "--report-dir", reportDir],
        ...["--recovery-threshold", "5000", "--latency", "warn"],
      ]);
      const r = await child;
      expect(r.stdout).toContain("walcheck run — PASSED");
      expect(r.exitCode).toBe(0);
    }
  });

  it("splits like sh: quotes, escapes, quotes inside words", () => {
    expect(splitCommand("--adapter-cmd", `bash -c 'python3 wal.py; true'`)).toEqual([
      "bash",
      "-c",
      "python3 wal.py; true",
    ]);
    expect(splitCommand("--adapter-cmd", `a "b c" d\\ e 'it'"'"'s' "x\\"y" '$HOME' ''`)).toEqual([
      "a",
      "b c",
      "d e",
      "it's",
      'x"y',
      "$HOME",
      "",
    ]);
  });

  it.each([
    ["python3 wal.py | tee log", "the shell operator |"],
    ["python3 wal.py && true", "the shell operator &&"],
    ["python3 wal.py; true", "the shell operator ;"],
    ["python3 wal.py 2> err.log", "the shell operator >"],
    ["python3 *.py", "the glob *.py"],
    ["python3 $HOME/wal.py", "$HOME is not expanded"],
    ["python3 $(pwd)/wal.py", "command substitution $(...)"],
  ])("refuses %s, naming what it cannot do", (command, named) => {
    let error: unknown;
    try {
      splitCommand("--adapter-cmd", command);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toContain(named);
    expect((error as Error).message).toContain(`--adapter-cmd "bash -c '...'"`);
  });

  it("a shell operator in --adapter-cmd or --outbox-cmd is a usage error (exit 2) naming it, before anything starts", async () => {
    const reportDir = await tempDir();
    const a = await run(["run", "--adapter-cmd", `python3 ${adapters}/py_wal.py | tee log`, "--report-dir", reportDir])
      .child;
    expect(a.exitCode).toBe(2);
    expect(a.stderr).toContain("the shell operator | is not supported");
    expect(a.stderr).toContain(`--adapter-cmd "bash -c '...'"`);
    const o = await run(["outbox", "chaos", "--outbox-cmd", "node outbox.mjs && true", "--report-dir", reportDir])
      .child;
    expect(o.exitCode).toBe(2);
    expect(o.stderr).toContain("the shell operator && is not supported");
    expect(o.stderr).toContain(`--outbox-cmd "bash -c '...'"`);
  });
});
