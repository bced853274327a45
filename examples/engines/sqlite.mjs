#!/usr/bin/env node
// SQLite (through better-sqlite3) as a WAL under walcheck's adapter protocol v1.
//
//   node examples/engines/sqlite.mjs --journal wal|delete --synchronous extra|full|normal|off
//
// Model (the one of walcheck's built-in `--adapter sqlite`, harness/adapters/sqlite-adapter.ts):
// the key-value state in one table, one BEGIN IMMEDIATE transaction per `append` that writes
// the ops and the batch's seq (table `meta`) together, so they commit or vanish together.
// `check` is `PRAGMA quick_check`; in WAL mode `checkpoint` is `PRAGMA wal_checkpoint(PASSIVE)`
// or `(TRUNCATE)`. In DELETE mode there is no WAL to fold: `checkpoint` is offered only in WAL
// mode.
//
// Locking: SQLite lets several processes open one database and serializes their writes with
// its own locks, so the adapter lists "shared": nothing is cached across requests, every write
// reads the seq inside its BEGIN IMMEDIATE transaction (under SQLite's write lock, waiting up to
// BUSY_TIMEOUT_MS for another process's), and `read` takes lastSeq and the state from one
// snapshot.
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { serveAdapter } from "walcheck";

const BUSY_TIMEOUT_MS = 5000;

function parseArgs(argv) {
  const options = {};
  const allowed = { "--journal": ["wal", "delete"], "--synchronous": ["extra", "full", "normal", "off"] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf("=");
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (!allowed[name]?.includes(value))
      usage(`unexpected argument ${JSON.stringify(arg)}${value === undefined ? "" : ` ${JSON.stringify(value)}`}`);
    options[name.slice(2)] = value;
  }
  if (!options.journal || !options.synchronous) usage("--journal and --synchronous are required");
  return options;
}

function usage(message) {
  process.stderr.write(
    `sqlite.mjs: ${message}\nusage: node examples/engines/sqlite.mjs --journal wal|delete --synchronous extra|full|normal|off\n`,
  );
  process.exit(2);
}

const { journal, synchronous } = parseArgs(process.argv.slice(2));
const wal = journal === "wal";

/**
 * What SQLite's documentation (https://www.sqlite.org/pragma.html#pragma_synchronous) promises
 * for a committed transaction in this configuration.
 */
function durability() {
  if (synchronous === "extra")
    // "EXTRA synchronous is like FULL with the addition that the directory containing a rollback
    //  journal is synced after that journal is unlinked to commit a transaction in DELETE mode.
    //  EXTRA provides additional durability if the commit is followed closely by a power loss."
    return "power";
  if (synchronous === "full")
    // "When synchronous is FULL (2), the SQLite database engine will use the xSync method of the
    //  VFS to ensure that all content is safely written to the disk surface prior to continuing.
    //  This ensures that an operating system crash or power failure will not corrupt the
    //  database." In WAL mode the commit is the synced WAL frame: "power". In DELETE mode the
    //  commit is the unlink of the rollback journal, and only EXTRA syncs its directory (above):
    //  a power loss right after a commit may bring the journal back and roll that commit back,
    //  without corruption. So FULL promises "power" in WAL mode and "process" in DELETE mode.
    return journal === "wal" ? "power" : "process";
  if (synchronous === "normal")
    // WAL: "WAL mode is always consistent with synchronous=NORMAL, but WAL mode does lose
    //  durability. A transaction committed in WAL mode with synchronous=NORMAL might roll back
    //  following a power loss or system crash. Transactions are durable across application
    //  crashes regardless of the synchronous setting or journal mode."
    // DELETE: "When synchronous is NORMAL (1), the SQLite database engine will still sync at the
    //  most critical moments, but less often than in FULL mode. There is a very small (though
    //  non-zero) chance that a power failure at just the wrong time could corrupt the database
    //  in journal_mode=DELETE on an older filesystem."
    // Either way: "process".
    return "process";
  // OFF: "With synchronous OFF (0), SQLite continues without syncing as soon as it has handed
  //  data off to the operating system. If the application running SQLite crashes, the data will
  //  be safe, but the database might become corrupted if the operating system crashes or the
  //  computer loses power before that data has been written to the disk surface."
  return "process";
}

