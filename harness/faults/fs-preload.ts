// fs crash points: kill a Node.js process at its k-th mutating file-system call, with no
// change to its code. Load it with NODE_OPTIONS="--import <file URL or absolute path of
// dist/harness/faults/fs-preload.js>" and start the adapter as `node …` itself: the first Node
// process that loads this module owns the counter (see "Environment" below).
//
// Environment (read once at load):
//   WALCHECK_FS_CRASH=<k>:<before|after|mid>   k >= 1; anything else throws at load.
//     before  SIGKILL at the k-th counted call, before it is performed.
//     after   perform the k-th call through its synchronous equivalent (fs.<name>Sync, with the
//             FileHandle's fd for FileHandle methods), so its effect has reached the kernel
//             when it returns; then SIGKILL. The original async call is never started. The one
//             exception is a promise/FileHandle writeFile or appendFile whose data is an
//             iterable or stream (no sync equivalent): it runs as usual and the process is
//             killed when it settles.
//     mid     write-like calls (write, writev, writeFile, appendFile) whose data is a string or
//             an ArrayBufferView: synchronously write the first floor(n/2) of their n bytes
//             (a 1-byte write writes nothing) to the same fd and position, or, for a path,
//             with fs.writeFileSync/appendFileSync and the call's own options (same flag, so
//             the file is created or truncated even when the prefix is empty); then SIGKILL.
//             Any other call, or data that is an iterable or stream: as `before`.
//     The process never gets past the k-th call: should a counted call still be made after it
//     (only possible in the async `after` exception), it is treated as `before`.
//   WALCHECK_FS_TRACE=<path>
//     Append one JSON line per counted call, written with a synchronous write() before the
//     call is performed, so a SIGKILL never loses it:
//     {"i":<1-based index>,"call":<form>,"path"?,"dest"?,"fd"?,"flags"?,"bytes"?,"crash"?,"fault"?}
//     call is "writeSync" (sync), "write" (callback), "promises.writeFile" or
//     "FileHandle.write"; path/fd is the first argument (a path as given, not resolved), dest
//     the second path of rename/link/symlink/copyFile, flags those of open, bytes the length
//     of a write-like call's data; crash ("before"/"after"/"mid") marks the call that fired.
//     fault (see WALCHECK_FS_FAULT) is the error code the call failed with, or "slow-fsync".
//   WALCHECK_FS_FAULT=<kind>[,release=<absolute path>]   anything else throws at load.
//     Makes counted calls fail the way a sick file system does, with the error Node itself
//     would report (code, errno, syscall, path, dest, message): thrown by sync forms, passed
//     to the callback on a later tick by callback forms, a rejection for promise forms and
//     FileHandle methods. A faulted call is still counted and traced, so a WALCHECK_FS_CRASH
//     arm works alongside; should the crash fire at a faulted call, `after` and `mid` leave
//     only what the fault does to the disk (enospc's prefix, eio-fsync's cut).
//     enospc:<bytes>  disk full after <bytes> (>= 0) bytes of write-like calls (write, writev,
//             writeFile, appendFile, in every form). The call that would go past the budget
//             writes only the bytes that still fit, as `mid` writes its prefix (a writeFile
//             or appendFile to a path opens it with its own flag first, so "w" truncates it),
//             then fails with ENOSPC; so does every later write-like call, writing nothing
//             (but, again, opening a path). Data of unknown size (an iterable or stream) does
//             not fit. Opening, creating, renaming, removing and syncing still work.
//     erofs   read-only file system: every counted call but close, fsync and fdatasync fails
//             with EROFS before it is performed (open only counts when opensForWriting).
//     eacces-dir     no write permission on directories: EACCES for calls that change
//             directory entries: open with O_CREAT (string flags with w, a or x),
//             writeFile/appendFile to a path, mkdir and copyFile, each only when the path it
//             would create (copyFile: the destination) does not exist yet; rename, unlink,
//             rm and rmdir when the path exists (else they fail with ENOENT as Linux does);
//             link and symlink always. Writes to existing files and to fds work.
//     eacces-files   existing files are read-only: EACCES for opensForWriting opens,
//             truncate, writeFile and appendFile of a path that is an existing regular file.
//             New files and directories can be created; writes to open fds work.
//     eio-fsync:<n>  the n-th (n >= 1) counted fsync or fdatasync (FileHandle sync/datasync
//             included, on any fd) fails with EIO after dropping the dirty data, as Linux did
//             in "fsyncgate": a regular file is cut back (ftruncate, uncounted) to its size at
//             its last fsync/fdatasync through this module (measured when that call was
//             made), or, if it had none, its size when a counted call first named the fd
//             (measured before that call). Sizes are kept per fd until its close. Every other
//             fsync/fdatasync is performed: the error is reported once.
//     slow-fsync:<ms>  every counted fsync/fdatasync waits <ms> (>= 1) milliseconds before
//             it is performed: sync forms block (Atomics.wait), callback and promise forms
//             wait on a timer.
//     release=<absolute path>: while that file exists the fault is lifted; it is looked up
//             (fs.existsSync, not counted) only when a call is about to be faulted. An
//             enospc budget keeps counting the bytes written meanwhile; an eio-fsync whose
//             n-th sync was released never fails.
//   All three are deleted from process.env once read, so child processes and workers (which
//   inherit NODE_OPTIONS) do not run a second, independent counter. With none set, this
//   module does nothing at all: no patching, no hooks, no file opened.
//
// Counted, in sync, callback and (where Node has one) fs/promises form: write, writev,
// writeFile, appendFile, fsync, fdatasync, rename, truncate, ftruncate, unlink, rm, rmdir,
// mkdir, open, close, copyFile, link, symlink; and FileHandle write, writev, sync, datasync,
// truncate, writeFile, appendFile, close. open counts only when it can change the file
// system or opens for writing (see opensForWriting); close always counts. Calls on fds 0, 1,
// 2, on negative fds (a closed FileHandle) and on the trace file are never counted.
// Only top-level calls count: what Node does inside a counted call (writeFile's own
// open/write/close, rm's unlinks) or inside fs.readFileSync is not counted again. fs streams
// and fs.cp count through the fs.open/write/writev/close/mkdir/copyFile calls Node makes.
// Not counted: chmod, chown, utimes, mkdtemp and their FileHandle forms; fs calls made by
// native addons or through process.binding; calls in worker threads and child processes.
//
// A call is counted when it is made, not when it completes: an async call the program did
// not wait for may still be in flight when call k fires, and its effect may then be missing.

