import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { backoffDelay } from "../../../reference-impl/outbox/index.js";

describe("backoffDelay (full jitter)", () => {
  it("doubles the ceiling per attempt until the cap, then stays at the cap", () => {
    const top = (attempt: number) => backoffDelay(attempt, { baseMs: 100, capMs: 5000, random: () => 0.999999 });
    const delays = Array.from({ length: 10 }, (_, i) => Math.round(top(i + 1)));
    expect(delays).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000]);
  });

  it("draws uniformly below the ceiling: random() scales the delay, 0 gives 0", () => {
    expect(backoffDelay(3, { baseMs: 100, capMs: 5000, random: () => 0 })).toBe(0);
    expect(backoffDelay(3, { baseMs: 100, capMs: 5000, random: () => 0.5 })).toBe(200);
  });

  it("stays within [0, cap] and under base * 2^(attempt-1) for any attempt, even a random() of 1 or a huge attempt", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 600_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (attempt, baseMs, capMs, r) => {
          const d = backoffDelay(attempt, { baseMs, capMs, random: () => r });
          expect(d).toBeGreaterThanOrEqual(0);
          expect(d).toBeLessThanOrEqual(capMs);
          if (baseMs === 0) expect(d).toBe(0);
          else expect(d).toBeLessThanOrEqual(baseMs * 2 ** (attempt - 1));
        },
      ),
    );
  });

  it("refuses an attempt below 1 with a TypeError that says what it got", () => {
    expect(() => backoffDelay(0)).toThrow(/attempt must be an integer >= 1, got 0/);
    expect(() => backoffDelay(1, { capMs: -1 })).toThrow(TypeError);
  });
});
