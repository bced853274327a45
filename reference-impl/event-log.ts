import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import { crashpoint } from "../harness/protocol/crashpoint.js";
import { crc32c } from "./crc32c.js";
import { loadPino } from "./default-logger.js";
import { ensureDir, fsyncDir, writeFully } from "./durable-fs.js";
import { WalError } from "./errors.js";
import { stableStringify, type JsonValue } from "../harness/protocol/stable-json.js";

// Design A: an orchestrator's event log. One JSONL file per run, one event per line,
// each line carrying a CRC32C of the event so recovery can tell a torn tail (the last
// append was cut short) from corruption in the middle (the log cannot be trusted).

/** A JSON object: the payload of an event. */
export type JsonObject = { [key: string]: JsonValue };

/** One event of a run, as appended and as read back. */
export interface Event {
  run_id: string;
  /** Dotted lowercase name, e.g. `task.accepted`. */
  type: string;
  /** 1-based, contiguous per run. */
  seq: number;
  /** Epoch milliseconds, an integer. */
  ts: number;
  payload: JsonObject;
}

/**
 * What `append` and the lifecycle helpers return. `durable` is true when the line was
 * written (and fdatasync'd, with `fsync` on). It is false only in fail-open mode, from the
 * first failed append until the log is reopened: the event is then NOT in the log, its
 * `seq` is handed to the next durable append, it does not count in `snapshot()`, and
 * `error` says what failed.
 */
export interface AppendResult {
  event: Event;
  durable: boolean;
  error?: WalError;
}

/** What `EventLog.open` found: events replayed and torn-tail bytes cut off. */
export interface EventLogRecovery {
  eventsReplayed: number;
  bytesDiscarded: number;
  elapsedMs: number;
}

/** The run state derived from the log, as `snapshot()` reports it. */
export interface Snapshot {
  run_id: string;
  seq: number;
  ts: number;
  state: {
    tasks: { queued: number };
    results: { applied_count: number };
    /** Always 0: this design does not version the context. */
    context_version: number;
  };
}

/**
 * The file operations `append` uses. Tests replace them (`EventLogOptions.io`) to inject
 * I/O errors deterministically; the defaults are the synchronous `node:fs` calls.
 */
export interface EventLogIo {
  write(fd: number, data: Uint8Array, position: number): void;
  fdatasync(fd: number): void;
  ftruncate(fd: number, length: number): void;
}

/** Options of `EventLog.open`. */
export interface EventLogOptions {
  /** fdatasync after every append (default true). */
  fsync?: boolean;
  /** On an I/O error in `append`, log it and go on instead of throwing (default false). */
  failOpen?: boolean;
  /** Where fail-open errors and recovery notes go (default: pino to stderr, created on first use). */
  logger?: Logger;
  /** Clock for events appended without `ts` (default `Date.now`). */
  now?: () => number;
  /** Replacement file operations for fault injection. */
  io?: Partial<EventLogIo>;
}

const RUN_ID_RE = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
const RUN_ID_MAX = 200; // keeps `<runId>.wal.jsonl` under the usual 255-byte NAME_MAX
const EVENT_TYPE_RE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
const CRC_RE = /^[0-9a-f]{8}$/;
const EVENT_KEYS = ["crc", "payload", "run_id", "seq", "ts", "type"].join(",");

const defaultIo: EventLogIo = {
  write: (fd, data, position) => writeFully(fd, data, position),
  fdatasync: (fd) => fs.fdatasyncSync(fd),
  ftruncate: (fd, length) => fs.ftruncateSync(fd, length),
};

/** Throws TypeError unless `runId` is a safe file-name stem: [A-Za-z0-9._-], not empty, no leading dot. */
export function validateRunId(runId: unknown): asserts runId is string {
  if (typeof runId !== "string" || runId.length > RUN_ID_MAX || !RUN_ID_RE.test(runId)) {
    throw new TypeError(
      `runId must be 1-${RUN_ID_MAX} characters of [A-Za-z0-9._-] not starting with ".", got ${JSON.stringify(runId)}`,
    );
  }
}

