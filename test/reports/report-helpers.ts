import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { expect } from "vitest";
import { CLI } from "../helpers.js";
import { parseRunReport, type RunReport } from "../../reports/report-schema.js";
import { SCENARIOS } from "../../scenarios/index.js";

/**
 * A real `walcheck run`, with its run directory and parsed report (call `cleanup` after). GITHUB_STEP_SUMMARY is
 * blanked unless the test sets it, so a test run inside a GitHub Actions job never writes
 * to that job's summary.
 */
export async function realRun(args: string[], env: Record<string, string> = {}) {
  // Its own directory, not tempDir()'s (removed after each test): runs are made in beforeAll.
  const reportDir = fs.mkdtempSync(path.join(os.tmpdir(), "walcheck-report-test-"));
  const cleanup = () => fs.rmSync(reportDir, { recursive: true, force: true });
  const result = await execa(
    process.execPath,
    [CLI, "run", "--report-dir", reportDir, "--recovery-threshold", "5000", "--latency", "warn", ...args],
    {
      reject: false,
      env: { WALCHECK_LOG_LEVEL: "warn", GITHUB_STEP_SUMMARY: "", ...env },
    },
  );
  const [run] = fs.readdirSync(reportDir);
  if (!run) {
    cleanup();
    throw new Error(`the run wrote no report:\n${result.stdout}\n${result.stderr}`);
  }
  const dir = path.join(reportDir, run);
  const reportFile = path.join(dir, "report.json");
  const json = JSON.parse(fs.readFileSync(reportFile, "utf8")) as Record<string, any>;
  return { result, dir, reportFile, json, cleanup };
}

const fixture = (name: string) => path.resolve("test/fixtures/adapters", `${name}.mjs`);

/**
 * A real run that must exit with `exitCode`, its report checked against the schema, and that
 * report rendered by `render`: what every renderer's test starts from.
 */
export async function renderedRun(
  start: () => ReturnType<typeof realRun>,
  exitCode: number,
  render: (report: RunReport) => string,
) {
  const run = await start();
  expect(run.result.exitCode, run.result.stdout + run.result.stderr).toBe(exitCode);
  const report = parseRunReport(run.json);
  return { run, report, out: render(report) };
}

/** A run that fails: an adapter that acknowledges before its fsync, under crashes aimed at appends. */
export const failingRun = (env: Record<string, string> = {}) =>
  realRun(
    ["--adapter", fixture("bug-ack-before-fsync"), "--scenarios", "crash-append", "--runs", "20", "--seed", "1"],
    env,
  );

/** Everything a hostile adapter could put in a string: table and code breakers, markup, an entity, a control character. */
export const HOSTILE = "a|b `tick` ```` </testcase><script>alert(1)</script> & \u0001 'q' \"dq\"\nsecond line";

const stats = () => ({
  lives: 1,
  crashes: { named: {}, fs: {}, signal: 1 },
  armsNotReached: 0,
  batchesSent: 2,
  batchesAcked: 2,
  refused: { append: 0, open: 0 },
  faultLives: 0,
  checkpoints: 0,
  recoveryMs: [3.5],
  latency: { append: [1, 2] },
  timeMs: { startup: 10, recovery: 3, workload: 2, verify: 1 },
});

const latency = { n: 2, p50: 1, p95: 2, p99: 2, p999: 2, max: 2 };

