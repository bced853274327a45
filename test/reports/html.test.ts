import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderHtml } from "../../reports/html.js";
import { formatDuration, replayCommand } from "../../reports/markdown.js";
import { parseRunReport, type RunReport } from "../../reports/report-schema.js";
import { CLI, tempDir } from "../helpers.js";
import { failingRun, hostileHtmlReport, hostileReport, realRun, renderedRun } from "./report-helpers.js";

const walcheck = (args: string[]) =>
  execa(process.execPath, [CLI, ...args], { reject: false, env: { WALCHECK_LOG_LEVEL: "warn" } });

const SECTIONS = ["Verdict", "Scenarios", "Latency", "Recovery time", "Crash-point coverage"];

/** Undo the page's escaping (for comparing text that went through `h`). */
const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");

/** The height of the bar drawn for a stat of an op of scenario `i`. */
function barHeight(html: string, i: number, op: string, stat: string): number {
  const re = new RegExp(
    `<rect class="bar [^"]*" data-scenario="${i}" data-op="${op}" data-stat="${stat}" x="[^"]*" y="[^"]*" width="[^"]*" height="([0-9.]+)"`,
  );
  const m = re.exec(html);
  if (!m) throw new Error(`no bar for scenario ${i} ${op} ${stat}`);
  return Number(m[1]);
}

/** The page's tags (markup, not the escaped text between). */
const tags = (html: string) => [...html.matchAll(/<[a-zA-Z!][^>]*>/g)].map((m) => m[0]);