import { AsyncLocalStorage, AsyncResource } from "node:async_hooks";
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import util from "node:util";

/** How `WALCHECK_FS_CRASH` stops the process at the k-th counted call. */
export type FsCrashMode = "before" | "after" | "mid";

/** A parsed `WALCHECK_FS_CRASH`: crash at the `k`-th counted call (1-based). */
export interface FsCrash {
  k: number;
  mode: FsCrashMode;
}

/** Parses `<k>:<before|after|mid>`; undefined for an unset variable, TypeError for anything else. */
export function parseFsCrash(raw: string | undefined): FsCrash | undefined {
  if (!raw) return undefined;
  const match = /^(\d+):(before|after|mid)$/.exec(raw);
  const k = Number(match?.[1]);
  if (!match || !Number.isSafeInteger(k) || k < 1) {
    throw new TypeError(`WALCHECK_FS_CRASH must be <k>:<before|after|mid> with k >= 1, got ${JSON.stringify(raw)}`);
  }
  return { k, mode: match[2] as FsCrashMode };
}

/** A parsed `WALCHECK_FS_FAULT`; `release` is the file whose existence lifts the fault. */
export type FsFault = { release?: string } & (
  | { kind: "enospc"; bytes: number }
  | { kind: "erofs" | "eacces-dir" | "eacces-files" }
  | { kind: "eio-fsync"; n: number }
  | { kind: "slow-fsync"; ms: number }
);

