import { describe, expect, it } from "vitest";
import { CircuitBreaker } from "../../../reference-impl/outbox/index.js";

function breaker(failureThreshold = 3, resetMs = 1000) {
  let t = 0;
  const b = new CircuitBreaker({ failureThreshold, resetMs, now: () => t });
  return { b, advance: (ms: number) => (t += ms) };
}

describe("CircuitBreaker", () => {
  it("opens on the Nth consecutive failure, not before, and then refuses calls", () => {
    const { b } = breaker(3);
    b.recordFailure();
    b.recordFailure();
    expect(b.state).toBe("closed");
    expect(b.allowRequest()).toBe(true);
    b.recordFailure();
    expect(b.state).toBe("open");
    expect(b.allowRequest()).toBe(false);
    expect(b.consecutiveFailures).toBe(3);
  });

  it("defaults to 5 failures", () => {
    const b = new CircuitBreaker({ now: () => 0 });
    for (let i = 0; i < 4; i++) b.recordFailure();
    expect(b.state).toBe("closed");
    b.recordFailure();
    expect(b.state).toBe("open");
  });

  it("a success resets the consecutive count but not the total", () => {
    const { b } = breaker(3);
    b.recordFailure();
    b.recordFailure();
    b.recordSuccess();
    b.recordFailure();
    b.recordFailure();
    expect(b.state).toBe("closed");
    expect(b.consecutiveFailures).toBe(2);
    expect(b.totalFailures).toBe(4);
  });

  it("turns half-open after resetMs and lets exactly one probe through; its success closes the circuit", () => {
    const { b, advance } = breaker(1, 1000);
    b.recordFailure();
    advance(999);
    expect(b.state).toBe("open");
    expect(b.msUntilHalfOpen()).toBe(1);
    advance(1);
    expect(b.state).toBe("half-open");
    expect(b.allowRequest()).toBe(true);
    expect(b.allowRequest()).toBe(false); // the probe is out: no second call
    b.recordSuccess();
    expect(b.state).toBe("closed");
    expect(b.consecutiveFailures).toBe(0);
    expect(b.allowRequest()).toBe(true);
  });

  it("a failed probe reopens the circuit for a fresh resetMs", () => {
    const { b, advance } = breaker(1, 1000);
    b.recordFailure();
    advance(1500);
    expect(b.allowRequest()).toBe(true);
    b.recordFailure();
    expect(b.state).toBe("open");
    expect(b.msUntilHalfOpen()).toBe(1000);
    advance(1000);
    expect(b.state).toBe("half-open");
    expect(b.allowRequest()).toBe(true);
  });

  it("refuses a threshold below 1", () => {
    expect(() => new CircuitBreaker({ failureThreshold: 0 })).toThrow(
      /failureThreshold must be an integer >= 1, got 0/,
    );
  });
});
