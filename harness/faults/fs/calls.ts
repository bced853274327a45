// The fs calls the preload counts, and how to read their arguments.

import fs from "node:fs";
import { fileURLToPath } from "node:url";

/** The calls that are counted, by the name of their callback form. */
export const CALLS = [
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
export type CallName = (typeof CALLS)[number];

/** The calls whose second argument is a path too (`dest` in the trace and in errors). */
export const TWO_PATH_CALLS: readonly CallName[] = ["rename", "link", "symlink", "copyFile"];
/** The calls that write data: `mid` writes half of it, enospc counts it. */
export const WRITE_LIKE: readonly CallName[] = ["write", "writev", "writeFile", "appendFile"];
export const SYNCS: readonly CallName[] = ["fsync", "fdatasync"];

/** One counted call, described by the arguments of its sync form (fd first for FileHandle methods). */
export interface FsCall {
  name: CallName;
  args: unknown[];
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

export interface WriteData {
  bytes: Uint8Array;
  /** null: the fd's current position (or the end, for O_APPEND). */
  position: number | null;
}

/** The bytes a write-like call writes, and where; undefined for other calls or iterable data. */
export function dataOf(call: FsCall): WriteData | undefined {
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

/** A path argument as a string (undefined for an fd). */
export function pathOf(arg: unknown): string | undefined {
  if (typeof arg === "string") return arg;
  if (arg instanceof URL) return fileURLToPath(arg);
  if (arg instanceof Uint8Array) return Buffer.from(arg).toString();
  return undefined;
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
