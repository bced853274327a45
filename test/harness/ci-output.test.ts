import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { CLI, tempDir } from "../helpers.js";
import { parseRunReport } from "../../reports/report-schema.js";

// walcheck in a CI log: readable log lines without colour unless asked, JSON lines on request,
// GitHub Actions annotations for violations, and the reports of shard jobs merged into one.
// Real runs of the CLI (dist/): run `npx tsc -p .` first.

const ANSI = /\u001b\[/;
const fixture = (name: string) => path.resolve("test/fixtures/adapters", `${name}.mjs`);

/** `walcheck run` with stdout and stderr on pipes (not terminals), in the environment given over the test's own. */
async function run(args: string[], env: Record<string, string | undefined> = {}) {
  const reportDir = await tempDir();
  const result = await execa(
    process.execPath,
    [CLI, "run", "--report-dir", reportDir, "--latency", "warn", "--recovery-threshold", "5000", ...args],
    {
      reject: false,
      env: {
        WALCHECK_LOG_LEVEL: "info",
        GITHUB_STEP_SUMMARY: "",
        GITHUB_ACTIONS: "",
        NO_COLOR: undefined,
        FORCE_COLOR: undefined,
        WALCHECK_LOG_FORMAT: undefined,
        ...env,
      },
    },
  );
  const [runDir] = fs.existsSync(reportDir) ? fs.readdirSync(reportDir) : [];
  const reportFile = runDir ? path.join(reportDir, runDir, "report.json") : undefined;
  return { ...result, reportDir, reportFile };
}

const short = ["--scenarios", "crash-append", "--runs", "1", "--seed", "3", "--workers", "1"];

describe("walcheck's log in a CI job", () => {
  it("log lines are human-readable by default, with no ANSI escape under NO_COLOR; FORCE_COLOR brings colour back", async () => {
    const plain = await run(short, { NO_COLOR: "1" });
    expect(plain.exitCode, plain.stderr).toBe(0);
    expect(plain.stderr).toMatch(/INFO \(walcheck\): walcheck run: walcheck-reference/);
    expect(plain.stderr).not.toContain('{"level"');
    expect(plain.stdout).toContain("walcheck run — PASSED");
    expect(plain.stdout).not.toMatch(ANSI);
    expect(plain.stderr).not.toMatch(ANSI);

    const forced = await run(short, { FORCE_COLOR: "1", NO_COLOR: "1" });
    expect(forced.exitCode).toBe(0);
    expect(forced.stderr).toMatch(ANSI);
  });

  it("--log-format json writes walcheck's log as JSON lines, every stderr line parseable", async () => {
    const r = await run([...short, "--log-format", "json"]);
    expect(r.exitCode, r.stderr).toBe(0);
    const lines = r.stderr.split("\n").filter(Boolean);
    const parsed = lines.map((l) => JSON.parse(l) as { level: number; name: string; msg: string });
    expect(parsed.map((p) => p.msg)).toEqual([
      expect.stringMatching(/^pre-flight \(walcheck doctor\): usable, 0 deviations, /),
      expect.stringMatching(/^walcheck run: walcheck-reference \(reference\), seed 3, 1 scenarios, 1 cases/),
      expect.stringMatching(/^case 1\/1 crash-append passed: /),
    ]);
    expect(parsed.every((p) => p.name === "walcheck" && p.level === 30)).toBe(true);
    expect(r.stdout).toContain("walcheck run — PASSED");
  });

  it("WALCHECK_LOG_FORMAT=json does the same; a bad format is a usage error", async () => {
    const r = await run(short, { WALCHECK_LOG_FORMAT: "json" });
    expect(r.exitCode, r.stderr).toBe(0);
    for (const line of r.stderr.split("\n").filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();
    const bad = await run(short, { WALCHECK_LOG_FORMAT: "xml" });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('WALCHECK_LOG_FORMAT must be pretty or json, got "xml"');
    const badFlag = await run([...short, "--log-format", "xml"]);
    expect(badFlag.exitCode).toBe(2);
    expect(badFlag.stderr).toContain("option '--log-format <format>' argument 'xml' is invalid");
  });
});

describe("GitHub Actions annotations", () => {
  const bug = [
    "--adapter",
    fixture("bug-ack-before-fsync"),
    "--scenarios",
    "crash-append",
    "--runs",
    "2",
    "--seed",
    "1",
    // The annotation of the violation as found: shrinking it (up to 10 s, twice) changes nothing here.
    "--shrink-budget",
    "0s",
  ];

  it("with GITHUB_ACTIONS=true each violation is an ::error line on stdout with its replay command; without it, none", async () => {
    const gha = await run(bug, { GITHUB_ACTIONS: "true", NO_COLOR: "1" });
    expect(gha.exitCode, gha.stdout + gha.stderr).toBe(1);
    const report = parseRunReport(JSON.parse(fs.readFileSync(gha.reportFile!, "utf8")));
    expect(report.failures.length).toBeGreaterThan(0);
    const expected = report.failures.map(
      (f) =>
        `::error title=walcheck crash-append%3A ${f.violation.invariant}::${f.violation.message} — replay: npx walcheck run --adapter ${fixture("bug-ack-before-fsync")} --replay ${f.replayToken}`,
    );
    expect(gha.stdout.split("\n").filter((l) => l.startsWith("::"))).toEqual(expected);
    expect(gha.stderr).not.toContain("::error");

    const plain = await run(bug);
    expect(plain.exitCode).toBe(1);
    expect(plain.stdout).toContain("VIOLATION in crash-append");
    expect(plain.stdout + plain.stderr).not.toContain("::");
  }, 300_000);
});

describe("walcheck report merge", () => {
  const args = ["--seed", "7", "--scenarios", "crash-append,torn-tail", "--runs", "2"];
  const merge = (argv: string[]) =>
    execa(process.execPath, [CLI, "report", "merge", ...argv], {
      reject: false,
      env: { GITHUB_STEP_SUMMARY: "" },
    });

  it("merges the reports of --shard 1/2 and 2/2 into the report of the unsharded run, in all four forms", async () => {
    const [one, two, whole] = await Promise.all([
      run([...args, "--shard", "1/2"]),
      run([...args, "--shard", "2/2"]),
      run(args),
    ]);
    for (const r of [one, two, whole]) expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const read = (file: string) => parseRunReport(JSON.parse(fs.readFileSync(file, "utf8")));
    const [a, b, all] = [read(one.reportFile!), read(two.reportFile!), read(whole.reportFile!)];
    expect([a.shard, b.shard]).toEqual(["1/2", "2/2"]);
    expect(a.cases.run).toBeGreaterThan(0);
    expect(b.cases.run).toBeGreaterThan(0);

    const out = await tempDir();
    // The --report-dir of each shard, as a CI job downloads it: the run directory inside is found.
    const m = await merge([one.reportDir, two.reportDir, "--out", out]);
    expect(m.exitCode, m.stdout + m.stderr).toBe(0);
    expect(m.stdout).toContain("walcheck report merge — PASSED (seed 7, shards 1-2/2 merged");
    for (const f of ["report.json", "report.md", "report.junit.xml", "report.html"])
      expect(fs.existsSync(path.join(out, f)), f).toBe(true);
    const merged = read(path.join(out, "report.json"));
    expect(merged.shard).toBe("1-2/2 merged");
    expect(merged.cases.run).toBe(a.cases.run + b.cases.run);
    expect(merged.cases.planned).toBe(a.cases.planned + b.cases.planned);
    expect(merged.cases.run).toBe(all.cases.run);
    expect(merged.cases.planned).toBe(all.cases.planned);
    for (const s of merged.scenarios)
      expect(s.cases.run, s.name).toBe(all.scenarios.find((x) => x.name === s.name)!.cases.run);
    expect(merged.cycles).toBe(a.cycles + b.cycles);
    const md = fs.readFileSync(path.join(out, "report.md"), "utf8");
    expect(md).toContain("shard 1-2/2 merged");
    expect(md).toContain(
      "- merged: latency percentiles (p50, p95, p99, p99.9) and latency verdicts are the worst shard's",
    );
    expect(fs.readFileSync(path.join(out, "report.html"), "utf8")).toContain(
      "Merged: from the reports of shards 1/2, 2/2",
    );

    // The same shard twice, or a report of another seed: refused, exit 2, nothing written.
    const twice = await merge([one.reportDir, one.reportFile!.replace(/report\.json$/, ""), "--out", `${out}-2`]);
    expect(twice.exitCode).toBe(2);
    expect(twice.stderr).toContain("is given twice");
    const copy = await tempDir();
    fs.cpSync(path.dirname(one.reportFile!), path.join(copy, "again"), { recursive: true });
    const dup = await merge([one.reportDir, copy, "--out", `${out}-3`]);
    expect(dup.exitCode).toBe(2);
    expect(dup.stderr).toContain("shard 1/2 is in both");
    const mixed = await merge([one.reportDir, whole.reportDir, "--out", `${out}-4`]);
    expect(mixed.exitCode).toBe(2);
    expect(mixed.stderr).toContain("are not shards of one run: different shard counts");
    expect(fs.existsSync(`${out}-3`) || fs.existsSync(`${out}-4`)).toBe(false);
    const missing = await merge([path.join(out, "nowhere")]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain("no such file or directory");
  }, 300_000);
});
