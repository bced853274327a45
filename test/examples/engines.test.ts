import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { assertDistFresh, CLI, tempDir } from "../helpers.js";

// The engine adapters of examples/engines/: real LevelDB and SQLite, under walcheck's process
// kills. Every configuration promises at least "process" durability (each engine's documentation
// says a process crash loses no acknowledged write), so every one must keep every acknowledged
// batch under SIGKILL. Power loss is not run here: there a configuration that promises only
// "process" may lose what its documentation says it may lose.

const root = path.resolve(import.meta.dirname, "..", "..");
const LEVELDB = path.join(root, "examples", "engines", "leveldb.mjs");
const SQLITE = path.join(root, "examples", "engines", "sqlite.mjs");
const SQLITE_PY = path.join(root, "examples", "engines", "sqlite_py.py");

// SQLite's docs: FULL syncs a WAL commit; in DELETE mode only EXTRA syncs the journal's unlink.
const sqliteDurability = (journal: string, synchronous: string) =>
  synchronous === "extra" || (synchronous === "full" && journal === "wal") ? "power" : "process";

const configurations = [
  { name: "leveldb --sync true", cmd: `node ${LEVELDB} --sync true`, durability: "power", checkpoint: false },
  { name: "leveldb --sync false", cmd: `node ${LEVELDB} --sync false`, durability: "process", checkpoint: false },
  ...["wal", "delete"].flatMap((journal) =>
    (["extra", "full", "normal", "off"] as const).map((synchronous) => ({
      name: `sqlite --journal ${journal} --synchronous ${synchronous}`,
      cmd: `node ${SQLITE} --journal ${journal} --synchronous ${synchronous}`,
      durability: sqliteDurability(journal, synchronous),
      checkpoint: journal === "wal",
    })),
  ),
  // The same engine from a second language (Python's sqlite3, the system's SQLite build).
  ...[
    ["wal", "full"],
    ["delete", "full"],
    ["wal", "normal"],
  ].map(([journal, synchronous]) => ({
    name: `python sqlite3 --journal ${journal} --synchronous ${synchronous}`,
    cmd: `python3 ${SQLITE_PY} --journal ${journal} --synchronous ${synchronous}`,
    durability: sqliteDurability(journal!, synchronous!),
    checkpoint: journal === "wal",
  })),
];

const env = { WALCHECK_LOG_LEVEL: "warn", GITHUB_STEP_SUMMARY: "" };

describe("engine adapters (examples/engines)", () => {
  assertDistFresh(["index", "harness/cli/main"]);

  // --latency warn and a generous --recovery-threshold: correctness, not speed, on a loaded machine.
  it.each(configurations)(
    "$name keeps every acknowledged batch across process kills (crash-*, second-opener: exit 0)",
    async ({ cmd, durability, checkpoint }) => {
      const reportDir = await tempDir();
      const result = await execa(
        process.execPath,
        [
          CLI,
          "run",
          "--adapter-cmd",
          cmd,
          "--scenarios",
          "crash-*,second-opener",
          "--runs",
          "2",
          "--seed",
          "3",
          "--latency",
          "warn",
          "--recovery-threshold",
          "10000",
          "--skip-doctor",
          "--report-dir",
          reportDir,
        ],
        { reject: false, env },
      );
      expect(result.exitCode, result.stdout + result.stderr).toBe(0);
      // What the adapter declares in hello, as the run prints it.
      expect(result.stdout).toContain(`durability ${durability}`);
      expect(result.stdout).toMatch(/PASSED\s+crash-append\s+2\/2 cases/);
      expect(result.stdout).toMatch(/PASSED\s+second-opener\s+2\/2 cases/);
      // Checkpoints are offered (and crashed in) only where the engine has a log to fold: SQLite in WAL mode.
      if (checkpoint) expect(result.stdout).toMatch(/PASSED\s+crash-truncate\s+2\/2 cases/);
      else expect(result.stdout).toMatch(/SKIPPED\s+crash-checkpoint/);
    },
    90_000,
  );

  it.each([configurations[0]!, configurations[2]!, configurations.at(-1)!])(
    "walcheck doctor finds no deviation from the protocol in $name",
    async ({ cmd }) => {
      const result = await execa(process.execPath, [CLI, "doctor", "--adapter-cmd", cmd], { reject: false, env });
      expect(result.exitCode, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain("no deviation from protocol v1");
    },
    30_000,
  );

  it("refuses a bad flag with a usage message and exit code 2", async () => {
    for (const argv of [
      [LEVELDB, "--sync", "maybe"],
      [SQLITE, "--journal", "wal"],
    ]) {
      const result = await execa(process.execPath, argv, { reject: false, input: "" });
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toMatch(/usage: node examples\/engines\//);
    }
    const py = await execa("python3", [SQLITE_PY, "--synchronous", "sometimes"], { reject: false, input: "" });
    expect(py.exitCode).toBe(2);
    expect(py.stderr).toMatch(/usage: python3 examples\/engines\/sqlite_py.py/);
  });
});
