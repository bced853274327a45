import fs from "node:fs";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { assertDistFresh, CLI, processesMarked, tempDir } from "../helpers.js";
import type { Deviation, DoctorResult } from "../../harness/engine/doctor.js";

// walcheck doctor end to end: real adapter processes (the reference WAL, a Python adapter, an
// adapter that breaks the protocol in six ways at once), and walcheck run's pre-flight.

const BROKEN = `node ${path.resolve("test/fixtures/adapters/broken-doctor.mjs")}`;
const PY_WAL = `python3 ${path.resolve("test/fixtures/adapters/py_wal.py")}`;

async function doctor(args: string[]) {
  assertDistFresh(["harness/engine/doctor", "harness/cli/doctor-command"]);
  return execa(process.execPath, [CLI, "doctor", ...args], { reject: false });
}

async function doctorJson(args: string[]) {
  const r = await doctor([...args, "--json"]);
  return { ...r, result: JSON.parse(r.stdout) as DoctorResult };
}

/** The seeded deviations of broken-doctor.mjs, each as doctor must name it. */
const SEEDED: { what: string; match: Partial<Deviation> }[] = [
  { what: "hello without durability", match: { kind: "schema", op: "hello", field: "durability", severity: "error" } },
  {
    what: "an unknown op answered ok:true",
    match: { kind: "unknown-op", op: "walcheck-doctor-probe", received: '{"id":7,"ok":true}' },
  },
  { what: "a non-JSON line on stdout", match: { kind: "stdout-not-json", received: "opening the WAL..." } },
  { what: "append's seq as a string", match: { kind: "schema", op: "append", field: "seq", severity: "error" } },
  { what: "read answered with the wrong id", match: { kind: "wrong-id", op: "read", severity: "error" } },
  { what: "close that does not exit", match: { kind: "close-exit", op: "close", severity: "error" } },
];

