// WALCHECK_FS_FAULT as an injector, after Pebble's vfs/errorfs: one small interface, two leaves
// that fault every call they are given (refuse, delay), and combinators that choose which calls
// reach them and what else happens. Each fault kind is one line of them; fromSpec picks it.

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

/** The injector of a WALCHECK_FS_FAULT. */
export function fromSpec(fault: FsFault): Injector {
  switch (fault.kind) {
    case "enospc":
      return enospc(fault.bytes, fault.release);
    case "erofs":
      return erofs(fault.release);
    case "eacces-dir":
      return eaccesDir(fault.release);
    case "eacces-files":
      return eaccesFiles(fault.release);
    case "eio-fsync":
      return eioFsync(fault.n, fault.release);
    case "slow-fsync":
      return slowFsync(fault.ms, fault.release);
    case "eio-read":
      return { inject: () => undefined }; // reads are not counted calls: fs/reads.ts faults them
  }
}

// --- the fault kinds (fs-preload.ts's header says what each does) ------------------------
// `release`: the file whose existence lifts the fault (see releasable).

/** enospc:<bytes>: write-like calls past a budget of `bytes` fail with ENOSPC. */
export function enospc(bytes: number, release?: string): Injector {
  return onlyCalls(WRITE_LIKE, spaceBudget(bytes, releasable(release, refuse("ENOSPC"))));
}

/** erofs: every call but close, fsync and fdatasync fails with EROFS. */
export function erofs(release?: string): Injector {
  return when((call) => !READ_ONLY_SAFE.includes(call.name), releasable(release, refuse("EROFS")));
}
/** erofs: the calls a read-only file system still performs. */
const READ_ONLY_SAFE: readonly CallName[] = ["close", ...SYNCS];

/** eacces-dir: calls that add, remove or rename a directory entry fail with EACCES. */
export function eaccesDir(release?: string): Injector {
  return when(changesEntries, releasable(release, refuse("EACCES")));
}

/** eacces-files: calls that open an existing regular file for writing by its path fail with EACCES. */
export function eaccesFiles(release?: string): Injector {
  return when(writesExistingFile, releasable(release, refuse("EACCES")));
}

/** eio-fsync:<n>: the n-th fsync/fdatasync fails with EIO, and its fd's unsynced data is gone. */
export function eioFsync(n: number, release?: string): Injector {
  return dropsUnsyncedData(onlyCalls(SYNCS, onIndex(n, releasable(release, refuse("EIO")))));
}

/** slow-fsync:<ms>: every fsync/fdatasync is performed `ms` late. */
export function slowFsync(ms: number, release?: string): Injector {
  return onlyCalls(SYNCS, releasable(release, delay(ms)));
}

// --- leaves ---------------------------------------------------------------------------

/** Fails every call with the error Node reports for `code` (errno, syscall, path, dest). */
export function refuse(code: FaultCode): Injector {
  return { inject: (call) => ({ error: fsError(code, call) }) };
}

/** Performs every call `ms` milliseconds late. */
export function delay(ms: number): Injector {
  return { inject: () => ({ delay: ms }) };
}

// --- combinators ----------------------------------------------------------------------

/** Hands `injector` only the calls `test` accepts; the others are performed. */
export function when(test: (call: FsCall) => boolean, injector: Injector): Injector {
  return { inject: (call) => (test(call) ? injector.inject(call) : undefined) };
}

/** Hands `injector` only the calls with one of these names. */
export function onlyCalls(names: readonly CallName[], injector: Injector): Injector {
  return when((call) => names.includes(call.name), injector);
}

/** Hands `injector` only the n-th (1-based) of the calls given to it. */
export function onIndex(n: number, injector: Injector): Injector {
  let seen = 0;
  return { inject: (call) => (++seen === n ? injector.inject(call) : undefined) };
}

/**
 * Lifts `injector`'s faults while `file` exists (undefined: never). It is looked up, with
 * fs.existsSync (not counted), only when `injector` faults a call. `injector` still sees every
 * call, and the combinators around this one see a lifted call as performed: onIndex has counted
 * it, spaceBudget counts all of its bytes.
 */
export function releasable(file: string | undefined, injector: Injector): Injector {
  if (file === undefined) return injector;
  return {
    inject(call) {
      const injected = injector.inject(call);
      return injected && !fs.existsSync(file) ? injected : undefined;
    },
  };
}

/**
 * A disk with room for `bytes` of data. A call whose data fits is performed; one whose data
 * does not (data of unknown size, an iterable or stream, never does) goes to `full`. If `full`
 * fails it, the call first writes the bytes that still fit (as `mid` writes its prefix: a
 * writeFile or appendFile to a path opens it with its own flag, so "w" truncates it) and fills
 * the disk, so later calls write nothing; if not, all of its bytes are counted.
 */
export function spaceBudget(bytes: number, full: Injector): Injector {
  let used = 0; // only grows; once a call has been failed it is >= bytes and nothing fits
  return {
    inject(call) {
      const n = dataOf(call)?.bytes.length ?? Infinity;
      const left = Math.max(0, bytes - used);
      if (n <= left) {
        used += n;
        return undefined;
      }
      const injected = full.inject(call);
      if (injected === undefined || !("error" in injected)) {
        used += n;
        return injected;
      }
      used += left;
      const effect = injected.effect;
      return {
        error: injected.error,
        effect: () => {
          writePrefix(call, () => left);
          effect?.();
        },
      };
    },
  };
}

/**
 * fsyncgate: a call on an fd that `injector` fails loses the data written to the fd since its
 * last sync, as Linux's fsync did: a regular file is cut back (ftruncate, uncounted) to its size
 * at its last fsync/fdatasync seen here (measured when that call was made), or, if it had none,
 * its size when a call first named the fd (measured before that call). Sizes are kept per fd
 * until its close. Only calls on an fd reach `injector`, close excepted.
 */
export function dropsUnsyncedData(injector: Injector): Injector {
  /** By fd: the size to cut a regular file back to (undefined: not one). */
  const syncedSizes = new Map<number, number | undefined>();
  return {
    inject(call) {
      const fd = call.args[0];
      if (typeof fd !== "number") return undefined;
      if (call.name === "close") {
        syncedSizes.delete(fd);
        return undefined;
      }
      if (!syncedSizes.has(fd)) syncedSizes.set(fd, fileSize(fd));
      const injected = injector.inject(call);
      if (injected !== undefined && "error" in injected) {
        const effect = injected.effect;
        return {
          error: injected.error,
          effect: () => {
            cutBack(fd, syncedSizes.get(fd));
            effect?.();
          },
        };
      }
      if (SYNCS.includes(call.name)) syncedSizes.set(fd, fileSize(fd));
      return injected;
    },
  };
}

// --- what the kinds look at -----------------------------------------------------------

/** eacces-dir: the calls that change directory entries whatever their arguments. */
const ENTRY_CALLS: readonly CallName[] = ["rename", "unlink", "rm", "rmdir", "link", "symlink"];

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

/** The data written since `size` is gone. */
function cutBack(fd: number, size: number | undefined): void {
  try {
    if (size !== undefined) unpatched.ftruncateSync!(fd, size);
  } catch {
    // an fd opened read-only cannot be truncated; the EIO is still reported
  }
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
