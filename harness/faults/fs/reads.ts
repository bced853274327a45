// WALCHECK_FS_FAULT=eio-read:<offset>:<length>:<absolute path>: a latent sector error. Every read
// of that file whose byte range [pos, pos+n) overlaps [offset, offset+length) is faulted: a read
// that starts before `offset` returns only the bytes before it (a short count, as a disk returns
// the good sectors first), a read that starts inside the range fails with EIO; reads wholly
// outside it are untouched. (The same contract as the C preload's; fs-preload.ts's header.)
//
// Reads are not counted calls: this module wraps them on its own. It follows which file each
// fd is (opens by path in every form, resolved to absolute at open; closes forget them) and
// each fd's read position (reads at the current position advance it; writes at the current
// position are not followed, so a file both read and written through one fd at the current
// position can be misjudged). Wrapped: fs.read/readSync, readv/readvSync, readFile/readFileSync
// (by path or fd), fs.promises.readFile, FileHandle read/readv/readFile; streams read with
// fs.read. readFile of the file (any form) reads from its start to its end: it fails with EIO
// when the file is longer than `offset`, as the read that reaches `offset` would.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathOf } from "./calls.js";
import type { AnyFunction, FunctionTable } from "./unpatched.js";

export interface ReadFault {
  offset: number;
  length: number;
  file: string;
}

const fsTable = fs as unknown as FunctionTable;
let fault: ReadFault;
/** Open fds of the faulted file, with their read position. */
const tracked = new Map<number, { pos: number }>();

function eio(syscall: string, file?: string): NodeJS.ErrnoException {
  const errno = -os.constants.errno.EIO;
  return Object.assign(new Error(`EIO: i/o error, ${syscall}${file ? ` '${file}'` : ""}`), {
    errno,
    code: "EIO",
    syscall,
    ...(file ? { path: file } : {}),
  });
}

const isFaulted = (file: unknown): boolean => {
  const p = pathOf(file);
  return p !== undefined && path.resolve(p) === fault.file;
};

/** How many of `n` bytes at `pos` may be read (a short count), or "eio". */
function allowed(pos: number, n: number): number | "eio" {
  const end = fault.offset + fault.length;
  if (n <= 0 || pos + n <= fault.offset || pos >= end) return n;
  return pos < fault.offset ? fault.offset - pos : "eio";
}

/** Whether a whole-file read of `fd` or a path hits the range: the file reaches past `offset`. */
function wholeFileHits(target: unknown): boolean {
  try {
    if (typeof target === "number") return tracked.has(target) && fs.fstatSync(target).size > fault.offset;
    if (typeof target === "object" && target !== null && typeof (target as { fd?: unknown }).fd === "number") {
      const fd = (target as { fd: number }).fd;
      return tracked.has(fd) && fs.fstatSync(fd).size > fault.offset;
    }
    return isFaulted(target) && fs.statSync(pathOf(target)!).size > fault.offset;
  } catch {
    return false; // ENOENT and the like: the call fails by itself
  }
}

/** (buffer, offset, length, position) or (buffer, {offset, length, position}) as numbers; null position: the fd's own. */
function readArgs(
  args: unknown[],
): { buffer: ArrayBufferView; offset: number; length: number; position: number | null } | undefined {
  let [buffer, offset, length, position] = args;
  if (typeof buffer === "object" && buffer !== null && !ArrayBuffer.isView(buffer)) {
    ({ buffer, offset, length, position } = buffer as Record<string, unknown>); // read(fd, {buffer, ...})
  } else if (typeof offset === "object" && offset !== null) {
    ({ offset, length, position } = offset as Record<string, unknown>);
  }
  if (!ArrayBuffer.isView(buffer)) return undefined;
  const off = typeof offset === "number" ? offset : 0;
  const len = typeof length === "number" ? length : buffer.byteLength - off;
  const pos =
    typeof position === "bigint" ? Number(position) : typeof position === "number" && position >= 0 ? position : null;
  return { buffer, offset: off, length: len, position: pos };
}

/**
 * One read of `fd`: undefined when it is not the faulted file (perform it as called); else
 * "eio", or the arguments of the read to perform (maybe shorter) and how to advance the position.
 */
