import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diffLines, formatDuration, renderMarkdown } from "../../reports/markdown.js";
import { parseRunReport, type RunReport } from "../../reports/report-schema.js";
import { failingRun, hostileReport, outsideCodeBlocks, renderedRun } from "./report-helpers.js";

/** Rows of the first table after `from` in a Markdown document, each split on the pipes that are not escaped. */
function tableRows(md: string, from = 0): string[][] {
  const lines = md.slice(from).split("\n");
  const start = lines.findIndex((l) => l.startsWith("|"));
  const end = lines.findIndex((l, i) => i > start && !l.startsWith("|"));
  return lines.slice(start, end === -1 ? undefined : end).map((l) => l.split(/(?<!\\)\|/).slice(1, -1));
}

describe("renderMarkdown, from a real failing run", () => {
  let run: Awaited<ReturnType<typeof failingRun>>;
  let report: RunReport;
  let md: string;
  beforeAll(async () => {
    ({ run, report, out: md } = await renderedRun(failingRun, 1, renderMarkdown));
  }, 180_000);
  afterAll(() => run?.cleanup());

  it("opens with the verdict: FAILED, seed, cases, crash cycles, elapsed", () => {
    const c = report.cases;
    expect(md.split("\n")[0]).toBe("### walcheck run: ❌ FAILED");
    expect(md).toContain(
      `**FAILED**: seed 1, ${c.run}/${c.planned} cases (${c.passed} passed, ${c.failed} failed, ${c.errors} error${c.errors === 1 ? "" : "s"}), ${report.cycles} crash cycles, ${formatDuration(report.elapsedMs)}`,
    );
    expect(md).toMatch(new RegExp(`- environment: Node ${process.version.replace(/\./g, "\\.")} · `));
  });

  it("has a table row per scenario, with status, cases, crash cycles and latency percentiles", () => {
    const rows = tableRows(md);
    expect(rows).toHaveLength(2 + report.scenarios.length);
    for (const row of rows) expect(row).toHaveLength(8);
    expect(rows[0]!.map((c) => c.trim())).toEqual([
      "scenario",
      "status",
      "cases",
      "crash cycles",
      "faults",
      "append p50 / p95 / p99 ms",
      "recovery p50 / p95 / p99 ms",
      "truncate p50 / p95 / p99 ms",
    ]);
    const s = report.scenarios[0]!;
    const row = rows[2]!.map((c) => c.trim());
    expect(s.cases.failed).toBeGreaterThan(0);
    expect(row.slice(0, 5)).toEqual([
      "crash-append",
      "failed",
      `${s.cases.run}/${s.cases.planned}, ${s.cases.failed} failed`,
      String(s.cycles),
      "—",
    ]);
    const a = s.latency.append!;
    expect(row[5]).toBe(`${a.p50.toFixed(1)} / ${a.p95.toFixed(1)} / ${a.p99.toFixed(1)}`);
    expect(row[7]).toBe("—");
  });

  it("tabulates recovery time by WAL size, every recovery in one bucket", () => {
    const all = report.recoveryBySize!;
    expect(all.n).toBeGreaterThan(0);
    const at = md.indexOf("#### Recovery time against WAL size");
    expect(at).toBeGreaterThan(0);
    const rows = tableRows(md, at);
    expect(rows[0]!.map((c) => c.trim())).toEqual(["WAL size", "recoveries", "p50 ms", "p95 ms", "max ms"]);
    const body = rows.slice(2);
    expect(body).toHaveLength(all.buckets.length);
    expect(body.reduce((a, r) => a + Number(r[1]), 0)).toBe(all.n);
    expect(body.map((r) => Number(r[4]))).toEqual(all.buckets.map((b) => Number(b.max.toFixed(2))));
  });

  it("shows each violation with its invariant, crash, kept directory and replay command", () => {
    const f = report.failures[0]!;
    expect(md).toContain(`##### 1. crash-append case ${f.index}: ${f.violation.invariant}`);
    expect(md).toContain(`- invariant: ${f.violation.invariant}`);
    expect(md).toContain(`- crash: ${f.violation.crash}`);
    expect(md).toContain(`- kept directory: \`${f.keptDir}\``);
    expect(fs.existsSync(f.keptDir)).toBe(true);
    expect(md).toContain(
      `\`\`\`sh\nnpx walcheck run --adapter ${path.resolve("test/fixtures/adapters/bug-ack-before-fsync.mjs")} --replay ${f.replayToken}\n\`\`\``,
    );
    // The key-level differences from the description (this bug sometimes loses a batch whose keys a later one rewrote: none differ).
    const { keys } = diffLines(f.violation.description);
    expect(md, md).toContain(
      [
        "```text",
        ...(keys.length > 0 ? ["key differences:", ...keys.map((k) => `  ${k}`)] : ["key differences: none recorded"]),
      ].join("\n"),
    );
  });

  it("is what the run wrote to report.md, from its final JSON", () => {
    expect(fs.readFileSync(path.join(run.dir, "report.md"), "utf8")).toBe(md);
    expect(run.result.stdout).toContain(`report (markdown): ${path.join(run.dir, "report.md")}`);
  });
});

