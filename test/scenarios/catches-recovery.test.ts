import { describe, expect, it } from "vitest";
import { SCENARIOS } from "../../scenarios/index.js";
import { fixture, runScenarios, scenarioOf } from "./run-scenarios.js";

// crash-recovery: crashes inside `open`, then a clean recovery. Its bug fixture (in the table of
// catches-crashes.test.ts) rewrites the log in place to repair a torn tail: emptied, then every
// intact record written back. One recovery leaves it right, so only a crash inside that
// recovery shows the bug; every other scenario passes it.
describe("crash-recovery", () => {
  it("the reference WAL passes it, crashed at its recovery points, fs calls and SIGKILLs inside open", async () => {
    const r = await runScenarios(["--scenarios", "crash-recovery", "--seed", "1", "--runs", "16"]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const entry = scenarioOf(r.report, "crash-recovery") as never as {
      status: string;
      crashes: { named: Record<string, number>; fs: Record<string, number>; signal: number };
    };
    expect(entry.status).toBe("passed");
    const inOpen = (m: Record<string, number>) => Object.keys(m).filter((k) => k.endsWith(" in open"));
    // A half-written snapshot's temp file or a torn tail gave recovery work, and it was crashed there.
    expect(inOpen(entry.crashes.named).some((k) => k.startsWith("recovery."))).toBe(true);
    expect(inOpen(entry.crashes.fs).length).toBeGreaterThan(0);
  }, 180_000);

  it("bug-recovery-not-idempotent passes every other scenario", async () => {
    // Not latency and slow-storage: they measure clean lives and crash nothing (and take long).
    const others = SCENARIOS.map((s) => s.name).filter(
      (n) => !["crash-recovery", "latency", "slow-storage"].includes(n),
    );
    const r = await runScenarios([
      "--adapter",
      fixture("bug-recovery-not-idempotent"),
      "--scenarios",
      others.join(","),
      "--seed",
      "1",
      "--runs",
      "2",
    ]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const ran = r.report.scenarios
      .filter((s: { status: string }) => s.status === "passed")
      .map((s: { name: string }) => s.name);
    expect(ran).toEqual(
      expect.arrayContaining(["crash-mixed", "crash-append", "crash-checkpoint", "torn-tail", "disk-full"]),
    );
  }, 300_000);
});