function scenario(name: string, status: string, extra: Record<string, unknown> = {}) {
  // What a run writes: the invariants the scenario declares (a crafted name has none).
  const declared = SCENARIOS.find((s) => s.name === name)?.invariants;
  return {
    name,
    ...(declared ? { invariants: declared.map(({ id, text }) => ({ id, text })) } : {}),
    status,
    cases: {
      planned: 2,
      run: status === "skipped" ? 0 : 2,
      passed: status === "passed" ? 2 : 1,
      failed: status === "failed" ? 1 : 0,
      errors: status === "error" ? 1 : 0,
    },
    cycles: 3,
    crashes: { named: { "append.after-write": 1 }, fs: {}, signal: 2 },
    armsNotReached: 0,
    batches: { sent: 4, acked: 4 },
    faults: { lives: 0, refusedAppends: 0, refusedOpens: 0 },
    checkpoints: 0,
    latency: status === "skipped" ? {} : { append: latency, recovery: latency },
    thresholds: [],
    latencyExpected: false,
    latencyGated: false,
    failures: [],
    errors: [],
    ...extra,
  };
}

/**
 * A report built by hand whose adapter strings are hostile: the hello name, a violation's
 * message, description (a recovered value), crash and input, an adapter error, a skipped
 * reason, a latency warning, and a scenario's name. It passes the schema, as a real report with those strings would.
 */
export function hostileReport(): RunReport {
  const failure = {
    status: "failed",
    scenario: "crash-append",
    index: 1,
    seed: 42,
    stats: stats(),
    executions: 3,
    violation: {
      invariant: "durability",
      message: `durability: ${HOSTILE}`,
      description: `invariant durability violated: ${HOSTILE}\n  after crash: signal at x\n  key "k1": expected "v1", recovered ${JSON.stringify(HOSTILE)}\n  key "k|2": expected null, recovered "\`\`\`\`"\n  ledger tail:\n    seq 1 [life 1] acked: k1=v1`,
      crash: `signal at ${HOSTILE}`,
    },
    commands: `append(${HOSTILE})`,
    shrinks: 2,
    replayToken: "eyJ2IjoxfQ",
    keptDir: "/tmp/walcheck-reports/run/cases/crash-append-case-1-seed-42",
  };
  const unmatched = {
    ...failure,
    index: 2,
    violation: { ...failure.violation, invariant: "exclusive-open", message: `exclusive-open: ${HOSTILE}` },
  };
  const error = {
    status: "error",
    scenario: "torn-tail",
    index: 0,
    seed: 7,
    stats: stats(),
    executions: 1,
    error: { code: "ADAPTER_PROTOCOL", message: HOSTILE },
  };
  return parseRunReport({
    kind: "walcheck-run",
    version: 2,
    adapter: "./hostile.mjs",
    flags: ["--adapter", "./hostile.mjs"],
    environment: { startedAt: "2026-01-02T03:04:05.678Z", node: "v20.0.0", fsType: "ext4" },
    status: "failed",
    seed: 9,
    hello: { name: HOSTILE, protocol: 1, durability: "power", features: ["checkpoint"] },
    crash: ["named", "signal"],
    shard: "1/1",
    cases: { planned: 4, run: 4, passed: 1, failed: 2, errors: 1 },
    cycles: 6,
    crashes: { named: { "append.after-write": 2 }, fs: {}, signal: 4 },
    armsNotReached: 0,
    batches: { sent: 8, acked: 8 },
    checkpoints: 0,
    recoveryMs: { n: 4, p50: 3, p95: 4, max: 4 },
    timeMs: { startup: 20, recovery: 6, workload: 4, verify: 2 },
    elapsedMs: 1234,
    cyclesPerMinute: 291.7,
    scenarios: [
      scenario("crash-append", "failed", { failures: [failure, unmatched] }),
      scenario("torn-tail", "error", { errors: [error] }),
      scenario("bit-flip", "skipped", { reason: `the adapter said ${HOSTILE}` }),
      // Not a catalogue name: a crafted report file can say anything, and the table must still hold.
      scenario(HOSTILE, "passed"),
    ],
    failures: [failure, unmatched],
    errors: [error],
    latencyWarnings: [`crash-append: append p95 ${HOSTILE}`],
    latencyFailures: [],
    latencyObserved: [],
  });
}

