import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectEnvironment, fileSystemType, fsTypeFromMountinfo } from "../../reports/environment.js";
import { parseRunReport, REPORT_VERSION } from "../../reports/report-schema.js";
import { CLI, readOnlyReport, tempDir, waitForOutput } from "../helpers.js";
import { hostileReport, realRun } from "./report-helpers.js";

const packageVersion = (JSON.parse(fs.readFileSync("package.json", "utf8")) as { version: string }).version;

describe("the run report schema, on a real run", () => {
  let run: Awaited<ReturnType<typeof realRun>>;
  let before: number;
  beforeAll(async () => {
    before = Date.now();
    run = await realRun(["--scenarios", "crash-append,torn-tail", "--runs", "1", "--seed", "3"]);
    expect(run.result.exitCode, run.result.stdout + run.result.stderr).toBe(0);
  }, 120_000);
  afterAll(() => run?.cleanup());

  it("validates the report.json a real run wrote", () => {
    const report = parseRunReport(run.json);
    expect(report.kind).toBe("walcheck-run");
    expect(report.version).toBe(REPORT_VERSION);
    expect(report.version).toBe(2);
    expect(report.status).toBe("passed");
    expect(report.scenarios.map((s) => s.name)).toEqual(["crash-append", "torn-tail"]);
    // Loose objects keep what they do not describe (the adapter's extra hello fields).
    expect(report.hello?.name).toBe("walcheck-reference");
    // And the text works as well as the parsed value.
    expect(parseRunReport(fs.readFileSync(run.reportFile, "utf8"))).toEqual(report);
  });

  it("records the environment: Node, OS, CPU, memory, file system, git commit, walcheck version, start time", async () => {
    const env = parseRunReport(run.json).environment;
    expect(env.node).toBe(process.version);
    expect(env.os?.platform).toBe(process.platform);
    expect(env.cpu?.count).toBeGreaterThan(0);
    expect(env.memoryBytes).toBeGreaterThan(0);
    expect(env.walcheckVersion).toBe(packageVersion);
    expect(env.fsType.length).toBeGreaterThan(0);
    if (process.platform === "linux") expect(env.fsType).not.toBe("unknown");
    const started = Date.parse(env.startedAt);
    expect(started).toBeGreaterThanOrEqual(before - 1000);
    expect(started).toBeLessThanOrEqual(Date.now());
    // The run's working directory is this checkout (or, in a copy without git, there is no commit).
    const head = await execa("git", ["rev-parse", "HEAD"], { reject: false });
    if (head.exitCode === 0) expect(env.gitCommit).toBe(head.stdout.trim());
    else expect(env.gitCommit).toBeUndefined();
  });

  it("rejects a report with a wrong field, naming the field's path", () => {
    const bad = structuredClone(run.json);
    bad.scenarios[1].cases.run = "one";
    expect(() => parseRunReport(bad, "r.json")).toThrow(
      /^r\.json: scenarios\[1\]\.cases\.run: .*expected number, received string$/,
    );

    const noNode = structuredClone(run.json);
    delete noNode.environment.node;
    expect(() => parseRunReport(noNode)).toThrow(/environment\.node: /);

    const badStatus = structuredClone(run.json);
    badStatus.scenarios[0].status = "great";
    badStatus.seed = -1;
    expect(() => parseRunReport(badStatus)).toThrow(/seed: .*\(and 1 more problem\)/);
  });

  it("says what a report of another kind or version is", () => {
    expect(() => parseRunReport({ ...run.json, version: 1 })).toThrow(
      /version: this is a version 1 report; this walcheck reads version 2/,
    );
    expect(() => parseRunReport({ kind: "walcheck-smoke", version: 1 })).toThrow(
      /kind: this is a "walcheck-smoke" report/,
    );
    expect(() => parseRunReport("{not json")).toThrow(/not JSON/);
    expect(() => parseRunReport([])).toThrow(/\(the report\): /);
  });

  it("lets extensions through: unknown fields are kept, not refused", () => {
    const extended = structuredClone(run.json);
    extended.futureField = { x: 1 };
    extended.scenarios[0].coverage = { named: ["a"] };
    extended.environment.kernel = "custom";
    const report = parseRunReport(extended) as Record<string, any>;
    expect(report.futureField).toEqual({ x: 1 });
    expect(report.scenarios[0].coverage).toEqual({ named: ["a"] });
  });

  it("accepts the hand-built hostile report (strings are data, not structure)", () => {
    expect(hostileReport().scenarios).toHaveLength(4);
  });
});

describe("the run report while a run goes and after Ctrl-C", () => {
  it("validates mid-run and after an interrupt, with the environment in both", async () => {
    const reportDir = await tempDir();
    const child = execa(
      process.execPath,
      [
        CLI,
        "run",
        "--scenarios",
        "crash-mixed",
        "--runs",
        "40",
        "--workers",
        "1",
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
    // The report is rewritten before each case's progress line.
    await waitForOutput(child.stderr!, "case 1/40");
    const mid = parseRunReport(readOnlyReport(reportDir));
    expect(mid.status).toBe("running");
    expect(mid.scenarios[0]!.status).toBe("running");
    expect(mid.environment.node).toBe(process.version);
    child.kill("SIGINT");
    const r = await child;
    expect(r.exitCode, r.stdout + r.stderr).toBe(130);
    const end = parseRunReport(readOnlyReport(reportDir));
    expect(end.status).toBe("interrupted");
    expect(end.environment).toEqual(mid.environment);
  }, 120_000);
});

describe("collectEnvironment", () => {
  it("never throws, leaves out what it cannot learn, and looks up a report directory not made yet", async () => {
    const outside = await tempDir();
    const env = await collectEnvironment({
      reportDir: path.join(outside, "not", "made", "yet"),
      cwd: outside,
      startedAt: new Date(0),
    });
    expect(env.startedAt).toBe("1970-01-01T00:00:00.000Z");
    // A temp directory is no git checkout.
    expect(env.gitCommit).toBeUndefined();
    expect(env.fsType).toBe(fileSystemType(outside));
    expect(fs.existsSync(path.join(outside, "not"))).toBe(false);
  });

  it("finds the file system by the longest mount-point prefix, last mount winning, escapes undone", () => {
    const mountinfo = [
      "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw",
      "23 22 0:22 / /data rw,relatime - xfs /dev/vdb rw",
      "24 22 0:23 / /data/my\\040dir rw,relatime shared:2 master:1 - btrfs /dev/vdc rw",
      "25 22 0:24 / /tmp rw - tmpfs tmpfs rw",
      "26 22 0:25 / /tmp rw - overlay overlay rw",
      "",
    ].join("\n");
    expect(fsTypeFromMountinfo(mountinfo, "/home/x")).toBe("ext4");
    expect(fsTypeFromMountinfo(mountinfo, "/data/a")).toBe("xfs");
    expect(fsTypeFromMountinfo(mountinfo, "/database")).toBe("ext4");
    expect(fsTypeFromMountinfo(mountinfo, "/data/my dir/r")).toBe("btrfs");
    expect(fsTypeFromMountinfo(mountinfo, "/tmp")).toBe("overlay");
    expect(fsTypeFromMountinfo("garbage\n", "/x")).toBeUndefined();
  });
});