/** The log file of a run: `<walDir>/<runId>.wal.jsonl`. Throws TypeError on an unsafe `runId`. */
export function walPath(runId: string, walDir: string): string {
  validateRunId(runId);
  return path.join(walDir, `${runId}.wal.jsonl`);
}

/** CRC32C of the stable serialization of `event` (without any crc field), as 8 lowercase hex digits. */
export function eventCrc(event: Event): string {
  const body = stableStringify({
    run_id: event.run_id,
    type: event.type,
    seq: event.seq,
    ts: event.ts,
    payload: event.payload,
  });
  return (crc32c(Buffer.from(body, "utf8")) >>> 0).toString(16).padStart(8, "0");
}

/** The on-disk line of `event`: stableStringify({...event, crc}) + "\n". Same event, same bytes. */
export function encodeEvent(event: Event): string {
  return `${stableStringify({ ...event, crc: eventCrc(event) })}\n`;
}

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes one line (without its "\n"); returns the event, or why the line is not one. */
function decodeLine(line: Buffer): Event | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(line));
  } catch {
    return "not valid UTF-8 JSON";
  }
  if (!isJsonObject(parsed)) return "not a JSON object";
  if (Object.keys(parsed).sort().join(",") !== EVENT_KEYS) return "wrong set of fields";
  const { crc, run_id, type, seq, ts, payload } = parsed;
  if (typeof crc !== "string" || !CRC_RE.test(crc)) return "bad crc field";
  if (typeof run_id !== "string" || typeof type !== "string" || !EVENT_TYPE_RE.test(type)) return "bad run_id or type";
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) return "bad seq";
  if (typeof ts !== "number" || !Number.isSafeInteger(ts) || ts < 0) return "bad ts";
  if (!isJsonObject(payload)) return "payload is not an object";
  const event: Event = { run_id, type, seq, ts, payload };
  if (eventCrc(event) !== crc) return "crc mismatch";
  // Only the canonical bytes are valid, so a line that parses to the same event but was
  // written differently (spaces, key order) is not silently accepted.
  if (!Buffer.from(encodeEvent(event).slice(0, -1), "utf8").equals(line)) return "not in canonical form";
  return event;
}

interface ScanResult {
  events: Event[];
  /** Byte offset of each event's line. */
  offsets: number[];
  /** Length of the valid prefix; everything after it is the torn tail. */
  validBytes: number;
}

function corrupt(file: string, offset: number, line: number, reason: string): WalError {
  return new WalError("WAL_CORRUPT", `${file}: corrupt event log at byte offset ${offset} (line ${line}): ${reason}`, {
    details: { file, offset, line },
  });
}

/**
 * Splits a log into events. Only the last line may be bad (torn by a crash mid-append):
 * a line without "\n", or a final line that does not decode. Any other bad line, or a
 * good line of another run, is corruption and throws WAL_CORRUPT with its byte offset.
 */
function scan(buf: Buffer, file: string, runId: string): ScanResult {
  const events: Event[] = [];
  const offsets: number[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(0x0a, pos);
    if (nl === -1) break; // no newline: the append never finished
    const decoded = decodeLine(buf.subarray(pos, nl));
    if (typeof decoded === "string") {
      if (nl + 1 === buf.length) break; // bad final line: torn tail
      throw corrupt(file, pos, events.length + 1, `${decoded}, and more data follows`);
    }
    if (decoded.run_id !== runId) {
      throw corrupt(
        file,
        pos,
        events.length + 1,
        `run_id ${JSON.stringify(decoded.run_id)} in the log of ${JSON.stringify(runId)}`,
      );
    }
    events.push(decoded);
    offsets.push(pos);
    pos = nl + 1;
  }
  return { events, offsets, validBytes: pos };
}

/**
 * Refuses to treat a bad last line as a torn tail when it starts with a whole event and
 * goes on (the newline between two events lost to a flipped bit, say): a crash tears only
 * the last append, so a torn tail holds part of one event at most, and cutting this one
 * would silently drop acknowledged events. Throws WAL_CORRUPT at the end of that event.
 */
