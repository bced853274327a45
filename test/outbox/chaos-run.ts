import { randomUUID } from "node:crypto";
import fs from "node:fs";
import { execa } from "execa";
import { expect } from "vitest";
import { OutboxChaosReportSchema, type OutboxChaosReport } from "../../reports/outbox-report-schema.js";
import { CLI, processesMarked, readOnlyReport, tempDir } from "../helpers.js";

export interface ChaosRun {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  /** report.json, checked against its schema; undefined when none was written. */
  report: OutboxChaosReport | undefined;
  reportDir: string;
}

/**
 * `walcheck outbox chaos <args>` as a real child (its own TMPDIR and report directory). Every
 * run must leave no outbox process and no temp directory behind, whatever its verdict.
 */
export async function runChaos(args: string[] | { shell: string }): Promise<ChaosRun> {
  const tmp = await tempDir();
  const reportDir = await tempDir();
  const mark = randomUUID();
  const options = { reject: false, env: { TMPDIR: tmp, WALCHECK_TEST_MARK: mark } } as const;
  const r = Array.isArray(args)
    ? await execa(process.execPath, [CLI, "outbox", "chaos", "--report-dir", reportDir, ...args], options)
    : await execa("bash", ["-c", `${args.shell} --report-dir '${reportDir}'`], options);
  expect(processesMarked(mark), "outbox processes left running").toEqual([]);
  expect(fs.readdirSync(tmp), "temp directories left behind").toEqual([]);
  const report =
    fs.readdirSync(reportDir).length > 0 ? OutboxChaosReportSchema.parse(readOnlyReport(reportDir)) : undefined;
  return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, report, reportDir };
}

/** Run the `replay: npx walcheck …` line a failing run printed in a shell, as a person would (the compiled CLI for npx walcheck). */
export async function runReplayLine(stdout: string): Promise<ChaosRun> {
  const line = /replay: npx walcheck (outbox chaos .*)$/m.exec(stdout)?.[1];
  if (!line) throw new Error(`no replay line in:\n${stdout}`);
  return runChaos({ shell: `'${process.execPath}' '${CLI}' ${line}` });
}

/** The scenario record of `name` (fails the test when there is none). */
export function scenarioOf(run: ChaosRun, name: string): OutboxChaosReport["scenarios"][number] {
  const found = run.report?.scenarios.find((s) => s.name === name);
  if (!found) throw new Error(`no ${name} in the report:\n${run.stdout}\n${run.stderr}`);
  return found;
}

/**
 * What a passing run against the reference outbox shows, with `ops` operations: the three
 * scenarios passed, every crash point crashed three times, replays recognised by key, the
 * disk filled and refused, and the two figures of the outage.
 */
export function expectReferencePasses(run: ChaosRun, ops: number): void {
  expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0);
  for (const name of ["sink-outage", "crash-mid-sync", "wal-full"])
    expect(run.stdout).toMatch(new RegExp(`PASSED +${name} `));
  const report = run.report!;
  expect(report.status).toBe("passed");

  const warm = Math.ceil(ops / 10);
  const outage = scenarioOf(run, "sink-outage");
  expect(outage.ops).toEqual({ sent: warm + ops, accepted: warm + ops, refused: 0 });
  expect(outage.applied).toBe(warm + ops);
  expect(report.figures).toMatchObject({ syncThroughput: { ops: warm }, catchUp: { queuedOps: ops } });
  expect(report.figures!.syncThroughput.opsPerSec).toBeGreaterThan(0);
  expect(report.figures!.catchUp.opsPerSec).toBeGreaterThan(0);
  expect(run.stdout).toMatch(
    new RegExp(
      `sync throughput \\(database up\\): [\\d.]+ ops/s \\(${warm} ops applied by one sync pass in [\\d.]+ ms\\)`,
    ),
  );
  expect(run.stdout).toMatch(
    new RegExp(`catch-up after the outage: ${ops} queued ops drained in [\\d.]+ s \\([\\d.]+ ops/s\\)`),
  );

  const crash = scenarioOf(run, "crash-mid-sync");
  expect(crash.crashes).toEqual({
    "outbox.after-accept": 3,
    "outbox.after-syncing": 3,
    "outbox.after-sink-apply": 3,
    "outbox.after-completed": 3,
  });
  expect(crash.armsNotReached).toBe(0);
  // Each crash between the database commit and COMPLETED leaves one entry the replay finds by key.
  expect(crash.duplicatesOnReplay).toBe(3);
  // A write killed after its entry was durable (after-accept) is applied once though never acknowledged.
  expect(crash.applied).toBe(crash.ops.accepted + 3);

  const full = scenarioOf(run, "wal-full");
  expect(full.ops.accepted).toBeGreaterThan(0);
  expect(full.ops.refused).toBeGreaterThanOrEqual(5);
  expect(full.applied).toBe(full.ops.accepted);
}
