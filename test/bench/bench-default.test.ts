import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseBenchReport } from "../../reports/bench-schema.js";
import { processesMarked, tempDir } from "../helpers.js";
import { benchFiles, walcheck } from "./bench-helpers.js";

// The default subjects side by side, with every suite, on a short budget: what the tables
// hold, not how fast anything is.

const GRID = ["b1/c1", "b1/c8", "b16/c1", "b16/c8", "b64/c1", "b64/c8"];

describe("walcheck bench with the defaults", () => {
  it("measures the raw fdatasync limit, the reference WAL in process and over the protocol, and SQLite, with ratios, and leaves nothing behind", async () => {
    const tmp = await tempDir();
    const out = path.join(await tempDir(), "out");
    const mark = `bench-default-${process.pid}-${Date.now()}`;
    const r = await walcheck(["bench", "--time", "100", "--recovery-sizes", "100,500", "--out", out], {
      TMPDIR: tmp,
      WALCHECK_TEST_MARK: mark,
    });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);

    const { json, md, html } = benchFiles(out);
    const report = parseBenchReport(json);
    expect(report.subjects.map((s) => s.id)).toEqual(["raw", "reference-inproc", "reference", "sqlite"]);
    expect(report.subjects.find((s) => s.id === "sqlite")!.hello?.name).toMatch(/^sqlite /);
    const ids = report.tasks.map((t) => t.id);
    const full = (s: string) => [
      ...GRID.map((g) => `${s}/append/${g}`),
      `${s}/checkpoint/a100`,
      `${s}/recovery/n100`,
      `${s}/recovery/n500`,
    ];
    expect(ids).toEqual([
      ...["b1/c1", "b16/c1", "b64/c1"].map((g) => `raw/append/${g}`),
      ...full("reference-inproc"),
      ...full("reference"),
      ...full("sqlite"),
    ]);
    expect(report.skipped).toEqual([
      { subject: "raw", suite: "checkpoint", reason: expect.any(String) },
      { subject: "raw", suite: "recovery", reason: expect.any(String) },
    ]);
    for (const t of report.tasks.filter((x) => x.suite === "recovery")) {
      expect(t.extra?.walBytes, t.id).toBeGreaterThan(0);
      expect(t.extra?.adapterRecoveryMs, t.id).toBeDefined(); // the reference and SQLite adapters report recovery.elapsedMs
    }

    expect(report.ratios.map((x) => x.id)).toEqual([
      "reference-inproc/vs-raw",
      "reference/vs-raw",
      "sqlite/vs-raw",
      "sqlite/vs-reference",
      "protocol-overhead",
    ]);
    const byId = new Map(report.tasks.map((t) => [t.id, t]));
    for (const x of report.ratios) {
      expect(x.ratio).toBeCloseTo(byId.get(x.numerator)!.opsPerSec / byId.get(x.denominator)!.opsPerSec, 9);
    }
    expect(report.ratios.at(-1)).toMatchObject({
      numerator: "reference-inproc/append/b1/c1",
      denominator: "reference/append/b1/c1",
      latencyDeltaMs: expect.any(Number),
    });

    expect(md).toContain("| batch | in flight | raw | reference-inproc | reference | sqlite |");
    expect(md).toContain("| sqlite vs the reference WAL over the protocol (append, batch 1, 1 in flight) |");
    expect(r.stdout).toContain("#### Ratios (append ops/s)");
    // Charts: append throughput, append latency, checkpoint latency, recovery by WAL size.
    expect(html.match(/<svg role="img"/g)).toHaveLength(4);
    expect(html).toContain('aria-label="recovery time by WAL size, per subject"');

    expect(processesMarked(mark)).toEqual([]);
    expect(fs.readdirSync(tmp)).toEqual([]);
  }, 90_000);
});