/**
 * Parses `<kind>[,release=<absolute path>]`, kind one of enospc:<bytes> (bytes >= 0), erofs,
 * eacces-dir, eacces-files, eio-fsync:<n> (n >= 1), slow-fsync:<ms> (1 <= ms < 2^31, a
 * timer's range); undefined for an unset variable, TypeError for anything else.
 */
export function parseFsFault(raw: string | undefined): FsFault | undefined {
  if (!raw) return undefined;
  const [, kind = "", release] = /^([^,]*)(?:,release=(.*))?$/.exec(raw) ?? [];
  const fault = parseFaultKind(kind);
  if (!fault || (release !== undefined && !path.isAbsolute(release))) {
    throw new TypeError(
      "WALCHECK_FS_FAULT must be enospc:<bytes>, erofs, eacces-dir, eacces-files, eio-fsync:<n> or slow-fsync:<ms> " +
        `(bytes >= 0, n >= 1, 1 <= ms < 2^31), optionally followed by ,release=<absolute path>; got ${JSON.stringify(raw)}`,
    );
  }
  return release === undefined ? fault : { ...fault, release };
}

function parseFaultKind(spec: string): FsFault | undefined {
  const [kind, value, extra] = spec.split(":");
  const number = value !== undefined && /^\d+$/.test(value) ? Number(value) : NaN; // NaN fails every check
  if (extra !== undefined) return undefined;
  switch (kind) {
    case "erofs":
    case "eacces-dir":
    case "eacces-files":
      return value === undefined ? { kind } : undefined;
    case "enospc":
      return number <= Number.MAX_SAFE_INTEGER ? { kind, bytes: number } : undefined;
    case "eio-fsync":
      return number >= 1 && number <= Number.MAX_SAFE_INTEGER ? { kind, n: number } : undefined;
    case "slow-fsync":
      return number >= 1 && number < 2 ** 31 ? { kind, ms: number } : undefined;
    default:
      return undefined;
  }
}

/**
 * The open rule: an open is counted iff its flags are not read-only, i.e. a string flag other
 * than "r", "rs", "sr" (anything with w, a or +), or numeric flags with any of O_WRONLY,
 * O_RDWR, O_CREAT, O_TRUNC, O_APPEND. Missing flags mean "r".
 */
export function opensForWriting(flags: unknown): boolean {
  if (flags === undefined || flags === null) return false;
  if (typeof flags === "string") return !["r", "rs", "sr"].includes(flags);
  if (typeof flags !== "number") return true; // Node will reject it; count rather than hide it
  const { O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND } = fs.constants;
  return (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)) !== 0;
}

/** How many of a write's `n` bytes `mid` writes: half, rounded down. */
export function prefixLength(n: number): number {
  return Math.floor(n / 2);
}

// ---------------------------------------------------------------------------------------
// Everything below runs only when one of the variables is set.

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;
type FunctionTable = Record<string, AnyFunction>;

/** The calls that are counted, by the name of their callback form. */
const CALLS = [
  "write",
  "writev",
  "writeFile",
  "appendFile",
  "fsync",
  "fdatasync",
  "rename",
  "truncate",
  "ftruncate",
  "unlink",
  "rm",
  "rmdir",
  "mkdir",
  "open",
  "close",
  "copyFile",
  "link",
  "symlink",
] as const;
type CallName = (typeof CALLS)[number];

/** The calls fs/promises has: it has no fd-based functions, FileHandle methods stand in for them. */
const PROMISE_CALLS: readonly CallName[] = [
  "writeFile",
  "appendFile",
  "rename",
  "truncate",
  "unlink",
  "rm",
  "rmdir",
  "mkdir",
  "open",
  "copyFile",
  "link",
  "symlink",
];

