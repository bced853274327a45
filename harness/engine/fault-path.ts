// Which way injected file-system faults (disk-full, read-only, fsync-error, slow-storage) reach
// an adapter: the Node fs preload (harness/faults/fs-preload.ts) for a Node.js adapter whose
// I/O is Node's fs, else the C preload (harness/faults/power/recorder.c, LD_PRELOAD) for any
// dynamically linked program; and, when neither can, why.
import fs from "node:fs";
import path from "node:path";
import { dir as tmpDir } from "tmp-promise";
import { AdapterClient } from "../protocol/adapter-client.js";
import { ensureRecorder, recordEnv } from "../faults/power/recorder-build.js";
import { parseTrace } from "../faults/power/trace.js";
import { MIN_FS_CALLS, type AdapterLaunch } from "./adapter-launch.js";

/** How fault arms reach the adapter: `node` (NODE_OPTIONS --import the fs preload) or `native` (LD_PRELOAD `lib`). */
export type FaultPath =
  | { ok: true; via: "node"; why: string }
  | { ok: true; via: "native"; lib: string; why: string }
  | { ok: false; why: string };

/** What the C preload saw of one probe life: its writes and fsyncs in the WAL directory, and the appends acked. */
export interface NativeProbe {
  writes: number;
  syncs: number;
  acks: number;
}

/**
 * The environment that loads the C preload `lib` scoped to `dir`: LD_PRELOAD (appended to any in
 * process.env), WALCHECK_FAULT_DIR (realpath'd: the preload compares paths lexically; the
 * directory itself may not exist yet), and UV_USE_IO_URING=0 so that a libuv program's file I/O
 * goes through libc.
 */
function nativeEnv(lib: string, dir: string): Record<string, string> {
  if (/[\s:]/.test(lib))
    throw new Error(`the C preload's path cannot go in LD_PRELOAD (it has a space or a colon): ${lib}`);
  const existing = process.env.LD_PRELOAD?.trim();
  let real: string;
  try {
    real = fs.realpathSync(dir);
  } catch {
    real = path.join(fs.realpathSync(path.dirname(dir)), path.basename(dir));
  }
  return { LD_PRELOAD: existing ? `${existing} ${lib}` : lib, WALCHECK_FAULT_DIR: real, UV_USE_IO_URING: "0" };
}

/** The environment that injects `spec` (WALCHECK_FS_FAULT's grammar) into `dir` through the C preload `lib`. */
export function nativeFaultEnv(lib: string, dir: string, spec: string): Record<string, string> {
  return { ...nativeEnv(lib, dir), WALCHECK_FS_FAULT: spec };
}

/**
 * The environment of fs-call crash points in `dir` through the C preload `lib` (its crash mode,
 * see recorder.c): `crash` is WALCHECK_FS_CRASH (`<k>:<before|after|mid>`), `trace` the
 * WALCHECK_FS_TRACE file (one JSON line per counted call, as the Node preload writes).
 */
export function nativeCrashEnv(
  lib: string,
  dir: string,
  opts: { crash?: string; trace?: string },
): Record<string, string> {
  return {
    ...nativeEnv(lib, dir),
    ...(opts.crash ? { WALCHECK_FS_CRASH: opts.crash } : {}),
    ...(opts.trace ? { WALCHECK_FS_TRACE: opts.trace } : {}),
  };
}

/**
 * One life of the adapter under the C preload in recording mode (hello, open of an empty
 * directory, six appends, close): how many of its writes and fsyncs in that directory the
 * preload saw. None for acked appends means faults cannot reach it (statically linked, raw
 * system calls as Go makes them, io_uring).
 */
export async function probeNative(
  launch: AdapterLaunch,
  lib: string,
  timeoutMs: number,
  openConfig: Record<string, unknown>,
): Promise<NativeProbe> {
  const work = await tmpDir({ prefix: "walcheck-native-", unsafeCleanup: true });
  const dir = path.join(fs.realpathSync(work.path), "wal");
  fs.mkdirSync(dir);
  const trace = path.join(work.path, "trace.jsonl");
  const client = AdapterClient.start({
    file: launch.file,
    args: launch.args,
    env: { ...launch.env, ...recordEnv(trace, dir, lib) },
    timeoutMs,
  });
  let acks = 0;
  try {
    await client.hello();
    const open = await client.request("open", { dir, config: openConfig });
    if (open.ok)
      for (let i = 0; i < 6; i++) {
        const reply = await client.request("append", { ops: [{ key: "k", value: String(i) }] });
        if (reply.ok) acks += 1;
      }
    await client.request("close", {}).catch(() => undefined);
    await client.waitExit().catch(() => undefined);
    const ops = parseTrace(fs.existsSync(trace) ? fs.readFileSync(trace, "utf8") : "");
    return {
      writes: ops.filter((op) => op.op === "write").length,
      syncs: ops.filter((op) => op.op === "fsync" || op.op === "dirsync").length,
      acks,
    };
  } finally {
    await client.kill();
    await work.cleanup();
  }
}

