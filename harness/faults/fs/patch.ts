// Installs the counting wrappers on node:fs (sync, callback, fs/promises and FileHandle forms):
// each counted call is traced, then crashes the process, fails, is delayed or is performed.

import { AsyncLocalStorage, AsyncResource } from "node:async_hooks";
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { CALLS, dataOf, opensForWriting, type CallName, type FsCall } from "./calls.js";
import type { Failure, Injector } from "./injectors.js";
import type { FsCrash, FsCrashMode } from "./spec.js";
import type { Trace } from "./trace.js";
import { unpatched, writePrefix, type AnyFunction, type FunctionTable } from "./unpatched.js";

/** What the patched calls do: crash at a call, fail or delay calls, trace them. */
export interface Patches {
  crash?: FsCrash;
  injector?: Injector;
  trace?: Trace;
}

/** How many of a write's `n` bytes `mid` writes: half, rounded down. */
export function prefixLength(n: number): number {
  return Math.floor(n / 2);
}

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

// Uncounted fs functions that Node builds on counted ones (fs.openSync/fs.closeSync, looked up
// on the module object): they run as if inside a counted call, so reading a file is not a close.
const UNCOUNTED_COMPOSITES = ["readFileSync"] as const;

/** One counted call, and how it was made. */
interface Call extends FsCall {
  /** The form called, as traced: "writeSync", "write", "promises.writeFile", "FileHandle.write". */
  label: string;
  /** How it reports an error: "sync" throws, "callback" calls `callback`, "promise" rejects. */
  form: "sync" | "callback" | "promise";
  callback?: AnyFunction;
}

interface FileHandleLike {
  readonly fd: number;
  close: AnyFunction;
}

const fsTable = fs as unknown as FunctionTable;

// Set while a counted call runs, and inherited by the async work it starts, so that Node's own
// nested fs calls (writeFile's open/write/close) are not counted a second time.
const insideCall = new AsyncLocalStorage<true>();
let patches: Patches = {};
let counted = 0;

/** Replaces the counted calls of node:fs, fs/promises and FileHandle; call it once. */
export function install(what: Patches): void {
  patches = what;
  const promisesTable = fs.promises as unknown as FunctionTable;

  for (const name of CALLS) {
    fsTable[name] = likeOriginal(wrapCallback(name), unpatched[name]!);
    fsTable[`${name}Sync`] = likeOriginal(wrapSync(name), unpatched[`${name}Sync`]!);
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
  const sync = unpatched[`${name}Sync`]!;
  return function (this: unknown, ...args: unknown[]) {
    if (insideCall.getStore()) return sync.apply(this, args);
    return count({ label: `${name}Sync`, name, args, form: "sync" }, () => sync.apply(this, args));
  };
}

function wrapCallback(name: CallName): AnyFunction {
  const callbackForm = unpatched[name]!;
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
 * it, or fails it, or delays it, as the injector decides.
 */
function count(call: Call, perform: () => unknown): unknown {
  if (!isCounted(call)) return perform();
  const { crash, injector, trace } = patches;
  const i = ++counted;
  const mode = crash && i >= crash.k ? (i === crash.k ? crash.mode : "before") : undefined;
  const injected = injector?.inject(call);
  trace?.write(i, call, mode, injected);
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
  if (typeof first === "number" && (first <= 2 || first === patches.trace?.fd)) return false;
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
    else if (mode === "after") unpatched[`${call.name}Sync`]!(...call.args);
    else writePrefix(call, prefixLength); // not write-like: `mid` is `before`
  } catch {
    // e.g. ENOENT: the call would have failed too, the process still crashes here.
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

// --- helpers --------------------------------------------------------------------------

function isFileHandle(arg: unknown): arg is FileHandleLike {
  return (
    typeof arg === "object" &&
    arg !== null &&
    !ArrayBuffer.isView(arg) &&
    typeof (arg as { fd?: unknown }).fd === "number"
  );
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