/** Every src/href (or other URL-taking) attribute value in the page's tags. */
const urls = (html: string) =>
  tags(html).flatMap((t) =>
    [...t.matchAll(/\s(?:src|href|xlink:href|action|srcset|poster)\s*=\s*["']?([^"'\s>]*)/gi)].map((m) => m[1]!),
  );

function expectNoNetwork(html: string) {
  expect(urls(html).filter((u) => /^(https?:)?\/\//i.test(u))).toEqual([]);
  expect(html).not.toMatch(/https?:\/\//i);
  expect(html).not.toMatch(/<link\b/i);
  expect(html).not.toMatch(/@import|url\(/i);
  expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`);
}

describe("renderHtml, from a real small passing run", () => {
  let run: Awaited<ReturnType<typeof realRun>>;
  let report: RunReport;
  let html: string;
  beforeAll(async () => {
    ({
      run,
      report,
      out: html,
    } = await renderedRun(
      () => realRun(["--scenarios", "crash-append,torn-tail", "--runs", "2", "--seed", "3"]),
      0,
      renderHtml,
    ));
  }, 180_000);
  afterAll(() => run?.cleanup());

  it("is one page with every section heading, and no violation", () => {
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(html.trimEnd().endsWith("</html>")).toBe(true);
    for (const s of SECTIONS) expect(html).toContain(`<h2>${s}</h2>`);
    expect(html).toContain("<h2>Violations (0)</h2>");
    expect(html).toContain("<p>No violations.</p>");
  });

  it("opens with the verdict: PASSED, seed, cases, crash cycles, elapsed, adapter hello, environment", () => {
    const at = html.indexOf('<section id="verdict">');
    expect(at).toBeGreaterThan(0);
    expect(at).toBeLessThan(html.indexOf('<section id="scenarios">'));
    expect(html).toContain('<div class="verdict v-passed">\n<div class="big">PASSED</div>');
    const c = report.cases;
    expect(html).toContain(
      `<span>seed 3</span><span>cases ${c.run}/${c.planned} (${c.passed} passed, 0 failed, 0 errors)</span><span>${report.cycles} crash cycles</span><span>elapsed ${formatDuration(report.elapsedMs)}</span>`,
    );
    expect(html).toContain(`hello: ${esc(report.hello!.name)} (durability `);
    expect(html).toContain(`<div class="env">Node ${process.version} · `);
  });

  it("has one table row per scenario, with its status coloured", () => {
    const rows = html.match(/<tr class="scenario-row">/g) ?? [];
    expect(rows).toHaveLength(report.scenarios.length);
    for (const s of report.scenarios)
      expect(html).toContain(
        `<tr class="scenario-row"><td>${esc(s.name)}</td><td class="st-${s.status}">${s.status}</td>`,
      );
  });

  it("draws SVG bar charts whose heights come from the data", () => {
    expect(html).toMatch(/<svg [^>]*>/);
    const i = report.scenarios.findIndex((s) => (s.latency.append?.n ?? 0) > 0);
    expect(i).toBeGreaterThanOrEqual(0);
    const a = report.scenarios[i]!.latency.append!;
    const p50 = barHeight(html, i, "append", "p50");
    const p99 = barHeight(html, i, "append", "p99");
    const max = barHeight(html, i, "append", "max");
    if (a.p99 > a.p50) expect(p99).toBeGreaterThan(p50);
    expect(max).toBeGreaterThanOrEqual(p99);
    expect(max).toBeGreaterThan(0);
    // The ratio of bar heights is the ratio of the values (to rounding).
    if (a.max > 0) expect(p50 / max).toBeCloseTo(a.p50 / a.max, 1);
    // Recovery chart: one bar per scenario with recovery samples, widths in order.
    const r = report.scenarios.findIndex((s) => (s.latency.recovery?.n ?? 0) > 0);
    expect(r).toBeGreaterThanOrEqual(0);
    expect(html).toContain(`data-scenario="${r}" data-op="recovery" data-stat="max"`);
  });

  it("draws a histogram per op whose bars are the report's bin counts", () => {
    const i = report.scenarios.findIndex((s) => (s.latency.append?.n ?? 0) > 0);
    const s = report.scenarios[i]!;
    const figure = html.slice(html.indexOf(`<figcaption>${esc(s.name)}</figcaption>`));
    const panel = figure.slice(figure.indexOf('<div class="op-panel histogram" data-op="append">'));
    const bars = [...panel.slice(0, panel.indexOf("</svg>")).matchAll(/<rect class="mark s0" data-value="(\d+)"/g)].map(
      (m) => Number(m[1]),
    );
    expect(bars).toEqual(s.histograms!.append!.counts);
    expect(bars.reduce((a, b) => a + b, 0)).toBe(s.latency.append!.n);
  });

  it("plots each recovery at the size of the WAL it started from, with size buckets", () => {
    const section = html.slice(html.indexOf('<section id="recovery">'), html.indexOf('<section id="coverage">'));
    const all = report.recoveryBySize!;
    expect(all.n).toBe(report.recoveryMs.n);
    const drawn = report.scenarios.flatMap((s) => s.recoveryBySize?.points ?? []);
    expect(drawn.length).toBeGreaterThan(0);
    const marks = [...section.matchAll(/<circle class="mark s\d" data-value="([\d.]+)" data-x="(\d+)"/g)].map((m) => ({
      ms: Number(m[1]),
      walBytes: Number(m[2]),
    }));
    expect(marks).toHaveLength(drawn.length);
    expect(marks.map((m) => m.walBytes).sort((a, b) => a - b)).toEqual(
      drawn.map((p) => p.walBytes).sort((a, b) => a - b),
    );
    // The WAL sizes are real: the crash-append workload leaves non-empty logs behind.
    expect(Math.max(...drawn.map((p) => p.walBytes))).toBeGreaterThan(0);
    const bucketRows = section.match(/<table class="recovery-buckets">.*?<\/table>/s)![0].match(/<tr><td>/g) ?? [];
    expect(bucketRows).toHaveLength(all.buckets.length);
    expect(all.buckets.reduce((a, b) => a + b.n, 0)).toBe(all.n);
  });

  it("lists crash-point coverage: named points, SIGKILLs, armed but not reached", () => {
    const section = html.slice(html.indexOf('<section id="coverage">'), html.indexOf('<section id="violations">'));
    for (const [point, k] of Object.entries(report.crashes.named)) expect(section).toContain(`${esc(point)} ×${k}`);
    expect(section).toContain(`<text x="224" y="`);
    expect(section).toContain(">SIGKILL</text>");
    expect(section).toContain(">armed but not reached</text>");
    expect(section).toContain(`<tr><th>all</th>`);
    // Coverage against what the adapter declares and against the fs calls of a typical life.
    const declared = report.hello!.points!;
    const fired = declared.filter((p) => (report.crashes.named[p] ?? 0) > 0);
    expect(section).toContain(`${fired.length} of the adapter&apos;s ${declared.length} named crash points fired`);
    for (const p of declared.filter((x) => !fired.includes(x)))
      expect(section).toMatch(new RegExp(`never fired: [^<]*${p.replace(/\./g, "\\.")}`));
    expect(report.fsCallsPerLife).toBeGreaterThan(0);
    const indices = new Set(Object.keys(report.crashes.fs).map((k) => k.split(" ")[0]));
    expect(section).toContain(
      `${indices.size} distinct fs-call indices fired, of about ${report.fsCallsPerLife} mutating fs calls in a typical life.`,
    );
  });

  it("makes no network reference", () => expectNoNetwork(html));

  it("walcheck run wrote report.html beside report.json, rendered from the final JSON, and printed its path", () => {
    const file = path.join(run.dir, "report.html");
    expect(fs.readFileSync(file, "utf8")).toBe(html);
    expect(run.result.stdout.split("\n")).toContain(`  report (html): ${file}`);
  });
});

describe("renderHtml, from a real failing run", () => {
  let run: Awaited<ReturnType<typeof failingRun>>;
  let report: RunReport;
  let html: string;
  beforeAll(async () => {
    ({ run, report, out: html } = await renderedRun(failingRun, 1, renderHtml));
  }, 180_000);
  afterAll(() => run?.cleanup());

  it("says FAILED and gives each violation a timeline ending in its replay command", () => {
    expect(html).toContain('<div class="big">FAILED</div>');
    expect(report.failures.length).toBeGreaterThan(0);
    expect(html).toContain(`<h2>Violations (${report.failures.length})</h2>`);
    expect(html.match(/<ol class="timeline">/g)).toHaveLength(report.failures.length);
    for (const f of report.failures) {
      const at = html.indexOf(`<pre>${esc(f.commands)}</pre>`);
      expect(at).toBeGreaterThan(0);
      const timeline = html.slice(html.lastIndexOf('<ol class="timeline">', at), html.indexOf("</ol>", at));
      const order = [
        "Input (shrunk)",
        "Crash",
        "Recovery and check",
        "What differed",
        "Ledger tail",
        "Kept directory",
        "Replay",
      ].map((l) => timeline.indexOf(`<span class="label">${l}`));
      expect(order.every((x) => x >= 0)).toBe(true);
      expect([...order].sort((a, b) => a - b)).toEqual(order);
      expect(timeline).toContain(`<pre class="replay">${esc(replayCommand(report, f))}</pre>`);
      expect(timeline).toContain(`<code class="kept-dir">${esc(f.keptDir)}</code>`);
      expect(timeline).toContain(`<pre>${esc(f.violation.crash ?? "none (clean run)")}</pre>`);
    }
    expect(html).toContain("--replay ");
    expectNoNetwork(html);
  });

  it("walcheck report --format html prints the same page; with --out it writes it", async () => {
    const out = await walcheck(["report", run.reportFile, "--format", "html"]);
    expect(out.exitCode, out.stderr).toBe(0);
    expect(`${out.stdout}\n`).toBe(html);
    expect(`${out.stdout}\n`).toBe(fs.readFileSync(path.join(run.dir, "report.html"), "utf8"));

    const dir = await tempDir();
    const file = path.join(dir, "page.html");
    const w = await walcheck(["report", run.reportFile, "--format", "html", "--out", file]);
    expect(w.exitCode, w.stderr).toBe(0);
    expect(w.stdout).toBe("");
    expect(fs.readFileSync(file, "utf8")).toBe(html);
  });
});

describe("renderHtml, a hostile report", () => {
  it("renders every hostile string as text: no live markup, the escaped forms present", () => {
    const html = renderHtml(hostileHtmlReport());
    // No script at all (the page has none of its own), no image, no event handler in any tag.
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<img/i);
    for (const t of tags(html)) expect(t).not.toMatch(/\son[a-z]+\s*=|javascript:/i);
    // </svg> appears only as the close of an <svg> this page opened.
    expect((html.match(/<svg\b/g) ?? []).length).toBe((html.match(/<\/svg>/g) ?? []).length);
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(html).toContain("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
    expect(html).toContain("&lt;/svg&gt;");
    expect(html).toContain("&amp;amp;");
    expect(html).toContain("&apos;&gt;&lt;svg onload=alert(1)&gt;");
    // The original hostile strings (table breakers, a control character) too.
    expect(html).toContain("&lt;/testcase&gt;&lt;script&gt;");
    expect(html).not.toContain("\u0001");
    // Over-critical marks still drawn for the thresholds.
    expect(html).toMatch(/class="bar b-p95 over-critical"/);
    expect(html).toMatch(/<line class="critical"/);
    // Every tag in the page is one of the renderer's own.
    const tagNames = new Set([...html.matchAll(/<([a-zA-Z][a-zA-Z0-9]*)/g)].map((m) => m[1]!.toLowerCase()));
    const own = [
      "html",
      "head",
      "meta",
      "title",
      "style",
      "body",
      "main",
      "h1",
      "h2",
      "h3",
      "section",
      "div",
      "span",
      "p",
      "table",
      "thead",
      "tbody",
      "tr",
      "th",
      "td",
      "figure",
      "figcaption",
      "svg",
      "rect",
      "line",
      "text",
      "g",
      "path",
      "polygon",
      "circle",
      "details",
      "summary",
      "ul",
      "ol",
      "li",
      "pre",
      "code",
      "strong",
      "article",
      "br",
    ];
    expect([...tagNames].filter((t) => !own.includes(t))).toEqual([]);
    // Attributes hold only the renderer's constants and numbers: no quote from the report opens one.
    for (const t of tags(html)) expect(t).not.toMatch(/alert|evil|x\.js/);
  });

  it("makes no network reference, even with URLs in the report's strings", () => {
    const html = renderHtml(hostileHtmlReport());
    expect(urls(html)).toEqual([]);
    // The URL is there only as escaped text, never in an attribute.
    expect(html).toContain("https://evil.example/x.js");
    for (const t of tags(html)) expect(t).not.toMatch(/\s(src|href)\s*=/i);
  });

  it("draws target and critical lines on each op's own scale, and names levels far above the data instead of flattening the bars", () => {
    const r = JSON.parse(JSON.stringify(hostileReport())) as Record<string, any>;
    r.scenarios[0].thresholds = [
      {
        op: "append",
        stat: "p95",
        valueMs: 2,
        n: 2,
        targetMs: 1.5,
        criticalMs: 1000,
        status: "warning",
        reason: "p95 over target",
      },
      { op: "recovery", stat: "p95", valueMs: 2, n: 2, targetMs: 500, criticalMs: 1000, status: "ok" },
    ];
    const html = renderHtml(parseRunReport(r));
    const fig = html.slice(html.indexOf('<figure class="latency-chart">'), html.indexOf("</figure>"));
    expect(fig).toMatch(/<line class="target" data-op="append"/);
    expect(fig).not.toMatch(/<line class="critical" data-op="append"/);
    expect(fig).not.toMatch(/<line class="(target|critical)" data-op="recovery"/);
    expect(fig).toContain("critical 1000 ms: far above, not drawn");
    expect(fig).toContain("target 500 ms, critical 1000 ms: far above, not drawn");
    expect(fig).toMatch(/class="bar b-p95 over-target" data-scenario="0" data-op="append"/);
    expect(fig).toContain("append p95 2.00 ms is over the target level");
    // The p95 bar (2 ms) fills most of its own panel: 2 / (2 × 1.1) of the chart height.
    expect(barHeight(html, 0, "append", "p95")).toBeCloseTo(160 / 1.1, 1);
  });

  it("the hand-built hostile report of the other renderers' tests renders as well", () => {
    const html = renderHtml(hostileReport());
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain("&lt;/testcase&gt;&lt;script&gt;alert(1)&lt;/script&gt;");
    for (const s of SECTIONS) expect(html).toContain(`<h2>${s}</h2>`);
    expect(html).toContain("<h2>Violations (2)</h2>");
    expect(html.match(/<tr class="scenario-row">/g)).toHaveLength(4);
    expect(html).toContain("<td>the adapter said a|b");
  });
});

describe("the persistence-model table", () => {
  it("shows report.persistence in the HTML and the Markdown, an adapter's failure message escaped", async () => {
    const { renderMarkdown } = await import("../../reports/markdown.js");
    const HOSTILE = "<script>alert(1)</script> | `x`";
    const result = (model: string, status: string, extra: object = {}) => ({
      model,
      status,
      statesChecked: 40,
      directoriesRecovered: 20,
      lostAcked: { states: 0, batches: 0 },
      elapsedMs: 1500,
      ...extra,
    });
    const report = parseRunReport({
      ...hostileReport(),
      persistence: {
        assumed: "sector-atomic",
        source: "hello",
        results: [
          result("posix-pessimistic", "failed", {
            failure: { invariant: "atomicity", message: HOSTILE, replay: "npx walcheck run --replay x" },
          }),
          result("sector-atomic", "passed", { lostAcked: { states: 3, batches: 2 } }),
        ],
        weakestPassing: "sector-atomic",
      },
    });
    const html = renderHtml(report);
    const section = html.slice(html.indexOf('<section id="persistence">'));
    expect(section).toContain("Assumed model: sector-atomic (from hello); weakest model passed: sector-atomic.");
    expect(section).toContain('<td>sector-atomic</td><td class="st-passed">passed</td><td class="num">40</td>');
    expect(section).toContain('<td class="num">2 (3)</td>');
    expect(section).not.toContain("<script>");
    const md = renderMarkdown(report);
    expect(md).toContain("#### Power loss per persistence model");
    expect(md).toContain("| `sector-atomic` | passed | 40 | 20 | 2 (3) | 1.5 s | — |");
    expect(renderMarkdown(parseRunReport({ ...hostileReport() }))).not.toContain("persistence model");
  });
});
