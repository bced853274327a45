import fs from "node:fs";
import { performance } from "node:perf_hooks";
import type { WalAdapter } from "../harness/wal-adapter.js";
import { AsyncMutex } from "./async-mutex.js";
import { DirLock } from "./dir-lock.js";
import { ensureDir } from "./durable-fs.js";
import { WalError } from "./errors.js";
import { encodeEvent, EventLog, loadEvents, walPath, type Event } from "./event-log.js";

// Design A behind the adapter protocol: every append is one event of the run "walcheck",
// `{run_id, type: "kv.batch", seq, ts, payload: {ops}}`, appended fail-closed with an
// fdatasync before the ack. The state is the fold of the events as loadEvents replays
// them, in (seq, ts) order. EventLog has no snapshots or compaction, so there is no
// checkpoint: the log only grows. EventLog is single-writer: the directory's flock
// (`<dir>/LOCK`, as the reference WAL takes it) refuses a second process.

/** `open.config` of the event-log adapter (and `walcheck serve --adapter event-log --config`). */
export interface EventLogAdapterConfig {
  /** `logical` (default): ts = seq, so the same batches give byte-identical files (hello lists `deterministic`); `wall`: Date.now(). */
  clock?: "logical" | "wall";
}

/** The run every walcheck event belongs to: the log is `<dir>/walcheck.wal.jsonl`. */
export const EVENT_LOG_RUN_ID = "walcheck";
/** The event type of one batch (EventLog types are dotted names). */
export const BATCH_EVENT_TYPE = "kv.batch";
/** The named crash points inside `EventLog.append`, around its one write (the fdatasync follows the second). */
export const EVENT_LOG_POINTS = ["event.before-write", "event.after-write"] as const;

function parseConfig(raw: Record<string, unknown>): EventLogAdapterConfig {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    if (key !== "clock") problems.push(`${key}: unknown field`);
    else if (value !== undefined && value !== "logical" && value !== "wall") problems.push(`clock: expected "logical" or "wall", got ${JSON.stringify(value)}`);
  }
  if (problems.length > 0) throw new WalError("WAL_CONFIG", `invalid event-log config: ${problems.join("; ")}`);
  return raw as EventLogAdapterConfig;
}

/** The fold of replayed events: the state, its seq, each event's line, and what is wrong with them. */
interface Fold {
  lastSeq: number;
  state: Record<string, string>;
  /** Each event's serialized line, without its "\n", in replay order. */
  lines: string[];
  problems: string[];
}

function batchOps(event: Event): { key: string; value: string | null }[] | string {
  if (event.type !== BATCH_EVENT_TYPE) return `type ${JSON.stringify(event.type)}, not ${BATCH_EVENT_TYPE}`;
  const { ops } = event.payload;
  if (Object.keys(event.payload).join(",") !== "ops" || !Array.isArray(ops) || ops.length === 0) return "payload is not {ops: [...]} with at least one op";
  for (const op of ops) {
    if (typeof op !== "object" || op === null || Array.isArray(op) || Object.keys(op).sort().join(",") !== "key,value") return `op ${JSON.stringify(op)} is not {key, value}`;
    const { key, value } = op as { key: unknown; value: unknown };
    if (typeof key !== "string" || key.length === 0 || (typeof value !== "string" && value !== null)) return `op ${JSON.stringify(op)} is not {key: string, value: string | null}`;
  }
  return ops as { key: string; value: string | null }[];
}

/** Applies events in the order given (loadEvents' (seq, ts) order), noting every event that is not the next batch. */
function fold(events: Event[]): Fold {
  // No prototype: a key like "__proto__" is data, not a setter.
  const state: Record<string, string> = Object.create(null);
  const lines: string[] = [];
  const problems: string[] = [];
  let lastSeq = 0;
  for (const event of events) {
    const where = `event seq ${event.seq}`;
    if (event.seq !== lastSeq + 1) problems.push(`${where}: expected seq ${lastSeq + 1}`);
    const ops = batchOps(event);
    if (typeof ops === "string") {
      problems.push(`${where}: ${ops}`);
      continue;
    }
    for (const op of ops) {
      if (op.value === null) delete state[op.key];
      else state[op.key] = op.value;
    }
    lines.push(encodeEvent(event).slice(0, -1));
    lastSeq = event.seq;
  }
  return { lastSeq, state, lines, problems };
}

