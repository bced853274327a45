import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { CLI, processesMarked, readOnlyReport, tempDir, waitForOutput } from "../helpers.js";
import { expectReferencePasses, runChaos, runReplayLine, scenarioOf } from "./chaos-run.js";

// `walcheck outbox chaos` with real outbox processes, a real SQLite sink, real SIGKILLs and a
// real ENOSPC: the reference outbox passes, the fixture without idempotency keys is caught
// doubling an operation, and every kind of bad input or broken outbox is exit 2.

const fixture = (name: string) => path.resolve("test/fixtures/outbox", name);

describe("walcheck outbox chaos (SQLite sink)", () => {
  it("the reference outbox passes sink-outage, crash-mid-sync and wal-full", async () => {
    const run = await runChaos(["--ops", "24", "--seed", "11"]);
    expectReferencePasses(run, 24);
    expect(run.report!.sink.kind).toBe("sqlite");
    expect(run.report!.hello).toMatchObject({ name: "walcheck-reference-outbox", kind: "outbox" });
  });

  it("catches the outbox without idempotency keys doubling an operation replayed after a crash between the database write and COMPLETED", async () => {
    const cmd = `node ${fixture("no-idempotency-outbox.mjs")}`;
    const run = await runChaos(["--outbox-cmd", cmd, "--scenario", "crash-mid-sync", "--ops", "6", "--seed", "3"]);
    expect(run.exitCode, run.stderr).toBe(1);
    expect(run.stdout).toContain("walcheck outbox chaos — FAILED (seed 3");
    const m =
      /VIOLATION in crash-mid-sync \(crash at outbox\.after-sink-apply:\d+\): exactly-once\n {2}idempotency key ([0-9a-f]{64}) \(.* opId [\w-]+, acknowledged as n=\d+\) was applied 2 times/.exec(
        run.stdout,
      );
    expect(m, run.stdout).not.toBeNull();
    const key = m![1]!;
    expect(run.stdout).toContain("  seed 3\n");
    expect(run.stdout).toContain(
      `  replay: npx walcheck outbox chaos --outbox-cmd ${JSON.stringify(cmd)} --sink sqlite --ops 6 --seed 3 --scenario crash-mid-sync`,
    );

    const rec = scenarioOf(run, "crash-mid-sync");
    expect(run.report!.status).toBe("failed");
    expect(rec.status).toBe("failed");
    expect(rec.violation).toMatchObject({ invariant: "exactly-once" });
    expect(rec.violation!.message).toContain(key);
    // The kept database really holds the doubled key twice.
    const kept = /kept: (.*)$/m.exec(run.stdout)![1]!;
    const db = new BetterSqlite3(path.join(kept, "sink.sqlite"), { readonly: true });
    try {
      expect(db.prepare("select count(*) from applied where idempotency_key = ?").pluck().get(key)).toBe(2);
    } finally {
      db.close();
    }

    // The replay line runs the same case and finds the same doubled key.
    const replay = await runReplayLine(run.stdout);
    expect(replay.exitCode).toBe(1);
    expect(replay.stdout).toContain(`idempotency key ${key} (`);
  });

  it("usage errors and broken outboxes: exit 2 with a clear message", async () => {
    const misbehaving = (mode: string) => `node ${fixture("misbehaving-outbox.mjs")} ${mode}`;
    // [flags, where the message goes, the message, whether a report is written]
    const cases: [string[], "stdout" | "stderr", string, boolean][] = [
      [
        ["--sink", "mysql://db/x"],
        "stderr",
        'walcheck outbox chaos: --sink must be sqlite or a postgres://user@host:port/database URL, got "mysql://db/x"',
        false,
      ],
      [
        ["--scenario", "sink-outage,disk-melt"],
        "stderr",
        "no such scenario disk-melt (there are sink-outage, crash-mid-sync, wal-full)",
        false,
      ],
      [["--ops", "0"], "stderr", '--ops must be an integer >= 1, got "0"', false],
      [
        ["--outbox-cmd", misbehaving("hang"), "--timeout", "300"],
        "stdout",
        "OUTBOX ERROR: OUTBOX_TIMEOUT: no answer to hello (id 1) within 300 ms",
        true,
      ],
      [
        ["--outbox-cmd", misbehaving("garbage")],
        "stdout",
        "OUTBOX ERROR: OUTBOX_PROTOCOL: the outbox wrote a line that is not JSON: <html>not an answer</html>",
        true,
      ],
      [
        ["--outbox-cmd", "/no/such/outbox-binary"],
        "stdout",
        "OUTBOX ERROR: OUTBOX_START: cannot start the outbox: Command failed with ENOENT: /no/such/outbox-binary",
        true,
      ],
    ];
    const runs = await Promise.all(cases.map(([flags]) => runChaos([...flags, "--seed", "1"])));
    for (const [i, [flags, stream, message, reported]] of cases.entries()) {
      const run = runs[i]!;
      expect(run.exitCode, flags.join(" ")).toBe(2);
      expect(run[stream], flags.join(" ")).toContain(message);
      if (!reported) expect(run.report, flags.join(" ")).toBeUndefined();
      else expect(run.report, flags.join(" ")).toMatchObject({ status: "error", scenarios: [] });
    }
  });

  it("SIGINT kills every outbox process, removes the temp directories, keeps the partial report and exits 130", async () => {
    const tmp = await tempDir();
    const reportDir = await tempDir();
    const mark = randomUUID();
    const run = execa(
      process.execPath,
      [CLI, "outbox", "chaos", "--ops", "20000", "--seed", "4", "--report-dir", reportDir],
      {
        reject: false,
        env: { TMPDIR: tmp, WALCHECK_TEST_MARK: mark },
      },
    );
    // Wait (on output, not time) until the outage is under way: an outbox process is running.
    await waitForOutput(run.stderr!, "sink-outage: warm-up");
    expect(processesMarked(mark).length).toBeGreaterThanOrEqual(2);
    run.kill("SIGINT");
    const result = await run;
    expect(result.exitCode).toBe(130);
    expect(result.stdout).toContain("walcheck outbox chaos — INTERRUPTED (seed 4");
    expect(processesMarked(mark)).toEqual([]);
    expect(fs.readdirSync(tmp)).toEqual([]);
    const report = readOnlyReport(reportDir);
    expect(report.status).toBe("interrupted");
    expect(report.scenarios.map((s: { name: string; status: string }) => [s.name, s.status])).toEqual([
      ["sink-outage", "interrupted"],
    ]);
  });
});
