import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderHtml } from "../../reports/html.js";
import { replayCommand } from "../../reports/markdown.js";
import { parseRunReport, type RunReport } from "../../reports/report-schema.js";
import {
  BROWSER_REQUIRED,
  browserMissing,
  charts,
  dataValue,
  launchBrowser,
  liveMarkup,
  loadPage,
  NO_EVENTS,
  type LoadedPage,
} from "./browser-helpers.js";
import { failingRun, HTML_INJECT, hostileHtmlReport, realRun } from "./report-helpers.js";

// report.html in a real headless browser (Debian's chromium via playwright-core): it loads
// with no console message, error, dialog, request or CSP violation, its charts hold the
// report's data as drawn marks, and a hostile report's strings stay text. html.test.ts checks
// the same page as a string; this is what a browser makes of it.

describe.runIf(browserMissing)("report.html in headless Chromium", () => {
  it("needs Chromium", (ctx) => {
    if (BROWSER_REQUIRED) throw new Error(`WALCHECK_REQUIRE_BROWSER=1, and ${browserMissing}`);
    const why = `browser tests skipped: ${browserMissing} (WALCHECK_REQUIRE_BROWSER=1 makes this a failure)`;
    // The default reporter shows a skip's note only in verbose mode; a warning it always prints.
    console.warn(why);
    ctx.skip(why);
  });
});

