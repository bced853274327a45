import { describe, expect, it } from "vitest";
import {
  escapeData,
  escapeProperty,
  githubAnnotations,
  githubExhaustiveAnnotations,
} from "../../reports/github-annotations.js";
import { hostileReport } from "./report-helpers.js";

// The workflow-command lines `walcheck run` prints in a GitHub Actions job, from a report
// built by hand; the lines of a real failing run are checked in test/harness/ci-output.test.ts.

describe("GitHub Actions annotations", () => {
  it("escape %, CR and LF in a message, and : and , in a property, as GitHub reads them", () => {
    expect(escapeData("100% done\r\nnext: a, b")).toBe("100%25 done%0D%0Anext: a, b");
    expect(escapeProperty("walcheck x: a,b 5%\n")).toBe("walcheck x%3A a%2Cb 5%25%0A");
  });

  it("a violation, an adapter error, latency failures and warnings, one line each, none broken by what the adapter said", () => {
    const r = hostileReport();
    r.latencyFailures = ["crash-append: append p95 30 ms is over the critical level 20 ms (40 samples)"];
    const lines = githubAnnotations(r);
    expect(lines).toHaveLength(r.failures.length + r.errors.length + 2);
    for (const line of lines) expect(line).not.toMatch(/[\r\n]/);
    const f = r.failures[0]!;
    expect(lines[0]).toBe(
      `::error title=walcheck crash-append%3A durability::${escapeData(f.violation.message)} — replay: npx walcheck run --adapter ./hostile.mjs --replay ${f.replayToken}`,
    );
    expect(lines[1]).toMatch(/^::error title=walcheck crash-append%3A exclusive-open::/);
    expect(lines[2]).toBe(
      `::error title=walcheck torn-tail%3A adapter error ADAPTER_PROTOCOL::${escapeData(r.errors[0]!.error.message)} (case 0, case seed 7)`,
    );
    expect(lines[3]).toBe(
      "::error title=walcheck latency::crash-append: append p95 30 ms is over the critical level 20 ms (40 samples)",
    );
    expect(lines[4]).toBe(`::warning title=walcheck latency::${escapeData(r.latencyWarnings[0]!)}`);
  });

  it("a passing run has nothing to say", () => {
    const r = hostileReport();
    expect(githubAnnotations({ ...r, failures: [], errors: [], latencyWarnings: [], latencyFailures: [] })).toEqual([]);
  });

  it("an exhaustive run: a violation per crash point with its replay command, an adapter error per point", () => {
    const lines = githubExhaustiveAnnotations({
      flags: ["--adapter-cmd", '"python3 wal.py"'],
      failures: [
        {
          point: { call: 12, when: "after" },
          violation: { invariant: "durability", message: "durability: lost 100%\nof it" },
          replayToken: "tok",
        },
      ],
      errors: [{ point: { call: 3, when: "mid" }, code: "ADAPTER_EXITED", message: "exit 3" }],
    });
    expect(lines).toEqual([
      '::error title=walcheck exhaustive%3A durability::durability: lost 100%25%0Aof it (crash after fs call #12) — replay: npx walcheck run --adapter-cmd "python3 wal.py" --replay tok',
      "::error title=walcheck exhaustive%3A adapter error ADAPTER_EXITED::exit 3 (crash mid fs call #3)",
    ]);
  });
});
