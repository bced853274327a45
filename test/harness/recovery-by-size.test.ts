import { describe, expect, it } from "vitest";
import { MAX_POINTS, recoveryBySize } from "../../harness/checks/recovery-by-size.js";

const MiB = 1024 * 1024;

describe("recoveryBySize", () => {
  it("fits recovery time linearly in WAL size", () => {
    const samples = [0, 1, 2, 4, 8].map((mib) => ({ walBytes: mib * MiB, ms: 2 + 3 * mib }));
    const r = recoveryBySize(samples);
    expect(r.n).toBe(5);
    expect(r.fit!.msPerMiB).toBeCloseTo(3, 9);
    expect(r.fit!.interceptMs).toBeCloseTo(2, 9);
  });

  it("gives no fit for fewer than five recoveries or a single size", () => {
    expect(recoveryBySize([1, 2, 3, 4].map((k) => ({ walBytes: k, ms: k }))).fit).toBeUndefined();
    expect(recoveryBySize([1, 2, 3, 4, 5].map((k) => ({ walBytes: 100, ms: k }))).fit).toBeUndefined();
  });

  it("buckets sizes in ranges growing by 4× from 1 KiB, each recovery in exactly one", () => {
    const r = recoveryBySize([
      { walBytes: 0, ms: 1 },
      { walBytes: 1023, ms: 2 },
      { walBytes: 1024, ms: 3 },
      { walBytes: 4095, ms: 4 },
      { walBytes: 4096, ms: 5 },
      { walBytes: 70_000, ms: 6 },
    ]);
    expect(r.buckets.map((b) => [b.fromBytes, b.toBytes, b.n, b.max])).toEqual([
      [0, 1024, 2, 2],
      [1024, 4096, 2, 4],
      [4096, 16384, 1, 5],
      [65536, 262144, 1, 6],
    ]);
  });

  it(`keeps at most ${MAX_POINTS} points for the chart, spread over the sizes, with the slowest`, () => {
    const samples = Array.from({ length: 5000 }, (_, i) => ({ walBytes: i * 100, ms: i === 1234 ? 999 : 1 + (i % 7) }));
    const r = recoveryBySize(samples);
    expect(r.n).toBe(5000);
    expect(r.points.length).toBeLessThanOrEqual(MAX_POINTS);
    expect(r.points.length).toBeGreaterThan(MAX_POINTS - 15);
    expect(r.points).toContainEqual({ walBytes: 123_400, ms: 999 });
    expect(r.points[0]!.walBytes).toBe(0);
    expect(r.points.at(-1)!.walBytes).toBe(499_900);
    expect(r.buckets.reduce((a, b) => a + b.n, 0)).toBe(5000);
  });
});
