#!/usr/bin/env node
// PostgreSQL in WASM (PGlite, @electric-sql/pglite) on its Node file system, as a WAL under
// walcheck's adapter protocol v1.
//
//   node examples/engines/pglite.mjs --relaxed-durability true|false
//
// Model (the one of sqlite.mjs): the key-value state in table `kv`, one transaction per `append`
// that writes the ops and the batch's seq (table `meta`) together, so they commit or vanish
// together. The PostgreSQL data directory is the WAL directory walcheck gives (PGlite's NodeFS:
// `new PGlite(dir)`), so PostgreSQL's own WAL (pg_wal/) and crash recovery are what is tested.
// `checkpoint` is PostgreSQL's CHECKPOINT (passive only: a checkpoint recycles WAL segments but
// does not empty the log, so no "checkpoint.truncate"). `check` is PostgreSQL's amcheck
// (contrib, shipped with PGlite): verify_heapam on both tables and bt_index_check with
// heapallindexed on both primary keys.
//
// Locking: PGlite is single-process ("PGlite is single user/connection", its README) and does
// NOT refuse a second process on the same data directory: tried by hand, a second PGlite opened
// a directory another live process had open, and its close deleted postmaster.pid under the
// first. So this adapter takes its own lock before PGlite opens the directory: an abstract Unix
// socket named after the directory (Linux; the kernel releases it when the holder dies, even by
// SIGKILL, and it leaves no file behind). A second opener is refused with WAL_LOCKED: exclusive,
// not "shared".
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import { PGlite } from "@electric-sql/pglite";
import { amcheck } from "@electric-sql/pglite/contrib/amcheck";
import { serveAdapter } from "walcheck";

function parseArgs(argv) {
  let relaxed;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf("=");
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (name === "--relaxed-durability" && (value === "true" || value === "false")) relaxed = value === "true";
    else usage(`unexpected argument ${JSON.stringify(arg)}${value === undefined ? "" : ` ${JSON.stringify(value)}`}`);
  }
  if (relaxed === undefined) usage("--relaxed-durability is required");
  return { relaxed };
}

function usage(message) {
  process.stderr.write(
    `pglite.mjs: ${message}\nusage: node examples/engines/pglite.mjs --relaxed-durability true|false\n`,
  );
  process.exit(2);
}

const { relaxed } = parseArgs(process.argv.slice(2));
const version = JSON.parse(
  fs.readFileSync(new URL("../../node_modules/@electric-sql/pglite/package.json", import.meta.url), "utf8"),
).version;

/** Takes the directory's lock, or fails with WAL_LOCKED while another live process holds it. */
function lock(dir) {
  const id = crypto.createHash("sha256").update(fs.realpathSync(dir)).digest("hex").slice(0, 32);
  const server = net.createServer();
  return new Promise((resolve, reject) => {
    server.once("error", (error) =>
      reject(
        Object.assign(
          new Error(
            error.code === "EADDRINUSE"
              ? `${dir} is open in another process (PGlite is single-process)`
              : `cannot lock ${dir}: ${error.message}`,
          ),
          { code: error.code === "EADDRINUSE" ? "WAL_LOCKED" : (error.code ?? "WAL_OPEN") },
        ),
      ),
    );
    server.listen({ path: `\0walcheck-pglite-${id}` }, () => {
      server.unref();
      resolve(server);
    });
  });
}

let current; // { db, lock }
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
  return current.db;
};
const readSeq = async (q) => Number((await q.query("select seq from meta where name = 'seq'")).rows[0]?.seq ?? 0);

