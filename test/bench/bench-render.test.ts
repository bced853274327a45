import { describe, expect, it } from "vitest";
import { compareBench } from "../../reports/bench-compare.js";
import { renderBenchHtml } from "../../reports/bench-html.js";
import { renderBenchMarkdown } from "../../reports/bench-markdown.js";
import { parseBenchReport, type BenchReport } from "../../reports/bench-schema.js";
import { HOSTILE } from "../reports/report-helpers.js";
import { report, task } from "./bench-helpers.js";

// The renderers, on constructed reports: an adapter's strings (its hello, the command that
// starts it, error text) land in pages and tables escaped, and the page needs no network.

function hostileReport(): BenchReport {
  const r = report([task("adapter/append/b1/c1", 0.5, 2), task("adapter/append/b16/c8", 3, 2)]);
  r.subjects[0] = {
    ...r.subjects[0]!,
    label: `node evil.mjs ${HOSTILE}`,
    hello: { name: HOSTILE, protocol: 1, durability: "power", features: [HOSTILE] },
  };
  r.skipped.push({ subject: "adapter", suite: "checkpoint", reason: HOSTILE });
  r.comparison = compareBench(r, report([task("adapter/append/b1/c1", 0.4, 2)]), {
    baselinePath: `old-${HOSTILE}.json`,
    thresholdPercent: 10,
  });
  return parseBenchReport(r);
}

describe("bench.html", () => {
  const html = renderBenchHtml(hostileReport());

  it("escapes every adapter string: no markup from the adapter survives", () => {
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toContain("</testcase>");
    expect(html).toContain("&lt;/testcase&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp;");
    expect(html).not.toContain("\u0001");
  });

  it("is self-contained: the CSP forbids everything but inline style, and nothing points at the network", () => {
    expect(html).toContain(
      `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    );
    expect(html).not.toMatch(/https?:\/\/|<link\b|<img\b|@import|url\(/i);
  });

  it("charts hold the report's figures (append ops/s per group, p50 and p99)", () => {
    const values = [...html.matchAll(/<rect class="mark [^"]*" data-value="([0-9.]+)"/g)].map((m) => Number(m[1]));
    expect(values).toEqual([2000, 333.33, 0.5, 0.75]);
    expect(html).toContain("REGRESSION: 1 of 1 tasks slower by more than 10% and their margin of error");
  });
});

describe("bench.md", () => {
  const md = renderBenchMarkdown(hostileReport());

  it("escapes adapter strings: no raw HTML, no table breakers, one line each", () => {
    expect(md).not.toMatch(/<script/i);
    expect(md).toContain("a\\|b \\`tick\\`");
    expect(md).not.toContain("\nsecond line");
  });

  it("has the append grid, the comparison and every task", () => {
    expect(md).toContain("| 1 | 1 | 2,000 (0.500 / 0.750) |");
    expect(md).toContain("| 16 | 8 | 333 (3.00 / 4.50) |");
    expect(md).toContain("| adapter/append/b1/c1 | 0.400 ±2.00% | 0.500 ±2.00% | +25.0% | 0.018 | regression |");
    expect(md).toContain("- only in the current run: adapter/append/b16/c8");
  });
});