/** FileHandle methods and the call each is, with the handle's fd as first argument. */
const HANDLE_METHODS: Readonly<Record<string, CallName>> = {
  write: "write",
  writev: "writev",
  sync: "fsync",
  datasync: "fdatasync",
  truncate: "ftruncate",
  writeFile: "writeFile",
  appendFile: "appendFile",
  close: "close",
};

const TWO_PATH_CALLS: readonly CallName[] = ["rename", "link", "symlink", "copyFile"];

// Uncounted fs functions that Node builds on counted ones (fs.openSync/fs.closeSync, looked up
// on the module object): they run as if inside a counted call, so reading a file is not a close.
const UNCOUNTED_COMPOSITES = ["readFileSync"] as const;

/** One counted call, described by the arguments of its sync form (fd first for FileHandle methods). */
interface Call {
  label: string;
  name: CallName;
  args: unknown[];
  /** How it reports an error: "sync" throws, "callback" calls `callback`, "promise" rejects. */
  form: "sync" | "callback" | "promise";
  callback?: AnyFunction;
}

interface FileHandleLike {
  readonly fd: number;
  close: AnyFunction;
}

const fsTable = fs as unknown as FunctionTable;
// Captured before patching: crash actions and the trace must not count themselves.
const original: FunctionTable = {};
const writeSyncOriginal = fs.writeSync;

// Set while a counted call runs, and inherited by the async work it starts, so that Node's own
// nested fs calls (writeFile's open/write/close) are not counted a second time.
const insideCall = new AsyncLocalStorage<true>();
let crash: FsCrash | undefined;
let fault: FsFault | undefined;
let traceFd: number | undefined;
let counted = 0;

function install(): void {
  crash = parseFsCrash(process.env.WALCHECK_FS_CRASH);
  fault = parseFsFault(process.env.WALCHECK_FS_FAULT);
  const tracePath = process.env.WALCHECK_FS_TRACE || undefined;
  delete process.env.WALCHECK_FS_CRASH;
  delete process.env.WALCHECK_FS_FAULT;
  delete process.env.WALCHECK_FS_TRACE;
  if (crash === undefined && fault === undefined && tracePath === undefined) return;
  if (tracePath !== undefined) traceFd = fs.openSync(tracePath, "a");

  const promisesTable = fs.promises as unknown as FunctionTable;

  for (const name of CALLS) {
    original[name] = fsTable[name]!;
    original[`${name}Sync`] = fsTable[`${name}Sync`]!;
  }
  for (const name of CALLS) {
    fsTable[name] = likeOriginal(wrapCallback(name), original[name]!);
    fsTable[`${name}Sync`] = likeOriginal(wrapSync(name), original[`${name}Sync`]!);
  }
  for (const name of UNCOUNTED_COMPOSITES) {
    const composite = fsTable[name]!;
    fsTable[name] = likeOriginal(function (this: unknown, ...args: unknown[]) {
      return insideCall.run(true, () => composite.apply(this, args));
    }, composite);
  }
  for (const name of PROMISE_CALLS) {
    promisesTable[name] = likeOriginal(wrapPromise(name, promisesTable[name]!), promisesTable[name]!);
  }
  const openPromise = promisesTable.open!;
  promisesTable.open = likeOriginal(function (this: unknown, ...args: unknown[]) {
    return (openPromise.apply(this, args) as Promise<FileHandleLike>).then(instrumentHandle);
  }, openPromise);
  // ESM importers of node:fs and node:fs/promises see a snapshot of the exports; refresh it.
  syncBuiltinESMExports();
}

// --- the three forms ------------------------------------------------------------------

function wrapSync(name: CallName): AnyFunction {
  const sync = original[`${name}Sync`]!;
  return function (this: unknown, ...args: unknown[]) {
    if (insideCall.getStore()) return sync.apply(this, args);
    return count({ label: `${name}Sync`, name, args, form: "sync" }, () => sync.apply(this, args));
  };
}

