import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { readAnswer } from "../../harness/protocol/tolerant-reader.js";
import { CLI, tempDir } from "../helpers.js";

// The tolerant reader: an adapter that gets an informational field wrong (checkpoint stats,
// recovery stats, elapsedMs) passes `walcheck run` with one warning per deviation, printed once
// and kept in the report; a field an invariant depends on stays strict (ADAPTER_PROTOCOL, exit 2).

const fixture = (name: string) => path.resolve("test/fixtures/adapters", `${name}.mjs`);
const WARNINGS_HEADING = "protocol warnings (informational fields; the run is not affected):";

async function walcheckRun(adapter: string[]) {
  const reportDir = await tempDir();
  const result = await execa(
    process.execPath,
    [
      CLI,
      "run",
      ...adapter,
      "--scenarios",
      "crash-checkpoint,crash-truncate",
      "--runs",
      "2",
      "--seed",
      "5",
      "--latency",
      "warn",
      "--recovery-threshold",
      "5000",
      "--report-dir",
      reportDir,
    ],
    { reject: false, env: { WALCHECK_LOG_LEVEL: "warn", GITHUB_STEP_SUMMARY: "" } },
  );
  const runs = fs.existsSync(reportDir) ? fs.readdirSync(reportDir) : [];
  const dir = runs.length ? path.join(reportDir, runs[0]!) : undefined;
  const read = (name: string) =>
    dir && fs.existsSync(path.join(dir, name)) ? fs.readFileSync(path.join(dir, name), "utf8") : "";
  const json = read("report.json");
  return {
    ...result,
    report: json ? JSON.parse(json) : undefined,
    markdown: read("report.md"),
    html: read("report.html"),
  };
}

const occurrences = (text: string, part: string) => text.split(part).length - 1;

describe("walcheck run with a tolerant reader", () => {
  it("a checkpoint answering stats {elapsedMs} alone passes (exit 0) with the missing stats warned once, in stdout and every report", async () => {
    const r = await walcheckRun(["--adapter", fixture("partial-stats")]);
    expect(r.stderr).not.toContain("ADAPTER_PROTOCOL");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("walcheck run — PASSED");
    expect(occurrences(r.stdout, WARNINGS_HEADING)).toBe(1);
    const missing = "checkpoint answer: stats.logFrames is missing (expected an integer >= 0); ignored";
    expect(occurrences(r.stdout, missing)).toBe(1);
    expect(occurrences(r.stdout, "stats.checkpointedFrames is missing")).toBe(1);
    expect(r.stdout).not.toContain("stats.elapsedMs");
    // After the verdict and the scenario lines.
    expect(r.stdout.indexOf(WARNINGS_HEADING)).toBeGreaterThan(r.stdout.indexOf("PASSED   crash-truncate"));
    expect(r.report.status).toBe("passed");
    expect(r.report.errors).toEqual([]);
    const warnings = r.report.warnings as { op: string; field: string; message: string; count: number }[];
    expect(warnings.map((w) => [w.op, w.field])).toEqual([
      ["checkpoint", "stats.logFrames"],
      ["checkpoint", "stats.checkpointedFrames"],
    ]);
    expect(warnings[0]!.message).toBe(missing);
    expect(warnings[0]!.count).toBeGreaterThan(1);
    expect(r.markdown).toContain("#### Protocol warnings (informational fields; the run is not affected)");
    expect(r.markdown).toContain(`- ${missing.replace(">", "&gt;")}`);
    expect(r.html).toContain('<section id="protocol-warnings">');
    expect(r.html).toContain("stats.logFrames is missing (expected an integer &gt;= 0); ignored");
  }, 180_000);

  it("extra fields on every answer are ignored, and an elapsedMs that is a string is warned once per op, the run passing (exit 0)", async () => {
    const r = await walcheckRun(["--adapter-cmd", `node ${fixture("tweaked-answers")} extra-field,elapsed-string`]);
    expect(r.stderr).not.toContain("ADAPTER_PROTOCOL");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("walcheck run — PASSED");
    expect(occurrences(r.stdout, WARNINGS_HEADING)).toBe(1);
    const warnings = r.report.warnings as { op: string; field: string; message: string; count: number }[];
    // One entry per op, each for elapsedMs; the extra fields ("build", error.hint) are no deviation.
    expect(new Set(warnings.map((w) => w.field))).toEqual(new Set(["elapsedMs"]));
    const ops = warnings.map((w) => w.op);
    expect(new Set(ops).size).toBe(ops.length);
    expect(ops).toEqual(expect.arrayContaining(["hello", "open", "append", "checkpoint", "read", "close"]));
    for (const w of warnings) {
      expect(w.message).toMatch(
        new RegExp(`^${w.op} answer: elapsedMs is "[0-9.]+ ms" \\(expected a number >= 0\\); ignored$`),
      );
      expect(occurrences(r.stdout, `${w.op} answer: elapsedMs is`)).toBe(1);
    }
    expect(r.stdout).not.toContain("build");
    // The adapter's own figures were dropped: latency comes from the round trips instead.
    expect(r.report.scenarios[0].latency.append.n).toBeGreaterThan(0);
    // Escaped where they land: the quotes of the value in HTML.
    expect(r.html).toMatch(/append answer: elapsedMs is &quot;[0-9.]+ ms&quot;/);
  }, 180_000);

  it("an append answering seq as a string is still ADAPTER_PROTOCOL (exit 2), past informational deviations before it", async () => {
    const cmd = `node ${fixture("tweaked-answers")} elapsed-string,seq-string`;
    // The pre-flight names the strict field as the one error; the informational ones are warnings.
    const pre = await walcheckRun(["--adapter-cmd", cmd]);
    expect(pre.exitCode).toBe(2);
    expect(pre.stderr).toContain("error [schema] append.seq:");
    expect(pre.stderr).not.toContain("error [schema] append.elapsedMs");
    expect(pre.stderr).toContain("NOT USABLE: 1 error,");
    expect(pre.stderr).toContain("warning [informational] hello.elapsedMs:");
    // Past the pre-flight, the run's own reader holds the same line: seq stays strict.
    const r = await walcheckRun(["--adapter-cmd", cmd, "--skip-doctor"]);
    expect(r.exitCode).toBe(2);
    const said = `${r.stdout}\n${r.stderr}`;
    expect(said).toContain("ADAPTER_PROTOCOL");
    // The hello's string elapsedMs was tolerated; the append's seq is what stops the run.
    expect(said).toContain("invalid append response: seq:");
    expect(said).not.toContain("invalid hello response");
  }, 180_000);
});

