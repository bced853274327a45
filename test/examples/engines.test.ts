import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { assertDistFresh, CLI, tempDir } from "../helpers.js";

// The engine adapters of examples/engines/: real LevelDB, SQLite, PostgreSQL (PGlite) and DuckDB,
// under walcheck's process kills. Every configuration promises at least "process" durability (each engine's documentation
// says a process crash loses no acknowledged write), so every one must keep every acknowledged
// batch under SIGKILL. Power loss is not run here: there a configuration that promises only
// "process" may lose what its documentation says it may lose.

const root = path.resolve(import.meta.dirname, "..", "..");
const LEVELDB = path.join(root, "examples", "engines", "leveldb.mjs");
const SQLITE = path.join(root, "examples", "engines", "sqlite.mjs");
const SQLITE_PY = path.join(root, "examples", "engines", "sqlite_py.py");
const PGLITE = path.join(root, "examples", "engines", "pglite.mjs");
const DUCKDB = path.join(root, "examples", "engines", "duckdb.mjs");

// SQLite's docs: FULL syncs a WAL commit; in DELETE mode only EXTRA syncs the journal's unlink.
const sqliteDurability = (journal: string, synchronous: string) =>
  synchronous === "extra" || (synchronous === "full" && journal === "wal") ? "power" : "process";

type Configuration = {
  name: string;
  cmd: string;
  durability: string;
  /** Which checkpoint scenario the run must pass: none offered, CHECKPOINT (passive), or truncating too. */
  checkpoint: false | "passive" | "truncate";
  /** Smaller budgets for the slow engines: scenarios, cases per scenario and extra flags. */
  scenarios?: string;
  runs?: number;
  args?: string[];
};

const configurations: Configuration[] = [
  { name: "leveldb --sync true", cmd: `node ${LEVELDB} --sync true`, durability: "power", checkpoint: false },
  { name: "leveldb --sync false", cmd: `node ${LEVELDB} --sync false`, durability: "process", checkpoint: false },
  // Every SQLite configuration of bench/engine-configs.ts (WAL with EXTRA is WAL with FULL: only
  // DELETE mode syncs anything more).
  ...["wal", "delete"].flatMap((journal) =>
    (journal === "wal" ? (["full", "normal", "off"] as const) : (["extra", "full", "normal", "off"] as const)).map(
      (synchronous) => ({
        name: `sqlite --journal ${journal} --synchronous ${synchronous}`,
        cmd: `node ${SQLITE} --journal ${journal} --synchronous ${synchronous}`,
        durability: sqliteDurability(journal, synchronous),
        checkpoint: journal === "wal" ? ("truncate" as const) : (false as const),
      }),
    ),
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
    checkpoint: journal === "wal" ? ("truncate" as const) : (false as const),
  })),
  // DuckDB: an fsync per commit, documented durable across OS crashes; CHECKPOINT empties its WAL.
  // Its native module is slow to load, so one case per scenario.
  { name: "duckdb", cmd: `node ${DUCKDB}`, durability: "power", checkpoint: "truncate", runs: 1 },
  // PostgreSQL in WASM: every new data directory costs an initdb (about 10 s here), and every
  // recovery a start of PostgreSQL (about 2 s), so small budgets and a generous request timeout.
  // relaxedDurability is a no-op on the Node FS (pglite.mjs says why): both configurations promise
  // "process".
  // (relaxedDurability=true is the same code on the Node FS; `npm run findings` runs it.)
  ...(["false"] as const).map((relaxed) => ({
    name: `pglite --relaxed-durability ${relaxed}`,
    cmd: `node ${PGLITE} --relaxed-durability ${relaxed}`,
    durability: "process",
    checkpoint: "passive" as const,
    scenarios: "crash-append,second-opener",
    runs: 1,
    args: ["--max-commands", "12", "--timeout", "60000", "--recovery-threshold", "60000"],
  })),
];

const env = { WALCHECK_LOG_LEVEL: "warn", GITHUB_STEP_SUMMARY: "" };

describe("engine adapters (examples/engines)", () => {
  assertDistFresh(["index", "harness/cli/main"]);

  // --latency warn and a generous --recovery-threshold: correctness, not speed, on a loaded machine.
  it.each(configurations)(
    "$name keeps every acknowledged batch across process kills (crash-*, second-opener: exit 0)",
    async ({ cmd, durability, checkpoint, scenarios = "crash-*,second-opener", runs = 1, args = [] }) => {
      const reportDir = await tempDir();
      const result = await execa(
        process.execPath,
        [
          CLI,
          "run",
          "--adapter-cmd",
          cmd,
          "--scenarios",
          scenarios,
          "--runs",
          String(runs),
          "--seed",
          "3",
          "--latency",
          "warn",
          "--recovery-threshold",
          "10000",
          "--skip-doctor",
          "--report-dir",
          reportDir,
          ...args,
        ],
        { reject: false, env },
      );
      expect(result.exitCode, result.stdout + result.stderr).toBe(0);
      // What the adapter declares in hello, as the run prints it.
      expect(result.stdout).toContain(`durability ${durability}`);
      const cases = new RegExp(`${runs}/${runs} cases`);
      // At least one crash cycle: the small budgets still kill the engine mid-append.
      expect(result.stdout).toMatch(new RegExp(`PASSED\\s+crash-append\\s+${cases.source}, [1-9]\\d* crash cycles`));
      if (scenarios.includes("second-opener"))
        expect(result.stdout).toMatch(new RegExp(`PASSED\\s+second-opener\\s+${cases.source}`));
      // Checkpoints are offered (and crashed in) only where the engine has a log to fold: SQLite in
      // WAL mode and DuckDB (which also empty it), PostgreSQL (whose CHECKPOINT does not).
      if (scenarios.includes("crash-*")) {
        if (checkpoint === "truncate")
          expect(result.stdout).toMatch(new RegExp(`PASSED\\s+crash-truncate\\s+${cases.source}`));
        else if (checkpoint) expect(result.stdout).toMatch(/SKIPPED\s+crash-truncate/);
        else expect(result.stdout).toMatch(/SKIPPED\s+crash-checkpoint/);
      }
    },
    180_000,
  );

  const named = (prefix: string) => configurations.find((c) => c.name.startsWith(prefix))!;
  // (Not PGlite: its doctor costs an initdb, about 20 s; its crash runs above already drive every op it claims.)
  it.each([named("leveldb"), named("sqlite"), named("python"), named("duckdb")])(
    "walcheck doctor finds no deviation from the protocol in $name",
    async ({ cmd, args = [] }) => {
      const timeout = args.includes("--timeout") ? ["--timeout", args[args.indexOf("--timeout") + 1]!] : [];
      const result = await execa(process.execPath, [CLI, "doctor", "--adapter-cmd", cmd, ...timeout], {
        reject: false,
        env,
      });
      expect(result.exitCode, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain("no deviation from protocol v1");
    },
    90_000,
  );

  it("refuses a bad flag with a usage message and exit code 2", async () => {
    for (const argv of [
      [LEVELDB, "--sync", "maybe"],
      [SQLITE, "--journal", "wal"],
      [PGLITE, "--relaxed-durability", "sometimes"],
      [DUCKDB, "--sync", "true"],
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