function plan(fd: unknown, args: unknown[]): "eio" | { args: unknown[]; advance: (n: number) => void } | undefined {
  const state = typeof fd === "number" ? tracked.get(fd) : undefined;
  const r = state && readArgs(args);
  if (!state || !r) return undefined;
  const pos = r.position ?? state.pos;
  const n = allowed(pos, r.length);
  if (n === "eio") return "eio";
  return {
    args: [r.buffer, r.offset, n, r.position],
    advance: (read) => {
      if (r.position === null) state.pos += read;
    },
  };
}

function wrapOpen(name: "open" | "openSync"): void {
  const original = fsTable[name]!;
  fsTable[name] = function (this: unknown, ...args: unknown[]) {
    const faulted = isFaulted(args[0]);
    if (name === "openSync") {
      const fd = original.apply(this, args) as number;
      if (faulted) tracked.set(fd, { pos: 0 });
      return fd;
    }
    const callback = args.at(-1);
    if (!faulted || typeof callback !== "function") return original.apply(this, args);
    return original.apply(this, [
      ...args.slice(0, -1),
      (error: unknown, fd: number) => {
        if (!error) tracked.set(fd, { pos: 0 });
        (callback as AnyFunction)(error, fd);
      },
    ]);
  };
}

function wrapClose(name: "close" | "closeSync"): void {
  const original = fsTable[name]!;
  fsTable[name] = function (this: unknown, ...args: unknown[]) {
    if (typeof args[0] === "number") tracked.delete(args[0]);
    return original.apply(this, args);
  };
}

function wrapReadSync(): void {
  const original = fsTable.readSync!;
  fsTable.readSync = function (this: unknown, fd: unknown, ...rest: unknown[]) {
    const p = plan(fd, rest);
    if (p === undefined) return original.call(this, fd, ...rest);
    if (p === "eio") throw eio("read");
    const n = original.call(this, fd, ...p.args) as number;
    p.advance(n);
    return n;
  };
}

function wrapRead(): void {
  const original = fsTable.read!;
  fsTable.read = function (this: unknown, fd: unknown, ...rest: unknown[]) {
    const callback = rest.at(-1);
    if (typeof callback !== "function") return original.call(this, fd, ...rest);
    const p = plan(fd, rest.slice(0, -1));
    if (p === undefined) return original.call(this, fd, ...rest);
    if (p === "eio") return void process.nextTick(callback as AnyFunction, eio("read"));
    return original.call(this, fd, ...p.args, (error: unknown, n: number, buffer: unknown) => {
      if (!error) p.advance(n);
      (callback as AnyFunction)(error, n, buffer);
    });
  };
}

/** readv: the buffers cut to the bytes allowed. */
function planv(
  fd: unknown,
  buffers: unknown,
  position: unknown,
): "eio" | { buffers: ArrayBufferView[]; advance: (n: number) => void } | undefined {
  const state = typeof fd === "number" ? tracked.get(fd) : undefined;
  if (!state || !Array.isArray(buffers) || !buffers.every((b) => ArrayBuffer.isView(b))) return undefined;
  const views = buffers as ArrayBufferView[];
  const explicit = typeof position === "number" && position >= 0 ? position : null;
  const total = views.reduce((n, b) => n + b.byteLength, 0);
  const n = allowed(explicit ?? state.pos, total);
  if (n === "eio") return "eio";
  const cut: ArrayBufferView[] = [];
  let left = n;
  for (const b of views) {
    if (left <= 0) break;
    const take = Math.min(left, b.byteLength);
    cut.push(new Uint8Array(b.buffer, b.byteOffset, take));
    left -= take;
  }
  return {
    buffers: cut,
    advance: (read) => {
      if (explicit === null) state.pos += read;
    },
  };
}

function wrapReadv(): void {
  const sync = fsTable.readvSync!;
  fsTable.readvSync = function (this: unknown, fd: unknown, buffers: unknown, position?: unknown) {
    const p = planv(fd, buffers, position);
    if (p === undefined) return sync.call(this, fd, buffers, position);
    if (p === "eio") throw eio("read");
    const n = sync.call(this, fd, p.buffers, position) as number;
    p.advance(n);
    return n;
  };
  const callbackForm = fsTable.readv!;
  fsTable.readv = function (this: unknown, fd: unknown, buffers: unknown, ...rest: unknown[]) {
    const callback = rest.at(-1);
    const position = rest.length > 1 ? rest[0] : null;
    if (typeof callback !== "function") return callbackForm.call(this, fd, buffers, ...rest);
    const p = planv(fd, buffers, position);
    if (p === undefined) return callbackForm.call(this, fd, buffers, ...rest);
    if (p === "eio") return void process.nextTick(callback as AnyFunction, eio("read"));
    return callbackForm.call(this, fd, p.buffers, position, (error: unknown, n: number) => {
      if (!error) p.advance(n);
      (callback as AnyFunction)(error, n, buffers);
    });
  };
}