const adapter = {
  hello() {
    return {
      name: `pglite ${version} (PostgreSQL in WASM, NodeFS, relaxedDurability=${relaxed})`,
      protocol: 1,
      // What a commit promises here, from PGlite's documentation and source (0.6.1):
      // - https://pglite.dev/docs/api#options: "relaxedDurability?: boolean: Under relaxed
      //   durability mode, PGlite will not wait for flushes to storage to complete after each
      //   query before returning results. This is particularly useful when using the IndexedDB
      //   file system." The flush it means is Filesystem.syncToFs, which copies an in-memory FS
      //   to IndexedDB (https://pglite.dev/docs/filesystems#indexeddb-fs); on the Node FS it is
      //   a no-op (EmscriptenBuiltinFilesystem.syncToFs in packages/pglite/src/fs/base.ts), so
      //   the option changes nothing here.
      // - https://pglite.dev/docs/filesystems#node-fs promises nothing about durability, and
      //   PGlite starts PostgreSQL with `-F` (PGlite.defaultStartParams), i.e. fsync = off, of
      //   which PostgreSQL's documentation
      //   (https://www.postgresql.org/docs/current/runtime-config-wal.html#GUC-FSYNC) says:
      //   "While turning off fsync is often a performance benefit, this can result in
      //   unrecoverable data corruption in the event of a power failure or system crash."
      //   Emscripten's NODEFS has no fsync either (fdatasync is a no-op): `strace -f -e
      //   trace=fsync,fdatasync,sync_file_range` over an open, 20 commits and a close shows none.
      // - PostgreSQL's "Non-Durable Settings"
      //   (https://www.postgresql.org/docs/current/non-durability.html), whose list includes
      //   "Turn off fsync; there is no need to flush data to disk.": "Except as noted below,
      //   durability is still guaranteed in case of a crash of the database software; only an
      //   abrupt operating system crash creates a risk of data loss or corruption when these
      //   settings are used." Each commit still writes its WAL record into the kernel (pwrite,
      //   through NODEFS's fs.writeSync) before it returns: a killed process loses nothing
      //   PostgreSQL acknowledged.
      // So: "process", with or without relaxedDurability.
      durability: "process",
      features: ["checkpoint", "check"],
      points: [],
    };
  },

  open(dir) {
    return serial(async () => {
      if (current) throw Object.assign(new Error("the WAL is already open"), { code: "WAL_INVALID" });
      fs.mkdirSync(dir, { recursive: true });
      const held = await lock(dir);
      try {
        const db = await PGlite.create(dir, { relaxedDurability: relaxed, extensions: { amcheck } });
        try {
          await db.exec(
            "create extension if not exists amcheck; create table if not exists kv (key text primary key, value text not null); create table if not exists meta (name text primary key, seq bigint not null)",
          );
          current = { db, lock: held };
        } catch (error) {
          await db.close().catch(() => undefined);
          throw error;
        }
      } catch (error) {
        held.close();
        throw Object.assign(new Error(`pglite open failed: ${error?.message ?? error}`), {
          code: error?.code ?? "WAL_OPEN",
        });
      }
      return { lastSeq: await readSeq(current.db) };
    });
  },

  append(ops) {
    return serial(async () => {
      if (failed) throw Object.assign(new Error(`an earlier write failed: ${failed}`), { code: "EIO" });
      const seq = await opened().transaction(async (tx) => {
        const next = (await readSeq(tx)) + 1;
        for (const op of ops) {
          if (op.value === null) await tx.query("delete from kv where key = $1", [op.key]);
          else
            await tx.query(
              "insert into kv (key, value) values ($1, $2) on conflict (key) do update set value = excluded.value",
              [op.key, op.value],
            );
        }
        await tx.query(
          "insert into meta (name, seq) values ('seq', $1) on conflict (name) do update set seq = excluded.seq",
          [next],
        );
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
      await opened().exec("checkpoint");
      return {};
    });
  },

  read() {
    return serial(() =>
      opened().transaction(async (tx) => ({
        lastSeq: await readSeq(tx),
        state: Object.fromEntries((await tx.query("select key, value from kv")).rows.map((r) => [r.key, r.value])),
      })),
    );
  },

  check() {
    return serial(async () => {
      const db = opened();
      const problems = [];
      for (const table of ["kv", "meta"]) {
        const { rows } = await db.query(`select blkno, offnum, msg from verify_heapam('${table}')`);
        for (const r of rows) problems.push(`${table} block ${r.blkno} offset ${r.offnum}: ${r.msg}`);
        try {
          await db.query(`select bt_index_check('${table}_pkey', true)`);
        } catch (error) {
          problems.push(`${table}_pkey: ${error?.message ?? error}`);
        }
      }
      return problems.length ? problems : ["ok"];
    });
  },

  close() {
    return serial(async () => {
      await current?.db.close();
      current?.lock.close();
      current = undefined;
    });
  },
};

await serveAdapter(adapter, {
  input: process.stdin,
  output: process.stdout,
  log: (line) => process.stderr.write(`${line}\n`),
});
process.exit(0);