/** The native path's verdict from a probe life: usable if the preload saw writes for the acked appends. */
export function nativeFaultPath(lib: string, probe: NativeProbe): FaultPath {
  if (probe.acks === 0)
    return {
      ok: false,
      why: "the adapter acknowledged no append in a probe life under the C preload (LD_PRELOAD), so whether faults reach its writes is unknown",
    };
  if (probe.writes === 0)
    return {
      ok: false,
      why: `the C preload (LD_PRELOAD) saw none of the adapter's writes for ${probe.acks} acknowledged appends: a statically linked program, or one making raw system calls (Go) or using io_uring, writes past it`,
    };
  return {
    ok: true,
    via: "native",
    lib,
    why: `through the C preload (LD_PRELOAD), which saw ${probe.writes} writes and ${probe.syncs} fsyncs in a probe life`,
  };
}

/**
 * How injected fs faults reach the adapter: the Node fs preload when it sees the adapter's I/O
 * (`fsFaults`, from fsFaultSupport), else the C preload (LD_PRELOAD) if it can be built and saw
 * the adapter's writes in a probe life; else why neither can.
 */
export async function faultPath(
  launch: AdapterLaunch,
  fsFaults: { ok: boolean; why: string },
  timeoutMs: number,
  openConfig: Record<string, unknown>,
): Promise<FaultPath> {
  if (fsFaults.ok) return { ok: true, via: "node", why: "through the Node fs preload" };
  let lib: string;
  try {
    lib = await ensureRecorder();
  } catch (error) {
    return { ok: false, why: `${fsFaults.why}, and the C preload cannot be built: ${(error as Error).message}` };
  }
  const native = nativeFaultPath(lib, await probeNative(launch, lib, timeoutMs, openConfig));
  return native.ok || !launch.node ? native : { ok: false, why: `${fsFaults.why}, and ${native.why}` };
}

/** How fs-call crash points reach the adapter: the Node fs preload, the C preload `lib`, or why neither can. */
export type FsCrashPath =
  | { ok: true; via: "node"; calls: number; why: string }
  | { ok: true; via: "native"; lib: string; calls: number; why: string }
  | { ok: false; why: string };

/**
 * One typical life of the adapter (hello, open of an empty directory, six appends, a checkpoint if
 * it has one, close) under the C preload's crash mode with a trace and no crash: how many fs
 * calls in the WAL directory it counted (the numbering WALCHECK_FS_CRASH's k follows).
 */
export async function probeNativeFsCalls(
  launch: AdapterLaunch,
  lib: string,
  timeoutMs: number,
  openConfig: Record<string, unknown>,
): Promise<number> {
  const work = await tmpDir({ prefix: "walcheck-count-", unsafeCleanup: true });
  const dir = path.join(fs.realpathSync(work.path), "wal");
  const trace = path.join(fs.realpathSync(work.path), "trace.jsonl");
  const client = AdapterClient.start({
    file: launch.file,
    args: launch.args,
    env: { ...launch.env, ...nativeCrashEnv(lib, dir, { trace }) },
    timeoutMs,
  });
  try {
    const hello = await client.hello();
    await client.request("open", { dir, config: openConfig });
    for (let i = 0; i < 6; i++) await client.request("append", { ops: [{ key: "k", value: String(i) }] });
    if (hello.features.includes("checkpoint"))
      await client.request("checkpoint", {
        mode: hello.features.includes("checkpoint.truncate") ? "truncate" : "passive",
      });
    await client.request("close", {}).catch(() => undefined);
    await client.waitExit().catch(() => undefined);
    return fs.existsSync(trace) ? fs.readFileSync(trace, "utf8").split("\n").filter(Boolean).length : 0;
  } finally {
    await client.kill();
    await work.cleanup();
  }
}

/**
 * fs-call crash points for an adapter the Node fs preload cannot see (`nodeWhy` says why: not a
 * Node.js process, or its I/O is native): through the C preload (LD_PRELOAD) if it can be built
 * and counts at least MIN_FS_CALLS calls in the WAL directory in a probe life; else why not.
 */
export async function nativeFsCrashPath(
  launch: AdapterLaunch,
  nodeWhy: string,
  timeoutMs: number,
  openConfig: Record<string, unknown>,
): Promise<FsCrashPath> {
  let lib: string;
  try {
    lib = await ensureRecorder();
  } catch (error) {
    return { ok: false, why: `${nodeWhy}, and the C preload cannot be built: ${(error as Error).message}` };
  }
  const calls = await probeNativeFsCalls(launch, lib, timeoutMs, openConfig);
  if (calls >= MIN_FS_CALLS)
    return {
      ok: true,
      via: "native",
      lib,
      calls,
      why: `through the C preload (LD_PRELOAD), which counted ${calls} fs calls in its WAL directory in a probe life`,
    };
  return {
    ok: false,
    why: `${nodeWhy}, and the C preload (LD_PRELOAD) counted ${calls} fs calls in its WAL directory in a probe life: a statically linked program, or one making raw system calls (Go) or using io_uring, is out of its reach`,
  };
}
