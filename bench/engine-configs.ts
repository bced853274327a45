// The known answers: every engine configuration of examples/engines/, with what its own
// documentation promises and the verdict walcheck must reach on it, under process kill and
// under each persistence model of the power-loss simulation. `npm run findings` measures them
// all (bench/findings.ts writes docs/findings.md); test/examples/known-answers.test.ts runs a
// small budget of each and requires these verdicts.

export const PERSISTENCE_COLUMNS = ["posix-pessimistic", "sector-atomic", "ext4-ordered", "process-only"] as const;
export type PersistenceColumn = (typeof PERSISTENCE_COLUMNS)[number];
/** Where a verdict was reached: process kills (crash-*, second-opener), or power loss under one persistence model. */
export type Column = "process" | PersistenceColumn;
export const COLUMNS: readonly Column[] = ["process", ...PERSISTENCE_COLUMNS];

/**
 * A verdict: `pass` (every acknowledged batch kept, no violation), `loss` (passed, with
 * acknowledged batches lost that the configuration's durability promise allows: counted, not
 * a violation), `fail:<invariant>` (a violation of that invariant), `skip` (the scenario could
 * not run on it, with its reason in the findings).
 */
export type Verdict = "pass" | "loss" | `fail:${string}` | "skip" | "error";

export interface EngineConfig {
  /** Stable id: the findings' row and the test's name. */
  id: string;
  engine: string;
  /** The configuration as the engine names it. */
  configuration: string;
  /** The adapter command, run from the repository's root. */
  cmd: string;
  /** What hello declares: what the documentation promises for an acknowledged write. */
  durability: "power" | "process";
  /** The engine's own documentation: where, and the passage the expected verdicts rest on. */
  docs: { url: string; quote: string };
  expected: Record<Column, Verdict>;
  /** Why a verdict other than `pass` is the right one, column by column. */
  why?: Partial<Record<Column, string>>;
  /** Run in the test's small slice (the findings run every configuration). */
  slice: boolean;
  /** Recover every power-loss state in a fresh process (walcheck run --fresh-recovery), and why. */
  freshRecovery?: string;
  /** Report failures as found, unshrunk, and why (a shrink step that costs minutes). */
  noShrink?: string;
  /** Why the findings do not run power loss on it (the columns then read `skip`). */
  powerSkip?: string;
}

const LEVELDB_DOCS = "https://github.com/google/leveldb/blob/main/doc/index.md#synchronous-writes";
const SQLITE_SYNC_DOCS = "https://www.sqlite.org/pragma.html#pragma_synchronous";
const SQLITE_WAL_DOCS = "https://www.sqlite.org/wal.html#performance_considerations";

const LEVELDB_NEWDB =
  'LevelDB 1.20 (bundled by classic-level 3.0.0) writes MANIFEST-000001 at creation without syncing it before CURRENT names it (DBImpl::NewDB); after a power cut CURRENT names an empty or missing manifest and open fails ("Corruption: no meta-nextfile entry in descriptor"). google/leveldb#189; upstream syncs it now.';

const DUCKDB_DIRSYNC =
  "DuckDB's bug on POSIX: it fsyncs kv.duckdb and kv.duckdb.wal but never the directory that holds them (fsync(2): an fsync of a file does not make its directory entry durable), so a power cut can lose the new files and every commit in them. ext4's journal usually hides it.";
const DUCKDB_CREATE =
  'DuckDB\'s bug, at creation only: a crash after it created kv.duckdb and before its 4 KiB header is whole (even a process kill, right after the create) leaves a file DuckDB refuses to open ("exists, but it is not a valid DuckDB database file!", "Could not read enough bytes"); touch x.duckdb and open it to see the first. Nothing acknowledged is lost, but the database must be deleted by hand.';

const PGLITE_POWER =
  "not measured: every power-loss state is recovered by starting PostgreSQL in WASM on it (no recover op can make that cheaper), about 20 s a state on this 2-core machine under load, so the 160 states of one case per model take over an hour; run walcheck run --crash power --persistence all --timeout 60000 on it by hand";
const PGLITE_CREATE =
  "PGlite's, at creation only: the first open of an empty directory runs initdb in place, and a process killed in the middle of it (a write cut short by the kill) leaves a data directory PGlite cannot open (\"PGlite failed to initialize properly\") until it is deleted by hand. PostgreSQL's initdb is not crash-safe either, but it is a separate step a person runs; PGlite runs it inside the application's first open. Nothing acknowledged is lost.";
const PGLITE_SHRINK =
  "every shrink step records a new life, and each life starts with an initdb (about 10 s) and recovers its states in new PostgreSQL processes (seconds each)";

