import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CLI, tempDir } from "../helpers.js";
import { fixture, runScenarios } from "../scenarios/run-scenarios.js";

// A case's spare process (started ahead for its next life) that the case never used passes to
// the next case of the same campaign worker (harness/engine/spare-shelf.ts) instead of being
// killed: every process walcheck starts is used, but for one per worker at the end of the run
// (and the one the campaign asks hello before its cases).

/** The processes a run of `runs` crash-append cases on `workers` workers started, and the case directories each opened. */
async function lives(runs: number, workers: number) {
  const file = path.join(await tempDir(), "lives");
  process.env.WAL_LIVES = file;
  let r;
  try {
    r = await runScenarios([
      // sh notes the process as it starts (exec keeps the pid), before node loads anything: a
      // spare killed unused at once is counted too.
      "--adapter-cmd",
      `sh -c 'echo start $$ >> "$WAL_LIVES"; exec "$0" "$@"' ${process.execPath} ${CLI} serve --adapter ${fixture("power-wal-lives")}`,
      "--scenarios",
      "crash-append",
      "--seed",
      "3",
      "--runs",
      String(runs),
      "--workers",
      String(workers),
    ]);
  } finally {
    delete process.env.WAL_LIVES;
  }
  expect(r.exitCode, r.stdout + r.stderr).toBe(0);
  const started = new Set<string>();
  const opened = new Set<string>();
  const cases = new Map<string, Set<string>>();
  for (const line of fs.readFileSync(file, "utf8").trim().split("\n")) {
    const [what, pid, dir] = line.split(" ") as [string, string, string | undefined];
    if (what === "start") {
      started.add(pid);
      continue;
    }
    opened.add(pid);
    // The case's directory is …/walcheck-case-XXXX/wal; an open elsewhere (a dry run on a copy
    // of it, to aim an fs crash) is not a life of the case.
    const caseDir = path.dirname(dir!);
    if (path.basename(caseDir).startsWith("walcheck-case-"))
      (cases.get(pid) ?? cases.set(pid, new Set()).get(pid)!).add(caseDir);
  }
  return { started, opened, cases };
}

describe("spare processes between cases", () => {
  it("a spare the case did not use serves the worker's next case: one process per worker is started and never used, not one per case", async () => {
    const { started, opened, cases } = await lives(3, 1);
    const unused = [...started].filter((pid) => !opened.has(pid));
    // Unused: the last case's spare, and the process the campaign asked hello before any case.
    expect(unused.length).toBeLessThanOrEqual(2);
    // The processes of the three cases: a process started in one case opened the next one's directory.
    expect(new Set([...cases.values()].flatMap((c) => [...c])).size).toBe(3);
    expect(Math.max(...[...cases.values()].map((c) => c.size))).toBe(1);
  }, 120_000);

  it("with two workers, each keeps its own spare", async () => {
    const { started, opened, cases } = await lives(4, 2);
    const unused = [...started].filter((pid) => !opened.has(pid));
    expect(unused.length).toBeLessThanOrEqual(3);
    expect(new Set([...cases.values()].flatMap((c) => [...c])).size).toBe(4);
  }, 120_000);
});