function wrapCallback(name: CallName): AnyFunction {
  const callbackForm = original[name]!;
  return function (this: unknown, ...args: unknown[]) {
    if (insideCall.getStore()) return callbackForm.apply(this, args);
    const callback = args.at(-1);
    // fs.close(fd) may omit its callback; elsewhere Node throws, after we counted the call (a
    // fault is thrown instead).
    if (typeof callback !== "function")
      return count({ label: name, name, args, form: "sync" }, () => callbackForm.apply(this, args));
    // The caller's callback runs in the caller's async context, outside the counted call,
    // so that the calls it makes are counted.
    const bound = AsyncResource.bind(callback as AnyFunction);
    const syncArgs = args.slice(0, -1);
    return count({ label: name, name, args: syncArgs, form: "callback", callback: bound }, () =>
      callbackForm.apply(this, [...syncArgs, bound]),
    );
  };
}

function wrapPromise(name: CallName, promiseForm: AnyFunction): AnyFunction {
  return function (this: unknown, ...args: unknown[]) {
    if (insideCall.getStore()) return promiseForm.apply(this, args);
    // writeFile/appendFile accept a FileHandle where the sync form takes its fd.
    const syncArgs = args.map((arg, i) => (i === 0 && isFileHandle(arg) ? arg.fd : arg));
    return count({ label: `promises.${name}`, name, args: syncArgs, form: "promise" }, () =>
      promiseForm.apply(this, args),
    );
  };
}

/** Counts a FileHandle's methods: its prototype's (once) and its own `close`, a per-instance field. */
function instrumentHandle(handle: FileHandleLike): FileHandleLike {
  patchHandlePrototype(Object.getPrototypeOf(handle) as object);
  handle.close = likeOriginal(wrapHandleMethod("close", handle.close, handle), handle.close);
  return handle;
}

// FileHandle is not exported; user code only gets handles from fs.promises.open, which
// patches the prototype on its first result, before any handle reaches user code.
const patchedPrototypes = new WeakSet<object>();
function patchHandlePrototype(proto: object): void {
  if (patchedPrototypes.has(proto)) return;
  patchedPrototypes.add(proto);
  for (const method of Object.keys(HANDLE_METHODS)) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, method);
    if (typeof descriptor?.value !== "function") continue; // close: an own field of each handle
    const wrapped = likeOriginal(
      wrapHandleMethod(method, descriptor.value as AnyFunction),
      descriptor.value as AnyFunction,
    );
    Object.defineProperty(proto, method, { ...descriptor, value: wrapped });
  }
}

/** `fixedHandle` for close: Node's close is an arrow function, callable without `this`. */
function wrapHandleMethod(method: string, methodFn: AnyFunction, fixedHandle?: FileHandleLike): AnyFunction {
  const name = HANDLE_METHODS[method]!;
  return function (this: unknown, ...args: unknown[]) {
    const handle = (fixedHandle ?? this) as FileHandleLike;
    if (insideCall.getStore()) return methodFn.apply(handle, args);
    const call: Call = { label: `FileHandle.${method}`, name, args: [handle.fd, ...args], form: "promise" };
    return count(call, () => methodFn.apply(handle, args));
  };
}

// --- counting and crashing ------------------------------------------------------------

/**
 * Counts `call` (if the rules count it), traces it, crashes if it is the target; else performs
 * it, or fails it, or delays it, as WALCHECK_FS_FAULT decides.
 */
function count(call: Call, perform: () => unknown): unknown {
  if (!isCounted(call)) return perform();
  const i = ++counted;
  const mode = crash && i >= crash.k ? (i === crash.k ? crash.mode : "before") : undefined;
  const injected = fault && injectedFault(call, fault);
  trace(i, call, mode, injected);
  const failure = injected && "error" in injected ? injected : undefined;
  if (mode === undefined) {
    if (injected === undefined) return insideCall.run(true, perform);
    if ("delay" in injected) return later(call, injected.delay, () => insideCall.run(true, perform));
    return fail(call, injected);
  }
  if (mode === "after" && !failure && !hasSyncEquivalent(call)) {
    return Promise.resolve(insideCall.run(true, perform)).finally(die);
  }
  insideCall.run(true, () => actBeforeDying(call, mode, failure));
  return die();
}

