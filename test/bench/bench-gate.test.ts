import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fmtMs, fmtRme } from "../../reports/bench-format.js";
import { renderBenchHtml } from "../../reports/bench-html.js";
import { renderBenchMarkdown } from "../../reports/bench-markdown.js";
import { parseBenchReport, type BenchReport } from "../../reports/bench-schema.js";
import { benchFiles, slowWal, walcheck } from "./bench-helpers.js";

// `walcheck bench --baseline` must flag a regression made on purpose. The same simple WAL is
// measured at full speed (about a millisecond per fdatasync'd append), then with 100 ms slept
// before every append: a difference no noise can hide. The slow run takes ~15 samples, so
// that even a loaded machine stalling one or two of them by a whole second keeps the margin
// of error below the 100 ms the sleep adds.

const ID = "adapter/append/b1/c1";
const HOSTILE_NAME = "<script>alert(1)</script>";
const args = (adapterCmd: string, out: string, time = 150) => [
  "bench",
  "--adapter-cmd",
  adapterCmd,
  "--no-compare",
  "--suites",
  "append",
  "--batch-sizes",
  "1",
  "--concurrency",
  "1",
  "--time",
  String(time),
  "--out",
  out,
];

describe("walcheck bench --baseline: the performance gate", () => {
  let dir: string;
  let fast: Awaited<ReturnType<typeof walcheck>>;
  let fastFiles: ReturnType<typeof benchFiles>;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "walcheck-bench-gate-"));
    fast = await walcheck(args(slowWal(0, HOSTILE_NAME), path.join(dir, "fast")));
    expect(fast.exitCode, fast.stderr).toBe(0);
    fastFiles = benchFiles(path.join(dir, "fast"));
  }, 60_000);
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("the fast run writes a valid bench.json, and bench.md and bench.html rendered from it", () => {
    const report = parseBenchReport(fastFiles.json);
    expect(report.subjects.map((s) => s.id)).toEqual(["adapter"]);
    expect(report.subjects[0]!.hello?.name).toBe(HOSTILE_NAME);
    expect(report.tasks.map((t) => t.id)).toEqual([ID]);
    expect(report.tasks[0]!.latency.samplesCount).toBeGreaterThan(1);
    expect(report.comparison).toBeUndefined();
    expect(fastFiles.md).toBe(renderBenchMarkdown(report));
    expect(fastFiles.html).toBe(renderBenchHtml(report));
    expect(fast.stdout).toContain(`report (json): ${path.join(dir, "fast", "bench.json")}`);
  });

  it("the adapter's hostile hello.name is escaped in the HTML page and the Markdown", () => {
    expect(fastFiles.html).not.toMatch(/<script/i);
    expect(fastFiles.html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(fastFiles.html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`);
    expect(fastFiles.md).not.toMatch(/<script/i);
    expect(fastFiles.md).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
  });

  it("the slowed adapter against that baseline: exit 1, the task and both figures on stdout and in comparison.regressions", async () => {
    const baselineFile = path.join(dir, "fast", "bench.json");
    const slow = await walcheck([...args(slowWal(100), path.join(dir, "slow"), 1500), "--baseline", baselineFile]);
    expect(slow.exitCode, slow.stdout + slow.stderr).toBe(1);
    const report: BenchReport = parseBenchReport(benchFiles(path.join(dir, "slow")).json);
    const before = fastFiles.json.tasks[0]!.latency;
    const after = report.tasks[0]!.latency;
    // setTimeout never fires early: every iteration slept its 100 ms.
    expect(after.min).toBeGreaterThanOrEqual(99);
    expect(report.comparison).toMatchObject({
      baseline: baselineFile,
      thresholdPercent: 10,
      metric: "latency.mean",
      improvements: [],
      unchanged: [],
      missing: [],
    });
    expect(report.comparison!.regressions).toEqual([
      expect.objectContaining({
        id: ID,
        verdict: "regression",
        baseline: expect.objectContaining({ mean: before.mean, rme: before.rme }),
        current: expect.objectContaining({ mean: after.mean, rme: after.rme }),
      }),
    ]);
    expect(slow.stdout).toContain("REGRESSION: 1 of 1 tasks slower by more than 10% and their margin of error");
    expect(slow.stdout).toContain(
      `| ${ID} | ${fmtMs(before.mean)} ${fmtRme(before.rme)}% | ${fmtMs(after.mean)} ${fmtRme(after.rme)}% |`,
    );

    // The same verdict from the two files alone, running nothing.
    const compare = await walcheck([
      "bench",
      "compare",
      path.join(dir, "slow", "bench.json"),
      "--baseline",
      baselineFile,
    ]);
    expect(compare.exitCode, compare.stderr).toBe(1);
    expect(compare.stdout).toContain(
      `| ${ID} | ${fmtMs(before.mean)} ${fmtRme(before.rme)}% | ${fmtMs(after.mean)} ${fmtRme(after.rme)}% |`,
    );
  }, 60_000);
});