describe.skipIf(browserMissing)("report.html in headless Chromium", () => {
  let browser: Browser | undefined;
  let tmp: string;
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "walcheck-browser-test-"));
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** Write `html` to a file of its own and load it. */
  const loadHtml = (name: string, html: string) => {
    const file = path.join(tmp, `${name}.html`);
    fs.writeFileSync(file, html);
    return loadPage(browser!, file);
  };

  /** A page under test: the HTML as written and as the browser loaded it (filled in by a beforeAll). */
  interface Loaded {
    html: string;
    loaded: LoadedPage;
  }

  /** A real run's report.html, loaded (beforeAll); the run's directory removed after (afterAll). */
  function realRunPage(start: () => ReturnType<typeof realRun>, exitCode: number) {
    const p = {} as Loaded & { report: RunReport };
    let run: Awaited<ReturnType<typeof realRun>> | undefined;
    beforeAll(async () => {
      run = await start();
      expect(run.result.exitCode, run.result.stdout + run.result.stderr).toBe(exitCode);
      const file = path.join(run.dir, "report.html");
      Object.assign(p, {
        report: parseRunReport(run.json),
        html: fs.readFileSync(file, "utf8"),
        loaded: await loadPage(browser!, file),
      });
    }, 180_000);
    afterAll(() => run?.cleanup());
    return p;
  }

  /** The checks every page passes: it loads quietly, builds nothing live, and each chart holds drawn data. */
  function itIsACleanPageWithCharts(p: Loaded) {
    it("loads quietly: no console message, page error, dialog, request beyond the page, or CSP violation", () => {
      expect(p.loaded.events).toEqual(NO_EVENTS);
    });

    it("holds no script, image, frame, event handler or URL attribute once parsed", async () => {
      expect(await liveMarkup(p.loaded.page)).toEqual([]);
    });

    it("draws every chart with data: each data mark the page wrote is there, the marks of any size have a box, all inside their chart", async () => {
      const all = await charts(p.loaded.page);
      expect(all.length).toBeGreaterThan(0);
      // The parser built every mark the renderer wrote (nothing swallowed by broken markup).
      expect(all.reduce((k, c) => k + c.marks.length, 0)).toBe(p.html.match(/ data-value="/g)?.length);
      for (const c of all) {
        expect(c.width * c.height, c.where).toBeGreaterThan(0);
        expect(c.marks.length, `${c.where}: no data marks`).toBeGreaterThan(0);
        expect(
          c.marks.filter((m) => m.width > 0 && m.height > 0).length,
          `${c.where}: no mark has a box`,
        ).toBeGreaterThan(0);
        // A mark of at least 1% of its chart's largest value is drawn (a rounding to zero is not).
        const top = Math.max(...c.marks.map((m) => m.value));
        for (const m of c.marks) {
          if (m.value >= top / 100) expect(m.width > 0 && m.height > 0, `${c.where}: ${JSON.stringify(m)}`).toBe(true);
          expect(m.inside, `${c.where}: ${JSON.stringify(m)} outside its chart`).toBe(true);
        }
      }
    });
  }

  describe("a real passing run's report.html", () => {
    const p = realRunPage(() => realRun(["--scenarios", "crash-append,torn-tail", "--runs", "2", "--seed", "3"]), 0);

    itIsACleanPageWithCharts(p);

    it("shows the verdict: PASSED", async () => {
      const big = p.loaded.page.locator(".verdict .big");
      expect(await big.isVisible()).toBe(true);
      expect(await big.innerText()).toBe("PASSED");
    });

    /** The marks of a section's charts. */
    const marks = async (section: string) =>
      (await charts(p.loaded.page)).filter((c) => c.section === section).flatMap((c) => c.marks);
    /** "scenario op stat value" of a section's bars (those with data-stat), sorted. */
    const bars = async (section: string) =>
      (await marks(section))
        .filter((m) => m.data.stat !== undefined)
        .map((m) => `${m.data.scenario} ${m.data.op} ${m.data.stat} ${m.value}`)
        .sort();

    it("draws a latency bar for p50, p95, p99 and max of each op of each scenario with samples, at report.json's values", async () => {
      const expected = p.report.scenarios
        .flatMap((s, i) =>
          Object.entries(s.latency)
            .filter(([, st]) => st.n > 0)
            .flatMap(([op, st]) =>
              (["p50", "p95", "p99", "max"] as const).map((k) => `${i} ${op} ${k} ${dataValue(st[k])}`),
            ),
        )
        .sort();
      expect(expected.length).toBeGreaterThanOrEqual(8);
      expect(await bars("latency")).toEqual(expected);
    });

    it("draws the recovery bars (p50, p95, max per scenario) and the crash-point coverage bars report.json gives", async () => {
      const recovery = p.report.scenarios
        .flatMap((s, i) =>
          s.latency.recovery?.n
            ? (["p50", "p95", "max"] as const).map((k) => `${i} recovery ${k} ${dataValue(s.latency.recovery![k])}`)
            : [],
        )
        .sort();
      expect(recovery.length).toBeGreaterThan(0);
      expect(await bars("recovery")).toEqual(recovery);
      const c = p.report.crashes;
      const counts = [...Object.values(c.named), ...Object.values(c.fs), c.signal, p.report.armsNotReached];
      const byValue = (a: number, b: number) => a - b;
      expect((await marks("coverage")).map((m) => m.value).sort(byValue)).toEqual(counts.sort(byValue));
    });
  });

  describe("a real failing run's report.html", () => {
    const p = realRunPage(() => failingRun(), 1);

    itIsACleanPageWithCharts(p);

    it("shows FAILED and a visible violation timeline per failure, each ending in its replay command", async () => {
      const { page } = p.loaded;
      expect(await page.locator(".verdict .big").innerText()).toBe("FAILED");
      expect(p.report.failures.length).toBeGreaterThan(0);
      const timelines = page.locator("ol.timeline");
      expect(await timelines.count()).toBe(p.report.failures.length);
      for (const [k, f] of p.report.failures.entries()) {
        const timeline = timelines.nth(k);
        expect(await timeline.isVisible()).toBe(true);
        const replay = timeline.locator("pre.replay");
        expect(await replay.isVisible()).toBe(true);
        expect(await replay.innerText()).toBe(replayCommand(p.report, f));
      }
      expect(await page.innerText("body")).toContain("--replay ");
    });
  });

  describe("a real power-loss failure's report.html (a C adapter without a directory fsync)", () => {
    const p = realRunPage(async () => {
      const exe = path.join(tmp, "static-wal-no-dirsync");
      const [cc = "cc", ...ccArgs] = (process.env.CC?.trim() || "cc").split(/\s+/);
      await execa(cc, [
        ...ccArgs,
        "-g",
        "-DBUG_NO_DIRSYNC",
        "-o",
        exe,
        path.resolve("test/fixtures/adapters/static-wal.c"),
      ]);
      return realRun(["--adapter-cmd", exe, "--crash", "power", "--runs", "1", "--seed", "1"]);
    }, 1);

    it("loads quietly and builds nothing live", async () => {
      expect(p.loaded.events).toEqual(NO_EVENTS);
      expect(await liveMarkup(p.loaded.page)).toEqual([]);
    });

    it("draws the trace around the cut: lanes, the cut line, an ack, and the lost op marked before the cut, labelled with its source line", async () => {
      const { page } = p.loaded;
      const svg = page.locator("svg.trace-diagram");
      expect(await svg.count()).toBe(1);
      expect(await svg.isVisible()).toBe(true);
      const box = (await svg.boundingBox())!;
      const culprit = svg.locator('[data-culprit="true"]');
      expect(await culprit.count()).toBe(1);
      expect(await culprit.getAttribute("data-status")).toBe("lost");
      expect(await culprit.getAttribute("data-kind")).toBe("create");
      const mark = (await culprit.boundingBox())!;
      expect(mark.width * mark.height).toBeGreaterThan(0);
      expect(mark.x >= box.x && mark.x + mark.width <= box.x + box.width + 1).toBe(true);
      const cut = (await svg.locator("line.cut").boundingBox())!;
      expect(mark.x + mark.width).toBeLessThan(cut.x + 1);
      expect(await svg.locator("g.ack").count()).toBeGreaterThan(0);
      expect(await svg.locator(".lane-name").allTextContents()).toEqual(["directory (entries)", "wal.log"]);
      expect(await svg.locator(".culprit-label").textContent()).toMatch(
        /^lost: create of wal\.log \(#1\), in open_wal\(\) at static-wal\.c:\d+$/,
      );
      expect(await page.locator(".attribution-text").innerText()).toContain(
        "missing barrier: fsync the directory after creating wal.log",
      );
    });
  });

  describe("a hostile report's page", () => {
    const p = {} as Loaded;
    beforeAll(async () => {
      p.html = renderHtml(hostileHtmlReport());
      p.loaded = await loadHtml("hostile", p.html);
    });

    // No dialog (alert), no console message, no request (evil.example): nothing of the report's strings ran.
    itIsACleanPageWithCharts(p);

    it("shows every hostile string as text", async () => {
      const text = await p.loaded.page.innerText("body");
      for (const s of HTML_INJECT) expect(text).toContain(s);
      expect(await p.loaded.page.locator(".verdict").innerText()).toContain(`adapter: ${HTML_INJECT.join(" ")}`);
    });
  });

  // Each check is live: on this very page, doctored, every channel reports what it is there
  // for. (Containment, not equality: a broken renderer fails the tests above, not these.)
  describe("the checks catch a page that does run or fetch something (a doctored page)", () => {
    const doctor = (html: string, extra: string) => html.replace("</main>", `${extra}</main>`);
    const base = () => renderHtml(hostileHtmlReport());
    const image = "http://127.0.0.1:9/x.png";

    it("under the page's CSP: the blocked inline script and remote image are reported as CSP violations and the image as a request", async () => {
      const { page, events } = await loadHtml(
        "doctored-csp",
        doctor(base(), `<script>console.log("ran")</script><img src="${image}">`),
      );
      expect(events.console).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^error: .*inline script.*Content Security Policy/),
          expect.stringMatching(/^error: .*image 'http:\/\/127\.0\.0\.1:9\/x\.png'.*Content Security Policy/),
        ]),
      );
      expect(events.console).not.toContain("log: ran");
      expect(events.cspViolations).toEqual(expect.arrayContaining(["script-src-elem inline", `img-src ${image}`]));
      expect(events.requests).toContain(image);
      expect(await liveMarkup(page)).toEqual(expect.arrayContaining(["script", "img", `img src=${image}`]));
    });

    it("without the CSP: the script's console message, dialog and error are reported", async () => {
      const noCsp = base().replace(/<meta http-equiv="Content-Security-Policy"[^>]*>/, "");
      const { events } = await loadHtml(
        "doctored-no-csp",
        doctor(noCsp, `<script>console.log("ran"); alert("ran"); throw new Error("boom")</script>`),
      );
      expect(events.console).toContain("log: ran");
      expect(events.dialogs).toContain("alert: ran");
      expect(events.pageErrors).toEqual(expect.arrayContaining([expect.stringContaining("boom")]));
    });
  });
});
