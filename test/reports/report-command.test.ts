import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderHtml } from "../../reports/html.js";
import { renderJUnit } from "../../reports/junit.js";
import { renderMarkdown } from "../../reports/markdown.js";
import { writeRenderings } from "../../reports/renderings.js";
import { parseRunReport } from "../../reports/report-schema.js";
import { CLI, tempDir } from "../helpers.js";
import { failingRun, hostileReport } from "./report-helpers.js";

const walcheck = (args: string[]) =>
  execa(process.execPath, [CLI, ...args], { reject: false, env: { WALCHECK_LOG_LEVEL: "warn" } });

describe("walcheck run writes report.md, report.junit.xml and report.html, and the job summary", () => {
  let run: Awaited<ReturnType<typeof failingRun>>;
  let summaryFile: string;
  beforeAll(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "walcheck-summary-"));
    summaryFile = path.join(dir, "step-summary.md");
    fs.writeFileSync(summaryFile, "## an earlier step\n\n");
    run = await failingRun({ GITHUB_STEP_SUMMARY: summaryFile });
    expect(run.result.exitCode, run.result.stdout + run.result.stderr).toBe(1);
  }, 180_000);
  afterAll(() => {
    run?.cleanup();
    if (summaryFile) fs.rmSync(path.dirname(summaryFile), { recursive: true, force: true });
  });

  it("writes all three beside report.json, rendered from the final JSON, and prints their paths", () => {
    const report = parseRunReport(run.json);
    const md = path.join(run.dir, "report.md");
    const junit = path.join(run.dir, "report.junit.xml");
    const html = path.join(run.dir, "report.html");
    expect(fs.readFileSync(md, "utf8")).toBe(renderMarkdown(report));
    expect(fs.readFileSync(junit, "utf8")).toBe(renderJUnit(report));
    expect(fs.readFileSync(html, "utf8")).toBe(renderHtml(report));
    const lines = run.result.stdout.split("\n");
    const at = lines.findIndex((l) => l === `  report: ${run.reportFile}`);
    expect(lines.slice(at, at + 5)).toEqual([
      `  report: ${run.reportFile}`,
      `  report (markdown): ${md}`,
      `  report (junit): ${junit}`,
      `  report (html): ${html}`,
      `  job summary: appended to ${summaryFile}`,
    ]);
  });

  it("appends the Markdown to $GITHUB_STEP_SUMMARY, after what was there", () => {
    const md = fs.readFileSync(path.join(run.dir, "report.md"), "utf8");
    expect(fs.readFileSync(summaryFile, "utf8")).toBe(`## an earlier step\n\n${md}\n`);
  });

  it("walcheck report --format md prints the same Markdown; junit and json to --out", async () => {
    const md = await walcheck(["report", run.reportFile, "--format", "md"]);
    expect(md.exitCode, md.stderr).toBe(0);
    expect(`${md.stdout}\n`).toBe(fs.readFileSync(path.join(run.dir, "report.md"), "utf8"));

    const dir = await tempDir();
    const junit = await walcheck(["report", run.reportFile, "--format", "junit", "--out", path.join(dir, "j.xml")]);
    expect(junit.exitCode, junit.stderr).toBe(0);
    expect(junit.stdout).toBe("");
    expect(fs.readFileSync(path.join(dir, "j.xml"), "utf8")).toBe(
      fs.readFileSync(path.join(run.dir, "report.junit.xml"), "utf8"),
    );

    const json = await walcheck(["report", run.reportFile, "--format", "json"]);
    expect(json.exitCode, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(run.json);
  });
});

describe("walcheck report, refusing", () => {
  it("--format html: renders the hostile report as a page (its tests are in html.test.ts)", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "report.json");
    fs.writeFileSync(file, JSON.stringify(hostileReport()));
    const r = await walcheck(["report", file, "--format", "html"]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(`${r.stdout}\n`).toBe(renderHtml(hostileReport()));
  });

  it("a missing file: exit 2, naming it", async () => {
    const missing = path.join(await tempDir(), "nope.json");
    const r = await walcheck(["report", missing, "--format", "md"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`${missing}: no such file`);
  });

  it("an invalid report: exit 2 with the bad field's path; not JSON: exit 2", async () => {
    const dir = await tempDir();
    const bad = JSON.parse(JSON.stringify(hostileReport()));
    bad.scenarios[2].status = "fine";
    fs.writeFileSync(path.join(dir, "bad.json"), JSON.stringify(bad));
    const r = await walcheck(["report", path.join(dir, "bad.json")]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/bad\.json: scenarios\[2\]\.status: /);

    fs.writeFileSync(path.join(dir, "text.json"), "walcheck");
    const t = await walcheck(["report", path.join(dir, "text.json"), "--format", "junit"]);
    expect(t.exitCode).toBe(2);
    expect(t.stderr).toMatch(/text\.json: not JSON/);
  });

  it("an unknown format: exit 2", async () => {
    const r = await walcheck(["report", "x.json", "--format", "pdf"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/Allowed choices are md, junit, json, html/);
  });
});

describe("writeRenderings", () => {
  it("writes report.md, report.junit.xml and report.html even when $GITHUB_STEP_SUMMARY cannot be appended to, and says why", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "report.json");
    fs.writeFileSync(file, JSON.stringify(hostileReport()));
    const out = writeRenderings(file, { GITHUB_STEP_SUMMARY: path.join(dir, "no", "such", "dir", "summary.md") });
    expect(out.stepSummary).toBeUndefined();
    expect(out.stepSummaryError).toMatch(/cannot append to GITHUB_STEP_SUMMARY .*ENOENT/);
    expect(fs.readFileSync(out.markdown, "utf8")).toBe(renderMarkdown(hostileReport()));
    expect(fs.readFileSync(out.junit, "utf8")).toBe(renderJUnit(hostileReport()));
    expect(fs.readFileSync(out.html, "utf8")).toBe(renderHtml(hostileReport()));
    // No variable, no summary.
    expect(writeRenderings(file, {})).toEqual({
      markdown: path.join(dir, "report.md"),
      junit: path.join(dir, "report.junit.xml"),
      html: path.join(dir, "report.html"),
    });
  });
});
