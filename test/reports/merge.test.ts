import { describe, expect, it } from "vitest";
import { UsageError } from "../../harness/protocol/errors.js";
import {
  formatShardSet,
  mergeHistograms,
  mergeLatencyStats,
  mergeRunReports,
  parseShardSet,
  type MergeInput,
} from "../../reports/merge.js";
import { parseRunReport, type RunReport } from "../../reports/report-schema.js";

// mergeRunReports on reports built by hand: what adds up, what is the worst shard's, what is
// refused. The end-to-end merge of real shard runs is in test/harness/ci-output.test.ts.

const lat = (p50: number, p95: number, max: number, n: number) => ({ n, p50, p95, p99: p95, p999: p95, max });

function failure(scenario: string, index: number) {
  return {
    status: "failed",
    scenario,
    index,
    seed: 100 + index,
    stats: {
      lives: 1,
      crashes: { named: {}, fs: {}, signal: 1 },
      armsNotReached: 0,
      batchesSent: 1,
      batchesAcked: 1,
      refused: { append: 0, open: 0 },
      faultLives: 0,
      checkpoints: 0,
      recoveryMs: [],
      latency: {},
      timeMs: { startup: 0, recovery: 0, workload: 0, verify: 0 },
    },
    executions: 1,
    violation: { invariant: "durability", message: "lost k1", description: "lost k1" },
    commands: "append(k1)",
    shrinks: 0,
    replayToken: `token-${index}`,
    keptDir: `/tmp/kept-${index}`,
  };
}

/** Shard `shard` of a run of two scenarios; each shard's numbers differ so sums can be told from copies. */
function shard(shard: string, k: number, over: Record<string, unknown> = {}, sc: Record<string, unknown> = {}) {
  const append = {
    name: "crash-append",
    status: "passed",
    invariants: [{ id: "durability", text: "acked batches survive" }],
    cases: { planned: k, run: k, passed: k, failed: 0, errors: 0 },
    cycles: 10 * k,
    crashes: { named: { "append.after-write": k }, fs: { "3": 1 }, signal: 2 * k },
    armsNotReached: k,
    batches: { sent: 20 * k, acked: 19 * k },
    faults: { lives: k, refusedAppends: k, refusedOpens: 0 },
    checkpoints: k,
    latency: { append: lat(k, 10 * k, 20 * k, 100 * k) },
    histograms: { append: { edgesMs: [k, 2 * k, 4 * k], counts: [k, 2 * k] } },
    recoveryBySize: {
      n: 2,
      points: [
        { walBytes: 100 * k, ms: k },
        { walBytes: 5000 * k, ms: 2 * k },
      ],
      buckets: [{ fromBytes: 0, toBytes: 1024, n: 2, p50: k, p95: 2 * k, max: 2 * k }],
    },
    powerStates: { checked: k, recovered: k, ms: 5 },
    caseTimeMs: 1000 * k,
    thresholds: [
      {
        op: "append",
        stat: "p95",
        valueMs: 10 * k,
        n: 100 * k,
        targetMs: 10,
        criticalMs: 20,
        ...(k > 1
          ? { status: "warning", reason: `append p95 ${10 * k} ms is over the target 10 ms` }
          : { status: "ok" }),
      },
    ],
    latencyExpected: false,
    latencyGated: false,
    failures: [],
    errors: [],
    ...sc,
  };
  const skipped = {
    ...append,
    name: "bit-flip",
    status: "skipped",
    reason: "no checksums",
    cases: { planned: 0, run: 0, passed: 0, failed: 0, errors: 0 },
    latency: {},
    histograms: {},
    thresholds: [],
    failures: [],
  };
  delete (skipped as Record<string, unknown>).recoveryBySize;
  return parseRunReport({
    kind: "walcheck-run",
    version: 2,
    adapter: "./wal.mjs",
    flags: ["--adapter", "./wal.mjs"],
    environment: { startedAt: `2026-01-0${k}T00:00:00.000Z`, node: `v20.${k}.0`, fsType: "ext4" },
    status: "passed",
    seed: 7,
    hello: { name: "wal", protocol: 1, durability: "power", features: [] },
    crash: ["named", "signal"],
    shard,
    cases: append.cases,
    cycles: append.cycles,
    crashes: append.crashes,
    armsNotReached: k,
    batches: append.batches,
    checkpoints: k,
    recoveryMs: { n: 2, p50: k, p95: 2 * k, max: 3 * k },
    timeMs: { startup: k, recovery: k, workload: k, verify: k },
    elapsedMs: 1000 * k,
    cyclesPerMinute: 1,
    scenarios: [append, skipped],
    failures: [],
    errors: [],
    latencyWarnings: k > 1 ? [`crash-append: append p95 ${10 * k} ms is over the target 10 ms`] : [],
    latencyFailures: [],
    latencyObserved: ["crash-append: observed"],
    ...over,
  });
}

