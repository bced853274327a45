import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers.js";
import { benchFiles, walcheck } from "./bench-helpers.js";

// `walcheck bench --suites power`: the rate at which walcheck checks power-loss states, with
// the recover op and with a process per state, over the same recorded life; a WAL that fails
// a state gets no figure.

describe("walcheck bench --suites power", () => {
  it("measures states per second for one recorded life, with recover and with a process per state", async () => {
    const out = path.join(await tempDir(), "out");
    const r = await walcheck([
      "bench",
      "--compare",
      "raw,reference",
      "--suites",
      "power",
      "--power-steps",
      "3",
      "--out",
      out,
    ]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const { json, md, html } = benchFiles(out);
    expect(json.config.powerSteps).toBe(3);
    const reuse = json.tasks.find((t) => t.id === "reference/power/s3/reuse");
    const fresh = json.tasks.find((t) => t.id === "reference/power/s3/fresh");
    expect(reuse && fresh).toBeTruthy();
    for (const t of [reuse!, fresh!]) {
      const states = t.extra?.states as number;
      expect(t.suite).toBe("power");
      expect(t.opsPerIteration).toBe(states);
      expect(t.extra?.directories as number).toBeLessThanOrEqual(states);
      // Every variant enumerated; those with the bytes of a directory already recovered not recovered again.
      expect(t.extra?.enumerated as number).toBeGreaterThanOrEqual(states);
      expect(t.extra?.duplicates).toBe((t.extra?.enumerated as number) - (t.extra?.directories as number));
      // ops/s is states checked per second of an iteration.
      expect(t.opsPerSec).toBeCloseTo((states * 1000) / t.period, 6);
    }
    // The same life, the same states: only how they are recovered differs.
    expect(reuse!.extra?.states).toBe(fresh!.extra?.states);
    expect(reuse!.extra?.directories).toBe(fresh!.extra?.directories);
    expect(reuse!.extra?.duplicates).toBe(fresh!.extra?.duplicates);
    expect(reuse!.extra?.crossChecked as number).toBeGreaterThan(0);
    expect(fresh!.extra?.crossChecked).toBe(0);
    expect(json.skipped).toContainEqual({
      subject: "raw",
      suite: "power",
      reason: expect.stringContaining("no checkpoints and nothing to recover"),
    });
    expect(md).toContain("#### Power loss: every crash state of a 3-step life, checked");
    expect(md).toMatch(
      new RegExp(
        `\\| reference \\| a process per state \\| ${fresh!.extra?.states} \\| ${fresh!.extra?.directories} \\|`,
      ),
    );
    expect(html).toContain("Power-loss states checked per second");
  }, 120_000);

  it("a WAL that fails a power-loss state ends the run with exit 2 and no report", async () => {
    const out = path.join(await tempDir(), "out");
    const r = await walcheck([
      "bench",
      "--adapter",
      path.resolve("test/fixtures/adapters/bug-power-no-fsync.mjs"),
      "--no-compare",
      "--suites",
      "power",
      "--power-steps",
      "3",
      "--out",
      out,
    ]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(
      /walcheck bench: POWER_STATE_FAILED: subject adapter, task adapter\/power\/s3\/reuse: a power-loss state failed \(cut \d+, variant \S+\): /,
    );
    expect(fs.existsSync(out)).toBe(false);
  }, 120_000);
});
