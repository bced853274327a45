// WALCHECK_FS_FAULT as an injector: what a sick file system does to each counted call.

import fs from "node:fs";
import { dataOf, SYNCS, WRITE_LIKE, type CallName, type FsCall } from "./calls.js";
import { fsError, type FaultCode } from "./errno.js";
import type { FsFault } from "./spec.js";
import { unpatched, writePrefix } from "./unpatched.js";

/** A call the fault fails with `error`, after doing `effect` to the disk. */
export interface Failure {
  error: NodeJS.ErrnoException;
  effect?: () => void;
}
/** A call the fault performs `delay` ms late. */
export interface Delay {
  delay: number;
}
/** What a fault does to a call: fail it, or delay it. */
export type Injected = Failure | Delay;

/**
 * Decides what happens to each counted call, in the order they are made (it may keep state
 * across calls): undefined performs it as usual.
 */
export interface Injector {
  inject(call: FsCall): Injected | undefined;
}

/** eacces-dir: the calls that change directory entries whatever their arguments. */
const ENTRY_CALLS: readonly CallName[] = ["rename", "unlink", "rm", "rmdir", "link", "symlink"];

/** The injector of a WALCHECK_FS_FAULT. */
export function fromSpec(fault: FsFault): Injector {
  let spaceUsed = 0; // enospc: bytes of the write-like calls let through
  let diskFull = false; // enospc: a write-like call has gone past the budget
  let syncs = 0; // eio-fsync: counted fsync/fdatasync calls so far
  /** eio-fsync, by fd until its close: the size to cut a regular file back to (undefined: not one). */
  const syncedSizes = new Map<number, number | undefined>();

  /** Whether the release file lifts the fault; looked up only for a call about to be faulted. */
  function released(): boolean {
    return fault.release !== undefined && fs.existsSync(fault.release);
  }

  function refuse(code: FaultCode, call: FsCall): Failure | undefined {
    return released() ? undefined : { error: fsError(code, call) };
  }

  function noSpace(call: FsCall, budget: number): Failure | undefined {
    if (!WRITE_LIKE.includes(call.name)) return undefined;
    const n = dataOf(call)?.bytes.length ?? Infinity; // an iterable or stream: its size is unknown
    const left = diskFull ? 0 : Math.max(0, budget - spaceUsed);
    if (n <= left || released()) {
      spaceUsed += n;
      return undefined;
    }
    diskFull = true;
    spaceUsed += left;
    return { error: fsError("ENOSPC", call), effect: () => writePrefix(call, () => left) };
  }

  /** eio-fsync: fails the n-th fsync/fdatasync; tracks fd sizes (every counted fd call passes here). */
  function syncFails(call: FsCall, n: number): Failure | undefined {
    const fd = call.args[0];
    if (typeof fd !== "number") return undefined;
    if (call.name === "close") {
      syncedSizes.delete(fd);
      return undefined;
    }
    if (!syncedSizes.has(fd)) syncedSizes.set(fd, fileSize(fd));
    if (!SYNCS.includes(call.name)) return undefined;
    if (++syncs === n && !released()) return { error: fsError("EIO", call), effect: () => dropDirtyData(fd) };
    syncedSizes.set(fd, fileSize(fd));
    return undefined;
  }

  /** fsyncgate: the data written since the last sync is gone. */
  function dropDirtyData(fd: number): void {
    const size = syncedSizes.get(fd);
    try {
      if (size !== undefined) unpatched.ftruncateSync!(fd, size);
    } catch {
      // an fd opened read-only cannot be truncated; the EIO is still reported
    }
  }

  return {
    inject(call: FsCall): Injected | undefined {
      switch (fault.kind) {
        case "enospc":
          return noSpace(call, fault.bytes);
        case "erofs":
          return call.name === "close" || SYNCS.includes(call.name) ? undefined : refuse("EROFS", call);
        case "eacces-dir":
          return changesEntries(call) ? refuse("EACCES", call) : undefined;
        case "eacces-files":
          return writesExistingFile(call) ? refuse("EACCES", call) : undefined;
        case "eio-fsync":
          return syncFails(call, fault.n);
        case "slow-fsync":
          return SYNCS.includes(call.name) && !released() ? { delay: fault.ms } : undefined;
      }
    },
  };
}

/** eacces-dir: does `call` add, remove or rename a directory entry? */
function changesEntries(call: FsCall): boolean {
  const [first, second] = call.args;
  switch (call.name) {
    case "open":
      return createsFile(second) && statOf(first) === undefined;
    case "writeFile":
    case "appendFile":
    case "mkdir":
      return typeof first !== "number" && statOf(first) === undefined;
    case "copyFile":
      return statOf(second) === undefined;
    case "unlink":
    case "rm":
    case "rmdir":
    case "rename":
      // Linux looks the entry up before it checks the directory's permission: removing or
      // renaming a path that does not exist fails with ENOENT, as without the fault.
      return statOf(first) !== undefined;
    default:
      return ENTRY_CALLS.includes(call.name);
  }
}

/** eacces-files: does `call` open an existing regular file for writing by its path? */
function writesExistingFile(call: FsCall): boolean {
  const first = call.args[0];
  // Every counted open opensForWriting.
  const byPath =
    call.name === "open" || call.name === "truncate" || call.name === "writeFile" || call.name === "appendFile";
  return byPath && typeof first !== "number" && statOf(first)?.isFile() === true;
}

function fileSize(fd: number): number | undefined {
  try {
    const stats = fs.fstatSync(fd);
    return stats.isFile() ? stats.size : undefined;
  } catch {
    return undefined; // e.g. EBADF: the call fails by itself
  }
}

function statOf(file: unknown): fs.Stats | undefined {
  try {
    return fs.statSync(file as fs.PathLike, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/** Open flags that create a missing file: O_CREAT, or a string flag with w, a or x. */
function createsFile(flags: unknown): boolean {
  if (typeof flags === "string") return /[wax]/.test(flags);
  return typeof flags === "number" && (flags & fs.constants.O_CREAT) !== 0;
}
