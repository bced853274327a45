import { describe, expect, it } from "vitest";
import { compareBench, compareTask } from "../../reports/bench-compare.js";
import { renderBenchHtml } from "../../reports/bench-html.js";
import { renderBenchMarkdown } from "../../reports/bench-markdown.js";
import { readBenchReport } from "../../reports/bench-files.js";
import { parseBenchReport } from "../../reports/bench-schema.js";
import { tempDir } from "../helpers.js";
import { report, task, walcheck, writeJson } from "./bench-helpers.js";

// `walcheck bench compare <new.json> --baseline <old.json>`: runs nothing, so every figure
// here is constructed and every verdict deterministic.

const ID = "adapter/append/b1/c1";

describe("compareTask: a regression is beyond the threshold AND beyond the combined margin of error", () => {
  it("20% slower but within the two runs' margin of error: unchanged", () => {
    // margin = 10 × 15% + 12 × 15% = 3.3 ms > 2 ms difference
    const d = compareTask(task(ID, 10, 15), task(ID, 12, 15), 10);
    expect(d).toMatchObject({ verdict: "unchanged", changePercent: 20 });
    expect(d.marginMs).toBeCloseTo(3.3);
  });

  it("beyond the margin of error but within the threshold: unchanged", () => {
    const d = compareTask(task(ID, 10, 0.5), task(ID, 10.8, 0.5), 10);
    expect(d.verdict).toBe("unchanged");
  });

  it("beyond both: a regression; the same the other way round is an improvement", () => {
    expect(compareTask(task(ID, 10, 1), task(ID, 12, 1), 10)).toMatchObject({
      verdict: "regression",
      changePercent: 20,
    });
    expect(compareTask(task(ID, 12, 1), task(ID, 10, 1), 10).verdict).toBe("improvement");
  });
});

describe("compareBench", () => {
  it("matches tasks by id; tasks on one side only are missing, not regressions; differing machines are named", () => {
    const old = report([task(ID, 1, 1), task("adapter/append/b16/c1", 2, 1)], {
      cpu: { model: "Old CPU", count: 2 },
      node: "v20.1.0",
    });
    const now = report([task(ID, 1, 1), task("adapter/append/b64/c1", 3, 1)]);
    const c = compareBench(now, old, { baselinePath: "old.json", thresholdPercent: 10 });
    expect(c.regressions).toEqual([]);
    expect(c.unchanged.map((d) => d.id)).toEqual([ID]);
    expect(c.missing).toEqual([
      { id: "adapter/append/b16/c1", onlyIn: "baseline" },
      { id: "adapter/append/b64/c1", onlyIn: "current" },
    ]);
    expect(c.environmentDifferences).toEqual([
      "cpu model: Old CPU (baseline) vs Test CPU (current)",
      "node: v20.1.0 (baseline) vs v20.20.2 (current)",
    ]);
  });
});

describe("reading a bench report: what is wrong is named (a UsageError: exit 2)", () => {
  it("a run report, a duplicated task id, a task of no subject, a missing file", async () => {
    expect(() => parseBenchReport({ kind: "walcheck-run", version: 2 }, "run.json")).toThrow(
      'run.json: kind: this is a "walcheck-run" report, not the JSON of walcheck bench',
    );
    expect(() => parseBenchReport({ ...report([task(ID, 2, 1)]), version: 9 }, "v9.json")).toThrow(
      "v9.json: version: this is a version 9 bench report",
    );
    expect(() => parseBenchReport(report([task(ID, 2, 1), task(ID, 3, 1)]), "twice.json")).toThrow(
      `twice.json: tasks[1].id: task id "${ID}" appears twice`,
    );
    expect(() => parseBenchReport({ ...report([task(ID, 2, 1)]), subjects: [] }, "orphan.json")).toThrow(
      'orphan.json: tasks[0].subject: no subject "adapter" in subjects',
    );
    const missing = `${await tempDir()}/nope.json`;
    expect(() => readBenchReport(missing)).toThrow(`${missing}: no such file`);
  });
});

