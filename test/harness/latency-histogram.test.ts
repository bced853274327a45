import { describe, expect, it } from "vitest";
import { latencyHistogram } from "../../harness/checks/latency-stats.js";

describe("latencyHistogram", () => {
  it("counts every sample once, in bins whose edges double", () => {
    const samples = [0.01, 0.1, 0.13, 0.3, 1, 1.5, 1.99, 2, 3.9, 40];
    const h = latencyHistogram(samples);
    expect(h.edgesMs).toHaveLength(h.counts.length + 1);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(samples.length);
    expect(h.edgesMs[0]).toBe(0);
    for (let i = 2; i < h.edgesMs.length; i++) expect(h.edgesMs[i]).toBe(h.edgesMs[i - 1]! * 2);
    for (const v of samples) {
      const i = h.edgesMs.findIndex((e, k) => k < h.counts.length && v >= e && v < h.edgesMs[k + 1]!);
      expect(i, `sample ${v}`).toBeGreaterThanOrEqual(0);
    }
    // [1, 2) holds 1, 1.5 and 1.99; [2, 4) holds 2 and 3.9; 40 is alone in [32, 64).
    const bin = (lo: number) => h.counts[h.edgesMs.indexOf(lo)];
    expect([bin(1), bin(2), bin(32), bin(8)]).toEqual([3, 2, 1, 0]);
  });

  it("trims to the bins from the fastest sample to the slowest", () => {
    const h = latencyHistogram([5, 6, 7]);
    expect(h).toEqual({ edgesMs: [4, 8], counts: [3] });
    expect(latencyHistogram([])).toEqual({ edgesMs: [], counts: [] });
  });
});
