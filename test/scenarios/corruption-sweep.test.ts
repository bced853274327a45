import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { SCENARIOS, selectScenarios } from "../../scenarios/index.js";
import { judgeSweep, SWEEP_FAULTS, type SweptBatch } from "../../harness/checks/sweep.js";
import { planCells, RECOVERIES_PER_ENDING } from "../../scenarios/corruption-sweep.js";
import { loadRunConfig } from "../../harness/cli/run-config.js";
import { tempDir } from "../helpers.js";
import { fixture, runScenarios, scenarioOf } from "./run-scenarios.js";

// The corruption sweep end to end: correct WALs pass it with every fault kind swept and the
// matrix in all three reports; the WAL that takes mid-log damage for a torn tail is caught,
// and its replay token runs the one damaged copy again. (Its row of the bug-fixture table is
// in catches-faults.test.ts.)

interface SweepReport {
  recoveries: number;
  ms: number;
  violations: number;
  skipped: { fault: string }[];
  rows: { ending: string; file: string; counts: Record<string, Record<string, number>>; violations: number }[];
}
const sweepOf = (report: { scenarios: { name: string }[] }) =>
  (scenarioOf(report, "corruption-sweep") as unknown as { sweep: SweepReport }).sweep;
const FAULTS = ["zeros", "junk", "bitflip", "eio-read", "swap"];

function reportFiles(runDir: string) {
  return {
    md: fs.readFileSync(path.join(runDir, "report.md"), "utf8"),
    html: fs.readFileSync(path.join(runDir, "report.html"), "utf8"),
  };
}