function wrapReadFile(): void {
  const sync = fsTable.readFileSync!;
  fsTable.readFileSync = function (this: unknown, ...args: unknown[]) {
    if (wholeFileHits(args[0])) throw eio("read", pathOf(args[0]));
    return sync.apply(this, args);
  };
  const callbackForm = fsTable.readFile!;
  fsTable.readFile = function (this: unknown, ...args: unknown[]) {
    const callback = args.at(-1);
    if (typeof callback === "function" && wholeFileHits(args[0]))
      return void process.nextTick(callback as AnyFunction, eio("read", pathOf(args[0])));
    return callbackForm.apply(this, args);
  };
  const promises = fs.promises as unknown as FunctionTable;
  const promiseForm = promises.readFile!;
  promises.readFile = function (this: unknown, ...args: unknown[]) {
    if (wholeFileHits(args[0])) return Promise.reject(eio("read", pathOf(args[0])));
    return promiseForm.apply(this, args);
  };
}

/** FileHandle: opens of the faulted file are followed by fd; read, readv and readFile of their handles faulted. */
function wrapFileHandles(): void {
  const promises = fs.promises as unknown as FunctionTable;
  const open = promises.open!;
  const patched = new WeakSet<object>();
  promises.open = function (this: unknown, ...args: unknown[]) {
    const faulted = isFaulted(args[0]);
    return (open.apply(this, args) as Promise<{ fd: number; close: AnyFunction }>).then((handle) => {
      const proto = Object.getPrototypeOf(handle) as Record<string, AnyFunction>;
      if (!patched.has(proto)) {
        patched.add(proto);
        patchHandleProto(proto);
      }
      if (faulted) {
        const fd = handle.fd;
        tracked.set(fd, { pos: 0 });
        const close = handle.close;
        handle.close = function (this: unknown, ...a: unknown[]) {
          tracked.delete(fd);
          return close.apply(handle, a);
        };
      }
      return handle;
    });
  };
}

type HandleMethod = (this: { fd: number }, ...args: unknown[]) => unknown;

function patchHandleProto(protoTable: Record<string, AnyFunction>): void {
  const proto = protoTable as unknown as Record<string, HandleMethod>;
  const read = proto.read!;
  proto.read = function (this: { fd: number }, ...args: unknown[]) {
    const p = plan(this.fd, args.length === 0 ? [Buffer.alloc(16384)] : args);
    if (p === undefined) return read.apply(this, args);
    if (p === "eio") return Promise.reject(eio("read"));
    return (read.apply(this, p.args) as Promise<{ bytesRead: number }>).then((r) => (p.advance(r.bytesRead), r));
  };
  const readv = proto.readv!;
  proto.readv = function (this: { fd: number }, buffers?: unknown, position?: unknown) {
    const p = planv(this.fd, buffers, position);
    if (p === undefined) return readv.call(this, buffers, position);
    if (p === "eio") return Promise.reject(eio("read"));
    return (readv.call(this, p.buffers, position) as Promise<{ bytesRead: number }>).then((r) => {
      p.advance(r.bytesRead);
      return { ...r, buffers };
    });
  };
  const readFile = proto.readFile!;
  proto.readFile = function (this: { fd: number }, ...args: unknown[]) {
    if (wholeFileHits(this.fd)) return Promise.reject(eio("read"));
    return readFile.apply(this, args);
  };
}

/** Installs the read fault; call it once, after the counted calls' wrappers (it wraps on top of them). */
export function installReadFault(what: ReadFault): void {
  fault = what;
  wrapOpen("open");
  wrapOpen("openSync");
  wrapClose("close");
  wrapClose("closeSync");
  wrapReadSync();
  wrapRead();
  wrapReadv();
  wrapReadFile();
  wrapFileHandles();
}
