import fs from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { crashpoint } from "../harness/protocol/crashpoint.js";
import { crc32c } from "./crc32c.js";
import { ensureDir, fsyncDir, writeFileAtomic, writeFully } from "./durable-fs.js";
import { WalError } from "./errors.js";
import { stableStringify, type JsonValue } from "../harness/protocol/stable-json.js";

// Design B: one JSON state file, replaced as a whole, protected by a one-shot WAL at
// `<file>.wal`. The new content is made durable in the WAL first; only then is the state
// file replaced. A crash leaves either a torn WAL (the old state file is untouched, so the
// WAL is dropped) or a complete one (replayed on open, which is idempotent).
//
// State file: one line, stableStringify({ crc, data, version }) + "\n", where crc is the
//   CRC32C (8 hex digits) of stableStringify({ data, version }); version counts writes from 1.
// WAL: an intent line, stableStringify({ bytes, crc, kind: "intent" }) + "\n", followed by
//   exactly `bytes` bytes: the new state file content, whose CRC32C is `crc`.

/**
 * The named crash points of `StateFile.write` (WALCHECK_CRASH_AT), in the order a write
 * meets them. Up to `state.data` a crash recovers the old state; from `state.wal-synced`
 * on, the new one.
 */
export const STATE_FILE_CRASH_POINTS = [
  "state.intent",
  "state.data",
  "state.wal-synced",
  "state.file-half-written",
  "state.file-synced",
  "state.file-renamed",
  "state.file-written",
  "state.wal-deleted",
] as const;

/** Options of `StateFile.open`. */
export interface StateFileOptions {
  /** How many previous versions to keep in `<dir>/checkpoints/` (default 0). */
  history?: number;
  /** Where recovery notes go (discarded WALs, unreadable state during replay). */
  logger?: Logger;
}

/** What `StateFile.open` found: a complete WAL applied, or a torn one dropped. */
export interface StateFileRecovery {
  replayed: boolean;
  discardedWal: boolean;
}

/** One stored version of the state. */
export interface StateVersion {
  version: number;
  data: JsonValue;
}

const CRC_RE = /^[0-9a-f]{8}$/;

function crcHex(bytes: Uint8Array | string): string {
  return (crc32c(typeof bytes === "string" ? Buffer.from(bytes, "utf8") : bytes) >>> 0).toString(16).padStart(8, "0");
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The WAL of state file `file`: `<file>.wal`, beside it (one WAL per state file, so files can share a directory). */
export function stateWalPath(file: string): string {
  return `${file}.wal`;
}

/** The bytes of a state file holding `data` at `version`. Throws TypeError when `data` is not JSON. */
export function encodeStateRecord(data: JsonValue, version: number): Buffer {
  if (data === undefined) throw new TypeError("state data must be a JSON value, got undefined");
  const crc = crcHex(stableStringify({ data, version }));
  return Buffer.from(`${stableStringify({ crc, data, version })}\n`, "utf8");
}

/** Parses and verifies state-file bytes; any damage throws WAL_CORRUPT naming `file`. */
export function decodeStateRecord(buf: Buffer, file: string): StateVersion {
  const bad = (reason: string) =>
    new WalError("WAL_CORRUPT", `${file}: corrupt state file: ${reason}`, { details: { file } });
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(buf));
  } catch (error) {
    throw bad(`not valid UTF-8 JSON (${(error as Error).message})`);
  }
  if (!isRecord(parsed) || Object.keys(parsed).sort().join(",") !== "crc,data,version")
    throw bad("not a {crc, data, version} record");
  const { crc, data, version } = parsed;
  if (typeof crc !== "string" || !CRC_RE.test(crc)) throw bad("bad crc field");
  if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 1) throw bad("bad version");
  const record = { data: data as JsonValue, version };
  if (crcHex(stableStringify(record)) !== crc) throw bad("checksum mismatch");
  // Canonical bytes only (this also rejects a missing final "\n" and trailing junk).
  if (!encodeStateRecord(record.data, version).equals(buf)) throw bad("not in canonical form");
  return record;
}

