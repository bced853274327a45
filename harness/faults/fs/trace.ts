// WALCHECK_FS_TRACE: one JSON line per counted call, written before the call is performed.

import fs from "node:fs";
import { dataOf, pathOf, TWO_PATH_CALLS, type FsCall } from "./calls.js";
import type { Injected } from "./injectors.js";
import type { FsCrashMode } from "./spec.js";
import { writeAllSync } from "./unpatched.js";

/** A counted call as traced: `label` is the form that was called ("writeSync", "FileHandle.write"). */
export interface TracedCall extends FsCall {
  label: string;
}

/** The trace file, opened for appending. */
export class Trace {
  private constructor(readonly fd: number) {}

  static open(file: string): Trace {
    return new Trace(fs.openSync(file, "a"));
  }

  /** Appends the call's line (one write, so a SIGKILL cannot split it). */
  write(i: number, call: TracedCall, crash: FsCrashMode | undefined, injected: Injected | undefined): void {
    writeAllSync(this.fd, Buffer.from(`${traceLine(i, call, crash, injected)}\n`), null);
  }
}

/** `{"i":…,"call":…,"path"?,"dest"?,"fd"?,"flags"?,"bytes"?,"crash"?,"fault"?}` */
function traceLine(
  i: number,
  call: TracedCall,
  crash: FsCrashMode | undefined,
  injected: Injected | undefined,
): string {
  const faultName = injected && ("error" in injected ? injected.error.code : "slow-fsync");
  const entry = {
    i,
    call: call.label,
    ...describe(call),
    ...(crash ? { crash } : {}),
    ...(faultName ? { fault: faultName } : {}),
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
