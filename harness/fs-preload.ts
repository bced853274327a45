// fs crash points: kill a Node.js process at its k-th mutating file-system call, with no
// change to its code. Load it with NODE_OPTIONS="--import <file URL or absolute path of
// dist/harness/fs-preload.js>" and start the adapter as `node …` itself: the first Node
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
//     {"i":<1-based index>,"call":<form>,"path"?,"dest"?,"fd"?,"flags"?,"bytes"?,"crash"?}
//     call is "writeSync" (sync), "write" (callback), "promises.writeFile" or
//     "FileHandle.write"; path/fd is the first argument (a path as given, not resolved), dest
//     the second path of rename/link/symlink/copyFile, flags those of open, bytes the length
//     of a write-like call's data; crash ("before"/"after"/"mid") marks the call that fired.
//   Both are deleted from process.env once read, so child processes and workers (which
//   inherit NODE_OPTIONS) do not run a second, independent counter. With neither set, this
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
import { fileURLToPath } from "node:url";

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
  "write", "writev", "writeFile", "appendFile", "fsync", "fdatasync", "rename", "truncate", "ftruncate",
  "unlink", "rm", "rmdir", "mkdir", "open", "close", "copyFile", "link", "symlink",
] as const;
type CallName = (typeof CALLS)[number];

/** The calls fs/promises has: it has no fd-based functions, FileHandle methods stand in for them. */
const PROMISE_CALLS: readonly CallName[] = ["writeFile", "appendFile", "rename", "truncate", "unlink", "rm", "rmdir", "mkdir", "open", "copyFile", "link", "symlink"];

/** FileHandle methods and the call each is, with the handle's fd as first argument. */
const HANDLE_METHODS: Readonly<Record<string, CallName>> = {
  write: "write", writev: "writev", sync: "fsync", datasync: "fdatasync", truncate: "ftruncate",
  writeFile: "writeFile", appendFile: "appendFile", close: "close",
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
let traceFd: number | undefined;
let counted = 0;

function install(): void {
  crash = parseFsCrash(process.env.WALCHECK_FS_CRASH);
  const tracePath = process.env.WALCHECK_FS_TRACE || undefined;
  delete process.env.WALCHECK_FS_CRASH;
  delete process.env.WALCHECK_FS_TRACE;
  if (crash === undefined && tracePath === undefined) return;
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
    return count({ label: `${name}Sync`, name, args }, () => sync.apply(this, args));
  };
}

function wrapCallback(name: CallName): AnyFunction {
  const callbackForm = original[name]!;
  return function (this: unknown, ...args: unknown[]) {
    if (insideCall.getStore()) return callbackForm.apply(this, args);
    const callback = args.at(-1);
    // fs.close(fd) may omit its callback; elsewhere Node throws, after we counted the call.
    if (typeof callback !== "function") return count({ label: name, name, args }, () => callbackForm.apply(this, args));
    // The caller's callback runs in the caller's async context, outside the counted call,
    // so that the calls it makes are counted.
    const bound = AsyncResource.bind(callback as AnyFunction);
    const syncArgs = args.slice(0, -1);
    return count({ label: name, name, args: syncArgs }, () => callbackForm.apply(this, [...syncArgs, bound]));
  };
}

function wrapPromise(name: CallName, promiseForm: AnyFunction): AnyFunction {
  return function (this: unknown, ...args: unknown[]) {
    if (insideCall.getStore()) return promiseForm.apply(this, args);
    // writeFile/appendFile accept a FileHandle where the sync form takes its fd.
    const syncArgs = args.map((arg, i) => (i === 0 && isFileHandle(arg) ? arg.fd : arg));
    return count({ label: `promises.${name}`, name, args: syncArgs }, () => promiseForm.apply(this, args));
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
    const wrapped = likeOriginal(wrapHandleMethod(method, descriptor.value as AnyFunction), descriptor.value as AnyFunction);
    Object.defineProperty(proto, method, { ...descriptor, value: wrapped });
  }
}

/** `fixedHandle` for close: Node's close is an arrow function, callable without `this`. */
function wrapHandleMethod(method: string, methodFn: AnyFunction, fixedHandle?: FileHandleLike): AnyFunction {
  const name = HANDLE_METHODS[method]!;
  return function (this: unknown, ...args: unknown[]) {
    const handle = (fixedHandle ?? this) as FileHandleLike;
    if (insideCall.getStore()) return methodFn.apply(handle, args);
    return count({ label: `FileHandle.${method}`, name, args: [handle.fd, ...args] }, () => methodFn.apply(handle, args));
  };
}

// --- counting and crashing ------------------------------------------------------------

/** Counts `call` (if the rules count it), traces it, crashes if it is the target, else performs it. */
function count(call: Call, perform: () => unknown): unknown {
  if (!isCounted(call)) return perform();
  const i = ++counted;
  const mode = crash && i >= crash.k ? (i === crash.k ? crash.mode : "before") : undefined;
  trace(i, call, mode);
  if (mode === undefined) return insideCall.run(true, perform);
  if (mode === "after" && !hasSyncEquivalent(call)) {
    return Promise.resolve(insideCall.run(true, perform)).finally(die);
  }
  insideCall.run(true, () => actBeforeDying(call, mode));
  return die();
}

function isCounted(call: Call): boolean {
  const first = call.args[0];
  if (typeof first === "number" && (first <= 2 || first === traceFd)) return false;
  return call.name !== "open" || opensForWriting(call.args[1]);
}

/** What `after` and `mid` do before the SIGKILL; failures are ignored, the crash is the point. */
function actBeforeDying(call: Call, mode: FsCrashMode): void {
  try {
    if (mode === "after") original[`${call.name}Sync`]!(...call.args);
    if (mode === "mid") writePrefix(call);
  } catch {
    // e.g. ENOENT: the call would have failed too, the process still crashes here.
  }
}

function writePrefix(call: Call): void {
  const data = dataOf(call);
  if (data === undefined) return; // not write-like: `mid` is `before`
  const prefix = data.bytes.subarray(0, prefixLength(data.bytes.length));
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
  return typeof arg === "object" && arg !== null && !ArrayBuffer.isView(arg) && typeof (arg as { fd?: unknown }).fd === "number";
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
function trace(i: number, call: Call, mode: FsCrashMode | undefined): void {
  if (traceFd === undefined) return;
  const entry = { i, call: call.label, ...describe(call), ...(mode ? { crash: mode } : {}) };
  writeAllSync(traceFd, Buffer.from(`${JSON.stringify(entry)}\n`), null);
}

/** Writes all of `bytes` with the unpatched writeSync (it may write less than asked). */
function writeAllSync(fd: number, bytes: Uint8Array, position: number | null): void {
  for (let done = 0; done < bytes.length; ) {
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
