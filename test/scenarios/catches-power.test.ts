import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { decodeReplayToken, encodeReplayToken } from "../../harness/engine/replay-token.js";
import { CLI } from "../helpers.js";
import { catchesBugs, fixture, runScenarios, scenarioOf } from "./run-scenarios.js";

type PowerEntry = ReturnType<typeof scenarioOf> & {
  powerStates: {
    checked: number;
    recovered: number;
    crossChecked: number;
    ms: number;
    enumerated: number;
    duplicates: number;
  };
};

// Power loss, simulated from a recorded life (LD_PRELOAD recorder, crash states built from
// the trace, each recovered by the recover op of a long-lived process, or by a fresh process
// per state). Four power-loss bugs (no fsync, a new segment without a directory fsync, no
// checksum, a snapshot renamed in without a directory fsync) each fail with a fixture WAL
// that has exactly that bug; the correct WALs pass every state.
describe("the power-loss scenario", () => {
  // No shrinking in these rows (--shrink-budget 0s, after the table's 2s: the last one wins): a
  // power-loss shrink step records and checks a whole life again, and one step took longer than
  // the rest of the row. What they assert is found unshrunk (the case, the invariant, the replay
  // line); the power-loss shrinker is run, and its shrunk case replayed, by the SIGABRT test below.
  const unshrunk = ["--shrink-budget", "0s"];
  catchesBugs([
    ["power-loss", "bug-power-no-fsync", ["durability"], 1, unshrunk],
    ["power-loss", "bug-power-segment-no-dirsync", ["durability"], 1, unshrunk],
    ["power-loss", "bug-power-no-checksum", ["atomicity", "durability", "recovery", "sequence"], 1, unshrunk],
    // Pipelined lives only (below: the same seed's sequential lives pass it).
    ["power-loss", "bug-group-commit-early-ack", ["durability"], 1, ["--power-pipeline", "4", ...unshrunk]],
  ]);

  it("a group commit that acks appends written during its fsync passes sequential lives and fails pipelined ones, the default (replayable); without the bug it passes, as does the reference's sync batch under posix-pessimistic", async () => {
    const bug = fixture("bug-group-commit-early-ack");
    // One request at a time (--power-pipeline 1) nothing is written while an fdatasync runs: no violation.
    const sequential = await runScenarios([
      "--adapter",
      bug,
      "--crash",
      "power",
      "--power-pipeline",
      "1",
      "--seed",
      "1",
      "--runs",
      "6",
    ]);
    expect(sequential.exitCode, sequential.stdout + sequential.stderr).toBe(0);
    // Pipelined lives are the default (depth 4): no flag.
    const pipelined = await runScenarios([
      "--adapter",
      bug,
      "--crash",
      "power",
      "--seed",
      "1",
      // The scenario stops at its first failure: more cases cost nothing once it is caught.
      "--runs",
      "12",
      // Unshrunk (the rows above say why): the failure, its message and its replay are the subject.
      "--shrink-budget",
      "0s",
    ]);
    expect(pipelined.exitCode, pipelined.stdout + pipelined.stderr).toBe(1);
    const failure = scenarioOf(pipelined.report, "power-loss").failures[0]!;
    expect(failure.violation.invariant).toBe("durability");
    expect(pipelined.stdout).toMatch(
      /invariant durability violated: recovered lastSeq \d+ but batch \d+ was acknowledged \(power-loss state (cut \d+ variant \S+) under persistence model posix-pessimistic; \d+ states? checked\)\n(?:.*\n)*.*appends of batches \d+-\d+, pipelined\); a pipelined life \(up to 4 appends in flight\)/,
    );
    const state = /power-loss state (cut \d+ variant \S+) under/.exec(pipelined.stdout)![1]!;
    // The token carries the depth: the replay records a pipelined life again and checks that state.
    const token = /replay: npx walcheck run --adapter \S+ --replay ([A-Za-z0-9_-]+)/.exec(pipelined.stdout)![1]!;
    const again = await runScenarios(["--adapter", bug, "--replay", token]);
    expect(again.exitCode, again.stdout + again.stderr).toBe(1);
    expect(again.stdout).toContain(
      `power-loss state ${state} under persistence model posix-pessimistic; 1 state checked)`,
    );
    // Its interleaving depends on timing: the replay records the life until it has the failing
    // run's shape at that cut, and says which recording did.
    expect(again.stdout).toMatch(/replay: recording \d+ of the life had the failing run's shape at the failing cut/);
    // A shape no recording has (here: a damaged one): the replay says so, and checks the case's
    // states as the run did instead of one state of some other life.
    const { v: _v, ...decoded } = decodeReplayToken(token);
    const other = encodeReplayToken({ ...decoded, powerState: { ...decoded.powerState!, shape: "no-such-shape" } });
    const lost = await runScenarios(["--adapter", bug, "--replay", other]);
    expect([0, 1], lost.stdout + lost.stderr).toContain(lost.exitCode);
    expect(lost.stdout).toMatch(
      /replay: none of 40 recordings of the life had the failing run's shape at the failing cut \(a pipelined life's interleaving depends on timing\), so this case's states were checked as the run checked them/,
    );

    for (const [adapter, extra] of [
      [["--adapter", fixture("group-wal")], []],
      // The reference's group commit writes a group of records in one write: under posix-pessimistic
      // a junk first sector of it can land with the records after it intact. No sync marker
      // covers that damage (the group never reached its fdatasync), so recovery cuts it as a
      // torn tail (docs/reference-wal.md#sync-markers) instead of refusing it as corruption.
      [
        ["--adapter-cmd", `node ${CLI} serve --config '{"sync":"batch"}'`],
        ["--persistence", "posix-pessimistic"],
      ],
    ] as const) {
      const r = await runScenarios([
        ...adapter,
        "--crash",
        "power",
        "--power-pipeline",
        "4",
        ...extra,
        "--seed",
        "1",
        "--runs",
        "4",
      ]);
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      expect((scenarioOf(r.report, "power-loss") as PowerEntry).powerStates.checked).toBeGreaterThan(0);
    }
  }, 300_000);

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
      // Unshrunk: with --exhaustive every shrink step checks every state of a life again (the
      // attribution and the replay of the failing state are the subject).
      "--shrink-budget",
      "0s",
    ]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(1);
    expect(scenarioOf(r.report, "power-loss").failures[0]!.violation.invariant).toBe("durability");
    expect(r.stdout).toMatch(
      /after crash: power at power loss: cut after #\d+ \([^)]*\), variant \S+: .*snapshot\.json\.tmp → snapshot\.json \(#\d+\) was lost/,
    );
    // Attribution: the rename is the lost op, a directory fsync the missing barrier, at the adapter's line.
    const renameLine =
      fs
        .readFileSync(fixture("power-wal"), "utf8")
        .split("\n")
        .findIndex((l) => l.includes("fs.renameSync(tmp, snap);")) + 1;
    const attribution = new RegExp(
      `lost op: the rename of snapshot\\.json\\.tmp → snapshot\\.json \\(#\\d+\\) \\([^)]*\\); missing barrier: fsync the directory after renaming snapshot\\.json\\.tmp → snapshot\\.json, [^\\n]*in checkpoint\\(\\) at power-wal\\.mjs:${renameLine}\\n`,
    );
    expect(renameLine).toBeGreaterThan(0);
    expect(r.stdout).toMatch(attribution);
    const replay = /replay: npx walcheck run --adapter \S+ --replay ([A-Za-z0-9_-]+)/.exec(r.stdout)?.[1];
    expect(replay).toBeDefined();
    // The token names the failing state: the replay records the life again and checks that one state.
    const state =
      /power-loss state (cut \d+ variant \S+ under persistence model posix-pessimistic); \d+ states checked/.exec(
        r.stdout,
      )?.[1];
    const again = await runScenarios(["--adapter", fixture("bug-power-rename-no-dirsync"), "--replay", replay!]);
    expect(again.exitCode, again.stdout + again.stderr).toBe(1);
    expect(again.stdout).toContain(`power-loss state ${state}; 1 state checked)`);
    // The replay shows the same attribution.
    expect(again.stdout).toMatch(attribution);
    expect(attribution.exec(again.stdout)?.[0]).toBe(attribution.exec(r.stdout)?.[0]);
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
    // Every variant of every cut was enumerated; those whose bytes were already recovered were not recovered again.
    expect(entry.powerStates.enumerated).toBeGreaterThan(entry.powerStates.checked);
    expect(entry.powerStates.duplicates).toBe(entry.powerStates.enumerated - entry.powerStates.recovered);
    expect(r.stdout).toMatch(
      new RegExp(
        `PASSED +power-loss +1/1 cases, 0 crash cycles, ${entry.powerStates.checked} power-loss states \\(${entry.powerStates.recovered} directories recovered, ${entry.powerStates.crossChecked} cross-checked in fresh processes, [\\d.]+ states/s per case; ${entry.powerStates.enumerated} enumerated, ${entry.powerStates.duplicates} of them duplicates of a directory already recovered\\)`,
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
      /invariant recovery violated: the adapter process died by SIGABRT while recovering this state \(during open\), on a directory a power loss can leave \(\d+ batches acknowledged by then\) \(power-loss state (cut \d+ variant torn-\S+ under persistence model posix-pessimistic); \d+ states checked\)\n *power-wal: torn record at \d+ of seg-\d+\.log, aborting/.exec(
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
      // LevelDB fails under posix-pessimistic (docs/findings.md): its failure unshrunk. Every
      // recorded life opens the info log; shrinking recorded six more (three times the CPU).
      "--shrink-budget",
      "0s",
    ]);
    expect([0, 1], r.stdout + r.stderr).toContain(r.exitCode);
    expect(r.stdout + r.stderr).not.toContain("cannot replay");
    const entry = scenarioOf(r.report, "power-loss") as PowerEntry;
    expect(["passed", "failed"]).toContain(entry.status);
    expect(entry.powerStates.checked).toBeGreaterThan(0);
  }, 240_000);

  it('runs an adapter that promises only durability "process" too: its lost acknowledged batches are counted, not failed', async () => {
    // power-wal-process acknowledges appends before any fsync, and says so in hello.
    const r = await runScenarios([
      "--adapter",
      fixture("power-wal-process"),
      "--crash",
      "power",
      "--persistence",
      "posix-pessimistic",
      "--seed",
      "1",
      "--runs",
      "2",
    ]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const entry = scenarioOf(r.report, "power-loss") as PowerEntry & {
      powerStates: { lostStates?: number; lostMax?: number };
    };
    expect(entry.status).toBe("passed");
    expect(entry.powerStates.lostStates).toBeGreaterThan(0);
    expect(entry.powerStates.lostMax).toBeGreaterThan(0);
    expect(r.stdout).toContain(
      `acknowledged batches lost in ${entry.powerStates.lostStates} states, at most ${entry.powerStates.lostMax} at once, as durability "process" allows`,
    );
    expect(r.report.persistence).toEqual({
      assumed: "posix-pessimistic",
      source: "flag",
      results: [
        expect.objectContaining({
          model: "posix-pessimistic",
          status: "passed",
          lostAcked: { states: entry.powerStates.lostStates, batches: entry.powerStates.lostMax },
        }),
      ],
      weakestPassing: "posix-pessimistic",
    });
  }, 120_000);
});