describe("renderMarkdown, with hostile adapter strings", () => {
  const md = renderMarkdown(hostileReport());
  const prose = outsideCodeBlocks(md);

  it("lets no raw HTML through outside code blocks, and no control character anywhere", () => {
    expect(prose).not.toMatch(/<|>/);
    expect(prose).toContain("&lt;/testcase&gt;&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(prose).toContain(" &amp; ");
    expect(md).not.toContain("\u0001");
    expect(md).toContain("\uFFFD");
  });

  it("escapes pipes and backticks and keeps newlines from breaking a line", () => {
    const message = prose.split("\n").find((l) => l.startsWith("- message: "))!;
    expect(message).toBe(
      "- message: a\\|b \\`tick\\` \\`\\`\\`\\` &lt;/testcase&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; \uFFFD 'q' \"dq\" ↵ second line",
    );
    expect(prose).toContain("- bit-flip: the adapter said a\\|b \\`tick\\`");
    expect(prose).toContain("- torn-tail case 0 (case seed 7): ADAPTER\\_PROTOCOL: a\\|b");
    expect(prose).toContain("- warning: crash-append: append p95 a\\|b");
  });

  it("keeps the table whole: four scenario rows of eight cells, whatever a scenario is called", () => {
    const rows = tableRows(md);
    expect(rows).toHaveLength(6);
    for (const row of rows) expect(row).toHaveLength(8);
    expect(rows[5]![0]).toBe(
      " a\\|b \\`tick\\` \\`\\`\\`\\` &lt;/testcase&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; \uFFFD 'q' \"dq\" ↵ second line ",
    );
  });

  it("fences code longer than any backtick run inside it, so the content cannot close it", () => {
    // The description's recovered value holds ````: the block is fenced with five.
    expect(md).toContain(
      '`````text\nkey differences:\n  key "k1": expected "v1", recovered "a|b `tick` ```` </testcase><script>',
    );
    expect(md).toContain("\n`````\n");
    // Nothing of the code blocks leaks into the prose: the hostile value appears there only escaped.
    expect(prose).not.toContain("recovered");
    // The kept directory is a code span, fenced longer than any backtick run in it.
    expect(prose).toContain("- kept directory: `/tmp/walcheck-reports/run/cases/crash-append-case-1-seed-42`");
    expect(prose).toContain("- input: append(a\\|b \\`tick\\`");
  });
});

describe("diffLines", () => {
  it("takes the key lines and the ledger tail out of a violation's description", () => {
    const description = [
      "invariant durability violated: lost batch 2",
      "  after crash: signal at x",
      '  key "a": expected "1", recovered null',
      "  (+3 more keys differ)",
      "  ledger tail:",
      "    seq 1 [life 1] acked: a=1",
      "    seq 2 [life 1] acked: b=2",
    ].join("\n");
    expect(diffLines(description)).toEqual({
      keys: ['key "a": expected "1", recovered null', "(+3 more keys differ)"],
      ledger: ["seq 1 [life 1] acked: a=1", "seq 2 [life 1] acked: b=2"],
    });
    expect(diffLines("invariant x violated: y\n  after crash: none (clean run)")).toEqual({ keys: [], ledger: [] });
  });
});
