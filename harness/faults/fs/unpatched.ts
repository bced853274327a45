// Node's own fs functions, and the preload's own writes made with them: they are never counted.

import fs from "node:fs";
import { CALLS, dataOf, type FsCall } from "./calls.js";

export type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;
export type FunctionTable = Record<string, AnyFunction>;

const fsTable = fs as unknown as FunctionTable;
const writeSync = fs.writeSync;

/**
 * The callback and sync forms of the counted calls (`write`, `writeSync`, ...) as Node made
 * them, taken when this module is evaluated, before patch.ts replaces them. The preload's own
 * calls (the trace, a crash's `after` and `mid`, what a fault does to the disk) go through
 * these, so they never count themselves.
 */
export const unpatched: Readonly<FunctionTable> = Object.fromEntries(
  CALLS.flatMap((name) => [
    [name, fsTable[name]!],
    [`${name}Sync`, fsTable[`${name}Sync`]!],
  ]),
);

/** Writes all of `bytes` with the unpatched writeSync (it may write less than asked). */
export function writeAllSync(fd: number, bytes: Uint8Array, position: number | null): void {
  for (let done = 0; done < bytes.length;) {
    const written = writeSync(fd, bytes, done, bytes.length - done, position === null ? null : position + done);
    if (written <= 0) return;
    done += written;
  }
}

/** Writes the first `length(n)` of a write-like call's n bytes; does nothing for other calls. */
export function writePrefix(call: FsCall, length: (n: number) => number): void {
  const data = dataOf(call);
  if (data === undefined) return;
  const prefix = data.bytes.subarray(0, length(data.bytes.length));
  if (call.name === "write" || call.name === "writev") {
    writeAllSync(call.args[0] as number, prefix, data.position);
  } else {
    // writeFile/appendFile: same target, same options (flag, mode), only less data.
    unpatched[`${call.name}Sync`]!(call.args[0], prefix, call.args[2]);
  }
}