const inputs = (...reports: RunReport[]): MergeInput[] => reports.map((report, i) => ({ report, source: `r${i}` }));

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error("expected a UsageError");
}

describe("mergeRunReports", () => {
  it("sums every count of the shards, top level and per scenario, and passes the report schema", () => {
    const m = parseRunReport(mergeRunReports(inputs(shard("1/3", 1), shard("2/3", 2), shard("3/3", 3))));
    expect(m.cases).toEqual({ planned: 6, run: 6, passed: 6, failed: 0, errors: 0 });
    expect(m.cycles).toBe(60);
    expect(m.crashes).toEqual({ named: { "append.after-write": 6 }, fs: { "3": 3 }, signal: 12 });
    expect(m.batches).toEqual({ sent: 120, acked: 114 });
    expect([m.checkpoints, m.armsNotReached]).toEqual([6, 6]);
    expect(m.timeMs).toEqual({ startup: 6, recovery: 6, workload: 6, verify: 6 });
    const s = m.scenarios[0]!;
    expect(s.cases).toEqual(m.cases);
    expect(s.faults).toEqual({ lives: 6, refusedAppends: 6, refusedOpens: 0 });
    expect([s.cycles, s.checkpoints, s.caseTimeMs]).toEqual([60, 6, 6000]);
    expect(s.powerStates).toEqual({ checked: 6, recovered: 6, ms: 15 });
    expect(m.shard).toBe("1-3/3 merged");
    expect(m.merged?.shards).toEqual(["1/3", "2/3", "3/3"]);
    // The skipped scenario stays skipped, with its reason.
    expect(m.scenarios[1]).toMatchObject({ name: "bit-flip", status: "skipped", reason: "no checksums" });
  });

  it("the per-model power-loss verdict: statuses the worst shard's, states summed, the weakest passing model recomputed", () => {
    const result = (model: string, status: string, states: number, lost: [number, number], failure?: string) => ({
      model,
      status,
      statesChecked: states,
      directoriesRecovered: states - 1,
      lostAcked: { states: lost[0], batches: lost[1] },
      elapsedMs: 100,
      ...(failure
        ? { failure: { invariant: failure, message: `${failure} broken`, replay: "npx walcheck run --replay t" } }
        : {}),
    });
    const persistence = (...results: ReturnType<typeof result>[]) => ({
      persistence: { assumed: "posix-pessimistic", source: "flag", results, weakestPassing: null },
    });
    const a = shard(
      "1/2",
      1,
      persistence(result("posix-pessimistic", "passed", 40, [3, 2]), result("sector-atomic", "passed", 40, [0, 0])),
    );
    const b = shard(
      "2/2",
      2,
      persistence(
        result("posix-pessimistic", "failed", 10, [1, 5], "atomicity"),
        result("sector-atomic", "passed", 30, [2, 1]),
      ),
    );
    const m = parseRunReport(mergeRunReports(inputs(a, b)));
    expect(m.persistence?.results).toEqual(
      [
        result("posix-pessimistic", "failed", 50, [4, 5], "atomicity"),
        { ...result("sector-atomic", "passed", 70, [2, 1]), directoriesRecovered: 68, elapsedMs: 200 },
      ].map((r, i) => (i === 0 ? { ...r, directoriesRecovered: 48, elapsedMs: 200 } : r)),
    );
    // posix-pessimistic failed in shard 2: the weakest model the whole run passed is sector-atomic.
    expect(m.persistence?.weakestPassing).toBe("sector-atomic");
  });

  it("latency: n summed and max exact, percentiles the worst shard's, and the report says so", () => {
    const m = mergeRunReports(inputs(shard("1/2", 1), shard("2/2", 3)));
    expect(m.scenarios[0]!.latency.append).toEqual({ n: 400, p50: 3, p95: 30, p99: 30, p999: 30, max: 60 });
    expect(m.recoveryMs).toEqual({ n: 4, p50: 3, p95: 6, max: 9 });
    expect(m.merged?.notes.join("\n")).toContain("worst shard's, an upper bound");
    // The worst verdict per op, with every shard's samples counted.
    expect(m.scenarios[0]!.thresholds).toEqual([expect.objectContaining({ status: "warning", valueMs: 30, n: 400 })]);
    expect(m.latencyWarnings).toEqual(["crash-append: append p95 30 ms is over the target 10 ms"]);
    expect(m.latencyObserved).toEqual(["crash-append: observed"]);
  });

  it("histograms add up bin by bin, gaps between the shards' ranges filled with empty doubling bins", () => {
    expect(
      mergeHistograms([
        { edgesMs: [1, 2, 4], counts: [1, 2] },
        { edgesMs: [2, 4], counts: [5] },
        { edgesMs: [16, 32], counts: [1] },
      ]),
    ).toEqual({ edgesMs: [1, 2, 4, 8, 16, 32], counts: [1, 7, 0, 0, 1] });
    expect(mergeHistograms([{ edgesMs: [0, 0.125, 0.25], counts: [3, 1] }])).toEqual({
      edgesMs: [0, 0.125, 0.25],
      counts: [3, 1],
    });
    expect(mergeLatencyStats([lat(1, 2, 3, 0), lat(1, 2, 3, 5)]).n).toBe(5);
    const m = mergeRunReports(inputs(shard("1/2", 1), shard("2/2", 2)));
    const h = m.scenarios[0]!.histograms!.append!;
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(1 + 2 + 2 + 4);
    expect(h).toEqual({ edgesMs: [1, 2, 4, 8], counts: [1, 4, 4] });
  });

  it("recovery by size pools the points and sums each bucket's count", () => {
    const m = mergeRunReports(inputs(shard("1/2", 1), shard("2/2", 2)));
    const r = m.scenarios[0]!.recoveryBySize!;
    expect(r.n).toBe(4);
    expect(r.points).toHaveLength(4);
    expect(r.buckets).toEqual([{ fromBytes: 0, toBytes: 1024, n: 4, p50: 2, p95: 4, max: 4 }]);
  });

  it("concatenates failures and errors; the worst status wins, for the run and for each scenario", () => {
    const failed = shard(
      "2/2",
      1,
      { status: "failed", failures: [failure("crash-append", 1)] },
      { status: "failed", failures: [failure("crash-append", 1)] },
    );
    const errored = shard("1/2", 1, { status: "error" }, { status: "error" });
    const m = mergeRunReports(inputs(failed, errored));
    expect(m.status).toBe("failed");
    expect(m.scenarios[0]!.status).toBe("failed");
    expect(m.failures.map((f) => f.replayToken)).toEqual(["token-1"]);
    expect(m.scenarios[0]!.failures).toHaveLength(1);
    const interrupted = mergeRunReports(
      inputs(shard("1/2", 1), shard("2/2", 1, { status: "interrupted" }, { status: "interrupted" })),
    );
    expect([interrupted.status, interrupted.scenarios[0]!.status]).toEqual(["interrupted", "interrupted"]);
  });

  it("protocol warnings: one per op, field and message, with the shards' counts summed; none when no shard has any", () => {
    const w = (field: string, count: number) => ({ op: "checkpoint", field, message: `${field} missing`, count });
    const m = mergeRunReports(
      inputs(
        shard("1/3", 1, { warnings: [w("stats.logFrames", 2)] }),
        shard("2/3", 2),
        shard("3/3", 3, { warnings: [w("stats.logFrames", 3), w("stats.checkpointedFrames", 1)] }),
      ),
    );
    expect(m.warnings).toEqual([w("stats.logFrames", 5), w("stats.checkpointedFrames", 1)]);
    expect(mergeRunReports(inputs(shard("1/2", 1), shard("2/2", 2))).warnings).toBeUndefined();
  });

  it("takes the environment and hello of the first shard, whatever the order given", () => {
    const m = mergeRunReports(inputs(shard("2/2", 2), shard("1/2", 1)));
    expect(m.environment.node).toBe("v20.1.0");
    expect(m.merged?.shards).toEqual(["1/2", "2/2"]);
    expect(m.shard).toBe("1-2/2 merged");
  });

  it("says which shards are missing, and a merged report merges again with the rest", () => {
    const partial = mergeRunReports(inputs(shard("1/4", 1), shard("3/4", 3)));
    expect(partial.shard).toBe("1,3/4 merged");
    expect(partial.merged?.notes.join("\n")).toContain("shards 2/4, 4/4 missing");
    const whole = mergeRunReports(inputs(parseRunReport(partial), shard("2/4", 2), shard("4/4", 4)));
    expect(whole.shard).toBe("1-4/4 merged");
    expect(whole.cases.run).toBe(10);
    expect(whole.merged?.notes.join("\n")).not.toContain("missing");
  });

  it("refuses reports that are not shards of one run, naming the two files and what differs", () => {
    expect(refusal(() => mergeRunReports(inputs(shard("1/2", 1), shard("2/2", 2, { seed: 8 }))))).toBe(
      "walcheck report merge: r0 and r1 are not shards of one run: different seeds (7 and 8)",
    );
    expect(
      refusal(() =>
        mergeRunReports(
          inputs(shard("1/2", 1), shard("2/2", 2, { adapter: "sqlite", flags: ["--adapter", "sqlite"] })),
        ),
      ),
    ).toContain("different adapters");
    expect(refusal(() => mergeRunReports(inputs(shard("1/2", 1), shard("2/2", 2, { crash: ["signal"] }))))).toContain(
      "different crash kinds",
    );
    expect(refusal(() => mergeRunReports(inputs(shard("1/2", 1), shard("2/3", 2))))).toContain(
      "different shard counts",
    );
    const other = shard("2/2", 2);
    expect(
      refusal(() => mergeRunReports(inputs(shard("1/2", 1), { ...other, scenarios: other.scenarios.slice(0, 1) }))),
    ).toContain("different scenarios");
    expect(refusal(() => mergeRunReports(inputs(shard("1/2", 1), shard("1/2", 2))))).toBe(
      "walcheck report merge: shard 1/2 is in both r0 and r1: each shard may be merged once",
    );
    const v1 = { ...shard("2/2", 2), version: 1 } as unknown as RunReport;
    expect(refusal(() => mergeRunReports(inputs(shard("1/2", 1), v1)))).toContain("version 1");
    expect(refusal(() => mergeRunReports([]))).toContain("no reports");
  });
});

describe("shard sets", () => {
  it("reads and writes i/n and merged ranges", () => {
    expect(parseShardSet("2/4")).toEqual({ indices: [2], count: 4 });
    expect(parseShardSet("1-2,4/4 merged")).toEqual({ indices: [1, 2, 4], count: 4 });
    expect(parseShardSet("5/4")).toBeUndefined();
    expect(parseShardSet("1-2/4")).toBeUndefined();
    expect(formatShardSet([4, 1, 2], 4)).toBe("1-2,4/4 merged");
  });
});
