import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { catchesBugs, fixture, runScenarios, scenarioOf } from "./run-scenarios.js";

type PowerEntry = ReturnType<typeof scenarioOf> & {
  powerStates: { checked: number; recovered: number; crossChecked: number; ms: number };
};

// Power loss, simulated from a recorded life (LD_PRELOAD recorder, crash states built from
// the trace, each recovered by the recover op of a long-lived process, or by a fresh process
// per state). Four power-loss bugs (no fsync, a new segment without a directory fsync, no
// checksum, a snapshot renamed in without a directory fsync) each fail with a fixture WAL
// that has exactly that bug; the correct WALs pass every state.
describe("the power-loss scenario", () => {
  catchesBugs([
    ["power-loss", "bug-power-no-fsync", ["durability"]],
    ["power-loss", "bug-power-segment-no-dirsync", ["durability"]],
    ["power-loss", "bug-power-no-checksum", ["atomicity", "durability", "recovery", "sequence"]],
  ]);

  it("catches a snapshot renamed into place without a directory fsync (--exhaustive), naming the cut, the variant and what was lost", async () => {
    const r = await runScenarios([
      "--adapter",
      fixture("bug-power-rename-no-dirsync"),
      "--crash",
      "power",
      "--exhaustive",
      "--seed",
      "1",
      "--runs",
      "1",
    ]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(1);
    expect(scenarioOf(r.report, "power-loss").failures[0]!.violation.invariant).toBe("durability");
    expect(r.stdout).toMatch(
      /after crash: power at power loss: cut after #\d+ \([^)]*\), variant \S+: .*snapshot\.json\.tmp → snapshot\.json \(#\d+\) was lost/,
    );
    const replay = /replay: npx walcheck run --adapter \S+ --replay ([A-Za-z0-9_-]+)/.exec(r.stdout)?.[1];
    expect(replay).toBeDefined();
    // The token names the failing state: the replay records the life again and checks that one state.
    const state = /power-loss state (cut \d+ variant \S+); \d+ states checked/.exec(r.stdout)?.[1];
    const again = await runScenarios(["--adapter", fixture("bug-power-rename-no-dirsync"), "--replay", replay!]);
    expect(again.exitCode, again.stdout + again.stderr).toBe(1);
    expect(again.stdout).toContain(`power-loss state ${state}; 1 state checked)`);
  }, 180_000);

  it("the reference WAL passes every power-loss state of a 20-step workload (--exhaustive), and says how many and how fast", async () => {
    const r = await runScenarios(["--crash", "power", "--exhaustive", "--seed", "3", "--runs", "1"]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const entry = scenarioOf(r.report, "power-loss") as PowerEntry;
    expect(entry.status).toBe("passed");
    expect(entry.powerStates.checked).toBeGreaterThan(100);
    expect(entry.powerStates.recovered).toBeGreaterThan(0);
    expect(entry.powerStates.recovered).toBeLessThanOrEqual(entry.powerStates.checked);
    // The reference has the recover op: one directory in 16 (the first included) is recovered again by a fresh process.
    expect(entry.powerStates.crossChecked).toBe(Math.ceil(entry.powerStates.recovered / 16));
    expect(r.stdout).toMatch(
      new RegExp(
        `PASSED +power-loss +1/1 cases, 0 crash cycles, ${entry.powerStates.checked} power-loss states \\(${entry.powerStates.recovered} directories recovered, ${entry.powerStates.crossChecked} cross-checked in fresh processes, [\\d.]+ states/s per case\\)`,
      ),
    );
  }, 300_000);

  it("a correct segmented WAL (power-wal) passes sampled states, each in a fresh process (--fresh-recovery); SQLite in WAL mode with synchronous=FULL does too", async () => {
    for (const [adapter, fresh] of [
      [fixture("power-wal"), true],
      ["sqlite", false],
    ] as const) {
      const r = await runScenarios([
        "--adapter",
        adapter,
        "--crash",
        "power",
        "--seed",
        "2",
        "--runs",
        "2",
        ...(fresh ? ["--fresh-recovery"] : []),
      ]);
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      const entry = scenarioOf(r.report, "power-loss") as PowerEntry;
      expect(entry.status).toBe("passed");
      expect(entry.powerStates.checked).toBeGreaterThanOrEqual(40);
      expect(entry.powerStates.crossChecked > 0).toBe(!fresh);
    }
  }, 300_000);

  it("an adapter whose recover remembers what it read before is caught by the fresh-process cross-check (exit 2)", async () => {
    const r = await runScenarios([
      "--adapter",
      fixture("bug-power-leaky-recover"),
      "--crash",
      "power",
      "--seed",
      "1",
      "--runs",
      "2",
    ]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(2);
    expect(r.stdout + r.stderr).toMatch(
      /ADAPTER_PROTOCOL: recover is not isolated: for the power-loss state at cut \d+ \(variant [^)]+\) recover answered lastSeq \d+, (\d+) keys, check \["ok"\], but a fresh process answered lastSeq \d+, (?!\1 keys)\d+ keys/,
    );
  }, 120_000);

  it("an adapter that dies by a signal while recovering a power-loss state fails that state's recovery (exit 1, replayable); dying in the recorded life is an adapter error (exit 2)", async () => {
    // The fixture aborts (SIGABRT) in open when a segment ends in a torn record: only a power cut leaves one.
    const r = await runScenarios([
      "--adapter",
      fixture("bug-power-abort-on-torn"),
      "--crash",
      "power",
      "--seed",
      "1",
      "--runs",
      "4",
    ]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(1);
    const failure = scenarioOf(r.report, "power-loss").failures[0]!;
    expect(failure.violation.invariant).toBe("recovery");
    const line =
      /invariant recovery violated: the adapter process died by SIGABRT while recovering this state \(during open\), on a directory a power loss can leave \(\d+ batches acknowledged by then\) \(power-loss state (cut \d+ variant torn-\S+); \d+ states checked\)\n *power-wal: torn record at \d+ of seg-\d+\.log, aborting/.exec(
        r.stdout,
      );
    expect(line, r.stdout).not.toBeNull();
    const kept = /kept: (\S+)/.exec(r.stdout)?.[1];
    expect(fs.readdirSync(path.join(kept!, "wal"))).toContain("seg-000001.log");
    const replay = /replay: npx walcheck run --adapter \S+ --replay ([A-Za-z0-9_-]+)/.exec(r.stdout)?.[1];
    const again = await runScenarios(["--adapter", fixture("bug-power-abort-on-torn"), "--replay", replay!]);
    expect(again.exitCode, again.stdout + again.stderr).toBe(1);
    expect(again.stdout).toContain(`power-loss state ${line![1]}; 1 state checked)`);
    expect(again.stdout).toContain("died by SIGABRT while recovering this state");

    // The same death in the recorded life (its second append) is not a crash state's: an adapter error.
    const life = await runScenarios([
      "--adapter",
      fixture("bug-power-abort-in-life"),
      "--crash",
      "power",
      "--seed",
      "1",
      "--runs",
      "1",
      "--skip-doctor",
    ]);
    expect(life.exitCode, life.stdout + life.stderr).toBe(2);
    expect(life.stdout + life.stderr).toContain("ADAPTER_EXITED: the adapter was killed by SIGABRT");
  }, 240_000);

  it("records LevelDB (--sync true), whose info log is a stdio stream, and ends with a verdict", async () => {
    const r = await runScenarios([
      "--adapter-cmd",
      "node examples/engines/leveldb.mjs --sync true",
      "--crash",
      "power",
      "--seed",
      "1",
      "--runs",
      "2",
    ]);
    expect([0, 1], r.stdout + r.stderr).toContain(r.exitCode);
    expect(r.stdout + r.stderr).not.toContain("cannot replay");
    const entry = scenarioOf(r.report, "power-loss") as PowerEntry;
    expect(["passed", "failed"]).toContain(entry.status);
    expect(entry.powerStates.checked).toBeGreaterThan(0);
  }, 240_000);

  it('is skipped for an adapter that promises only durability "process", and --crash power then has nothing to run (exit 2)', async () => {
    const all = await runScenarios([
      "--adapter",
      fixture("simple-wal"),
      "--scenarios",
      "power-loss,crash-append",
      "--seed",
      "1",
      "--runs",
      "1",
    ]);
    expect(all.exitCode, all.stdout + all.stderr).toBe(0);
    const entry = scenarioOf(all.report, "power-loss");
    expect(entry.status).toBe("skipped");
    expect(entry.reason).toContain('promises durability "process"');
    const only = await runScenarios(["--adapter", fixture("simple-wal"), "--crash", "power", "--seed", "1"]);
    expect(only.exitCode).toBe(2);
    expect(only.stderr).toContain("no selected scenario applies");
  }, 120_000);
});