/** The event `bytes` holds exactly (canonical, checksum right), or undefined. */
function wholeEvent(bytes: Buffer): Event | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
  const { run_id, type, seq, ts, payload } = parsed as Record<string, unknown>;
  if (typeof run_id !== "string" || typeof type !== "string" || typeof seq !== "number" || typeof ts !== "number" || typeof payload !== "object" || payload === null) return undefined;
  const event = { run_id, type, seq, ts, payload } as Event;
  try {
    return Buffer.from(encodeEvent(event), "utf8").equals(Buffer.concat([bytes, Buffer.from("\n")])) ? event : undefined;
  } catch {
    return undefined;
  }
}

/**
 * EventLog.open drops a bad last line as the torn tail of an interrupted append. A crash
 * tears only the last append, so that tail holds part of one event at most. If it starts
 * with a whole event and goes on (the newline between two events lost to a flipped bit,
 * say), cutting it would silently drop acknowledged events: throw WAL_CORRUPT instead.
 * `events` are the log's intact lines (loadEvents); reads only; a missing log is fine.
 */
function refuseDamagedTail(file: string, events: Event[]): void {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw new WalError("WAL_IO", `${file}: cannot read event log`, { cause: error, details: { file } });
  }
  const intact = Buffer.byteLength(events.map(encodeEvent).join(""), "utf8");
  const tail = buf.subarray(intact);
  for (let end = tail.indexOf(0x7d); end !== -1 && end + 1 < tail.length; end = tail.indexOf(0x7d, end + 1)) {
    const event = wholeEvent(tail.subarray(0, end + 1));
    if (event) {
      throw new WalError(
        "WAL_CORRUPT",
        `${file}: corrupt event log at byte offset ${intact + end + 1}: the last line holds the whole event seq ${event.seq} and ${tail.length - end - 1} more bytes, which no interrupted append leaves`,
        { details: { file, offset: intact + end + 1 } },
      );
    }
  }
}

