// A walcheck adapter module in TypeScript: checksummed records, an fsync before every ack.
//
// walcheck loads JavaScript, so compile it first, then point --adapter at the .js file
// (fs-ext, the flock binding, comes with walcheck; elsewhere `npm install fs-ext`):
//
//   npx tsc --ignoreConfig examples/typescript/wal-adapter.ts --rootDir examples/typescript \
//     --outDir examples/typescript/dist --module nodenext --target es2022 --types node --skipLibCheck
//   npx walcheck run --adapter examples/typescript/dist/wal-adapter.js
//
// On disk, <dir>/wal.log is a run of records, each
//
//   length  u32 little-endian   bytes of the payload (never 0)
//   crc     u32 little-endian   CRC-32 of the 4 length bytes followed by the payload
//   payload                     UTF-8 JSON {"seq": n, "ops": [{"key": k, "value": v|null}]}
//
// The CRC covers the length, so a run of zeros (a preallocated or half-written block) is not a
// valid record: the CRC-32 of four zero bytes is 0x2144DF1C, not 0.
//
// Where a WAL usually goes wrong, and what this one does:
// - ack before fsync: every append is written and fsynced before its promise resolves;
// - a new file's name is lost in a power cut: the directory is fsynced after the log is created;
// - a torn tail is "repaired" by appending after it: recovery truncates it (and fsyncs) first;
// - corruption in the middle is mistaken for a torn tail, and acked records after it are cut:
//   when a damaged record is followed by any valid record, open refuses with WAL_CORRUPT;
// - two processes append to one log: an exclusive flock on <dir>/LOCK, which the kernel drops
//   when the holder dies (a lock file made with O_EXCL would outlive a SIGKILL);
// - pipelined appends: walcheck serve runs requests as they arrive, so appends are chained on
//   one promise and take their seqs, and reach the file, in the order they arrived.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import type { WalAdapter } from "walcheck";

const require = createRequire(import.meta.url);
const { flockSync } = require("fs-ext") as { flockSync(fd: number, flags: "exnb" | "un"): void };

type Op = { key: string; value: string | null };
const HEADER = 8;

class WalError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

// CRC-32 (IEEE, as zlib): Node 20 has no zlib.crc32, so by hand with a 256-entry table.
const TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(...parts: Uint8Array[]): number {
  let c = 0xffffffff;
  for (const part of parts) for (const byte of part) c = TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function encode(seq: number, ops: Op[]): Buffer {
  const payload = Buffer.from(JSON.stringify({ seq, ops }), "utf8");
  const header = Buffer.alloc(HEADER);
  header.writeUInt32LE(payload.length, 0);
  header.writeUInt32LE(crc32(header.subarray(0, 4), payload), 4);
  return Buffer.concat([header, payload]);
}

/** The payload of a valid record at `off`, or undefined. */
function recordAt(data: Buffer, off: number): Buffer | undefined {
  if (off + HEADER > data.length) return undefined;
  const length = data.readUInt32LE(off);
  const end = off + HEADER + length;
  if (length === 0 || end > data.length) return undefined;
  const payload = data.subarray(off + HEADER, end);
  return crc32(data.subarray(off, off + 4), payload) === data.readUInt32LE(off + 4) ? payload : undefined;
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export default function createAdapter(): WalAdapter {
  const state = new Map<string, string>();
  let lastSeq = 0;
  let log: number | undefined;
  let lock: number | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  function apply(ops: Op[]): void {
    for (const op of ops) {
      if (op.value === null) state.delete(op.key);
      else state.set(op.key, op.value);
    }
  }

  /** Replay the valid records; return the length of the good prefix. */
  function recover(data: Buffer): number {
    let off = 0;
    for (let payload; off < data.length && (payload = recordAt(data, off)); off += HEADER + payload.length) {
      const rec = JSON.parse(payload.toString("utf8")) as { seq: number; ops: Op[] };
      if (rec.seq !== lastSeq + 1)
        throw new WalError("WAL_CORRUPT", `record at byte ${off} has seq ${rec.seq}, expected ${lastSeq + 1}`);
      apply(rec.ops);
      lastSeq = rec.seq;
    }
    // The bytes from `off` on are damaged. If a valid record follows anywhere after them, this
    // is rot in the middle of the log, not a torn write: cutting here would drop acked batches.
    // (A byte-by-byte scan is slow on a big log, but it runs only when there is damage.)
    for (let later = off + 1; later + HEADER < data.length; later++) {
      if (recordAt(data, later))
        throw new WalError("WAL_CORRUPT", `damaged record at byte ${off} of wal.log, valid records after it`);
    }
    return off;
  }

  return {
    hello: () => ({
      name: "typescript-wal",
      protocol: 1,
      durability: "power",
      features: ["checksums", "recovery-stats"],
    }),

    async open(dir) {
      const started = performance.now();
      fs.mkdirSync(dir, { recursive: true });
      lock = fs.openSync(path.join(dir, "LOCK"), "a");
      try {
        flockSync(lock, "exnb");
      } catch (error) {
        fs.closeSync(lock);
        lock = undefined;
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "EAGAIN" || code === "EWOULDBLOCK") throw new WalError("WAL_LOCKED", `${dir} is open elsewhere`);
        throw error;
      }
      const file = path.join(dir, "wal.log");
      const data = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
      const good = recover(data);
      log = fs.openSync(file, "a");
      if (good < data.length) {
        fs.ftruncateSync(log, good); // cut the torn tail before anything is appended after it
        fs.fsyncSync(log);
      }
      fsyncDir(dir); // the names LOCK and wal.log are durable too
      const recovery = {
        elapsedMs: performance.now() - started,
        recordsReplayed: lastSeq,
        bytesDiscarded: data.length - good,
      };
      return { lastSeq, recovery };
    },

    append(ops) {
      const done = queue.then(() => {
        fs.writeSync(log!, encode(lastSeq + 1, ops));
        fs.fsyncSync(log!); // durable before the ack
        lastSeq += 1;
        apply(ops);
        return { seq: lastSeq };
      });
      // A failed append fails every later one too: after an fsync error, a later fsync cannot
      // make the lost write durable, so nothing after it may be acknowledged.
      queue = done;
      return done;
    },

    async read() {
      await queue.catch(() => {});
      return { lastSeq, state: Object.fromEntries(state) };
    },

    async close() {
      await queue.catch(() => {});
      if (log !== undefined) fs.closeSync(log);
      if (lock !== undefined) fs.closeSync(lock); // closing the fd releases the flock
      log = lock = undefined;
    },
  };
}