// The persistence models (docs/power-loss.md#persistence-models): the same cases, states built
// under each model, and the weakest model the WAL passes under.
describe("power loss per persistence model", () => {
  it("--persistence all: a snapshot renamed into place without fsyncing its data fails posix-pessimistic and sector-atomic, passes ext4-ordered; the table, the report and a replay under the model", async () => {
    const r = await runScenarios([
      "--adapter",
      fixture("bug-power-rename-no-fsync"),
      "--crash",
      "power",
      "--persistence",
      "all",
      // Four models' cases side by side on a busy machine: a slow recovery is not what this test is about.
      "--timeout",
      "60000",
      "--seed",
      "1",
      "--runs",
      "2",
      // The failures as found (unshrunk): their models, the table and a replay under a model are the subject.
      "--shrink-budget",
      "0s",
    ]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(1);
    const p = r.report.persistence as {
      assumed: string;
      source: string;
      results: {
        model: string;
        status: string;
        statesChecked: number;
        failure?: { message: string; replay: string };
      }[];
      weakestPassing: string | null;
    };
    expect(p.results.map((x) => [x.model, x.status])).toEqual([
      ["posix-pessimistic", "failed"],
      ["sector-atomic", "failed"],
      ["ext4-ordered", "passed"],
      ["process-only", "passed"],
    ]);
    expect(p.weakestPassing).toBe("ext4-ordered");
    expect(p.assumed).toBe("posix-pessimistic");
    expect(p.source).toBe("default");
    for (const x of p.results) expect(x.statesChecked).toBeGreaterThan(0);
    expect(p.results[1]!.failure!.message).toContain("under persistence model sector-atomic");
    // Each model is its own line in the summary, and the table follows it.
    expect(r.stdout).toMatch(/FAILED +power-loss \(sector-atomic\) /);
    expect(r.stdout).toMatch(/PASSED +power-loss \(ext4-ordered\) /);
    expect(r.stdout).toMatch(/model +\| verdict \| states \| directories \| acked batches lost \(states\) \| time/);
    expect(r.stdout).toMatch(/\n {2}ext4-ordered +\| PASSED +\| \d+ +\| \d+ +\| 0 +\| [\d.]+ s\n/);
    expect(r.stdout).toContain("weakest model passed: ext4-ordered");
    // The Markdown report has the table too.
    const markdown = /report \(markdown\): (\S+)/.exec(r.stdout)![1]!;
    expect(fs.readFileSync(markdown, "utf8")).toContain("| `ext4-ordered` | passed |");
    // The sector-atomic failure's token carries its model: the replay checks that one state under it.
    const token = /--replay (\S+)$/.exec(p.results[1]!.failure!.replay)![1]!;
    const again = await runScenarios(["--adapter", fixture("bug-power-rename-no-fsync"), "--replay", token]);
    expect(again.exitCode, again.stdout + again.stderr).toBe(1);
    expect(again.stdout).toMatch(/under persistence model sector-atomic; 1 state checked\)/);
  }, 180_000);

  it("records without checksums that cannot survive a junk sector fail only posix-pessimistic: sector-atomic passes the same cases", async () => {
    const r = await runScenarios([
      "--adapter",
      fixture("bug-power-no-checksum"),
      "--crash",
      "power",
      "--persistence",
      "sector-atomic",
      "--seed",
      "1",
      "--runs",
      "2",
    ]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.report.persistence.results[0]).toMatchObject({ model: "sector-atomic", status: "passed" });
    // (The same seed under posix-pessimistic fails: `catchesBugs` above, and the CLI output in docs/power-loss.md.)
  }, 120_000);

  it("the model an adapter declares in hello is the default; --persistence overrides it", async () => {
    process.env.POWER_WAL_PERSISTENCE = "sector-atomic";
    try {
      const args = [
        "--adapter",
        fixture("bug-power-no-checksum"),
        "--crash",
        "power",
        "--timeout",
        "60000",
        "--seed",
        "1",
        "--runs",
        "2",
        // Which model applies is the subject, not the failing case's shrinking.
        "--shrink-budget",
        "0s",
      ];
      const declared = await runScenarios(args);
      expect(declared.exitCode, declared.stdout + declared.stderr).toBe(0);
      expect(declared.report.persistence).toMatchObject({
        assumed: "sector-atomic",
        source: "hello",
        weakestPassing: "sector-atomic",
      });
      const overridden = await runScenarios([...args, "--persistence", "posix-pessimistic"]);
      expect(overridden.exitCode, overridden.stdout + overridden.stderr).toBe(1);
      expect(overridden.report.persistence).toMatchObject({
        assumed: "posix-pessimistic",
        source: "flag",
        weakestPassing: null,
      });
      expect(overridden.stdout).toContain("under persistence model posix-pessimistic");
    } finally {
      delete process.env.POWER_WAL_PERSISTENCE;
    }
  }, 120_000);

  it("a pipeline depth below 1 or above 64 is a usage error (exit 2)", async () => {
    for (const [depth, message] of [
      ["0", '--power-pipeline must be an integer >= 1, got "0"'],
      ["65", "--power-pipeline: at most 64 appends in flight, got 65"],
    ]) {
      const r = await runScenarios(["--crash", "power", "--power-pipeline", depth!, "--seed", "1"]);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain(message);
    }
  }, 60_000);

  it("an unknown model is a usage error (exit 2) listing the models", async () => {
    const r = await runScenarios(["--crash", "power", "--persistence", "zfs", "--seed", "1"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(
      '--persistence: unknown persistence model "zfs"; the models: posix-pessimistic, sector-atomic, ext4-ordered, process-only, or all',
    );
  }, 60_000);
});