/** The event log behind the WalAdapter interface (what `walcheck serve --adapter event-log` speaks). */
export function createEventLogAdapter(defaults: EventLogAdapterConfig = {}): WalAdapter {
  parseConfig(defaults as Record<string, unknown>);
  const mutex = new AsyncMutex();
  let log: EventLog | undefined;
  let lock: DirLock | undefined;
  /**
   * The first append error. EventLog cuts the failed line off and would take the next
   * append, but after a failed fdatasync the kernel may have dropped earlier dirty pages
   * too: no later ack is honest until a reopen has recovered the log (fail-stop).
   */
  let failure: unknown;
  let dir = "";
  let logical = false;
  const opened = (): EventLog => {
    if (!log) throw new WalError("WAL_CLOSED", "open must come first");
    return log;
  };

  return {
    hello: () => ({
      name: "walcheck-event-log",
      protocol: 1,
      // Fail-closed with fsync on: an append resolves only after its fdatasync.
      durability: "power",
      // A CRC32C on every event line; a torn last line is cut off and counted in bytesDiscarded.
      // With the logical clock (the default), the same batches give the same bytes.
      features: ["check", "checksums", "recovery-stats", ...(defaults.clock === "wall" ? [] : ["deterministic"])],
      points: [...EVENT_LOG_POINTS],
    }),

    // Every op takes its turn behind the one before: ops pipelined behind `open` wait for it,
    // and appends are acknowledged in seq order.
    open: (walDir, config) =>
      mutex.run(async () => {
        if (log) throw new WalError("WAL_INVALID", "the event log is already open");
        const cfg = parseConfig({ ...defaults, ...config });
        const started = performance.now();
        ensureDir(walDir);
        const held = DirLock.acquire(walDir);
        let opening: EventLog | undefined;
        try {
          // loadEvents changes nothing: it throws WAL_CORRUPT for damage before the last
          // line and leaves a bad last line out. EventLog.open then cuts that line off
          // (unless it is more than a torn append) and rejects seq gaps; the fold rejects
          // events that are not batches, which this log never writes.
          const events = await loadEvents(EVENT_LOG_RUN_ID, walDir);
          refuseDamagedTail(walPath(EVENT_LOG_RUN_ID, walDir), events);
          opening = await EventLog.open(EVENT_LOG_RUN_ID, walDir, { fsync: true, failOpen: false });
          const replayed = fold(events);
          if (replayed.problems.length > 0) {
            throw new WalError("WAL_CORRUPT", `${opening.path}: ${replayed.problems[0]}`, { details: { file: opening.path, problems: replayed.problems } });
          }
          if (replayed.lastSeq !== opening.seq) throw new WalError("WAL_CORRUPT", `${opening.path}: replay reached seq ${replayed.lastSeq}, the log holds ${opening.seq} events`);
        } catch (error) {
          await opening?.close();
          held.release();
          throw error;
        }
        log = opening;
        lock = held;
        failure = undefined;
        dir = walDir;
        logical = cfg.clock !== "wall";
        const r = opening.recovery;
        return {
          lastSeq: opening.seq,
          recovery: { elapsedMs: performance.now() - started, recordsReplayed: r.eventsReplayed, bytesDiscarded: r.bytesDiscarded },
        };
      }),

    append: (ops) =>
      mutex.run(async () => {
        const events = opened();
        if (!Array.isArray(ops) || ops.length === 0) throw new TypeError(`append needs at least one op, got ${JSON.stringify(ops)}`);
        if (failure !== undefined) {
          throw new WalError("WAL_FAILED", `${events.path}: an earlier append failed; reopen to recover`, { cause: failure, details: { file: events.path } });
        }
        const payload = { ops: ops.map(({ key, value }) => ({ key, value })) };
        try {
          const { event, durable, error } = await events.append(BATCH_EVENT_TYPE, payload, logical ? events.seq + 1 : undefined);
          // Fail-closed never returns a non-durable event; if it ever did, this is no ack.
          if (!durable) throw error ?? new WalError("WAL_IO", `${events.path}: append of seq ${event.seq} was not durable`);
          return { seq: event.seq };
        } catch (error) {
          // A TypeError is a bad request that wrote nothing; anything else poisons the log.
          if (!(error instanceof TypeError)) failure = error;
          throw error;
        }
      }),

    read: () =>
      mutex.run(async () => {
        opened();
        const replayed = fold(await loadEvents(EVENT_LOG_RUN_ID, dir));
        if (replayed.problems.length > 0) throw new WalError("WAL_CORRUPT", `${walPath(EVENT_LOG_RUN_ID, dir)}: ${replayed.problems[0]}`);
        // `log` is an extension field: the replayed events' lines, in replay order.
        return { lastSeq: replayed.lastSeq, state: replayed.state, log: replayed.lines };
      }),

    check: () =>
      mutex.run(async () => {
        const events = opened();
        let loaded: Event[];
        try {
          loaded = await loadEvents(EVENT_LOG_RUN_ID, dir);
        } catch (error) {
          return [(error as Error).message];
        }
        const replayed = fold(loaded);
        const problems = [...replayed.problems];
        if (replayed.lastSeq !== events.seq) problems.push(`${events.path}: replay reaches seq ${replayed.lastSeq}, but the last acknowledged batch is seq ${events.seq}`);
        // loadEvents skips a torn last line and sorts; the file must be exactly the events'
        // canonical lines in seq order, with nothing after them.
        const bytes = fs.readFileSync(events.path);
        const expected = Buffer.from(loaded.map(encodeEvent).join(""), "utf8");
        if (!bytes.equals(expected)) {
          if (bytes.length > expected.length && bytes.subarray(0, expected.length).equals(expected)) {
            problems.push(`${events.path}: ${bytes.length - expected.length} bytes after the last complete event`);
          } else {
            problems.push(`${events.path}: the events are not stored in seq order`);
          }
        }
        return problems.length === 0 ? ["ok"] : problems;
      }),

    async close() {
      await mutex.run(() => undefined);
      await log?.close();
      log = undefined;
      lock?.release();
      lock = undefined;
    },
  };
}