/** The new state-file content in a WAL, or why the WAL is torn or invalid. */
function decodeWal(buf: Buffer): Buffer | string {
  const nl = buf.indexOf(0x0a);
  if (nl === -1) return "no complete intent record";
  let intent: unknown;
  try {
    intent = JSON.parse(buf.subarray(0, nl).toString("utf8"));
  } catch {
    return "intent record is not JSON";
  }
  if (!isRecord(intent) || intent.kind !== "intent") return "first record is not an intent";
  const { bytes, crc } = intent;
  if (typeof bytes !== "number" || !Number.isSafeInteger(bytes) || bytes < 0 || typeof crc !== "string")
    return "bad intent record";
  const body = buf.subarray(nl + 1);
  if (body.length !== bytes) return `data is ${body.length} bytes, intent says ${bytes}`;
  if (crcHex(body) !== crc) return "data checksum mismatch";
  return body;
}

function readIfExists(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

function unlinkIfExists(file: string): boolean {
  try {
    fs.unlinkSync(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}

function ioError(file: string, what: string, cause: unknown): WalError {
  return cause instanceof WalError ? cause : new WalError("WAL_IO", `${file}: ${what}`, { cause, details: { file } });
}

/**
 * A JSON state file replaced atomically through a WAL (see the file comment for formats).
 * Single writer: open one StateFile per path. File I/O is synchronous inside the async
 * methods, so writes never interleave.
 */
export class StateFile {
  /** The WAL path, `<file>.wal`. */
  readonly walFile: string;
  private readonly dir: string;
  private readonly historyDir: string;
  private readonly historyLimit: number;
  private currentVersion: number;
  /** Set when a write failed part-way: the disk state is only known after a reopen. */
  private broken: unknown = undefined;

  private constructor(
    /** The state file. */
    readonly file: string,
    /** What recovery did on open. */
    readonly recovery: StateFileRecovery,
    version: number,
    historyLimit: number,
  ) {
    this.walFile = stateWalPath(file);
    this.dir = path.dirname(file);
    this.historyDir = path.join(this.dir, "checkpoints");
    this.historyLimit = historyLimit;
    this.currentVersion = version;
  }

  /**
   * Opens `file`, creating its directory if needed, and finishes any interrupted write:
   * a complete WAL is applied (state file replaced atomically and fsynced, then the WAL
   * deleted and the directory fsynced); a torn or invalid WAL is deleted, leaving the old
   * state file. Afterwards the state file, if any, must verify, or WAL_CORRUPT is thrown.
   */
  static async open(file: string, options: StateFileOptions = {}): Promise<StateFile> {
    const historyLimit = options.history ?? 0;
    if (!Number.isSafeInteger(historyLimit) || historyLimit < 0) {
      throw new TypeError(`history must be a non-negative integer, got ${JSON.stringify(options.history)}`);
    }
    const dir = path.dirname(file);
    const wal = stateWalPath(file);
    const recovery: StateFileRecovery = { replayed: false, discardedWal: false };
    try {
      ensureDir(dir);
      // A temp file left by a crash inside writeFileAtomic is never the truth: the WAL is.
      if (unlinkIfExists(`${file}.tmp`)) fsyncDir(dir);
      const walBuf = readIfExists(wal);
      if (walBuf !== undefined) {
        const decoded = decodeWal(walBuf);
        if (typeof decoded === "string") {
          options.logger?.warn({ file: wal, reason: decoded }, "state file: discarding torn WAL");
          recovery.discardedWal = true;
        } else {
          const next = decodeStateRecord(decoded, wal);
          const current = StateFile.peekVersion(file, options.logger);
          const state = new StateFile(file, recovery, current ?? 0, historyLimit);
          // The crash may have come after the state file was replaced: archive only an older one.
          if (current !== undefined && current < next.version) state.archive(current);
          writeFileAtomic(file, decoded);
          recovery.replayed = true;
        }
        fs.unlinkSync(wal);
        fsyncDir(dir);
      }
      const buf = readIfExists(file);
      const version = buf === undefined ? 0 : decodeStateRecord(buf, file).version;
      return new StateFile(file, recovery, version, historyLimit);
    } catch (error) {
      throw ioError(file, "cannot recover state file", error);
    }
  }

  /** The version of `file` if it verifies, else undefined (logged): replay overwrites it anyway. */
  private static peekVersion(file: string, logger: Logger | undefined): number | undefined {
    const buf = readIfExists(file);
    if (buf === undefined) return undefined;
    try {
      return decodeStateRecord(buf, file).version;
    } catch (error) {
      logger?.warn({ err: error, file }, "state file: unreadable state replaced by WAL replay");
      return undefined;
    }
  }

  /** Version of the current state: 0 before the first write, then 1, 2, ... */
  get version(): number {
    return this.currentVersion;
  }

  /**
   * Replaces the state with `data` and resolves its new version, in six steps:
   * 1 intent record into the WAL, 2 the new content into the WAL, 3 fsync the WAL and
   * the directory, 4+5 replace the state file via temp file + fsync + rename + directory
   * fsync, 6 delete the WAL and fsync the directory. Crash points (WALCHECK_CRASH_AT):
   * state.intent, state.data, state.wal-synced, state.file-half-written, state.file-synced,
   * state.file-renamed, state.file-written, state.wal-deleted. A crash up to state.data
   * recovers to the old state; from state.wal-synced on, to the new one. Non-JSON `data`
   * throws TypeError; an I/O error throws WAL_IO and breaks this handle (later writes
   * throw WAL_FAILED; reopen to recover).
   */
  async write(data: JsonValue): Promise<number> {
    if (this.broken !== undefined) {
      throw new WalError("WAL_FAILED", `${this.file}: an earlier write failed; reopen to recover`, {
        cause: this.broken,
        details: { file: this.file },
      });
    }
    const version = this.currentVersion + 1;
    const record = encodeStateRecord(data, version);
    const intent = Buffer.from(
      `${stableStringify({ bytes: record.length, crc: crcHex(record), kind: "intent" })}\n`,
      "utf8",
    );
    try {
      crashpoint("state.intent");
      const fd = fs.openSync(this.walFile, "w");
      try {
        writeFully(fd, intent); // 1
        crashpoint("state.data");
        writeFully(fd, record); // 2
        fs.fsyncSync(fd); // 3
      } finally {
        fs.closeSync(fd);
      }
      fsyncDir(this.dir);
      crashpoint("state.wal-synced");
      // From here on the new state is decided: recovery replays the WAL.
      if (this.currentVersion > 0) this.archive(this.currentVersion);
      writeFileAtomic(this.file, record, (step) => crashpoint(`state.file-${step}`)); // 4 + 5
      crashpoint("state.file-written");
      fs.unlinkSync(this.walFile); // 6
      crashpoint("state.wal-deleted");
      fsyncDir(this.dir);
    } catch (error) {
      this.broken = error;
      throw ioError(this.file, `write of version ${version} failed`, error);
    }
    this.currentVersion = version;
    return version;
  }

  /** The current state, verified against its checksum (WAL_CORRUPT on mismatch); undefined before the first write. */
  async read(): Promise<JsonValue | undefined> {
    let buf: Buffer | undefined;
    try {
      buf = readIfExists(this.file);
    } catch (error) {
      throw ioError(this.file, "cannot read state file", error);
    }
    return buf === undefined ? undefined : decodeStateRecord(buf, this.file).data;
  }

  /** The previous versions kept in `<dir>/checkpoints/`, oldest first, each verified. */
  async readHistory(): Promise<StateVersion[]> {
    return this.historyVersions().map((version) =>
      decodeStateRecord(fs.readFileSync(this.historyPath(version)), this.historyPath(version)),
    );
  }

  private historyPath(version: number): string {
    return path.join(this.historyDir, `${path.basename(this.file)}.${String(version).padStart(10, "0")}`);
  }

  /** Versions present in the history directory, ascending. */
  private historyVersions(): number[] {
    const prefix = `${path.basename(this.file)}.`;
    let names: string[];
    try {
      names = fs.readdirSync(this.historyDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    return names
      .filter((name) => name.startsWith(prefix) && /^\d+$/.test(name.slice(prefix.length)))
      .map((name) => Number(name.slice(prefix.length)))
      .sort((a, b) => a - b);
  }

  /** Keeps the current state file (at `version`) as a checkpoint, then prunes to the limit. */
  private archive(version: number): void {
    if (this.historyLimit === 0) return;
    ensureDir(this.historyDir);
    const target = this.historyPath(version);
    const tmp = `${target}.tmp`;
    unlinkIfExists(tmp);
    try {
      // The state file is only ever replaced by rename, never modified, so a hard link is
      // a free, exact copy of this version.
      fs.linkSync(this.file, tmp);
      fs.renameSync(tmp, target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EXDEV" && (error as NodeJS.ErrnoException).code !== "EPERM")
        throw error;
      writeFileAtomic(target, fs.readFileSync(this.file));
    }
    const versions = this.historyVersions();
    for (const old of versions.slice(0, Math.max(0, versions.length - this.historyLimit)))
      unlinkIfExists(this.historyPath(old));
    fsyncDir(this.historyDir);
  }
}