function isCounted(call: Call): boolean {
  const first = call.args[0];
  if (typeof first === "number" && (first <= 2 || first === traceFd)) return false;
  return call.name !== "open" || opensForWriting(call.args[1]);
}

/**
 * What `after` and `mid` do before the SIGKILL: for a faulted call, what the fault does to the
 * disk. Failures are ignored, the crash is the point.
 */
function actBeforeDying(call: Call, mode: FsCrashMode, failure: Failure | undefined): void {
  try {
    if (mode === "before") return;
    if (failure) failure.effect?.();
    else if (mode === "after") original[`${call.name}Sync`]!(...call.args);
    else writePrefix(call, prefixLength); // not write-like: `mid` is `before`
  } catch {
    // e.g. ENOENT: the call would have failed too, the process still crashes here.
  }
}

/** Writes the first `length(n)` of a write-like call's n bytes; does nothing for other calls. */
function writePrefix(call: Call, length: (n: number) => number): void {
  const data = dataOf(call);
  if (data === undefined) return;
  const prefix = data.bytes.subarray(0, length(data.bytes.length));
  if (call.name === "write" || call.name === "writev") {
    writeAllSync(call.args[0] as number, prefix, data.position);
  } else {
    // writeFile/appendFile: same target, same options (flag, mode), only less data.
    original[`${call.name}Sync`]!(call.args[0], prefix, call.args[2]);
  }
}

function hasSyncEquivalent(call: Call): boolean {
  return (call.name !== "writeFile" && call.name !== "appendFile") || dataOf(call) !== undefined;
}

function die(): never {
  process.kill(process.pid, "SIGKILL");
  throw new Error("walcheck fs-preload: SIGKILL did not stop the process");
}

// --- faults ---------------------------------------------------------------------------

/** A call that WALCHECK_FS_FAULT fails with `error`, after doing `effect` to the disk. */
interface Failure {
  error: NodeJS.ErrnoException;
  effect?: () => void;
}
/** What WALCHECK_FS_FAULT does to a call: fail it, or perform it `delay` ms late. */
type Injected = Failure | { delay: number };
type FaultCode = "ENOSPC" | "EROFS" | "EACCES" | "EIO";

const WRITE_LIKE: readonly CallName[] = ["write", "writev", "writeFile", "appendFile"];
const SYNCS: readonly CallName[] = ["fsync", "fdatasync"];
/** eacces-dir: the calls that change directory entries whatever their arguments. */
const ENTRY_CALLS: readonly CallName[] = ["rename", "unlink", "rm", "rmdir", "link", "symlink"];

let spaceUsed = 0; // enospc: bytes of the write-like calls let through
let diskFull = false; // enospc: a write-like call has gone past the budget
let syncs = 0; // eio-fsync: counted fsync/fdatasync calls so far
/** eio-fsync, by fd until its close: the size to cut a regular file back to (undefined: not one). */
const syncedSizes = new Map<number, number | undefined>();

/** What the fault does to the counted `call`, updating the fault's state; undefined: nothing. */
function injectedFault(call: Call, fault: FsFault): Injected | undefined {
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
}

/** Whether the release file lifts the fault; looked up only for a call about to be faulted. */
function released(): boolean {
  return fault?.release !== undefined && fs.existsSync(fault.release);
}

function refuse(code: FaultCode, call: Call): Failure | undefined {
  return released() ? undefined : { error: fsError(code, call) };
}