describe("corruption-sweep", () => {
  it.each([["reference"], [fixture("simple-wal")]])(
    "%s passes the sweep: every file, both endings, every fault kind, the matrix in JSON, Markdown and HTML",
    async (adapter) => {
      const r = await runScenarios(["--adapter", adapter, "--scenarios", "corruption-sweep", "--seed", "3"]);
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      const sweep = sweepOf(r.report);
      expect(sweep.violations).toBe(0);
      expect(sweep.skipped).toEqual([]);
      expect(new Set(sweep.rows.map((row) => row.ending))).toEqual(new Set(["clean", "crash"]));
      expect(new Set(sweep.rows.map((row) => row.file)).size).toBeGreaterThanOrEqual(2); // the log and a snapshot
      for (const fault of FAULTS) expect(sweep.rows.some((row) => row.counts[fault])).toBe(true);
      // Damage in the middle of the log is refused, not cut off as a torn tail.
      expect(sweep.rows[0]!.counts.zeros!.refused).toBe(1);
      expect(sweep.recoveries).toBeLessThanOrEqual(300);
      const { md, html } = reportFiles(r.reportDir!);
      expect(md).toContain("#### Corruption sweep (corruption-sweep)");
      expect(md).toMatch(/\| clean \| `[^`]+` \| bytes 0-511 \(1 block of 512 B\) \| 🟦 1 refused \|/);
      expect(html).toContain('<section id="corruption-sweep">');
      expect(html).toMatch(/<td class="sweep-refused" data-value="refused">1 refused<\/td>/);
    },
    120_000,
  );

  it("catches the WAL that truncates at damage, and its replay token recovers that one damaged copy again", async () => {
    const adapter = fixture("bug-truncate-at-damage");
    const r = await runScenarios(["--adapter", adapter, "--scenarios", "corruption-sweep", "--seed", "5"]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(1);
    const failure = (
      scenarioOf(r.report, "corruption-sweep") as unknown as {
        failures: { violation: { invariant: string; message: string }; replayToken: string }[];
      }
    ).failures[0]!;
    expect(failure.violation.invariant).toBe("no-loss-after-damage");
    expect(failure.violation.message).toMatch(/lie wholly after the damaged bytes of wal\.log are missing \(seq /);
    const sweep = sweepOf(r.report);
    expect(sweep.violations).toBeGreaterThan(0);
    // EIO on read is refused by this WAL (readFileSync throws): never a violation.
    expect(sweep.rows.every((row) => row.counts["eio-read"]!.refused === 1)).toBe(true);

    const again = await runScenarios(["--adapter", adapter, "--replay", failure.replayToken]);
    expect(again.exitCode, again.stdout + again.stderr).toBe(1);
    const replayed = scenarioOf(again.report, "corruption-sweep");
    expect(replayed.failures[0]!.violation.message).toBe(
      failure.violation.message.replace(/ \(\d+ damaged copies.*\)$/, ""),
    );
    expect(sweepOf(again.report).recoveries).toBe(1);
  }, 120_000);

  it("a Python adapter gets every fault kind too, EIO on read through the C preload, and examples/python/wal.py passes", async () => {
    const r = await runScenarios([
      "--adapter-cmd",
      `python3 ${path.resolve("examples/python/wal.py")}`,
      "--scenarios",
      "corruption-sweep",
      "--seed",
      "2",
      "--runs",
      "1",
    ]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const sweep = sweepOf(r.report);
    expect(sweep.skipped).toEqual([]);
    // The fault reached it: a read of wal.log that hits the bad block fails, and open refuses.
    const refused = sweep.rows
      .filter((row) => row.file === "wal.log")
      .reduce((n, row) => n + (row.counts["eio-read"]?.refused ?? 0), 0);
    expect(refused).toBeGreaterThan(0);
    // Its records carry CRCs and it refuses damage followed by valid records: nothing is lost silently.
    expect(sweep.violations).toBe(0);
  }, 120_000);

  it("is opt-in: left out of the default selection, added by --sweep or a config file's sweep: true", async () => {
    expect(selectScenarios(undefined).map((s) => s.name)).not.toContain("corruption-sweep");
    expect(SCENARIOS.map((s) => s.name)).toContain("corruption-sweep");
    const dir = await tempDir();
    const config = path.join(dir, "walcheck.config.json");
    fs.writeFileSync(config, JSON.stringify({ sweep: true, scenarios: ["crash-append"] }));
    expect((await loadRunConfig(config)).sweep).toBe(true);
    // --budget 1ms: the scenarios are planned (and listed in the report), hardly any case runs.
    const r = await runScenarios([
      "--adapter",
      "reference",
      "--scenarios",
      "crash-append",
      "--sweep",
      "--runs",
      "1",
      "--budget",
      "1ms",
    ]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.report.scenarios.map((s: { name: string }) => s.name)).toEqual(["crash-append", "corruption-sweep"]);
    fs.writeFileSync(config, JSON.stringify({ sweep: "yes" }));
    const bad = await runScenarios(["--adapter", "reference", "--config", config]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr + bad.stdout).toMatch(/sweep/);
  }, 120_000);
});

describe("the sweep's plan", () => {
  it("uses 512-byte blocks up to 16 KiB and 4 KiB above, skips lock files, and stays within its budget", () => {
    const small = new Map([
      ["wal.log", Buffer.alloc(1500)],
      ["LOCK", Buffer.alloc(10)],
      ["empty", Buffer.alloc(0)],
    ]);
    const a = planCells(small, "clean", SWEEP_FAULTS);
    expect(a.files).toEqual([{ file: "wal.log", size: 1500, blockSize: 512, blocks: 3 }]);
    expect(a.cells).toHaveLength(3 * SWEEP_FAULTS.length);
    expect(a.cells.at(-1)).toMatchObject({ block: 2, start: 1024, end: 1500 });
    const big = new Map([
      ["seg-1.log", Buffer.alloc(1 << 20)],
      ["snap", Buffer.alloc(100_000)],
    ]);
    const b = planCells(big, "crash", SWEEP_FAULTS);
    expect(b.files.map((f) => f.blockSize)).toEqual([4096, 4096]);
    expect(b.cells.length).toBeLessThanOrEqual(RECOVERIES_PER_ENDING);
    expect(b.leftOut).toBeGreaterThan(0);
    expect(new Set(b.cells.map((c) => c.file))).toEqual(new Set(["seg-1.log", "snap"]));
  });
});

describe("the sweep's classification", () => {
  const batches: SweptBatch[] = [
    { seq: 1, puts: { a: "1" }, at: [{ file: "wal", start: 0, end: 100 }] },
    { seq: 2, puts: { b: "2" }, at: [{ file: "wal", start: 100, end: 200 }] },
    { seq: 3, puts: { c: "3" }, at: [{ file: "wal", start: 600, end: 700 }] },
  ];
  const damage = { file: "wal", ranges: [[0, 512]] as [number, number][] };
  const ok = (state: Record<string, string>, check?: string[]) => ({
    open: "ok" as const,
    lastSeq: 3,
    state,
    ...(check ? { check } : {}),
  });

  it("a batch after the damage missing is the PAR bug, for any adapter; one inside the damage may go", () => {
    const v = judgeSweep(batches, damage, "zeros", ok({}), false);
    expect(v.outcome).toBe("missing");
    expect(v.missingAfter).toEqual([3]);
    expect(v.violation?.invariant).toBe("no-loss-after-damage");
    expect(judgeSweep(batches, damage, "zeros", ok({ c: "3" }), false).violation).toBeUndefined();
  });

  it("after a swap, a batch between the two damaged ranges is after the damage", () => {
    const swapped = {
      file: "wal",
      ranges: [
        [600, 658],
        [0, 58],
      ] as [number, number][],
    };
    const v = judgeSweep(batches, swapped, "swap", ok({ c: "3" }), false);
    expect(v.missingAfter).toEqual([2]);
    expect(v.violation?.invariant).toBe("no-loss-after-damage");
  });

  it("a batch before the damage missing is a violation too", () => {
    const v = judgeSweep(batches, { file: "wal", ranges: [[600, 700]] }, "junk", ok({}), false);
    expect(v.violation?.invariant).toBe("no-loss-outside-damage");
    expect(v.missingElsewhere).toEqual([1, 2]);
  });

  it("a changed value fails an adapter with checksums and is counted for one without; a refusal or a check is never wrong", () => {
    const changed = ok({ a: "1", b: "X", c: "3" });
    expect(judgeSweep(batches, damage, "bitflip", changed, true).violation?.invariant).toBe("no-silent-change");
    const counted = judgeSweep(batches, damage, "bitflip", changed, false);
    expect(counted.violation).toBeUndefined();
    expect(counted.finding).toMatch(/silently changed/);
    expect(
      judgeSweep(batches, damage, "swap", { open: "failed", code: "WAL_CORRUPT", message: "" }, true).outcome,
    ).toBe("refused");
    expect(judgeSweep(batches, damage, "swap", ok({}, ["crc mismatch"]), true).outcome).toBe("refused");
    expect(judgeSweep(batches, damage, "swap", ok({ a: "1", b: "2", c: "3" }), true).outcome).toBe("intact");
  });

  it("after a bit flip, an adapter without checksums losing later batches is a finding (a flipped length cannot be told from the truth)", () => {
    const v = judgeSweep(batches, damage, "bitflip", ok({}), false);
    expect(v.violation).toBeUndefined();
    expect(v.finding).toMatch(/bit flip/);
    expect(judgeSweep(batches, damage, "bitflip", ok({}), true).violation?.invariant).toBe("no-loss-after-damage");
  });
});
