#!/usr/bin/env node
// DuckDB (through @duckdb/node-api) as a WAL under walcheck's adapter protocol v1.
//
//   node examples/engines/duckdb.mjs
//
// Model (the one of sqlite.mjs): the key-value state in table `kv`, one transaction per `append`
// (BEGIN ... COMMIT on one connection) that writes the ops and the batch's seq (table `meta`)
// together, so they commit or vanish together. The database is the file `kv.duckdb` in the WAL
// directory; DuckDB keeps its write-ahead log beside it (`kv.duckdb.wal`). The tables have no
// primary key: a batch's ops are reduced to one op per key (later ops win) and each is applied
// as a delete followed, for a set, by an insert, so no index constraint is ever in play.
//
// `checkpoint` is DuckDB's CHECKPOINT, for both modes: "The CHECKPOINT statement synchronizes
// data in the write-ahead log (WAL) to the database data file"
// (https://duckdb.org/docs/stable/sql/statements/checkpoint). It also empties the log (after it
// the .wal file is gone; this adapter has the one connection, so no running transaction makes
// it fail), hence "checkpoint.truncate" too. DuckDB has no integrity-check statement (its
// blocks carry checksums that are verified on read): no "check".
//
// No flags: DuckDB has no setting that relaxes a commit's sync (its settings with "wal",
// "sync" or "checkpoint" in their names are checkpoint thresholds and debug switches).
//
// Locking: DuckDB takes a file lock on the database; a second process's open fails with
// "IO Error: Could not set lock on file ...": exclusive, not "shared".
import fs from "node:fs";
import path from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { serveAdapter } from "walcheck";

const args = process.argv.slice(2);
if (args.length > 0) {
  process.stderr.write(
    `duckdb.mjs: unexpected argument ${JSON.stringify(args[0])}\nusage: node examples/engines/duckdb.mjs (no flags)\n`,
  );
  process.exit(2);
}
const apiVersion = JSON.parse(
  fs.readFileSync(new URL("../../node_modules/@duckdb/node-api/package.json", import.meta.url), "utf8"),
).version;

// One adapter per WAL: `recover` (a crash state recovered in a long-lived process) gets a new
// one each time, sharing nothing with the others.
function makeAdapter() {
  let current; // { instance, con }
  // Requests may arrive pipelined: every op runs after the previous one finished, so batches
  // commit, and take their seqs, in arrival order.
  let tail = Promise.resolve();
  function serial(fn) {
    const result = tail.then(fn);
    tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
  // After a failed write nothing more is acknowledged.
  let failed;

  const opened = () => {
    if (!current) throw Object.assign(new Error("open must come first"), { code: "WAL_CLOSED" });
    return current.con;
  };
  const rows = async (con, sql, params) => (await con.runAndReadAll(sql, params)).getRowObjects();
  const readSeq = async (con) => Number((await rows(con, "select seq from meta"))[0]?.seq ?? 0);

  async function inTransaction(con, fn) {
    await con.run("begin transaction");
    try {
      const result = await fn();
      await con.run("commit");
      return result;
    } catch (error) {
      await con.run("rollback").catch(() => undefined);
      throw error;
    }
  }

  const adapter = {
    async hello() {
      const memory = await DuckDBInstance.create(":memory:");
      const con = await memory.connect();
      const engine = (await rows(con, "select version() as v"))[0].v;
      con.closeSync();
      memory.closeSync();
      return {
        name: `duckdb ${engine} (@duckdb/node-api ${apiVersion})`,
        protocol: 1,
        // DuckDB's documentation, "Changing Data with Confidence and ACID"
        // (https://duckdb.org/2024/09/25/changing-data-with-confidence-and-acid.html), Durability:
        //   "A database system now needs to ensure that all committed transactions are durable,
        //    meaning their effects will be visible after restarting the database. [...] Databases
        //    typically guarantee this property by keeping close tabs on the various caches, for
        //    example by using fsync to force changes to disk as transactions complete. Skipping
        //    the fsync is a common “optimization” that endangers durability."
        //   "Of course, this gets more complicated when non-clean exits such as operating system
        //    crashes have to be considered. DuckDB also guarantees durability in those
        //    circumstances"
        // (and `strace -f -e trace=fsync` shows an fsync of kv.duckdb.wal at every commit). So: "power".
        durability: "power",
        // recover: a crash state is opened, read and closed by a fresh adapter object (a new
        // DuckDB instance) in a long-lived process; walcheck cross-checks one in 16 against a
        // fresh process.
        features: ["checkpoint", "checkpoint.truncate", "recover"],
        points: [],
      };
    },

    open(dir) {
      return serial(async () => {
        if (current) throw Object.assign(new Error("the WAL is already open"), { code: "WAL_INVALID" });
        fs.mkdirSync(dir, { recursive: true });
        let instance;
        try {
          instance = await DuckDBInstance.create(path.join(dir, "kv.duckdb"));
        } catch (error) {
          const message = String(error?.message ?? error);
          throw Object.assign(new Error(`duckdb open failed: ${message}`), {
            code: /Could not set lock/i.test(message) ? "WAL_LOCKED" : "WAL_OPEN",
          });
        }
        const con = await instance.connect();
        try {
          await inTransaction(con, async () => {
            await con.run("create table if not exists kv (key varchar not null, value varchar not null)");
            await con.run("create table if not exists meta (seq bigint not null)");
          });
        } catch (error) {
          con.closeSync();
          instance.closeSync();
          throw error;
        }
        current = { instance, con };
        return { lastSeq: await readSeq(con) };
      });
    },

    append(ops) {
      // One op per key, the last one, in the order each key was first written.
      const net = new Map();
      for (const op of ops) net.set(op.key, op.value);
      return serial(async () => {
        if (failed) throw Object.assign(new Error(`an earlier write failed: ${failed}`), { code: "EIO" });
        const con = opened();
        const seq = await inTransaction(con, async () => {
          const next = (await readSeq(con)) + 1;
          for (const [key, value] of net) {
            await con.run("delete from kv where key = $1", [key]);
            if (value !== null) await con.run("insert into kv values ($1, $2)", [key, value]);
          }
          await con.run("delete from meta");
          await con.run("insert into meta values ($1)", [next]);
          return next;
        });
        return { seq };
      }).catch((error) => {
        failed ??= String(error?.message ?? error);
        throw error;
      });
    },

    checkpoint() {
      return serial(async () => {
        await opened().run("checkpoint");
        return {};
      });
    },

    read() {
      return serial(async () => {
        const con = opened();
        return inTransaction(con, async () => ({
          lastSeq: await readSeq(con),
          state: Object.fromEntries((await rows(con, "select key, value from kv")).map((r) => [r.key, r.value])),
        }));
      });
    },

    close() {
      return serial(async () => {
        current?.con.closeSync();
        current?.instance.closeSync();
        current = undefined;
      });
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