describe("readAnswer: which fields are strict", () => {
  const open = { id: 2, ok: true, lastSeq: 4, recovery: { elapsedMs: 1.5, recordsReplayed: 4, bytesDiscarded: "12" } };

  it("recovery.bytesDiscarded is informational for an adapter without recovery-stats: dropped, warned, the rest kept", () => {
    const r = readAnswer("open", open, ["checkpoint"]);
    expect(r).toMatchObject({
      ok: true,
      value: { lastSeq: 4, recovery: { elapsedMs: 1.5, recordsReplayed: 4 } },
      warnings: [
        {
          op: "open",
          field: "recovery.bytesDiscarded",
          kind: "invalid",
          message: 'open answer: recovery.bytesDiscarded is "12" (expected an integer >= 0); ignored',
        },
      ],
    });
    expect(r.ok && "bytesDiscarded" in (r.value.recovery as object)).toBe(false);
  });

  it("recovery.bytesDiscarded is strict for an adapter listing recovery-stats (torn-tail depends on it); its other stats are not", () => {
    expect(readAnswer("open", open, ["recovery-stats"])).toEqual({
      ok: false,
      problem: expect.stringMatching(/^recovery\.bytesDiscarded: .*expected number, received string/),
    });
    expect(readAnswer("recover", { ...open, state: {}, recovery: "fast" }, ["recovery-stats"])).toMatchObject({
      ok: false,
    });
    const r = readAnswer("open", { ...open, recovery: { elapsedMs: -1, bytesDiscarded: 12 } }, ["recovery-stats"]);
    expect(r).toMatchObject({ ok: true, value: { recovery: { bytesDiscarded: 12 } } });
    expect(r.ok && r.warnings.map((w) => [w.field, w.kind])).toEqual([
      ["recovery.elapsedMs", "invalid"],
      ["recovery.recordsReplayed", "missing"],
    ]);
  });

  it("seq, lastSeq, state, result, ok and error.code stay strict; an error's message is defaulted with a warning", () => {
    expect(readAnswer("append", { id: 1, ok: true, seq: "1" }).ok).toBe(false);
    expect(readAnswer("read", { id: 1, ok: true, lastSeq: 1, state: { a: 1 } }).ok).toBe(false);
    expect(readAnswer("open", { id: 1, ok: true, lastSeq: -1 }).ok).toBe(false);
    expect(readAnswer("check", { id: 1, ok: true, result: [] }).ok).toBe(false);
    expect(readAnswer("close", { id: 1, ok: "yes" }).ok).toBe(false);
    expect(readAnswer("append", { id: 1, ok: false, error: { message: "full" } }).ok).toBe(false);
    expect(readAnswer("hello", { id: 1, ok: true, name: "x", protocol: 1, durability: "disk", features: [] }).ok).toBe(
      false,
    );
    const refused = readAnswer("append", { id: 1, ok: false, error: { code: "ENOSPC" }, elapsedMs: null });
    expect(refused).toMatchObject({
      ok: true,
      value: { ok: false, error: { code: "ENOSPC", message: "(no message)" } },
    });
    expect(refused.ok && refused.warnings.map((w) => [w.field, w.kind])).toEqual([
      ["elapsedMs", "invalid"],
      ["error.message", "missing"],
    ]);
  });
});
