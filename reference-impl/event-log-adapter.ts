import fs from "node:fs";
import { performance } from "node:perf_hooks";
import type { WalAdapter } from "../harness/protocol/wal-adapter.js";
import { WalError } from "./errors.js";
import { encodeEvent, EventLog, loadEvents, walPath, type Event } from "./event-log.js";
import { configParser, LockedStore } from "./locked-adapter.js";

// Design A behind the adapter protocol: every append is one event of the run "walcheck",
// `{run_id, type: "kv.batch", seq, ts, payload: {ops}}`, appended fail-closed with an
// fdatasync before the ack. The state is the fold of the events as loadEvents replays
// them, in (seq, ts) order. EventLog has no snapshots or compaction, so there is no
// checkpoint: the log only grows. EventLog is single-writer: LockedStore holds the
// directory's flock from open to close.

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

const parseConfig = configParser<EventLogAdapterConfig>("event-log", {
  clock: (v) =>
    v === "logical" || v === "wall" ? undefined : `expected "logical" or "wall", got ${JSON.stringify(v)}`,
});

/** The open log, its directory, and whether events take ts = seq. */
interface OpenLog {
  log: EventLog;
  dir: string;
  logical: boolean;
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
  if (Object.keys(event.payload).join(",") !== "ops" || !Array.isArray(ops) || ops.length === 0)
    return "payload is not {ops: [...]} with at least one op";
  for (const op of ops) {
    if (typeof op !== "object" || op === null || Array.isArray(op) || Object.keys(op).sort().join(",") !== "key,value")
      return `op ${JSON.stringify(op)} is not {key, value}`;
    const { key, value } = op as { key: unknown; value: unknown };
    if (typeof key !== "string" || key.length === 0 || (typeof value !== "string" && value !== null))
      return `op ${JSON.stringify(op)} is not {key: string, value: string | null}`;
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

/** The event log behind the WalAdapter interface (what `walcheck serve --adapter event-log` speaks). */
export function createEventLogAdapter(defaults: EventLogAdapterConfig = {}): WalAdapter {
  // Every op takes its turn behind the one before: ops pipelined behind `open` wait for it,
  // and appends are acknowledged in seq order.
  const store = new LockedStore<OpenLog, EventLogAdapterConfig>({
    store: "the event log",
    parseConfig,
    defaults,
    close: ({ log }) => log.close(),
  });

  return {
    hello: () => ({
      name: "walcheck-event-log",
      protocol: 1,
      // Fail-closed with fsync on: an append resolves only after its fdatasync.
      durability: "power",
      // A CRC32C on every event line; a torn last line is cut off and counted in bytesDiscarded.
      // With the logical clock (the default), the same batches give the same bytes.
      features: [
        "check",
        "checksums",
        "recovery-stats",
        "recover",
        ...(defaults.clock === "wall" ? [] : ["deterministic"]),
      ],
      points: [...EVENT_LOG_POINTS],
    }),

    open: (dir, config) =>
      store.open(dir, config, async (cfg, started) => {
        // loadEvents changes nothing: it throws WAL_CORRUPT for damage before the last line
        // and leaves a bad last line out. EventLog.open then cuts that line off (unless it
        // is more than a torn append) and rejects seq gaps; the fold rejects events that
        // are not batches, which this log never writes.
        const events = await loadEvents(EVENT_LOG_RUN_ID, dir);
        const log = await EventLog.open(EVENT_LOG_RUN_ID, dir, { fsync: true, failOpen: false });
        try {
          const replayed = fold(events);
          if (replayed.problems.length > 0) {
            throw new WalError("WAL_CORRUPT", `${log.path}: ${replayed.problems[0]}`, {
              details: { file: log.path, problems: replayed.problems },
            });
          }
          if (replayed.lastSeq !== log.seq)
            throw new WalError(
              "WAL_CORRUPT",
              `${log.path}: replay reached seq ${replayed.lastSeq}, the log holds ${log.seq} events`,
            );
        } catch (error) {
          await log.close();
          throw error;
        }
        const r = log.recovery;
        return {
          store: { log, dir, logical: cfg.clock !== "wall" },
          result: {
            lastSeq: log.seq,
            recovery: {
              elapsedMs: performance.now() - started,
              recordsReplayed: r.eventsReplayed,
              bytesDiscarded: r.bytesDiscarded,
            },
          },
        };
      }),

    // After a failed append EventLog refuses every later one with WAL_FAILED until a reopen (fail-stop).
    append: (ops) =>
      store.run(async ({ log, logical }) => {
        if (!Array.isArray(ops) || ops.length === 0)
          throw new TypeError(`append needs at least one op, got ${JSON.stringify(ops)}`);
        const payload = { ops: ops.map(({ key, value }) => ({ key, value })) };
        const { event, durable, error } = await log.append(
          BATCH_EVENT_TYPE,
          payload,
          logical ? log.seq + 1 : undefined,
        );
        // Fail-closed never returns a non-durable event; if it ever did, this is no ack.
        if (!durable) throw error ?? new WalError("WAL_IO", `${log.path}: append of seq ${event.seq} was not durable`);
        return { seq: event.seq };
      }),

    read: () =>
      store.run(async ({ dir }) => {
        const replayed = fold(await loadEvents(EVENT_LOG_RUN_ID, dir));
        if (replayed.problems.length > 0)
          throw new WalError("WAL_CORRUPT", `${walPath(EVENT_LOG_RUN_ID, dir)}: ${replayed.problems[0]}`);
        // `log` is an extension field: the replayed events' lines, in replay order.
        return { lastSeq: replayed.lastSeq, state: replayed.state, log: replayed.lines };
      }),

    check: () =>
      store.run(async ({ log, dir }) => {
        let loaded: Event[];
        try {
          loaded = await loadEvents(EVENT_LOG_RUN_ID, dir);
        } catch (error) {
          return [(error as Error).message];
        }
        const replayed = fold(loaded);
        const problems = [...replayed.problems];
        if (replayed.lastSeq !== log.seq)
          problems.push(
            `${log.path}: replay reaches seq ${replayed.lastSeq}, but the last acknowledged batch is seq ${log.seq}`,
          );
        // loadEvents skips a torn last line and sorts; the file must be exactly the events'
        // canonical lines in seq order, with nothing after them.
        const bytes = fs.readFileSync(log.path);
        const expected = Buffer.from(loaded.map(encodeEvent).join(""), "utf8");
        if (!bytes.equals(expected)) {
          if (bytes.length > expected.length && bytes.subarray(0, expected.length).equals(expected)) {
            problems.push(`${log.path}: ${bytes.length - expected.length} bytes after the last complete event`);
          } else {
            problems.push(`${log.path}: the events are not stored in seq order`);
          }
        }
        return problems.length === 0 ? ["ok"] : problems;
      }),

    close: () => store.close(),
  };
}
