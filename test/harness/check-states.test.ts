import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { recordBenchLife } from "../../bench/power-bench.js";
import { ClientPool } from "../../bench/protocol-suites.js";
import type { AdapterLaunch } from "../../harness/engine/adapter-launch.js";
import { checkStates, RecoveryPool, type CheckResult } from "../../harness/faults/power/check-states.js";
import { allStates, countStates } from "../../harness/faults/power/crash-states.js";
import type { Recording } from "../../harness/faults/power/record-life.js";
import type { Hello } from "../../harness/protocol/messages.js";
import { assertDistFresh, CLI, tempDir } from "../helpers.js";
import { fixture, runScenarios, scenarioOf } from "../scenarios/run-scenarios.js";

// Checking the crash states of a recorded life (harness/faults/power/check-states.ts) with real
// adapter processes (walcheck serve): a directory whose bytes were already recovered is not
// recovered again, and is counted; checking on several processes at once gives what checking
// one at a time gives (the first failing state in order, the same counts); and a run's failing
// state, found so, replays.

const clients = new ClientPool(60_000);
afterAll(() => clients.killAll());

interface Life {
  launch: AdapterLaunch;
  hello: Hello;
  rec: Recording;
}

/** One sequential life of `steps` steps of `adapter` (a built-in name or a module), recorded. */
async function recorded(adapter: string, steps: number, seed: number): Promise<Life> {
  assertDistFresh(["harness/faults/power/check-states", "harness/cli/serve-command"]);
  const launch: AdapterLaunch = {
    label: adapter,
    flags: [],
    file: process.execPath,
    args: [CLI, "serve", "--adapter", adapter],
    env: {},
    node: true,
  };
  const hello = await clients.probe(launch);
  const rec = await recordBenchLife(clients, launch, hello, await tempDir(), steps, seed);
  return { launch, hello, rec };
}

/** Every state of the life, `workers` directories at a time; `recoveries` counts the directories the pool was given. */
async function checked(
  life: Life,
  workers: number,
  mode: "reuse" | "fresh",
): Promise<{ result: CheckResult; recoveries: number; workDir: string }> {
  const pool = new RecoveryPool(() => clients.start(life.launch), {
    mode,
    ahead: workers,
    size: workers,
    openConfig: {},
    check: life.hello.features.includes("check"),
  });
  let recoveries = 0;
  const recover = pool.recover.bind(pool);
  pool.recover = (dir) => {
    recoveries += 1;
    return recover(dir);
  };
  const workDir = path.join(await tempDir(), "states");
  try {
    const result = await checkStates({
      states: allStates(life.rec.initial, life.rec.trace, 1),
      rec: life.rec,
      pool,
      workDir,
      workers,
    });
    return { result, recoveries, workDir };
  } finally {
    await pool.close();
  }
}

/** What a report says of a check: everything but times. */
function reported(r: CheckResult) {
  const f = r.failure;
  return {
    checked: r.checked,
    enumerated: r.enumerated,
    duplicates: r.duplicates,
    recovered: r.recovered,
    crossChecked: r.crossChecked,
    lostAcked: r.lostAcked,
    recoveries: r.recoveryMs.length,
    failure: f && {
      cut: f.state.cut,
      variant: f.state.variant,
      verdict: f.verdict,
      lastSeq: f.recovered.open === "ok" ? f.recovered.lastSeq : f.recovered.code,
      files: fs.readdirSync(f.dir).sort(),
    },
  };
}

