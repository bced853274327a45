import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { benchPlan } from "../../harness/cli/bench-command.js";
import { fmtMs, fmtRatio } from "../../reports/bench-format.js";
import { parseBenchReport } from "../../reports/bench-schema.js";
import { processesMarked, tempDir, waitForOutput } from "../helpers.js";
import { benchFiles, walcheck } from "./bench-helpers.js";

// `walcheck bench --suites crash`: crash cycles per minute of an adapter through walcheck run
// (crash-* scenarios, the bench's seed), and the protocol's cost per append beside the same WAL
// in process, in bench.json, bench.md and bench.html. No timing is asserted: only that the
// figures are there, positive, finite and consistent with each other.

const CRASH_SCENARIOS = [
  "crash-append",
  "crash-checkpoint",
  "crash-truncate",
  "crash-rotate",
  "crash-recovery",
  "crash-mixed",
];

describe("walcheck bench --suites crash", () => {
  it("is not a default suite, and is one --suites takes", () => {
    expect(benchPlan({}).suites).not.toContain("crash");
    expect(benchPlan({ suites: "crash", crashRuns: 2 })).toMatchObject({ suites: ["crash"], crashRuns: 2 });
  });

  it("runs a campaign over the crash-* scenarios and times the protocol beside in process", async () => {
    const out = path.join(await tempDir(), "out");
    const r = await walcheck([
      "bench",
      "--adapter",
      "reference",
      "--compare",
      "reference-inproc",
      "--suites",
      "crash",
      "--crash-runs",
      "1",
      "--time",
      "200",
      "--seed",
      "7",
      "--out",
      out,
    ]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const { json, md, html } = benchFiles(out);
    expect(() => parseBenchReport(json)).not.toThrow();
    expect(json.config).toMatchObject({ suites: ["crash"], crashRuns: 1, seed: 7 });
    expect(json.tasks).toEqual([]);
    // The in-process subject has nothing to crash: skipped, with the reason.
    expect(json.skipped).toEqual([expect.objectContaining({ subject: "reference-inproc", suite: "crash" })]);

    const campaigns = json.crash?.campaigns ?? [];
    expect(campaigns).toHaveLength(1);
    const c = campaigns[0]!;
    expect(c.subject).toBe("adapter");
    expect([...c.scenarios].sort()).toEqual([...CRASH_SCENARIOS].sort());
    expect(c).toMatchObject({ runs: 1, seed: 7, status: "passed" });
    expect(c.workers).toBeGreaterThanOrEqual(1);
    expect(c.cases).toMatchObject({ planned: 6, run: 6, passed: 6, failed: 0, errors: 0 });
    expect(c.cycles).toBeGreaterThan(0);
    expect(Number.isFinite(c.elapsedMs) && c.elapsedMs > 0).toBe(true);
    expect(c.cyclesPerMinute).toBeCloseTo((c.cycles * 60_000) / c.elapsedMs, 6);

    const cost = json.crash?.protocolCost;
    expect(cost).toBeDefined();
    const { protocol, inProcess } = cost!;
    for (const s of [protocol, inProcess]) {
      expect(Number.isFinite(s.mean) && s.mean > 0).toBe(true);
      expect(s.samplesCount).toBeGreaterThan(0);
    }
    expect(cost!.deltaMeanMs).toBeCloseTo(protocol.mean - inProcess.mean, 9);
    expect(cost!.deltaP50Ms).toBeCloseTo(protocol.p50 - inProcess.p50, 9);
    expect(cost!.ratio).toBeCloseTo(protocol.mean / inProcess.mean, 9);
    expect(Number.isFinite(cost!.ratio) && cost!.ratio > 0).toBe(true);

    // The Markdown and the page show the same figures.
    for (const page of [md, html]) {
      expect(page).toContain("Crash cycles: walcheck run over the crash-* scenarios, 1 case(s) each");
      expect(page).toContain("ms per append (mean)");
      expect(page).toContain(`${fmtRatio(cost!.ratio)} the in-process time`);
      expect(page).toContain(fmtMs(protocol.mean));
      expect(page).toContain(fmtMs(inProcess.mean));
    }
    expect(md).toContain(`| adapter | passed | 6/6 | ${c.cycles} |`);
    expect(html).toContain('<section id="crash">');
    expect(r.stdout).toContain("Crash cycles");
  }, 180_000);

  it("Ctrl-C during the campaign: exit 130, no report, no process of the run or its adapters left, no temp directory", async () => {
    const mark = randomUUID();
    const tmp = await tempDir();
    const out = path.join(await tempDir(), "out");
    const bench = walcheck(
      [
        "bench",
        "--adapter",
        "reference",
        "--no-compare",
        "--suites",
        "crash",
        "--crash-runs",
        "50",
        "--time",
        "100",
        "--out",
        out,
      ],
      { WALCHECK_TEST_MARK: mark, WALCHECK_LOG_LEVEL: "info", TMPDIR: tmp },
    );
    await waitForOutput(bench.stderr!, "crash campaign");
    // The run's first case under way: one of its adapters answers on the pipe.
    for (;;) {
      const serving = processesMarked(mark).some((pid) => {
        try {
          return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("serve");
        } catch {
          return false;
        }
      });
      if (serving) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    bench.kill("SIGINT");
    const r = await bench;
    expect(r.exitCode, r.stderr).toBe(130);
    expect(r.stderr).toContain("walcheck bench: interrupted");
    expect(fs.existsSync(path.join(out, "bench.json"))).toBe(false);
    expect(processesMarked(mark)).toEqual([]);
    expect(fs.readdirSync(tmp)).toEqual([]);
  }, 180_000);
});
