#!/usr/bin/env node
// LevelDB (through classic-level) as a WAL under walcheck's adapter protocol v1.
//
//   node examples/engines/leveldb.mjs --sync true|false
//
// Model: the WAL's state is LevelDB's key-value state. Each `append` is one
// `db.batch(ops, { sync })` (a null value deletes the key), and the batch also writes the
// internal key `__walcheck_seq`, so the seq and the data are committed atomically: after any
// crash, the seq LevelDB recovers is the seq of the last batch whose data it recovered.
// `read` returns every key but the internal one.
//
// Locking: LevelDB holds its own LOCK file (fcntl lock, released by the kernel when the holder
// dies), so a second process's `open` of the same directory fails: exclusive, not "shared".
import fs from "node:fs";
import { ClassicLevel } from "classic-level";
import { serveAdapter } from "walcheck";

const SEQ_KEY = "__walcheck_seq";

function parseArgs(argv) {
  let sync;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : argv[++i];
    const name = arg.includes("=") ? arg.slice(0, arg.indexOf("=")) : arg;
    if (name === "--sync" && (value === "true" || value === "false")) sync = value === "true";
    else usage(`unexpected argument ${JSON.stringify(arg)}${value === undefined ? "" : ` ${JSON.stringify(value)}`}`);
  }
  if (sync === undefined) usage("--sync is required");
  return { sync };
}

function usage(message) {
  process.stderr.write(`leveldb.mjs: ${message}\nusage: node examples/engines/leveldb.mjs --sync true|false\n`);
  process.exit(2);
}

const { sync } = parseArgs(process.argv.slice(2));
const version = JSON.parse(
  fs.readFileSync(new URL("../../node_modules/classic-level/package.json", import.meta.url), "utf8"),
).version;

// One adapter per WAL: `recover` (a crash state recovered in a long-lived process) gets a new
// one each time, sharing nothing with the others.
function makeAdapter() {
  let db;
  let lastSeq = 0;
  // Requests may arrive pipelined (behind open, too): every op runs after the previous one
  // finished (serial), so batches reach LevelDB, and take their seqs, in arrival order.
  let tail = Promise.resolve();
  function serial(fn) {
    const result = tail.then(fn);
    tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
  // After a failed write nothing more is acknowledged: a later batch must not get a seq whose
  // predecessor may be missing.
  let failed;

  async function openDb(dir) {
    if (db) throw Object.assign(new Error("the WAL is already open"), { code: "WAL_INVALID" });
    fs.mkdirSync(dir, { recursive: true });
    const opening = new ClassicLevel(dir, { keyEncoding: "utf8", valueEncoding: "utf8" });
    try {
      await opening.open();
    } catch (error) {
      // A second opener meets LevelDB's LOCK: classic-level says LEVEL_DATABASE_NOT_OPEN, with
      // the cause (LEVEL_LOCKED) underneath.
      const cause = error?.cause;
      throw Object.assign(new Error(`leveldb open failed: ${error.message}${cause ? `: ${cause.message}` : ""}`), {
        code: cause?.code ?? error?.code ?? "WAL_OPEN",
      });
    }
    db = opening;
    const stored = await db.get(SEQ_KEY);
    lastSeq = stored === undefined ? 0 : Number(stored);
    // No `recovery` stats: LevelDB does not say how many records it replayed; walcheck times the open.
    return { lastSeq };
  }

  const adapter = {
    hello() {
      return {
        name: `leveldb (classic-level ${version}, sync=${sync})`,
        protocol: 1,
        // LevelDB's documentation, doc/index.md, "Synchronous Writes":
        //   "By default, each write to leveldb is asynchronous: it returns after pushing the write
        //    from the process into the operating system. The transfer from operating system memory
        //    to the underlying persistent storage happens asynchronously. The sync flag can be
        //    turned on for a particular write to make the write operation not return until the
        //    data being written has been pushed all the way to persistent storage. (On Posix
        //    systems, this is implemented by calling either fsync(...) or fdatasync(...) or
        //    msync(..., MS_SYNC) before the write operation returns.)"
        //   "Asynchronous writes are often more than a thousand times as fast as synchronous
        //    writes. The downside of asynchronous writes is that a crash of the machine may cause
        //    the last few updates to be lost. Note that a crash of just the writing process (i.e.,
        //    not a reboot) will not cause any loss since even when sync is false, an update is
        //    pushed from the process memory into the operating system before it is considered
        //    done."
        // So: sync=true promises durability across power loss ("power"); sync=false promises it
        // across a process crash only ("process").
        durability: sync ? "power" : "process",
        // recover: a crash state is opened, read and closed by a fresh adapter object in a
        // long-lived process (walcheck cross-checks one in 16 against a fresh process).
        features: ["recover"],
        points: [],
      };
    },

    open(dir) {
      return serial(() => openDb(dir));
    },

    append(ops) {
      const batch = ops.map((op) =>
        op.value === null ? { type: "del", key: op.key } : { type: "put", key: op.key, value: op.value },
      );
      // The seq is taken in the chain (after open has read lastSeq), which runs in arrival order.
      return serial(async () => {
        if (failed) throw Object.assign(new Error(`an earlier write failed: ${failed}`), { code: "EIO" });
        if (!db) throw Object.assign(new Error("the WAL is not open"), { code: "WAL_CLOSED" });
        const seq = lastSeq + 1;
        await db.batch([...batch, { type: "put", key: SEQ_KEY, value: String(seq) }], { sync });
        lastSeq = seq;
        return { seq };
      }).catch((error) => {
        failed ??= String(error?.message ?? error);
        throw error;
      });
    },

    read() {
      return serial(readState);
    },

    close() {
      return serial(async () => {
        await db?.close();
        db = undefined;
      });
    },
  };

  async function readState() {
    if (!db) throw Object.assign(new Error("the WAL is not open"), { code: "WAL_CLOSED" });
    const state = {};
    let seq = 0;
    for await (const [key, value] of db.iterator()) {
      if (key === SEQ_KEY) seq = Number(value);
      else state[key] = value;
    }
    return { lastSeq: seq, state };
  }

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
