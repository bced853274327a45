import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { CLI, processesMarked, tempDir, waitForOutput } from "../helpers.js";
import { report, slowWal, task, walcheck, writeJson } from "./bench-helpers.js";

// Never a fake result: an adapter that refuses, crashes or hangs mid-benchmark ends the run
// with exit 2, naming the subject, the task and what the adapter said, and no report; and
// nothing (process or temp directory) is left behind, Ctrl-C included.

const appendOnly = ["--no-compare", "--suites", "append", "--batch-sizes", "1", "--concurrency", "1", "--time", "100"];

async function failing(how: string, extra: string[] = []) {
  const tmp = await tempDir();
  const out = path.join(await tempDir(), "out");
  const mark = `bench-${how}-${process.pid}-${Date.now()}`;
  const r = await walcheck(["bench", "--adapter-cmd", slowWal(0), ...appendOnly, "--out", out, ...extra], {
    // The append task makes at least 4 warmup and 8 measured appends whatever the machine's
    // load (bench-run.ts's minimum iterations), so the 6th append always falls inside it.
    SLOW_WAL_FAIL: `5:${how}`,
    TMPDIR: tmp,
    WALCHECK_TEST_MARK: mark,
  });
  expect(fs.existsSync(out)).toBe(false);
  expect(processesMarked(mark)).toEqual([]);
  expect(fs.readdirSync(tmp)).toEqual([]);
  return r;
}

describe("walcheck bench: an adapter failing mid-benchmark is exit 2, never a figure", () => {
  it("an append answered ok:false", async () => {
    const r = await failing("refuse");
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(
      "walcheck bench: ADAPTER_REFUSED: subject adapter, task adapter/append/b1/c1: the adapter answered append with ok:false: ENOSPC: no space left (refused on purpose after 5 appends)",
    );
  });

  it("an adapter that dies mid-task: its exit code and stderr", async () => {
    const r = await failing("exit");
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(
      "walcheck bench: ADAPTER_EXITED: subject adapter, task adapter/append/b1/c1: the adapter exited with code 3",
    );
    expect(r.stderr).toContain("slow-wal: crashing on purpose after 5 appends");
  });

  it("an adapter that stops answering: the request, past --timeout", async () => {
    // Room for a loaded machine to start the adapter; the hang is caught all the same.
    const r = await failing("hang", ["--timeout", "2500"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(
      /walcheck bench: ADAPTER_TIMEOUT: subject adapter, task adapter\/append\/b1\/c1: no answer to append \(id \d+\) within 2500 ms/,
    );
  });
});

describe("walcheck bench: usage errors are exit 2 before anything runs", () => {
  it("nothing to measure, an unknown suite or subject, a bad size, a malformed baseline", async () => {
    const nothing = await walcheck(["bench", "--no-compare"]);
    expect(nothing.exitCode).toBe(2);
    expect(nothing.stderr).toContain(
      "nothing to benchmark: give --adapter or --adapter-cmd, or leave out --no-compare",
    );
    const suite = await walcheck(["bench", "--suites", "append,fsync"]);
    expect(suite.exitCode).toBe(2);
    expect(suite.stderr).toContain('--suites: unknown "fsync" (one of append, checkpoint, recovery, power, crash)');
    const subject = await walcheck(["bench", "--compare", "raw,postgres"]);
    expect(subject.exitCode).toBe(2);
    expect(subject.stderr).toContain('--compare: unknown "postgres" (one of raw, reference-inproc, reference, sqlite)');
    const size = await walcheck(["bench", "--batch-sizes", "1,0"]);
    expect(size.exitCode).toBe(2);
    expect(size.stderr).toContain('--batch-sizes: each must be an integer from 1 to 100000, got "0"');
    // --out naming a file: refused before measuring, not by mkdir after it, and the file kept.
    const file = path.join(await tempDir(), "a-file");
    fs.writeFileSync(file, "keep me");
    const outFile = await walcheck(["bench", "--suites", "append", "--out", file]);
    expect(outFile.exitCode).toBe(2);
    expect(outFile.stderr).toContain(`--out ${file}: it exists and is not a directory`);
    expect(outFile.stderr).not.toContain("bench raw");
    expect(fs.readFileSync(file, "utf8")).toBe("keep me");

    const dir = await tempDir();
    const bad = report([task("adapter/append/b1/c1", 1, 1)]) as unknown as { config: { timeMs: unknown } };
    bad.config.timeMs = -5;
    const out = path.join(dir, "out");
    const baseline = await walcheck([
      "bench",
      "--adapter-cmd",
      slowWal(0),
      "--baseline",
      writeJson(dir, "old.json", bad),
      "--out",
      out,
    ]);
    expect(baseline.exitCode).toBe(2);
    expect(baseline.stderr).toMatch(/old\.json: config\.timeMs: Too small/);
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe("walcheck bench: Ctrl-C", () => {
  it("stops the adapter, removes the temp directories, writes no report: exit 130", async () => {
    const tmp = await tempDir();
    const out = path.join(await tempDir(), "out");
    const mark = `bench-sigint-${process.pid}-${Date.now()}`;
    const child = execa(
      process.execPath,
      [
        CLI,
        "bench",
        "--compare",
        "reference",
        "--suites",
        "append",
        "--batch-sizes",
        "1",
        "--concurrency",
        "1",
        "--time",
        "30000",
        "--out",
        out,
      ],
      {
        reject: false,
        env: { WALCHECK_LOG_LEVEL: "info", TMPDIR: tmp, WALCHECK_TEST_MARK: mark, GITHUB_STEP_SUMMARY: "" },
      },
    );
    // The adapter process is up and being measured (for 30 s, were it not interrupted).
    await waitForOutput(child.stderr!, "bench reference: append suite in adapter process");
    child.kill("SIGINT");
    const r = await child;
    expect(r.exitCode, r.stderr).toBe(130);
    expect(r.stderr).toContain(
      "walcheck bench: interrupted; every adapter process was stopped and the temp directories removed, no report written",
    );
    expect(processesMarked(mark)).toEqual([]);
    expect(fs.readdirSync(tmp)).toEqual([]);
    expect(fs.existsSync(out)).toBe(false);
  });
});