describe("walcheck doctor", () => {
  it("the reference adapter is usable: exit 0, no deviation, fs faults and the power recorder reach it", async () => {
    const r = await doctorJson(["--adapter", "reference"]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.result).toMatchObject({ adapter: "reference", name: "walcheck-reference", usable: true, deviations: [] });
    expect(r.result.capabilities.fsFaults).toMatchObject({ available: true, checked: true });
    expect(r.result.capabilities.powerRecorder).toMatchObject({ available: true, checked: true });
    const human = await doctor(["--adapter", "reference"]);
    expect(human.exitCode).toBe(0);
    expect(human.stdout).toContain("usable: no deviation from protocol v1");
    expect(human.stdout).toMatch(/fs faults and fs-call crashes: yes, the fs preload saw \d+ mutating fs calls/);
    expect(human.stdout).toContain(
      "fs fault scenarios (disk-full, read-only, fsync-error, slow-storage): yes, injected through the Node fs preload",
    );
  });

  it("the Python adapter is usable (exit 0); the fs preload does not reach it (not Node), the C preload and the power recorder do", async () => {
    const r = await doctorJson(["--adapter-cmd", PY_WAL]);
    expect(r.exitCode, r.stdout).toBe(0);
    expect(r.result).toMatchObject({ name: "py-wal", usable: true, deviations: [] });
    expect(r.result.capabilities.fsFaults.available).toBe(false);
    expect(r.result.capabilities.fsFaults.why).toContain("not a Node.js process");
    expect(r.result.capabilities.powerRecorder).toMatchObject({ available: true, checked: true });
    // The fault scenarios reach it all the same, through the C preload.
    expect(r.result.capabilities.faultPath).toMatchObject({ available: true, checked: true, via: "native" });
  });

  it("a broken adapter: exit 2 and every seeded deviation listed in one run, each with sent, received, rule and fix", async () => {
    const r = await doctorJson(["--adapter-cmd", BROKEN, "--timeout", "3000"]);
    expect(r.exitCode).toBe(2);
    expect(r.result.usable).toBe(false);
    for (const { what, match } of SEEDED)
      expect(r.result.deviations, `${what} not reported`).toContainEqual(expect.objectContaining(match));
    for (const d of r.result.deviations) {
      expect(d.section, d.message).toMatch(/^docs\/protocol\.md#[a-z-]+$/);
      expect(d.rule.length, d.message).toBeGreaterThan(10);
      expect(d.fix.length, d.message).toBeGreaterThan(10);
    }
    // The fix names what the field must be.
    const seq = r.result.deviations.find((d) => d.kind === "schema" && d.field === "seq")!;
    expect(seq.received).toBe('{"id":3,"ok":true,"seq":"1"}');
    expect(seq.fix).toContain("a JSON number, not a string");
    expect(seq.count).toBe(3);
  });

  it("the human listing names every seeded deviation, and the adapter NOT USABLE", async () => {
    const r = await doctor(["--adapter-cmd", BROKEN, "--timeout", "3000"]);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toMatch(/NOT USABLE: \d+ errors/);
    for (const line of [
      "error [schema] hello.durability:",
      "warning [unknown-op] walcheck-doctor-probe: an unknown op was answered ok:true",
      "error [stdout-not-json]: a line on stdout that is not a JSON object",
      "    received: opening the WAL...",
      "error [schema] append.seq:",
      "error [wrong-id] read:",
      "error [close-exit] close:",
      "(docs/protocol.md#transport)",
    ])
      expect(r.stdout).toContain(line);
  });

  it("walcheck run on the broken adapter stops before any case: exit 2 with the same list, no report", async () => {
    assertDistFresh(["harness/cli/run-command"]);
    const reportDir = await tempDir();
    const r = await execa(
      process.execPath,
      [
        CLI,
        "run",
        "--adapter-cmd",
        BROKEN,
        "--timeout",
        "3000",
        "--report-dir",
        reportDir,
        "--scenarios",
        "crash-mixed",
      ],
      { reject: false, env: { GITHUB_STEP_SUMMARY: "" } },
    );
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("walcheck run: the adapter is not usable, no case was run");
    for (const line of [
      "error [schema] hello.durability:",
      "[unknown-op]",
      "error [stdout-not-json]",
      "error [schema] append.seq:",
      "error [wrong-id] read:",
      "error [close-exit] close:",
    ])
      expect(r.stderr).toContain(line);
    expect(r.stderr).not.toMatch(/^case \d+\//m);
    expect(fs.readdirSync(reportDir)).toEqual([]);
  });

  it("a WAL that loses data is still usable: its violations are listed, exit 0 (walcheck run judges them)", async () => {
    const r = await doctorJson(["--adapter", "test/fixtures/adapters/bug-txn-rollback-ignored.mjs"]);
    expect(r.exitCode, r.stdout).toBe(0);
    expect(r.result.usable).toBe(true);
    expect(r.result.deviations).toContainEqual(
      expect.objectContaining({ kind: "read-mismatch", op: "read", field: "state", severity: "violation" }),
    );
  });

  it("a statically linked adapter: the power-loss recorder cannot see it, so run skips power-loss with that reason instead of judging it", async (ctx) => {
    const bin = path.join(await tempDir(), "static-wal");
    const cc = await execa("cc", ["-O1", "-static", "-o", bin, path.resolve("test/fixtures/adapters/static-wal.c")], {
      reject: false,
    });
    if (cc.exitCode !== 0) ctx.skip(`cc -static cannot build here: ${cc.stderr.slice(0, 200)}`);
    const r = await doctorJson(["--adapter-cmd", bin]);
    expect(r.exitCode, r.stdout).toBe(0);
    expect(r.result).toMatchObject({ name: "static-wal", usable: true, deviations: [] });
    expect(r.result.capabilities.powerRecorder).toMatchObject({ available: false, checked: true });
    expect(r.result.capabilities.powerRecorder.why).toContain("the recorder saw none of its writes");
    expect(r.result.capabilities.faultPath).toMatchObject({ available: false, checked: true });
    const reportDir = await tempDir();
    const run = await execa(
      process.execPath,
      [
        CLI,
        "run",
        "--adapter-cmd",
        bin,
        "--scenarios",
        "power-loss,crash-append",
        "--runs",
        "1",
        "--seed",
        "1",
        "--report-dir",
        reportDir,
      ],
      { reject: false, env: { GITHUB_STEP_SUMMARY: "", WALCHECK_LOG_LEVEL: "warn" } },
    );
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      /SKIPPED +power-loss +the power-loss recorder is not available: the recorder saw none of its writes/,
    );
  });

  it("Ctrl-C stops doctor: exit 130, its adapter processes killed, its temp directory removed", async () => {
    const tmp = await tempDir();
    const mark = randomUUID();
    const run = execa(process.execPath, [CLI, "doctor", "--adapter-cmd", BROKEN, "--timeout", "20000"], {
      reject: false,
      env: { TMPDIR: tmp, WALCHECK_TEST_MARK: mark },
    });
    // Wait (on a condition, not a time) until doctor has started the adapter: two marked processes.
    while (processesMarked(mark).length < 2) await new Promise((r) => setTimeout(r, 50));
    run.kill("SIGINT");
    const result = await run;
    expect(result.exitCode).toBe(130);
    expect(fs.readdirSync(tmp)).toEqual([]);
    expect(processesMarked(mark)).toEqual([]);
  });

  it("bad input is a usage error (exit 2 with a message)", async () => {
    const both = await doctor(["--adapter", "reference", "--adapter-cmd", "x"]);
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toContain("not both");
    const missing = await doctor(["--adapter-cmd", "/no/such/adapter"]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stdout).toContain("error [start]: the adapter cannot be started (ADAPTER_START)");
  });
});
