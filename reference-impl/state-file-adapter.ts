import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { WalAdapter } from "../harness/protocol/wal-adapter.js";
import { WalError } from "./errors.js";
import { configParser, LockedStore } from "./locked-adapter.js";
import { decodeStateRecord, StateFile, STATE_FILE_CRASH_POINTS, stateWalPath } from "./state-file.js";

// Design B behind the adapter protocol: the whole logical state and its lastSeq are one
// JSON document, `{seq, state}`, in `<dir>/state.json`, replaced on every append through
// StateFile's WAL (intent + data, fsync, replace the file, fsync, delete the WAL).
// An append is one StateFile write, so the file's version always equals the document's seq.
// StateFile is single-writer: LockedStore holds the directory's flock from open to close.

/** `open.config` of the state-file adapter (and `walcheck serve --adapter state-file --config`). */
export interface StateFileAdapterConfig {
  /** Previous versions StateFile keeps in `<dir>/checkpoints/` (default 0). */
  history?: number;
}

/** The document in the state file. */
export interface StateDocument {
  seq: number;
  state: Record<string, string>;
}

/** The state file inside the WAL directory. */
export const STATE_FILE_NAME = "state.json";

const parseConfig = configParser<StateFileAdapterConfig>("state-file", {
  history: (v) =>
    Number.isSafeInteger(v) && (v as number) >= 0 ? undefined : `expected an integer >= 0, got ${JSON.stringify(v)}`,
});

/** The open state file and the document its last write made durable. */
interface OpenState {
  sf: StateFile;
  current: StateDocument;
}

/** The document in `data`, or why it is not one. */
export function parseStateDocument(data: unknown): StateDocument | string {
  if (typeof data !== "object" || data === null || Array.isArray(data)) return "the data is not a {seq, state} object";
  const doc = data as Record<string, unknown>;
  if (Object.keys(doc).sort().join(",") !== "seq,state")
    return `the data has fields ${JSON.stringify(Object.keys(doc).sort())}, not seq and state`;
  const { seq, state } = doc;
  if (!Number.isSafeInteger(seq) || (seq as number) < 0) return `seq is not an integer >= 0: ${JSON.stringify(seq)}`;
  if (typeof state !== "object" || state === null || Array.isArray(state)) return "state is not an object";
  for (const [key, value] of Object.entries(state)) {
    if (typeof value !== "string") return `state[${JSON.stringify(key)}] is not a string: ${JSON.stringify(value)}`;
  }
  return { seq: seq as number, state: state as Record<string, string> };
}

function fileSize(file: string): number | undefined {
  try {
    return fs.statSync(file).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** The state file behind the WalAdapter interface (what `walcheck serve --adapter state-file` speaks). */
export function createStateFileAdapter(defaults: StateFileAdapterConfig = {}): WalAdapter {
  // Every op takes its turn behind the one before: ops pipelined behind `open` wait for
  // it, and a pipelined append computes its document from the one the previous append
  // made durable. StateFile holds no descriptor: close only releases the lock.
  const store = new LockedStore<OpenState, StateFileAdapterConfig>({ store: "the state file", parseConfig, defaults });
  /** The document on disk, verified; the empty one before the first append. */
  const load = async (sf: StateFile): Promise<StateDocument> => {
    const data = await sf.read();
    if (data === undefined) return { seq: 0, state: {} };
    const doc = parseStateDocument(data);
    if (typeof doc === "string")
      throw new WalError("WAL_CORRUPT", `${sf.file}: ${doc}`, { details: { file: sf.file } });
    if (doc.seq !== sf.version)
      throw new WalError("WAL_CORRUPT", `${sf.file}: document seq ${doc.seq} at file version ${sf.version}`, {
        details: { file: sf.file },
      });
    return doc;
  };

  return {
    hello: () => ({
      name: "walcheck-state-file",
      protocol: 1,
      // Every ack follows the WAL's fsync, the rename and the directory fsyncs.
      durability: "power",
      // CRC32C over the state file and the WAL's data; a dropped torn WAL is counted in bytesDiscarded.
      features: ["check", "checksums", "recovery-stats", "recover"],
      points: [...STATE_FILE_CRASH_POINTS],
    }),

    open: (dir, config) =>
      store.open(dir, config, async (cfg, started) => {
        const file = path.join(dir, STATE_FILE_NAME);
        // StateFile reports that it dropped a torn WAL, not how big it was: measure it first.
        const walBytes = fileSize(stateWalPath(file)) ?? 0;
        const sf = await StateFile.open(file, cfg.history === undefined ? {} : { history: cfg.history });
        const current = await load(sf);
        const { replayed, discardedWal } = sf.recovery;
        return {
          store: { sf, current },
          result: {
            lastSeq: current.seq,
            recovery: {
              elapsedMs: performance.now() - started,
              recordsReplayed: replayed ? 1 : 0,
              bytesDiscarded: discardedWal ? walBytes : 0,
              rolledForward: replayed,
              discardedIntent: discardedWal,
            },
          },
        };
      }),

    append: (ops) =>
      store.run(async (open) => {
        if (!Array.isArray(ops) || ops.length === 0)
          throw new TypeError(`append needs at least one op, got ${JSON.stringify(ops)}`);
        // No prototype: a key like "__proto__" is data, not a setter.
        const state: Record<string, string> = Object.assign(Object.create(null), open.current.state);
        for (const op of ops) {
          if (op.value === null) delete state[op.key];
          else state[op.key] = op.value;
        }
        const next: StateDocument = { seq: open.current.seq + 1, state };
        await open.sf.write({ seq: next.seq, state: next.state });
        open.current = next;
        return { seq: next.seq };
      }),

    read: () =>
      store.run(async ({ sf }) => {
        const doc = await load(sf);
        return { lastSeq: doc.seq, state: doc.state };
      }),

    check: () =>
      store.run(async ({ sf, current }) => {
        const problems: string[] = [];
        let buf: Buffer | undefined;
        try {
          buf = fs.readFileSync(sf.file);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "ENOENT")
            problems.push(`${sf.file}: cannot read: ${(error as Error).message}`);
        }
        if (buf === undefined) {
          if (current.seq > 0 && problems.length === 0)
            problems.push(`${sf.file}: missing, but ${current.seq} batches were acknowledged`);
        } else {
          try {
            const { data, version } = decodeStateRecord(buf, sf.file); // checksum, version, canonical bytes
            const doc = parseStateDocument(data);
            if (typeof doc === "string") problems.push(`${sf.file}: ${doc}`);
            else {
              if (doc.seq !== version) problems.push(`${sf.file}: document seq ${doc.seq} at file version ${version}`);
              if (doc.seq !== current.seq)
                problems.push(
                  `${sf.file}: holds seq ${doc.seq}, but the last acknowledged batch is seq ${current.seq}`,
                );
            }
          } catch (error) {
            problems.push((error as Error).message);
          }
        }
        // Between writes the WAL and the temp file are gone; one left over means a write
        // did not finish its last step.
        for (const leftover of [sf.walFile, `${sf.file}.tmp`]) {
          if (fs.existsSync(leftover)) problems.push(`${leftover}: left over with no write in progress`);
        }
        return problems.length === 0 ? ["ok"] : problems;
      }),

    close: () => store.close(),
  };
}
