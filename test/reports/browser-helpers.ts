import fs from "node:fs";
import { pathToFileURL } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";

// A real headless browser for the HTML report: Debian's chromium driven by playwright-core
// (no browser download: playwright-core brings none). Everything the page does that it
// should not is recorded: console messages, page errors, dialogs, requests other than the
// page itself, and Content-Security-Policy violations (the securitypolicyviolation events,
// besides the console errors Chromium prints for them).

/** The Chromium binary: $WALCHECK_CHROMIUM, or Debian's. */
export const CHROMIUM = process.env.WALCHECK_CHROMIUM || "/usr/bin/chromium";

/** Set to 1 (as .ci/run does) to fail, not skip, when Chromium is missing. */
export const BROWSER_REQUIRED = process.env.WALCHECK_REQUIRE_BROWSER === "1";

const INSTALL_HINT =
  "install Debian's chromium (apt-get install chromium) or point WALCHECK_CHROMIUM at a Chromium binary";

function executable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Why the browser tests cannot run here, with how to fix it; undefined when Chromium is there. */
export const browserMissing: string | undefined = executable(CHROMIUM)
  ? undefined
  : `no Chromium at ${CHROMIUM}: ${INSTALL_HINT}`;

// --no-sandbox: CI runs as root. The rest keep Chromium off the network (it would reach for
// Google's update, sync and field-trial servers, which a closed network refuses).
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export const launchBrowser = (): Promise<Browser> =>
  chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 30_000 });

/** What a page did while it loaded. A clean page leaves every list empty. */
export interface PageEvents {
  /** "type: text" of every console message. */
  console: string[];
  pageErrors: string[];
  /** "type: message" of every alert, confirm, prompt or beforeunload (each dismissed). */
  dialogs: string[];
  /** URLs requested besides the page itself, whether they were let through or blocked. */
  requests: string[];
  /** "directive blocked-URI" of every securitypolicyviolation event. */
  cspViolations: string[];
}

export interface LoadedPage {
  page: Page;
  events: PageEvents;
}

// The page's globals, as far as the functions run in the browser use them (page.evaluate and
// addInitScript send their source there); the project's lib has no DOM.
interface Box {
  left: number;
  right: number;
  top: number;
  bottom: number;
  width: number;
  height: number;
}
interface Element {
  tagName: string;
  attributes: Iterable<{ name: string; value: string }>;
  dataset: Record<string, string | undefined>;
  getAttribute(name: string): string | null;
  getBoundingClientRect(): Box;
  closest(selector: string): { id: string } | null;
  querySelectorAll(selector: string): Iterable<Element>;
}
declare const document: {
  querySelectorAll(selector: string): Iterable<Element>;
  addEventListener(
    type: "securitypolicyviolation",
    listener: (e: { effectiveDirective: string; blockedURI: string }) => void,
  ): void;
};
declare const window: { __cspViolations?: string[] };

/**
 * Open a local HTML file in a fresh browser context (file:// URL), wait for its load event,
 * and return the page with everything it did meanwhile. The init script that records CSP
 * violations is the harness's, run by the browser outside the page's CSP; the page itself has
 * no script.
 */
export async function loadPage(browser: Browser, file: string): Promise<LoadedPage> {
  const url = pathToFileURL(file).href;
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const events: PageEvents = { console: [], pageErrors: [], dialogs: [], requests: [], cspViolations: [] };
  page.on("console", (m) => events.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => events.pageErrors.push(String(e)));
  page.on("dialog", (d) => {
    events.dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss().catch(() => undefined);
  });
  page.on("request", (r) => {
    if (r.url() !== url) events.requests.push(r.url());
  });
  await page.addInitScript(() => {
    const seen: string[] = (window.__cspViolations = []);
    document.addEventListener("securitypolicyviolation", (e) => seen.push(`${e.effectiveDirective} ${e.blockedURI}`));
  });
  const response = await page.goto(url, { waitUntil: "load" });
  if (!response?.ok()) throw new Error(`${url}: ${response ? `status ${response.status()}` : "no response"}`);
  // A task after load: the violation events queued while the page was parsed have fired.
  events.cspViolations = await page.evaluate(
    () => new Promise<string[]>((resolve) => setTimeout(() => resolve(window.__cspViolations ?? []), 50)),
  );
  return { page, events };
}

export const NO_EVENTS: PageEvents = { console: [], pageErrors: [], dialogs: [], requests: [], cspViolations: [] };

/** One data mark of a chart: its data-* attributes and its rendered box. */
export interface Mark {
  data: Record<string, string>;
  value: number;
  width: number;
  height: number;
  /** Its box lies within its chart's (to a pixel): drawn where the chart is, not off-canvas. */
  inside: boolean;
}

/** A chart as rendered: an `<svg role="img">`, where it is on the page, and its data marks (elements with data-value). */
export interface Chart {
  /** The id of the page section it is in ("latency", "recovery", "coverage"). */
  section: string;
  /** "section svg-class #k", for messages. */
  where: string;
  width: number;
  height: number;
  marks: Mark[];
}

/** Every chart on the page, measured by the browser (getBoundingClientRect). */
export function charts(page: Page): Promise<Chart[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('svg[role="img"]')].map((svg, k) => {
      const box = svg.getBoundingClientRect();
      const marks = [...svg.querySelectorAll("[data-value]")].map((el) => {
        const r = el.getBoundingClientRect();
        const inside =
          r.left >= box.left - 1 && r.right <= box.right + 1 && r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
        return {
          data: { ...el.dataset } as Record<string, string>,
          value: Number(el.dataset.value),
          width: r.width,
          height: r.height,
          inside,
        };
      });
      const section = svg.closest("section")?.id ?? "?";
      return {
        section,
        where: `${section} ${svg.getAttribute("class") ?? "svg"} #${k}`,
        width: box.width,
        height: box.height,
        marks,
      };
    }),
  );
}

/** A value as the renderers write it into data-value: at most two decimals. */
export const dataValue = (x: number) => Math.round(x * 100) / 100;

const FETCHING_TAGS = new Set([
  "script",
  "iframe",
  "frame",
  "object",
  "embed",
  "img",
  "image",
  "link",
  "base",
  "form",
  "audio",
  "video",
  "source",
  "use",
]);
const URL_ATTRIBUTES = new Set([
  "src",
  "href",
  "xlink:href",
  "action",
  "formaction",
  "srcset",
  "poster",
  "data",
  "background",
]);

/**
 * What the browser's parser built that could run or fetch: a script, image, frame or other
 * fetching element, an event-handler attribute, a URL attribute, a javascript: value. As
 * "tag" or "tag attr=value"; none for a page that is only text, tables, CSS and SVG shapes.
 */
export function liveMarkup(page: Page): Promise<string[]> {
  const tags = [...FETCHING_TAGS];
  const urls = [...URL_ATTRIBUTES];
  return page.evaluate(
    ([tags, urls]) =>
      [...document.querySelectorAll("*")].flatMap((el) => {
        const tag = el.tagName.toLowerCase();
        const attrs = [...el.attributes]
          .filter((a) => /^on/i.test(a.name) || urls.includes(a.name.toLowerCase()) || /javascript:/i.test(a.value))
          .map((a) => `${tag} ${a.name}=${a.value}`);
        return tags.includes(tag) ? [tag, ...attrs] : attrs;
      }),
    [tags, urls] as const,
  );
}