describe("checking power-loss states", () => {
  it("recovers each distinct directory once: states with bytes already recovered (at their cut or an earlier one) are counted as duplicates, and nothing is left behind", async () => {
    const life = await recorded("reference", 8, 1);
    const counts = countStates(life.rec.initial, life.rec.trace, 1);
    // The life's states collide: variants of one cut with the same bytes, and cuts that change nothing on disk.
    expect(counts.variants).toBeGreaterThan(counts.states);
    expect(counts.states).toBeGreaterThan(counts.distinct);

    const { result, recoveries, workDir } = await checked(life, 2, "reuse");
    expect(result.failure).toBeUndefined();
    expect(result.checked).toBe(counts.states);
    expect(result.enumerated).toBe(counts.variants);
    expect(result.recovered).toBe(counts.distinct);
    // Only the distinct directories went to an adapter process.
    expect(recoveries).toBe(counts.distinct);
    expect(result.duplicates).toBe(counts.variants - counts.distinct);
    // One directory in 16, the first included, recovered again by a fresh process.
    expect(result.crossChecked).toBe(Math.ceil(counts.distinct / 16));
    // Every state's directory was removed once it was recovered.
    expect(fs.readdirSync(workDir)).toEqual([]);
  }, 120_000);

  it("checking on several processes at once reports what checking one at a time does: the same counts, and the first failing state in order", async () => {
    const pass = await recorded("reference", 6, 2);
    const one = await checked(pass, 1, "reuse");
    const four = await checked(pass, 4, "reuse");
    expect(one.result.failure).toBeUndefined();
    expect(reported(four.result)).toEqual(reported(one.result));

    // A WAL that never fsyncs fails many states: the one reported is the first of them, however many run at once.
    const fail = await recorded(fixture("bug-power-no-fsync"), 6, 2);
    for (const mode of ["reuse", "fresh"] as const) {
      const sequential = reported((await checked(fail, 1, mode)).result);
      expect(sequential.failure?.verdict).toMatchObject({ ok: false, invariant: "durability" });
      // Every state before the failing one passed, and none after it counts.
      const order = [...allStates(fail.rec.initial, fail.rec.trace, 1)];
      const at = order.findIndex((s) => s.cut === sequential.failure!.cut && s.variant === sequential.failure!.variant);
      expect(sequential.checked).toBe(at + 1);
      for (const workers of [3, 6]) expect(reported((await checked(fail, workers, mode)).result)).toEqual(sequential);
    }
  }, 240_000);

  it("a run finds the same failing state every time it is given the same seed (same report, same replay token), and the token replays it", async () => {
    const args = [
      "--adapter",
      fixture("bug-power-no-fsync"),
      "--crash",
      "power",
      "--power-pipeline",
      "1",
      // Sampled states: the 17th of them is the first that fails.
      "--seed",
      "4",
      "--runs",
      "1",
      // Shrinking stops at a time budget: without it, the failing case is the one the seed draws.
      "--shrink-budget",
      "0s",
    ];
    const runs = [await runScenarios(args), await runScenarios(args)];
    const seen = runs.map((r) => {
      expect(r.exitCode, r.stdout + r.stderr).toBe(1);
      const entry = scenarioOf(r.report, "power-loss") as ReturnType<typeof scenarioOf> & {
        powerStates: Record<string, number>;
      };
      const { ms: _ms, ...counts } = entry.powerStates;
      return {
        message: entry.failures[0]!.violation.message,
        counts,
        token: /replay: npx walcheck run --adapter \S+ --replay ([A-Za-z0-9_-]+)/.exec(r.stdout)?.[1],
      };
    });
    expect(seen[0]!.token).toBeDefined();
    expect(seen[0]!.counts.enumerated! - seen[0]!.counts.recovered!).toBe(seen[0]!.counts.duplicates);
    expect(seen[1]).toEqual(seen[0]);
    const state =
      /power-loss state (cut \d+ variant \S+) under persistence model posix-pessimistic; (\d+) states? checked/.exec(
        seen[0]!.message,
      );
    expect(state).not.toBeNull();
    expect(Number(state![2])).toBe(seen[0]!.counts.checked);
    expect(seen[0]!.counts.checked).toBeGreaterThan(4);

    const again = await runScenarios(["--adapter", fixture("bug-power-no-fsync"), "--replay", seen[0]!.token!]);
    expect(again.exitCode, again.stdout + again.stderr).toBe(1);
    expect(again.stdout).toContain(
      `power-loss state ${state![1]} under persistence model posix-pessimistic; 1 state checked)`,
    );
  }, 240_000);

  it("a run's power-loss cases share their long-lived recovery processes (each case's first directories cross-checked by fresh processes still)", async () => {
    const pids = path.join(await tempDir(), "pids");
    process.env.POWER_WAL_PIDS = pids;
    let r;
    try {
      r = await runScenarios([
        "--adapter",
        fixture("power-wal-pids"),
        "--crash",
        "power",
        "--power-pipeline",
        "1",
        "--seed",
        "1",
        "--runs",
        "3",
        // One case at a time: each hands its processes to the next.
        "--workers",
        "1",
      ]);
    } finally {
      delete process.env.POWER_WAL_PIDS;
    }
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    // Which cases' crash states (case directory …/states/state-…) each process opened.
    const casesOf = new Map<string, Set<string>>();
    const opens = new Map<string, number>();
    for (const line of fs.readFileSync(pids, "utf8").trim().split("\n")) {
      const [pid, dir] = line.split(" ") as [string, string];
      const at = dir.indexOf("/states/state-");
      if (at < 0) continue;
      (casesOf.get(pid) ?? casesOf.set(pid, new Set()).get(pid)!).add(dir.slice(0, at));
      opens.set(pid, (opens.get(pid) ?? 0) + 1);
    }
    expect(new Set([...casesOf.values()].flatMap((c) => [...c])).size).toBe(3);
    // A process that recovered states of two cases or more: kept between them.
    expect(Math.max(...[...casesOf.values()].map((c) => c.size))).toBeGreaterThan(1);
    // The fresh processes of the cross-checks each opened one directory, in every case.
    const fresh = [...opens.values()].filter((n) => n === 1).length;
    const entry = scenarioOf(r.report, "power-loss") as ReturnType<typeof scenarioOf> & {
      powerStates: { crossChecked: number };
    };
    expect(entry.powerStates.crossChecked).toBeGreaterThanOrEqual(3);
    expect(fresh).toBeGreaterThanOrEqual(entry.powerStates.crossChecked);
  }, 240_000);
});
