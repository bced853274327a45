import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { SCENARIOS, selectScenarios } from "../../scenarios/index.js";
import { CLI, tempDir } from "../helpers.js";
import { fixture, runScenarios, scenarioOf } from "./run-scenarios.js";

describe("the scenario catalogue", () => {
  it("walcheck list shows every scenario with what it needs; --json is the same catalogue", async () => {
    const text = await execa(process.execPath, [CLI, "list"]);
    for (const s of SCENARIOS) expect(text.stdout).toContain(s.name);
    expect(text.stdout).toContain("needs: feature checksums");
    const json = JSON.parse((await execa(process.execPath, [CLI, "list", "--json"])).stdout);
    expect(json.scenarios.map((s: { name: string }) => s.name)).toEqual(SCENARIOS.map((s) => s.name));
    for (const s of json.scenarios) {
      expect(s.description.length).toBeGreaterThan(80);
      expect(s.invariants.length).toBeGreaterThan(0);
    }
    // Each invariant is listed with its id, which is what a violation of it names.
    expect(text.stdout).toContain("needs:");
    const verbose = await execa(process.execPath, [CLI, "list", "-v"]);
    expect(verbose.stdout).toContain("checks: torn-tail-reported: recovery reports the bytes it discarded");
  });

  it("every scenario declares its invariants with distinct ids, in the form violations name them", () => {
    for (const s of SCENARIOS) {
      const ids = s.invariants.map((i) => i.id);
      expect(new Set(ids).size, `${s.name}: ${ids.join(", ")}`).toBe(ids.length);
      for (const i of s.invariants) {
        expect(i.id, s.name).toMatch(/^[a-z][a-z0-9-]*$/);
        expect(i.text.length, `${s.name} ${i.id}`).toBeGreaterThan(10);
      }
    }
  });

  it("walcheck list --adapter sqlite says which scenarios are skipped and why", async () => {
    const json = JSON.parse((await execa(process.execPath, [CLI, "list", "--adapter", "sqlite", "--json"])).stdout);
    const byName = Object.fromEntries(json.scenarios.map((s: { name: string }) => [s.name, s]));
    expect(byName["crash-truncate"].applies).toBe(true);
    expect(byName["bit-flip"]).toMatchObject({ applies: false });
    expect(byName["bit-flip"].reason).toContain('"checksums"');
    // SQLite's I/O is native: Node's fs preload cannot see it, the C preload (LD_PRELOAD) can.
    expect(byName["disk-full"].applies).toBe(true);
  });

  it("--scenarios takes names and globs; a pattern that matches nothing is a usage error", async () => {
    expect(selectScenarios("crash-*").map((s) => s.name)).toEqual([
      "crash-mixed",
      "crash-append",
      "crash-checkpoint",
      "crash-truncate",
      "crash-rotate",
      "crash-recovery",
    ]);
    expect(selectScenarios(["torn-tail", "bit-*"]).map((s) => s.name)).toEqual(["torn-tail", "bit-flip"]);
    const r = await runScenarios(["--scenarios", "crash-*,no-such-*", "--runs", "1"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('"no-such-*" matches no scenario');
  });

  it("the reference WAL passes every scenario of the catalogue (none skipped), with latency levels gating", async () => {
    const r = await runScenarios(["--seed", "7", "--runs", "2", "--latency", "gate", "--recovery-threshold", "5000"]);
    // A loaded test machine can push a p95 over a level: that is reported apart from violations.
    const latencyOnly =
      r.report.failures.length === 0 && r.report.errors.length === 0 && r.report.latencyFailures.length > 0;
    expect(r.exitCode === 0 || latencyOnly, r.stdout + r.stderr).toBe(true);
    expect(r.report.scenarios.map((s: { name: string }) => s.name)).toEqual(
      SCENARIOS.filter((s) => !s.optIn).map((s) => s.name),
    );
    for (const s of r.report.scenarios)
      expect(
        s.status === "passed" || (latencyOnly && s.status === "failed" && s.failures.length === 0),
        `${s.name}: ${s.status} ${s.reason ?? ""}`,
      ).toBe(true);
    // The faults really happened: refused appends under ENOSPC and EIO, refused opens on a read-only file system.
    for (const name of ["disk-full", "fsync-error"]) {
      const { faults } = scenarioOf(r.report, name) as never as {
        faults: { lives: number; refusedAppends: number; refusedOpens: number };
      };
      expect(faults.lives, name).toBe(2);
      if (name === "disk-full")
        expect(faults.refusedAppends + faults.refusedOpens, "every disk-full case fills the disk").toBe(2);
    }
    expect((scenarioOf(r.report, "read-only") as never as { faults: { lives: number } }).faults.lives).toBe(2);
    // slow-storage's latency is over its levels on purpose: a warning, never a failure.
    expect(
      r.report.latencyObserved.some(
        (w: string) => w.startsWith("slow-storage: append p95") && w.endsWith("(provoked on purpose)"),
      ),
    ).toBe(true);
    // The gate is the latency scenario, measured alone: per case 220 appends, 20 truncates, 22 recoveries.
    // (--runs 2: two cases of it.)
    const gate = scenarioOf(r.report, "latency") as never as {
      latencyGated: boolean;
      latency: Record<string, { n: number }>;
    };
    expect(gate.latencyGated).toBe(true);
    expect([gate.latency.append?.n, gate.latency.truncate?.n, gate.latency.recovery?.n]).toEqual([440, 40, 44]);
  }, 300_000);

  it("SQLite passes every scenario that applies to it; the others are skipped with the reason", async () => {
    const r = await runScenarios(["--adapter", "sqlite", "--seed", "7", "--runs", "2"]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const status = Object.fromEntries(
      r.report.scenarios.map((s: { name: string; status: string }) => [s.name, s.status]),
    );
    for (const name of [
      "crash-mixed",
      "crash-append",
      "crash-checkpoint",
      "crash-truncate",
      "torn-tail",
      "second-opener",
      "transactions",
      "event-log",
      "state-file",
      // SQLite's own VFS is native code: the fs faults reach it through the C preload.
      "disk-full",
      "read-only",
      "fsync-error",
      "slow-storage",
    ])
      expect(status[name], name).toBe("passed");
    for (const name of ["crash-rotate", "bit-flip"]) expect(status[name], name).toBe("skipped");
  }, 300_000);

  it("the design A and B reference adapters pass their own scenarios: event-log (byte-identical twice) and state-file (every step)", async () => {
    const events = await runScenarios([
      "--adapter",
      "event-log",
      "--scenarios",
      "event-log,torn-tail",
      "--seed",
      "5",
      "--runs",
      "3",
    ]);
    expect(events.exitCode, events.stdout + events.stderr).toBe(0);
    expect(events.report.hello.features).toContain("deterministic");
    const state = await runScenarios([
      "--adapter",
      "state-file",
      "--scenarios",
      "state-file,bit-flip",
      "--seed",
      "5",
      "--runs",
      "2",
    ]);
    expect(state.exitCode, state.stdout + state.stderr).toBe(0);
    const named = (scenarioOf(state.report, "state-file") as never as { crashes: { named: Record<string, number> } })
      .crashes.named;
    // A crash at each step of the state-file protocol.
    expect(Object.keys(named).sort()).toEqual(state.report.hello.points.slice().sort());
  }, 300_000);

  it("a correct segmented WAL passes crash-rotate, crashing at its rotation points", async () => {
    const r = await runScenarios([
      "--adapter",
      fixture("seg-wal"),
      "--scenarios",
      "crash-rotate",
      "--seed",
      "2",
      "--runs",
      "4",
    ]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const rotate = scenarioOf(r.report, "crash-rotate") as never as { crashes: { named: Record<string, number> } };
    expect(Object.keys(rotate.crashes.named).some((p) => p.startsWith("rotate."))).toBe(true);
  }, 180_000);

  it("the latency gate: a WAL whose recovery takes 500 ms fails the run over the 200 ms critical level, and only warns with --latency warn", async () => {
    // The fixture reports a fixed 500 ms recovery; its appends and truncates are real I/O, whose p95 a loaded
    // machine can push over their levels. Those levels are lifted, so only the fixed figure can cross one.
    const config = path.join(await tempDir(), "walcheck.config.json");
    const lifted = { targetMs: 60_000, criticalMs: 60_000 };
    fs.writeFileSync(config, JSON.stringify({ thresholds: { append: lifted, truncate: lifted } }));
    const gated = await runScenarios([
      "--adapter",
      fixture("slow-recovery"),
      "--scenarios",
      "latency",
      "--seed",
      "3",
      "--latency",
      "gate",
      "--config",
      config,
    ]);
    expect(gated.exitCode, gated.stdout + gated.stderr).toBe(1);
    expect(gated.report.failures).toEqual([]);
    expect(gated.report.latencyFailures).toEqual([
      "latency: recovery p95 500.00 ms is over the critical level 200 ms (22 samples)",
    ]);
    expect(gated.stdout).toContain("LATENCY FAILURE: latency: recovery p95 500.00 ms");
    const warned = await runScenarios([
      "--adapter",
      fixture("slow-recovery"),
      "--scenarios",
      "latency",
      "--seed",
      "3",
      "--latency",
      "warn",
      "--config",
      config,
    ]);
    expect(warned.exitCode, warned.stdout).toBe(0);
    expect(warned.report.latencyWarnings).toEqual([expect.stringContaining("recovery p95 500.00 ms")]);
  }, 180_000);

  it("a scenario the adapter cannot take is listed as skipped with the reason, never failed", async () => {
    const r = await runScenarios([
      "--adapter",
      fixture("simple-wal"),
      "--scenarios",
      "bit-flip,torn-tail",
      "--seed",
      "3",
      "--runs",
      "2",
    ]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(scenarioOf(r.report, "bit-flip")).toMatchObject({ status: "skipped" });
    expect(scenarioOf(r.report, "bit-flip").reason).toContain("checksums");
    expect(scenarioOf(r.report, "torn-tail")).toMatchObject({ status: "passed", cases: { run: 2, passed: 2 } });
    expect(r.stdout).toMatch(/SKIPPED\s+bit-flip/);
  });

  it("a scenario failure replays from its token: the same scenario, the same violation", async () => {
    const first = await runScenarios([
      "--adapter",
      fixture("bug-claims-checksums"),
      "--scenarios",
      "bit-flip",
      "--seed",
      "1",
      "--runs",
      "40",
    ]);
    expect(first.exitCode).toBe(1);
    const token = /--replay (\S+)/.exec(first.stdout)![1]!;
    const again = await runScenarios(["--adapter", fixture("bug-claims-checksums"), "--replay", token]);
    expect(again.exitCode, again.stdout + again.stderr).toBe(1);
    expect(again.report.scenarios.map((s: { name: string }) => s.name)).toEqual(["bit-flip"]);
    expect(again.report.failures[0].violation.message).toBe(first.report.failures[0].violation.message);
  }, 180_000);

  it("scenario options in the config are checked: an unknown scenario or a bad level is named with its path", async () => {
    const dir = await tempDir();
    const bad = path.join(dir, "bad.json");
    fs.writeFileSync(bad, JSON.stringify({ scenarioOptions: { "torn-tale": { cases: 2 } } }));
    const r = await runScenarios(["--config", bad]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("scenarioOptions.torn-tale: no such scenario");
    fs.writeFileSync(bad, JSON.stringify({ thresholds: { append: { targetMs: -1 } } }));
    const r2 = await runScenarios(["--config", bad]);
    expect(r2.exitCode).toBe(2);
    expect(r2.stderr).toContain("thresholds.append.targetMs");
  });

  it("only skipped scenarios selected: exit 2, nothing was tested", async () => {
    const r = await runScenarios(["--adapter", fixture("simple-wal"), "--scenarios", "bit-flip", "--runs", "1"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("no selected scenario applies");
  });
});