// One adapter per WAL: `recover` (a crash state recovered in a long-lived process) gets a new
// one each time, sharing nothing with the others.
function makeAdapter() {
  let current;
  const opened = () => {
    if (!current) throw Object.assign(new Error("open must come first"), { code: "WAL_CLOSED" });
    return current;
  };

  const adapter = {
    hello() {
      const version = new Database(":memory:").prepare("select sqlite_version() as v").get().v;
      // recover: a crash state is opened, read, checked and closed by a fresh adapter object in a
      // long-lived process (walcheck cross-checks one in 16 against a fresh process).
      const features = ["check", "shared", "recover"];
      if (wal) features.push("checkpoint", "checkpoint.truncate");
      return {
        name: `sqlite ${version} (better-sqlite3, journal_mode=${journal.toUpperCase()}, synchronous=${synchronous.toUpperCase()})`,
        protocol: 1,
        durability: durability(),
        features,
        points: [],
      };
    },

    async open(dir) {
      if (current) throw Object.assign(new Error("the WAL is already open"), { code: "WAL_INVALID" });
      fs.mkdirSync(dir, { recursive: true });
      const db = new Database(path.join(dir, "kv.sqlite"), { timeout: BUSY_TIMEOUT_MS });
      try {
        db.pragma(`journal_mode = ${journal.toUpperCase()}`);
        db.pragma(`synchronous = ${synchronous.toUpperCase()}`);
        db.exec(
          "create table if not exists kv (key text primary key, value text not null); create table if not exists meta (name text primary key, seq integer not null)",
        );
      } catch (error) {
        db.close();
        throw error;
      }
      const upsert = db.prepare(
        "insert into kv (key, value) values (?, ?) on conflict(key) do update set value = excluded.value",
      );
      const remove = db.prepare("delete from kv where key = ?");
      const getSeq = db.prepare("select seq from meta where name = 'seq'").pluck();
      const setSeq = db.prepare(
        "insert into meta (name, seq) values ('seq', ?) on conflict(name) do update set seq = excluded.seq",
      );
      const allRows = db.prepare("select key, value from kv");
      const readSeq = () => getSeq.get() ?? 0;
      // better-sqlite3 runs the function between BEGIN and COMMIT (ROLLBACK if it throws);
      // `.immediate` makes it BEGIN IMMEDIATE, so the seq is read under the write lock.
      const write = db.transaction((ops) => {
        const seq = readSeq() + 1;
        for (const op of ops) {
          if (op.value === null) remove.run(op.key);
          else upsert.run(op.key, op.value);
        }
        setSeq.run(seq);
        return seq;
      });
      const read = db.transaction(() => ({
        lastSeq: readSeq(),
        state: Object.fromEntries(allRows.all().map((r) => [r.key, r.value])),
      }));
      current = { db, append: (ops) => write.immediate(ops), snapshot: () => read.deferred() };
      return { lastSeq: readSeq() };
    },

    // better-sqlite3 is synchronous: each op runs to its end before the next request is read,
    // so pipelined appends commit, and take their seqs, in arrival order.
    async append(ops) {
      return { seq: opened().append(ops) };
    },

    async checkpoint(mode) {
      const t0 = performance.now();
      const [row] = opened().db.pragma(`wal_checkpoint(${mode === "truncate" ? "TRUNCATE" : "PASSIVE"})`);
      return {
        stats: {
          logFrames: Math.max(0, row?.log ?? 0),
          checkpointedFrames: Math.max(0, row?.checkpointed ?? 0),
          elapsedMs: performance.now() - t0,
        },
      };
    },

    async read() {
      return opened().snapshot();
    },

    async check() {
      return opened()
        .db.pragma("quick_check")
        .map((r) => r.quick_check);
    },

    async close() {
      current?.db.close();
      current = undefined;
    },
  };
  return adapter;
}

await serveAdapter(
  makeAdapter(),
  {
    input: process.stdin,
    output: process.stdout,
    log: (line) => process.stderr.write(`${line}\n`),
  },
  { fresh: async () => makeAdapter() },
);
process.exit(0);
