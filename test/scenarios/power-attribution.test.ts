import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers.js";
import { fixture, runScenarios, scenarioOf } from "./run-scenarios.js";

// Attribution of power-loss violations (harness/faults/power/attribute.ts, where.ts): the lost op
// whose loss broke the invariant, the fsync that was missing, and where the adapter issued the op:
// the JavaScript frame of a Node adapter (the fs preload's stacks, matched to the recorder's ops),
// the native frame of a C adapter (the recorder's backtrace, symbolised with addr2line).

const FIXTURES = path.resolve("test/fixtures/adapters");
// Each violation is attributed as found (unshrunk): a power-loss shrink step records and checks a
// whole life again, and the attribution of the state that failed is the subject here, not shrinking.
const UNSHRUNK = ["--shrink-budget", "0s"];

/** One power-loss case (seed 1) of the adapter `flag` names, reported unshrunk. */
const powerCase = (flag: "--adapter" | "--adapter-cmd", adapter: string) =>
  runScenarios([flag, adapter, "--crash", "power", "--seed", "1", "--runs", "1", ...UNSHRUNK]);

/** The 1-based line of `file` (under the fixtures) that holds `text`, which must be there once. */
function lineOf(file: string, text: string): number {
  const lines = fs.readFileSync(path.join(FIXTURES, file), "utf8").split("\n");
  const at = lines.flatMap((l, k) => (l.includes(text) ? [k + 1] : []));
  expect(at, `${text} in ${file}`).toHaveLength(1);
  return at[0]!;
}

type Attribution = {
  op: { kind: string; label: string };
  barrier: string;
  text: string;
  where?: {
    text: string;
    js?: { file: string; line: number; function?: string }[];
    native?: { function?: string; file?: string; line?: number; symbolised: string }[];
    note?: string;
  };
  diagram: { cut: number; ops: { status: string; culprit?: boolean }[] };
};

function attributionOf(report: unknown): Attribution {
  const f = scenarioOf(report as { scenarios: { name: string }[] }, "power-loss").failures[0] as unknown as {
    violation: { attribution?: Attribution };
  };
  expect(f.violation.attribution).toBeDefined();
  return f.violation.attribution!;
}

describe("power-loss attribution", () => {
  it("a new segment whose directory entry is never fsynced: the create is the lost op, the barrier is a directory fsync, at the adapter's own line", async () => {
    const line = lineOf("power-wal.mjs", 'fd = fs.openSync(segName(n), "a");');
    const r = await powerCase("--adapter", fixture("bug-power-segment-no-dirsync"));
    expect(r.exitCode, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(
      new RegExp(
        `lost op: the create of seg-\\d+\\.log \\(#\\d+\\) \\([^)]*\\); missing barrier: fsync the directory after creating seg-\\d+\\.log, before acknowledging batch \\d+, in newSegment\\(\\) at power-wal\\.mjs:${line}\\n`,
      ),
    );
    const a = attributionOf(r.report);
    expect(a.op.kind).toBe("create");
    expect(a.barrier).toMatch(/^fsync the directory after creating seg-\d+\.log/);
    expect(a.where?.js?.[0]).toMatchObject({
      file: path.join(FIXTURES, "power-wal.mjs"),
      line,
      function: "newSegment",
    });
    // The diagram marks the culprit, lost, before the cut.
    expect(a.diagram.ops.filter((o) => o.culprit)).toEqual([expect.objectContaining({ status: "lost" })]);
  }, 120_000);

  it("a WAL that never fsyncs its appends: the write is the lost op, the barrier is an fsync of its file", async () => {
    const line = lineOf("power-wal.mjs", "fs.writeSync(fd, encode(seq, ops));");
    const r = await powerCase("--adapter", fixture("bug-power-no-fsync"));
    expect(r.exitCode, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(
      new RegExp(
        `lost op: the write of \\d+ bytes at \\d+ of (seg-\\d+\\.log) \\(#(\\d+)\\) \\([^)]*\\); missing barrier: fsync \\1 after the write \\(#\\2\\), before acknowledging batch \\d+, in append\\(\\) at power-wal\\.mjs:${line}\\n`,
      ),
    );
    expect(attributionOf(r.report).op.kind).toBe("write");
  }, 120_000);

  it("a C adapter: the native frame names the function, and file:line where the binary has debug information (else the function and its offset, said so)", async () => {
    const line = lineOf("static-wal.c", "log_fd = open(path, O_RDWR | O_CREAT | O_APPEND, 0644);");
    const dir = await tempDir();
    const [cc = "cc", ...ccArgs] = (process.env.CC?.trim() || "cc").split(/\s+/);
    for (const debug of [true, false]) {
      const exe = path.join(dir, debug ? "static-wal-g" : "static-wal");
      await execa(cc, [
        ...ccArgs,
        ...(debug ? ["-g"] : []),
        "-O1",
        "-DBUG_NO_DIRSYNC",
        "-o",
        exe,
        path.join(FIXTURES, "static-wal.c"),
      ]);
      const r = await powerCase("--adapter-cmd", exe);
      expect(r.exitCode, r.stdout + r.stderr).toBe(1);
      const a = attributionOf(r.report);
      expect(a.barrier).toMatch(/^fsync the directory after creating wal\.log, before acknowledging batch 1/);
      if (debug) {
        expect(r.stdout).toContain(
          `missing barrier: fsync the directory after creating wal.log, before acknowledging batch 1, in open_wal() at static-wal.c:${line}\n`,
        );
        expect(a.where?.native?.[0]).toMatchObject({ function: "open_wal", line, symbolised: "debug-info" });
      } else {
        expect(r.stdout).toMatch(
          /missing barrier: fsync the directory after creating wal\.log, before acknowledging batch 1, in open_wal\(\) at static-wal\+0x[0-9a-f]+ \(no debug information: the function from its symbols, the offset in its module\)\n/,
        );
        expect(a.where?.native?.[0]).toMatchObject({ function: "open_wal", symbolised: "symbol" });
      }
    }
  }, 120_000);

  it("a Python adapter: the frame is its own file and line (audit hooks and a profile function, loaded as sitecustomize)", async () => {
    // The fixture runs examples/python/wal.py with the directory fsync taken out: its frames are the example's.
    const example = fs.readFileSync(path.resolve("examples/python/wal.py"), "utf8").split("\n");
    const line = example.findIndex((l) => l.includes('log = open(path, "ab")')) + 1;
    expect(line).toBeGreaterThan(0);
    const r = await powerCase("--adapter-cmd", `python3 ${path.join(FIXTURES, "py_bug_no_dirsync.py")}`);
    expect(r.exitCode, r.stdout + r.stderr).toBe(1);
    const a = attributionOf(r.report);
    expect(a.op.kind).toBe("create");
    expect(a.barrier).toMatch(/^fsync the directory after creating wal\.log/);
    expect(a.where?.text).toBe(`in open_wal() at wal.py:${line}`);
    expect(r.stdout).toContain(`in open_wal() at wal.py:${line}`);
  }, 120_000);
});
