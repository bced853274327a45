// The power-loss trace: what a WAL did to its directory, call by call, with the data it
// wrote and the barriers (fsync of a file, fsync of a directory) that made it durable.
// The recorder (recorder.c, loaded with LD_PRELOAD, so it sees Node's fs, SQLite's VFS and
// any other native I/O alike) writes one JSON line per operation that changed something
// under the recorded directory, after the operation succeeded, in the order the operations
// completed. crash-states.ts replays a trace cut after any line into the directories a
// power loss could leave.
//
// Paths are absolute and normalised (no "." or "..", no trailing slash, no doubled "/"):
// the recorder joins a relative path with the working directory. Only paths inside the
// recorded directory (WALCHECK_POWER_DIR) or equal to it are recorded; operations on fds
// opened on such paths are recorded with the fd's inode. `ino` is st_ino of the file the
// operation touched, so renames and hard links are followed by identity, not by name.

/**
 * Where an op was issued, on every line when the recorder ran with WALCHECK_POWER_STACKS
 * (recorder.c, "Where"): `stack` the native frames, innermost first, each [module, offset in
 * it (hex), symbol or "", return address (hex)]; `jsAt` the byte size of the Node fs preload's
 * call trace (WALCHECK_FS_TRACE) at that moment. where.ts reads both.
 */
export interface TraceWhere {
  stack?: [string, string, string, string][];
  jsAt?: number;
}

/** One line of a trace. `i` is its 1-based index in the trace. */
export type TraceOp = TraceWhere & TraceOpKind;

type TraceOpKind =
  /**
   * An open that created the file (O_CREAT on a path that did not exist): a new directory
   * entry `path` → `ino` in its parent (durable only once the parent directory is fsynced),
   * and an empty file. Opens of existing files are not recorded, except with O_TRUNC.
   */
  | { i: number; op: "create"; path: string; ino: number }
  /** The file `ino` was cut (or extended with zeros) to `size`: ftruncate, truncate, or an open with O_TRUNC. */
  | { i: number; op: "truncate"; ino: number; size: number }
  /**
   * Bytes written at `offset` of file `ino` (write, pwrite, writev, pwritev: a vectored
   * write is one op, its buffers joined). `offset` is where the bytes landed (for an
   * O_APPEND or positionless write, the fd's position after the write minus its length).
   * `data` is base64. A short write records the bytes actually written.
   */
  | { i: number; op: "write"; ino: number; offset: number; data: string }
  /** fsync or fdatasync of a regular file: its data and size are durable. */
  | { i: number; op: "fsync"; ino: number; kind: "fsync" | "fdatasync" }
  /** fsync (or fdatasync) of a directory: its entries (creates, renames, unlinks in it) are durable. */
  | { i: number; op: "dirsync"; path: string }
  /** rename(from, to): the entry `from` now names `ino` as `to`, replacing `replaced` (the inode `to` named before, if any). */
  | { i: number; op: "rename"; from: string; to: string; ino: number; replaced?: number }
  /** unlink of `path`, which named `ino`. */
  | { i: number; op: "unlink"; path: string; ino: number }
  /** mkdir of `path` (a directory entry in its parent). */
  | { i: number; op: "mkdir"; path: string }
  /** rmdir of an (empty) directory. */
  | { i: number; op: "rmdir"; path: string }
  /** link(from, to): a second name `to` for `ino`. */
  | { i: number; op: "link"; from: string; to: string; ino: number }
  /**
   * Bytes the adapter wrote to walcheck's pipe, its stdout (write or writev on fd 1), base64:
   * recorded only for a pipelined life (WALCHECK_POWER_STDOUT), so that each answer line is
   * pinned between the fs operations before and after it. Not a change to the directory:
   * answers.ts takes these out of the trace before crash states are built from it. A line
   * may be split over several of these, and one may hold several lines.
   */
  | { i: number; op: "stdout"; data: string }
  /**
   * Something the model cannot replay happened under the directory (symlink, mmap'd writes
   * through msync, fallocate with a mode, splice, an exchange rename...): `what`
   * names it. A trace holding one cannot be cut faithfully; the runner refuses it, naming `what`.
   */
  | { i: number; op: "unsupported"; what: string; path?: string };

/** A file in the directory before the recorded life started (all of it durable). */
export interface InitialFile {
  /** Absolute path inside the recorded directory. */
  path: string;
  ino: number;
  /** The file's bytes. */
  data: Buffer;
}

/** The directory before the recording: its subdirectories and files, all durable. */
export interface InitialState {
  /** The recorded directory (absolute, normalised). */
  root: string;
  /** Subdirectories, absolute, parents before children. */
  dirs: string[];
  files: InitialFile[];
}

/** Parse a trace file's text: one TraceOp per line; a line that is not one throws, naming its number. */
export function parseTrace(text: string): TraceOp[] {
  const ops: TraceOp[] = [];
  const lines = text.split("\n");
  lines.forEach((line, n) => {
    if (line === "") return;
    let op: unknown;
    try {
      op = JSON.parse(line);
    } catch {
      throw new Error(`power trace line ${n + 1} is not JSON: ${line.slice(0, 120)}`);
    }
    const o = op as { i?: unknown; op?: unknown };
    if (typeof o !== "object" || o === null || typeof o.op !== "string" || typeof o.i !== "number") {
      throw new Error(`power trace line ${n + 1} is not a trace op: ${line.slice(0, 120)}`);
    }
    ops.push(op as TraceOp);
  });
  return ops;
}