/** Markup, an entity, event handlers and URLs, as an adapter could put them in any string of a report. */
export const HTML_INJECT = [
  `<script>alert(1)</script>`,
  `"><img src=x onerror=alert(1)>`,
  `</svg>`,
  `&amp;`,
  `'><svg onload=alert(1)>`,
  `javascript:alert(1)`,
  `https://evil.example/x.js`,
];

/** hostileReport() with HTML_INJECT (joined by spaces) in every string the HTML page shows: names, flags, environment, crash points, thresholds, violations, errors. */
export function hostileHtmlReport(): RunReport {
  const r = JSON.parse(JSON.stringify(hostileReport())) as Record<string, any>;
  const bad = HTML_INJECT.join(" ");
  r.adapter = bad;
  r.hello.name = bad;
  r.hello.features = [bad];
  r.shard = bad;
  r.crash = [bad];
  r.crashes.named = { [bad]: 3 };
  r.crashes.fs = { [bad]: 1 };
  r.flags = ["--adapter-cmd", bad];
  r.environment.fsType = bad;
  r.environment.cpu = { model: bad, count: 2 };
  r.latencyFailures = [bad];
  r.latencyObserved = [bad];
  for (const s of r.scenarios) {
    s.name = `${s.name} ${bad}`;
    s.crashes.named = { [bad]: 1 };
    s.thresholds = [
      { op: "append", stat: "p95", valueMs: 2, n: 2, targetMs: 1, criticalMs: 1.5, status: "critical", reason: bad },
    ];
  }
  for (const f of [...r.failures, ...r.scenarios[0].failures]) {
    f.scenario = bad;
    f.commands = bad;
    f.keptDir = `/tmp/${bad}`;
    f.replayToken = bad;
    f.violation.invariant = bad;
    f.violation.description = `${bad}\n  key "${bad}": expected "x", recovered "${bad}"\n  ledger tail:\n    ${bad}`;
    // A power-loss attribution whose names (files, functions, modules) are the adapter's.
    f.violation.attribution = {
      op: { i: 2, kind: bad, label: `create of ${bad} (#2)` },
      test: "only-lost",
      recoveries: 0,
      barrier: `fsync the directory after creating ${bad}`,
      where: {
        text: `in ${bad}() at ${bad}:3`,
        js: [{ function: bad, file: `/app/${bad}`, line: 3, column: 1 }],
        native: [{ module: bad, offset: "0x10", function: bad, symbolised: "symbol" }],
        note: bad,
      },
      text: `lost op: the create of ${bad} (#2); missing barrier: fsync the directory after creating ${bad}`,
      diagram: {
        cut: 3,
        ops: [
          { i: 1, kind: "mkdir", lane: `dir ${bad}`, label: `mkdir of ${bad} (#1)`, status: "done" },
          { i: 2, kind: bad, lane: `dir ${bad}`, label: `create of ${bad} (#2)`, status: "lost", culprit: true },
          { i: 3, kind: "write", lane: bad, label: `write of 3 bytes at 0 of ${bad} (#3)`, status: "landed" },
          { i: 4, kind: "fsync", lane: bad, label: `fsync of ${bad}`, status: "after" },
        ],
        acks: [{ batch: 1, at: 3 }],
        where: `in ${bad}() at ${bad}:3`,
      },
    };
  }
  for (const e of r.errors) e.error.code = bad;
  return parseRunReport(r);
}

/** The text of a Markdown document outside its fenced code blocks (closed as CommonMark closes them). */
export function outsideCodeBlocks(md: string): string {
  const out: string[] = [];
  let fence: string | undefined;
  for (const line of md.split("\n")) {
    if (fence === undefined) {
      const open = /^(`{3,})/.exec(line);
      if (open) fence = open[1];
      else out.push(line);
    } else {
      // CommonMark: a run of at least as many backticks, alone on its line, closes the block.
      const close = /^(`+)\s*$/.exec(line);
      if (close && close[1]!.length >= fence.length) fence = undefined;
    }
  }
  return out.join("\n");
}