const all = (v: Verdict): Record<Column, Verdict> => ({
  process: v,
  "posix-pessimistic": v,
  "sector-atomic": v,
  "ext4-ordered": v,
  "process-only": v,
});
/** Loses acknowledged batches on power loss, as documented, and nothing else; under process-only (no loss) it passes. */
const lossOnPower: Record<Column, Verdict> = { ...all("loss"), process: "pass", "process-only": "pass" };

type Journal = "wal" | "delete";
type Synchronous = "extra" | "full" | "normal" | "off";

/** What SQLite's documentation says of a committed transaction in this configuration. */
const SQLITE_DOCS: Record<Synchronous, string> = {
  extra:
    "EXTRA synchronous is like FULL with the addition that the directory containing a rollback journal is synced after that journal is unlinked to commit a transaction in DELETE mode. EXTRA provides additional durability if the commit is followed closely by a power loss.",
  full: "When synchronous is FULL (2), the SQLite database engine will use the xSync method of the VFS to ensure that all content is safely written to the disk surface prior to continuing. This ensures that an operating system crash or power failure will not corrupt the database.",
  normal:
    "WAL mode is always consistent with synchronous=NORMAL, but WAL mode does lose durability. A transaction committed in WAL mode with synchronous=NORMAL might roll back following a power loss or system crash. [In DELETE mode] there is a very small (though non-zero) chance that a power failure at just the wrong time could corrupt the database in journal_mode=DELETE on an older filesystem.",
  off: "If the application running SQLite crashes, the data will be safe, but the database might become corrupted if the operating system crashes or the computer loses power before that data has been written to the disk surface.",
};

/** SQLite's documented durability: FULL syncs a WAL commit; in DELETE mode only EXTRA syncs the journal's unlink. */
const sqliteDurability = (journal: Journal, synchronous: Synchronous): "power" | "process" =>
  synchronous === "extra" || (synchronous === "full" && journal === "wal") ? "power" : "process";

/**
 * DELETE mode with synchronous=OFF syncs nothing, and SQLite documents that a power loss may
 * corrupt the database: under the weaker models a transaction can be half on disk (a page of it
 * written, another lost, the journal that would roll it back gone), reported as the invariant it
 * breaks (which one depends on the sampled states: these are seed 15's). Corrupt databases are
 * also where SQLite in a long-lived process and in a fresh one were seen to answer differently,
 * so each state gets a process of its own.
 */
const DELETE_OFF: Pick<EngineConfig, "expected" | "why" | "freshRecovery"> = {
  expected: {
    process: "pass",
    "posix-pessimistic": "fail:integrity",
    "sector-atomic": "loss",
    "ext4-ordered": "fail:sequence",
    "process-only": "pass",
  },
  why: {
    "posix-pessimistic":
      "documented, not a bug: a page of a transaction lost while later pages and the journal's unlink landed leaves a b-tree SQLite's quick_check rejects; SQLite says OFF \"might become corrupted\" on power loss",
    "ext4-ordered":
      "documented, not a bug: an in-place page write lost (ext4 orders only newly allocated data) while the journal's unlink landed: half a transaction (meta's seq written, kv's rows not)",
  },
  freshRecovery: "a corrupt database answered differently in a long-lived process than in a fresh one",
};

function sqliteConfigs(driver: string, cmd: string, rows: [Journal, Synchronous, boolean][]): EngineConfig[] {
  return rows.map(([journal, synchronous, slice]) => {
    const durability = sqliteDurability(journal, synchronous);
    return {
      id: `${driver === "better-sqlite3" ? "sqlite" : "sqlite-py"}-${journal}-${synchronous}`,
      engine: `SQLite (${driver})`,
      configuration: `journal_mode=${journal.toUpperCase()}, synchronous=${synchronous.toUpperCase()}`,
      cmd: `${cmd} --journal ${journal} --synchronous ${synchronous}`,
      durability,
      docs: {
        url: journal === "wal" && synchronous === "normal" ? SQLITE_WAL_DOCS : SQLITE_SYNC_DOCS,
        quote: SQLITE_DOCS[synchronous],
      },
      expected: durability === "power" ? all("pass") : lossOnPower,
      slice,
      ...(synchronous === "off" && journal === "delete" ? DELETE_OFF : {}),
    };
  });
}

