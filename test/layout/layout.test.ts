import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";

// The structure of the repository, kept by machine: the layering rules of
// .dependency-cruiser.cjs (imports flow one way, no cycles, harness/protocol a leaf) and the
// formatter. Both run the tools a developer runs by hand, from node_modules/.bin.

const root = path.resolve(import.meta.dirname, "..", "..");
const bin = (name: string) => path.join(root, "node_modules", ".bin", name);

interface Cruise {
  summary: {
    violations: { rule: { name: string }; from: string; to: string; cycle?: { name: string }[] }[];
    totalCruised: number;
  };
  modules: { source: string; dependencies: { resolved: string }[] }[];
}

describe("layout", () => {
  it("imports flow one way: no cycle, no folder importing a folder above it, harness/protocol a leaf", async () => {
    const { stdout } = await execa(
      bin("depcruise"),
      [
        "--config",
        ".dependency-cruiser.cjs",
        "--output-type",
        "json",
        "index.ts",
        "harness",
        "scenarios",
        "reference-impl",
        "reports",
        "bench",
      ],
      { cwd: root, reject: false },
    );
    const result = JSON.parse(stdout) as Cruise;
    // The cruise resolved the sources' `.js` specifiers to their `.ts` files: a resolver that
    // found nothing would report no violation at all.
    const campaign = result.modules.find((m) => m.source === "harness/engine/campaign.ts");
    expect(campaign?.dependencies.map((d) => d.resolved)).toContain("harness/protocol/messages.ts");
    expect(result.summary.totalCruised).toBeGreaterThan(150);
    const violations = result.summary.violations.map((v) =>
      v.cycle
        ? `${v.rule.name}: ${[v.from, ...v.cycle.map((c) => c.name)].join(" -> ")}`
        : `${v.rule.name}: ${v.from} -> ${v.to}`,
    );
    expect(violations, "see the layers in .dependency-cruiser.cjs").toEqual([]);
  }, 240_000);

  it("every source file is formatted (npx prettier --write . fixes it)", async () => {
    const result = await execa(bin("prettier"), ["--check", "--log-level", "warn", "."], { cwd: root, reject: false });
    expect(result.stderr + result.stdout).toBe("");
    expect(result.exitCode).toBe(0);
    // A few seconds alone; minutes on a loaded 2-core box. Its verdict, not its speed, is the test.
  }, 240_000);
});