describe("walcheck bench compare (CLI, constructed reports)", () => {
  async function compare(baseline: unknown, current: unknown, extra: string[] = []) {
    const dir = await tempDir();
    return walcheck([
      "bench",
      "compare",
      writeJson(dir, "new.json", current),
      "--baseline",
      writeJson(dir, "old.json", baseline),
      ...extra,
    ]);
  }

  it("identical files: exit 0, no regression", async () => {
    const r = await compare(report([task(ID, 2, 1)]), report([task(ID, 2, 1)]));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain("no regression: 1 task compared");
  });

  it("a worse mean within the margin of error: exit 0, listed as unchanged", async () => {
    const r = await compare(report([task(ID, 10, 15)]), report([task(ID, 12, 15)]));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`unchanged (within 10% or the margin of error): ${ID} +20.0%`);
  });

  it("worse beyond the threshold and the margin of error: exit 1, the task and both figures in the table", async () => {
    const r = await compare(report([task(ID, 0.5, 2)]), report([task(ID, 26, 1)]));
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stdout).toContain("REGRESSION: 1 of 1 tasks slower by more than 10% and their margin of error");
    expect(r.stdout).toContain(`| ${ID} | 0.500 ±2.00% | 26.0 ±1.00% | +5,100% |`);
  });

  it("--threshold moves the line: 20% slower passes at 25", async () => {
    const r = await compare(report([task(ID, 10, 1)]), report([task(ID, 12, 1)]), ["--threshold", "25"]);
    expect(r.exitCode, r.stdout).toBe(0);
  });

  it("an improvement: exit 0, and listed with its figures", async () => {
    const r = await compare(report([task(ID, 20, 1)]), report([task(ID, 5, 1)]));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`| ${ID} | 20.0 ±1.00% | 5.00 ±1.00% | -75.0% |`);
    expect(r.stdout).toContain("| improvement |");
  });

  it("a malformed baseline: exit 2 naming the file and the field's path", async () => {
    const bad = report([task(ID, 2, 1)]) as unknown as { tasks: { latency: { rme: unknown } }[] };
    bad.tasks[0]!.latency.rme = "lots";
    const r = await compare(bad, report([task(ID, 2, 1)]));
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/old\.json: tasks\[0\]\.latency\.rme: Invalid input: expected number, received string/);
  });

  it("a wrong flag or value: exit 2", async () => {
    const dir = await tempDir();
    const good = writeJson(dir, "good.json", report([task(ID, 2, 1)]));
    const noBaseline = await walcheck(["bench", "compare", good]);
    expect(noBaseline.exitCode).toBe(2);
    expect(noBaseline.stderr).toContain("required option '--baseline <bench.json>' not specified");
    const badThreshold = await walcheck(["bench", "compare", good, "--baseline", good, "--threshold", "ten"]);
    expect(badThreshold.exitCode).toBe(2);
    expect(badThreshold.stderr).toContain('--threshold must be a number >= 0, got "ten"');
  });

  it("walcheck report renders a bench.json as Markdown, HTML or JSON, and refuses JUnit", async () => {
    const dir = await tempDir();
    const r = report([task(ID, 2, 1)]);
    const file = writeJson(dir, "bench.json", r);
    const md = await walcheck(["report", file, "--format", "md"]);
    expect(md.exitCode, md.stderr).toBe(0);
    expect(`${md.stdout}\n`).toBe(renderBenchMarkdown(parseBenchReport(r)));
    const html = await walcheck(["report", file, "--format", "html"]);
    expect(`${html.stdout}\n`).toBe(renderBenchHtml(parseBenchReport(r)));
    const junit = await walcheck(["report", file, "--format", "junit"]);
    expect(junit.exitCode).toBe(2);
    expect(junit.stderr).toContain("--format junit is for the reports of walcheck run");
  });
});