export const ENGINE_CONFIGS: EngineConfig[] = [
  {
    id: "leveldb-sync",
    engine: "LevelDB (classic-level)",
    configuration: "db.batch(ops, { sync: true })",
    cmd: "node examples/engines/leveldb.mjs --sync true",
    durability: "power",
    docs: {
      url: LEVELDB_DOCS,
      quote:
        "The sync flag can be turned on for a particular write to make the write operation not return until the data being written has been pushed all the way to persistent storage.",
    },
    // A finding (docs/findings.md): LevelDB 1.20, which classic-level 3.0.0 bundles, creates a
    // database without syncing MANIFEST-000001 before CURRENT names it; a power cut then leaves a
    // database LevelDB refuses to open. Upstream LevelDB syncs it since (google/leveldb#189).
    expected: { ...all("fail:recovery"), process: "pass", "process-only": "pass" },
    why: {
      "posix-pessimistic": LEVELDB_NEWDB,
      "sector-atomic": LEVELDB_NEWDB,
      "ext4-ordered": LEVELDB_NEWDB,
    },
    slice: false,
  },
  {
    id: "leveldb-nosync",
    engine: "LevelDB (classic-level)",
    configuration: "db.batch(ops, { sync: false })",
    cmd: "node examples/engines/leveldb.mjs --sync false",
    durability: "process",
    docs: {
      url: LEVELDB_DOCS,
      quote:
        "The downside of asynchronous writes is that a crash of the machine may cause the last few updates to be lost. Note that a crash of just the writing process (i.e., not a reboot) will not cause any loss",
    },
    // The same finding as leveldb-sync: the database's creation, before any write, fails it.
    expected: { ...all("fail:recovery"), process: "pass", "process-only": "pass" },
    why: {
      "posix-pessimistic": LEVELDB_NEWDB,
      "sector-atomic": LEVELDB_NEWDB,
      "ext4-ordered": LEVELDB_NEWDB,
    },
    slice: true,
  },

  ...sqliteConfigs("better-sqlite3", "node examples/engines/sqlite.mjs", [
    ["wal", "full", true],
    ["wal", "normal", true],
    ["wal", "off", false],
    ["delete", "extra", false],
    ["delete", "full", false],
    ["delete", "normal", false],
    ["delete", "off", false],
  ]),
  // The same engine from a second language: Python's sqlite3 module, the system's SQLite.
  ...sqliteConfigs("Python sqlite3", "python3 examples/engines/sqlite_py.py", [
    ["wal", "full", false],
    ["wal", "normal", false],
    ["delete", "full", false],
  ]),
  {
    id: "pglite",
    engine: "PGlite (PostgreSQL in WASM)",
    configuration: "NodeFS data directory, relaxedDurability=false",
    cmd: "node examples/engines/pglite.mjs --relaxed-durability false",
    durability: "process",
    docs: {
      url: "https://www.postgresql.org/docs/current/runtime-config-wal.html#GUC-FSYNC",
      quote:
        'PGlite starts PostgreSQL with -F (fsync off), and its Node file system never calls fsync. PostgreSQL: "While turning off fsync is often a performance benefit, this can result in unrecoverable data corruption in the event of a power failure or system crash." Non-durable settings: "durability is still guaranteed in case of a crash of the database software".',
    },
    expected: { ...all("skip"), process: "fail:recovery" },
    why: { process: PGLITE_CREATE },
    slice: false,
    noShrink: PGLITE_SHRINK,
    powerSkip: PGLITE_POWER,
  },
  {
    id: "pglite-relaxed",
    engine: "PGlite (PostgreSQL in WASM)",
    configuration: "NodeFS data directory, relaxedDurability=true",
    cmd: "node examples/engines/pglite.mjs --relaxed-durability true",
    durability: "process",
    docs: {
      url: "https://pglite.dev/docs/api#options",
      quote:
        "Under relaxed durability mode, PGlite will not wait for flushes to storage to complete after each query before returning results. (The flush copies an in-memory file system to IndexedDB; on the Node file system it does nothing.)",
    },
    expected: { ...all("skip"), process: "fail:recovery" },
    why: { process: PGLITE_CREATE },
    slice: false,
    noShrink: PGLITE_SHRINK,
    powerSkip: PGLITE_POWER,
  },
  {
    id: "duckdb",
    engine: "DuckDB (@duckdb/node-api)",
    configuration: "a database file, default settings",
    cmd: "node examples/engines/duckdb.mjs",
    durability: "power",
    docs: {
      url: "https://duckdb.org/2024/09/25/changing-data-with-confidence-and-acid.html",
      quote:
        "A database system now needs to ensure that all committed transactions are durable [...] Of course, this gets more complicated when non-clean exits such as operating system crashes have to be considered. DuckDB also guarantees durability in those circumstances",
    },
    // Findings (docs/findings.md): DuckDB never fsyncs the directory of the files it creates, and
    // refuses a database file a crash left empty or with half its header. Process kills at random
    // moments miss that window; process-only checks every moment of the life.
    expected: {
      process: "pass",
      "posix-pessimistic": "fail:durability",
      "sector-atomic": "fail:durability",
      "ext4-ordered": "fail:recovery",
      "process-only": "fail:recovery",
    },
    why: {
      "posix-pessimistic": DUCKDB_DIRSYNC,
      "sector-atomic": DUCKDB_DIRSYNC,
      "ext4-ordered": DUCKDB_CREATE,
      "process-only": DUCKDB_CREATE,
    },
    slice: false,
  },
];