function refuseDamagedTail(buf: Buffer, scanned: ScanResult, file: string): void {
  const tail = buf.subarray(scanned.validBytes);
  for (let end = tail.indexOf(0x7d); end !== -1 && end + 1 < tail.length; end = tail.indexOf(0x7d, end + 1)) {
    const event = decodeLine(tail.subarray(0, end + 1));
    if (typeof event === "string") continue;
    const offset = scanned.validBytes + end + 1;
    throw new WalError(
      "WAL_CORRUPT",
      `${file}: corrupt event log at byte offset ${offset}: the last line holds the whole event seq ${event.seq} and ${tail.length - end - 1} more bytes, which no interrupted append leaves`,
      { details: { file, offset } },
    );
  }
}

/**
 * Reads a run's events without changing the file: a bad last line is left out (telling a
 * torn one from a damaged one is `EventLog.open`'s job), a corrupt line before it throws
 * WAL_CORRUPT. Contiguity of `seq` is not checked here (`EventLog.open` checks it too);
 * events come back ordered by (seq, ts), ties in file order.
 * A missing file gives [].
 */
export async function loadEvents(runId: string, walDir: string): Promise<Event[]> {
  const file = walPath(runId, walDir);
  let buf: Buffer;
  try {
    buf = await fs.promises.readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new WalError("WAL_IO", `${file}: cannot read event log`, { cause: error, details: { file } });
  }
  return scan(buf, file, runId).events.sort((a, b) => a.seq - b.seq || a.ts - b.ts);
}

/** Counters behind `snapshot()`, folded over durable events in seq order. */
class RunState {
  private readonly queued = new Set<string>();
  private applied = 0;

  apply(event: Event): void {
    const taskId = event.payload.task_id;
    switch (event.type) {
      case "task.accepted":
        if (typeof taskId === "string") this.queued.add(taskId);
        break;
      case "task.completed":
      case "task.cancelled":
        if (typeof taskId === "string") this.queued.delete(taskId);
        break;
      case "result.applied":
        this.applied += 1;
        break;
    }
  }

  get queuedCount(): number {
    return this.queued.size;
  }

  get appliedCount(): number {
    return this.applied;
  }
}

function requireTaskId(taskId: unknown): string {
  if (typeof taskId !== "string" || taskId.length === 0)
    throw new TypeError(`taskId must be a non-empty string, got ${JSON.stringify(taskId)}`);
  return taskId;
}

/**
 * Append-only JSONL event log of one run, at `walPath(runId, walDir)`. Single writer:
 * open one EventLog per file. File I/O is synchronous inside the async methods, so
 * appends are strictly ordered without a lock (each one finishes before the next starts).
 */
export class EventLog {
  private readonly state = new RunState();
  private readonly io: EventLogIo;
  private readonly fsync: boolean;
  private readonly failOpen: boolean;
  private readonly now: () => number;
  private logger: Logger | undefined;
  private fd: number | undefined;
  private lastSeq: number;
  private size: number;
  /** The error that broke the log (see `append`); undefined while it is healthy. */
  private failure: unknown = undefined;

  private constructor(
    /** The run this log belongs to. */
    readonly runId: string,
    /** The log file. */
    readonly path: string,
    fd: number,
    scanned: ScanResult,
    /** What recovery did on open. */
    readonly recovery: EventLogRecovery,
    options: EventLogOptions,
  ) {
    this.fd = fd;
    this.io = { ...defaultIo, ...options.io };
    this.fsync = options.fsync ?? true;
    this.failOpen = options.failOpen ?? false;
    this.now = options.now ?? Date.now;
    this.logger = options.logger;
    this.lastSeq = scanned.events.length;
    this.size = scanned.validBytes;
    for (const event of scanned.events) this.state.apply(event);
  }

