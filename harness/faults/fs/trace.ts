// WALCHECK_FS_TRACE: one JSON line per counted call, written before the call is performed.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { dataOf, pathOf, TWO_PATH_CALLS, type FsCall } from "./calls.js";
import type { Injected } from "./injectors.js";
import type { FsCrashMode } from "./spec.js";
import { writeAllSync } from "./unpatched.js";

/** A counted call as traced: `label` is the form that was called ("writeSync", "FileHandle.write"). */
export interface TracedCall extends FsCall {
  label: string;
}

/** The trace file, opened for appending. With `stacks`, each line also says where the program made the call. */
export class Trace {
  private constructor(
    readonly fd: number,
    private readonly stacks: boolean,
  ) {}

  static open(file: string, stacks = false): Trace {
    return new Trace(fs.openSync(file, "a"), stacks);
  }

  /** Appends the call's line (one write, so a SIGKILL cannot split it). */
  write(i: number, call: TracedCall, crash: FsCrashMode | undefined, injected: Injected | undefined): void {
    const stack = this.stacks ? callerFrames() : undefined;
    writeAllSync(this.fd, Buffer.from(`${traceLine(i, call, crash, injected, stack)}\n`), null);
  }
}

// walcheck's own code (dist/harness or harness, this file's grandparent): its frames (the
// preload's wrappers, `walcheck serve`'s loop) are not where the program made the call.
const OWN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const OWN_URL = `file://${OWN}/`;
/** Frames of a call's stack kept in the trace: the program's innermost ones. */
const KEPT_FRAMES = 4;

/**
 * The program's frames at this call (WALCHECK_FS_TRACE_STACKS), innermost first, as V8 prints
 * them without "at ": "newSegment (file:///app/wal.mjs:110:14)". Node's own frames (node:,
 * internal/) and walcheck's are left out.
 */
function callerFrames(): string[] {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 24;
  const stack = new Error().stack ?? "";
  Error.stackTraceLimit = limit;
  const kept: string[] = [];
  for (const line of stack.split("\n").slice(1)) {
    const frame = line.trim().replace(/^at /, "");
    if (/\(?(node:|internal\/)/.test(frame) || frame.includes(OWN_URL) || frame.includes(`${OWN}/`)) continue;
    kept.push(frame);
    if (kept.length === KEPT_FRAMES) break;
  }
  return kept;
}

/** `{"i":…,"call":…,"path"?,"dest"?,"fd"?,"flags"?,"bytes"?,"crash"?,"fault"?}` */
function traceLine(
  i: number,
  call: TracedCall,
  crash: FsCrashMode | undefined,
  injected: Injected | undefined,
  stack?: string[],
): string {
  const faultName = injected && ("error" in injected ? injected.error.code : "slow-fsync");
  const entry = {
    i,
    call: call.label,
    ...describe(call),
    ...(crash ? { crash } : {}),
    ...(faultName ? { fault: faultName } : {}),
    ...(stack ? { stack } : {}),
  };
  return JSON.stringify(entry);
}

function describe(call: FsCall): Record<string, unknown> {
  const [first, second] = call.args;
  const fields: Record<string, unknown> = typeof first === "number" ? { fd: first } : { path: pathOf(first) };
  if (TWO_PATH_CALLS.includes(call.name)) fields.dest = pathOf(second);
  if (call.name === "open") fields.flags = second ?? "r";
  const data = dataOf(call);
  if (data !== undefined) fields.bytes = data.bytes.length;
  return fields;
}