function noSpace(call: Call, budget: number): Failure | undefined {
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

/** eacces-dir: does `call` add, remove or rename a directory entry? */
function changesEntries(call: Call): boolean {
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
function writesExistingFile(call: Call): boolean {
  const first = call.args[0];
  // Every counted open opensForWriting.
  const byPath =
    call.name === "open" || call.name === "truncate" || call.name === "writeFile" || call.name === "appendFile";
  return byPath && typeof first !== "number" && statOf(first)?.isFile() === true;
}

/** eio-fsync: fails the n-th fsync/fdatasync; tracks fd sizes (every counted fd call passes here). */
function syncFails(call: Call, n: number): Failure | undefined {
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
    if (size !== undefined) original.ftruncateSync!(fd, size);
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

/** The error Node reports, e.g. `EROFS: read-only file system, open '/x/y'`, with errno, code, syscall, path, dest. */
function fsError(code: FaultCode, call: Call): NodeJS.ErrnoException {
  const [first, second] = call.args;
  const syscall = syscallOf(call, code);
  const errno = -os.constants.errno[code];
  const file = syscall.startsWith("write") ? undefined : pathOf(first); // undefined for an fd
  const dest = file !== undefined && TWO_PATH_CALLS.includes(call.name) ? pathOf(second) : undefined;
  let message = `${code}: ${util.getSystemErrorMap().get(errno)?.[1] ?? code}, ${syscall}`;
  if (file !== undefined) message += ` '${file}'`;
  if (dest !== undefined) message += ` -> '${dest}'`;
  return Object.assign(
    new Error(message),
    { errno, code, syscall },
    file === undefined ? {} : { path: file },
    dest === undefined ? {} : { dest },
  );
}

/** The system call Node names: writeFile, appendFile and truncate of a path open it first. */
function syscallOf(call: Call, code: FaultCode): string {
  const byPath = typeof call.args[0] !== "number";
  if (call.name === "writeFile" || call.name === "appendFile") return byPath && code !== "ENOSPC" ? "open" : "write";
  if (call.name === "truncate") return "open";
  return call.name === "copyFile" ? "copyfile" : call.name;
}

/** Reports the failure the way the call's form reports errors, after doing its effect. */
function fail(call: Call, failure: Failure): unknown {
  let error: unknown = failure.error;
  try {
    insideCall.run(true, () => failure.effect?.());
  } catch (effectError) {
    error = effectError; // e.g. ENOENT from writing the prefix: the call would have failed with it
  }
  if (call.form === "promise") return Promise.reject(error);
  if (call.form === "callback") return void process.nextTick(call.callback!, error);
  throw error;
}

/** Performs the call `ms` milliseconds late, waiting the way its form can. */
function later(call: Call, ms: number, perform: () => unknown): unknown {
  if (call.form === "promise") return new Promise<void>((resolve) => afterDelay(ms, () => resolve())).then(perform);
  if (call.form === "callback") return afterDelay(ms, perform);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  return perform();
}

/** Calls `fn` once `ms` have passed by the monotonic clock: a timer alone can fire a little
 * early, as it counts from the event loop's cached time. */
function afterDelay(ms: number, fn: () => unknown): void {
  const due = performance.now() + ms;
  const check = () => (performance.now() >= due ? fn() : setTimeout(check, Math.ceil(due - performance.now())));
  setTimeout(check, ms);
}

// --- reading a call's arguments -------------------------------------------------------

interface WriteData {
  bytes: Uint8Array;
  /** null: the fd's current position (or the end, for O_APPEND). */
  position: number | null;
}

/** The bytes a write-like call writes, and where; undefined for other calls or iterable data. */
function dataOf(call: Call): WriteData | undefined {
  const [, data, a, b, c] = call.args;
  switch (call.name) {
    case "write":
      if (typeof data === "string") return { bytes: encode(data, b), position: positionOf(a) };
      return ArrayBuffer.isView(data) ? viewSlice(data, a, b, c) : undefined;
    case "writev":
      if (!Array.isArray(data) || !data.every((d) => ArrayBuffer.isView(d))) return undefined;
      return { bytes: Buffer.concat(data.map(bytesOf)), position: positionOf(a) };
    case "writeFile":
    case "appendFile": {
      const encoding = typeof a === "string" ? a : (a as { encoding?: unknown } | undefined)?.encoding;
      if (typeof data === "string") return { bytes: encode(data, encoding), position: null };
      return ArrayBuffer.isView(data) ? { bytes: bytesOf(data), position: null } : undefined;
    }
    default:
      return undefined;
  }
}

/** writeSync's reading of (buffer, offset, length, position) and (buffer, { offset, length, position }). */
function viewSlice(view: ArrayBufferView, offsetOrOptions: unknown, length: unknown, position: unknown): WriteData {
  let offset = offsetOrOptions;
  if (typeof offsetOrOptions === "object") {
    ({ offset, length, position } = (offsetOrOptions ?? {}) as Record<string, unknown>);
  }
  const start = typeof offset === "number" ? offset : 0;
  const end = typeof length === "number" ? start + length : view.byteLength;
  return { bytes: bytesOf(view).subarray(start, end), position: positionOf(position) };
}

function describe(call: Call): Record<string, unknown> {
  const [first, second] = call.args;
  const fields: Record<string, unknown> = typeof first === "number" ? { fd: first } : { path: pathOf(first) };
  if (TWO_PATH_CALLS.includes(call.name)) fields.dest = pathOf(second);
  if (call.name === "open") fields.flags = second ?? "r";
  const data = dataOf(call);
  if (data !== undefined) fields.bytes = data.bytes.length;
  return fields;
}

function pathOf(arg: unknown): string | undefined {
  if (typeof arg === "string") return arg;
  if (arg instanceof URL) return fileURLToPath(arg);
  if (arg instanceof Uint8Array) return Buffer.from(arg).toString();
  return undefined;
}

function isFileHandle(arg: unknown): arg is FileHandleLike {
  return (
    typeof arg === "object" &&
    arg !== null &&
    !ArrayBuffer.isView(arg) &&
    typeof (arg as { fd?: unknown }).fd === "number"
  );
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function encode(text: string, encoding: unknown): Uint8Array {
  return Buffer.from(text, typeof encoding === "string" && Buffer.isEncoding(encoding) ? encoding : "utf8");
}

// Node's fd writes treat anything but a number as "the current position".
function positionOf(position: unknown): number | null {
  return typeof position === "number" ? position : null;
}

// --- output ---------------------------------------------------------------------------

/** Appends the call's line to the trace (one write, so a SIGKILL cannot split it). */
function trace(i: number, call: Call, mode: FsCrashMode | undefined, injected: Injected | undefined): void {
  if (traceFd === undefined) return;
  const faultName = injected && ("error" in injected ? injected.error.code : "slow-fsync");
  const entry = {
    i,
    call: call.label,
    ...describe(call),
    ...(mode ? { crash: mode } : {}),
    ...(faultName ? { fault: faultName } : {}),
  };
  writeAllSync(traceFd, Buffer.from(`${JSON.stringify(entry)}\n`), null);
}

/** Writes all of `bytes` with the unpatched writeSync (it may write less than asked). */
function writeAllSync(fd: number, bytes: Uint8Array, position: number | null): void {
  for (let done = 0; done < bytes.length;) {
    const written = writeSyncOriginal(fd, bytes, done, bytes.length - done, position === null ? null : position + done);
    if (written <= 0) return;
    done += written;
  }
}

/** Gives `wrapper` the name, length and symbol-keyed hints (util.promisify's) of `fn`. */
function likeOriginal(wrapper: AnyFunction, fn: AnyFunction): AnyFunction {
  Object.defineProperty(wrapper, "name", { value: fn.name, configurable: true });
  Object.defineProperty(wrapper, "length", { value: fn.length, configurable: true });
  for (const symbol of Object.getOwnPropertySymbols(fn)) {
    Object.defineProperty(wrapper, symbol, Object.getOwnPropertyDescriptor(fn, symbol)!);
  }
  return wrapper;
}

install();