  /**
   * Opens (creating if needed) the log of `runId` in `walDir` and recovers it: a torn
   * last line is truncated away (reported as `recovery.bytesDiscarded`); a bad line
   * before the last, a last line that starts with a whole event (more than a torn append
   * leaves), or seqs that are not 1, 2, 3, ..., throw WAL_CORRUPT and change nothing.
   */
  static async open(runId: string, walDir: string, options: EventLogOptions = {}): Promise<EventLog> {
    const file = walPath(runId, walDir);
    const started = performance.now();
    ensureDir(walDir);
    let fd: number;
    let created = true;
    try {
      fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
        throw new WalError("WAL_IO", `${file}: cannot create event log`, { cause: error, details: { file } });
      }
      created = false;
      fd = fs.openSync(file, fs.constants.O_RDWR);
    }
    try {
      if (created) fsyncDir(walDir); // make the new entry durable before anything is logged in it
      const buf = fs.readFileSync(fd);
      const scanned = scan(buf, file, runId);
      refuseDamagedTail(buf, scanned, file);
      scanned.events.forEach((event, i) => {
        if (event.seq !== i + 1) {
          throw corrupt(file, scanned.offsets[i] ?? 0, i + 1, `seq ${event.seq} where ${i + 1} was expected`);
        }
      });
      const bytesDiscarded = buf.length - scanned.validBytes;
      if (bytesDiscarded > 0) {
        // Always synced, even with fsync off: a torn tail that comes back after a crash
        // would sit in the middle of the log once later appends land after it.
        fs.ftruncateSync(fd, scanned.validBytes);
        fs.fsyncSync(fd);
        options.logger?.warn({ file, offset: scanned.validBytes, bytesDiscarded }, "event log: discarded torn tail");
      }
      const recovery = {
        eventsReplayed: scanned.events.length,
        bytesDiscarded,
        elapsedMs: performance.now() - started,
      };
      return new EventLog(runId, file, fd, scanned, recovery, options);
    } catch (error) {
      fs.closeSync(fd);
      if (error instanceof WalError) throw error;
      throw new WalError("WAL_IO", `${file}: cannot recover event log`, { cause: error, details: { file } });
    }
  }

  /** Seq of the last durable event (0 for an empty log). */
  get seq(): number {
    return this.lastSeq;
  }

  /**
   * Appends one event with seq = last + 1 and `ts` (default `now()`), as one write of one
   * line, then fdatasync (with `fsync` on). Invalid arguments throw TypeError; a closed log
   * throws WAL_CLOSED. On an I/O error the partial line is truncated away, then: fail-closed
   * (default) throws WAL_IO with the error as `cause`; fail-open logs it and resolves
   * `{ event, durable: false, error }`. Either way the log is then broken (fail-stop): a
   * failed fdatasync may have dropped earlier dirty pages too, so no later append is
   * acknowledged until a reopen has recovered the log. Later appends write nothing and
   * throw WAL_FAILED (fail-closed) or return durable: false with it (fail-open), naming
   * the file; its `cause` is the failed append's WAL_IO or, if even cutting the partial
   * line failed (the file's tail is then unknown), that error.
   */
  async append(type: string, payload: JsonObject, ts?: number): Promise<AppendResult> {
    if (this.fd === undefined)
      throw new WalError("WAL_CLOSED", `${this.path}: event log is closed`, { details: { file: this.path } });
    if (typeof type !== "string" || !EVENT_TYPE_RE.test(type)) {
      throw new TypeError(
        `event type must be a dotted lowercase name like "task.accepted", got ${JSON.stringify(type)}`,
      );
    }
    if (!isJsonObject(payload))
      throw new TypeError(`event payload must be a JSON object, got ${JSON.stringify(payload)}`);
    const when = ts ?? this.now();
    if (!Number.isSafeInteger(when) || when < 0)
      throw new TypeError(`event ts must be a non-negative integer of epoch ms, got ${when}`);
    // A canonical copy: the returned event is exactly what a reader will get back, and
    // later changes to the caller's object cannot reach it.
    const event: Event = {
      run_id: this.runId,
      type,
      seq: this.lastSeq + 1,
      ts: when,
      payload: JSON.parse(stableStringify(payload)),
    };
    const line = Buffer.from(encodeEvent(event), "utf8");

    if (this.failure !== undefined) {
      return this.failed(
        event,
        new WalError("WAL_FAILED", `${this.path}: an earlier append failed; reopen to recover`, {
          cause: this.failure,
          details: { file: this.path },
        }),
      );
    }
    const fd = this.fd;
    let op = "write";
    try {
      crashpoint("event.before-write");
      this.io.write(fd, line, this.size);
      crashpoint("event.after-write");
      if (this.fsync) {
        op = "fdatasync";
        this.io.fdatasync(fd);
      }
    } catch (error) {
      const failure = new WalError("WAL_IO", `${this.path}: append of seq ${event.seq} failed in ${op}`, {
        cause: error,
        details: { file: this.path, offset: this.size, seq: event.seq, op },
      });
      this.failure = this.rollback(fd) ?? failure;
      return this.failed(event, failure);
    }
    this.size += line.length;
    this.lastSeq = event.seq;
    this.state.apply(event);
    return { event, durable: true };
  }

  /** Cuts a partial line off after a failed append; returns the error if that fails too. */
  private rollback(fd: number): unknown {
    try {
      this.io.ftruncate(fd, this.size);
      if (this.fsync) this.io.fdatasync(fd);
      return undefined;
    } catch (error) {
      return error;
    }
  }

  private failed(event: Event, error: WalError): AppendResult {
    if (!this.failOpen) throw error;
    // pino is loaded on first use: a process that never logs does not load it.
    if (!this.logger) {
      const { pino } = loadPino();
      this.logger = pino({ name: "walcheck.event-log" }, pino.destination(2));
    }
    this.logger.error(
      { err: error, file: this.path, seq: event.seq, type: event.type },
      "event log append failed; continuing (fail-open)",
    );
    return { event, durable: false, error };
  }

  /** Logs `task.accepted` with payload `{ task_id, trace_id }`. */
  async taskAccepted(taskId: string, traceId: string): Promise<AppendResult> {
    if (typeof traceId !== "string") throw new TypeError(`traceId must be a string, got ${JSON.stringify(traceId)}`);
    return this.append("task.accepted", { task_id: requireTaskId(taskId), trace_id: traceId });
  }

  /** Logs `task.started` with payload `{ task_id }`. */
  async taskStarted(taskId: string): Promise<AppendResult> {
    return this.append("task.started", { task_id: requireTaskId(taskId) });
  }

  /** Logs `result.applied` with payload `{ task_id, result? }` (result omitted when undefined). */
  async resultApplied(taskId: string, result?: JsonValue): Promise<AppendResult> {
    const payload: JsonObject = { task_id: requireTaskId(taskId) };
    if (result !== undefined) payload.result = result;
    return this.append("result.applied", payload);
  }

  /** Logs `task.completed` with payload `{ task_id }`. */
  async taskCompleted(taskId: string): Promise<AppendResult> {
    return this.append("task.completed", { task_id: requireTaskId(taskId) });
  }

  /** Logs `task.cancelled` with payload `{ task_id, reason }`. */
  async recordCancellation(taskId: string, reason: string): Promise<AppendResult> {
    if (typeof reason !== "string") throw new TypeError(`reason must be a string, got ${JSON.stringify(reason)}`);
    return this.append("task.cancelled", { task_id: requireTaskId(taskId), reason });
  }

  /**
   * The run state the durable events add up to, stamped `tsMs` (default `now()`):
   * queued = tasks accepted and not yet completed or cancelled; applied_count = number of
   * `result.applied` events. Events of failed (non-durable) appends do not count.
   */
  snapshot(tsMs: number = this.now()): Snapshot {
    if (!Number.isSafeInteger(tsMs) || tsMs < 0)
      throw new TypeError(`snapshot ts must be a non-negative integer of epoch ms, got ${tsMs}`);
    return {
      run_id: this.runId,
      seq: this.lastSeq,
      ts: tsMs,
      state: {
        tasks: { queued: this.state.queuedCount },
        results: { applied_count: this.state.appliedCount },
        context_version: 0,
      },
    };
  }

  /** Closes the file; idempotent. Later appends throw WAL_CLOSED. */
  async close(): Promise<void> {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    fs.closeSync(fd);
  }
}
