import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { TraceOp } from "./trace.js";

// Where the program issued a trace op, from what the recorder wrote with WALCHECK_POWER_STACKS
// (recorder.c, "Where"):
// - JavaScript (a Node adapter): the fs preload traced every fs call with its stack before
//   making it (harness/faults/fs/trace.ts, WALCHECK_FS_TRACE_STACKS); the op's `jsAt` is that
//   trace's size when the recorder wrote the op, so the op's call is among the calls traced by
//   then: the last one of a kind that can make the op (and, for calls that name a path, on the
//   op's path). A synchronous call is matched exactly (its line is written just before the
//   syscall); an async call runs its syscall on libuv's pool later, so when several async calls
//   of the same kind are in flight at once the match may name a sibling call.
// - Native: the op's `stack`, symbolised with addr2line (function, file:line) where the module
//   has debug information, else the dynamic symbol dladdr gave (symbol+offset), else the module
//   and offset alone. A Python adapter writes the same call trace as the fs preload
//   (python-where/sitecustomize.py); Go (cgo) and other programs get native frames only; for a Node
//   adapter the native frames are Node's own, so the JavaScript frame is the one shown.

/** A JavaScript frame: "newSegment (file:///app/wal.mjs:110:14)" parsed. */
export interface JsFrame {
  function?: string;
  /** Absolute path (a file: URL made a path). */
  file: string;
  line: number;
  column: number;
}

/** A native frame, symbolised as far as the module allows. */
export interface NativeFrame {
  module: string;
  /** Offset of the return address in the module, hex. */
  offset: string;
  function?: string;
  /** Source file and line, where the module has debug information. */
  file?: string;
  line?: number;
  /** How it was named: addr2line with debug info, the dynamic symbol (dladdr), or nothing. */
  symbolised: "debug-info" | "symbol" | "none";
}

/** Where an op was issued. `text` is for a person: "in newSegment() at power-wal.mjs:110". */
export interface OpWhere {
  text: string;
  js?: JsFrame[];
  native?: NativeFrame[];
  /** How `text` was found, when it is not from a JavaScript or symbolised frame, or why it is missing. */
  note?: string;
}

/** A line of the fs preload's trace, as where.ts reads it. */
interface JsCall {
  call: string;
  path?: string;
  dest?: string;
  stack?: string[];
  /** Byte offset of the end of its line. */
  end: number;
}

/** The fs preload's call trace (WALCHECK_FS_TRACE), with where each line ends; an unreadable line is skipped. */
export function parseJsCalls(text: string): JsCall[] {
  const calls: JsCall[] = [];
  let at = 0;
  const buf = Buffer.from(text, "utf8");
  for (let nl = buf.indexOf(10); nl !== -1; nl = buf.indexOf(10, at)) {
    const line = buf.subarray(at, nl).toString("utf8");
    at = nl + 1;
    try {
      const o = JSON.parse(line) as Omit<JsCall, "end">;
      if (typeof o.call === "string") calls.push({ ...o, end: at });
    } catch {
      // a line cut short by a kill: not a call
    }
  }
  return calls;
}

/** The calls (normalised: no "Sync", "promises." or "FileHandle." in the name) that can make each kind of op. */
const MAKES: Record<string, readonly string[]> = {
  create: ["open", "writeFile", "appendFile", "copyFile"],
  truncate: ["truncate", "ftruncate", "open", "writeFile"],
  write: ["write", "writev", "writeFile", "appendFile", "copyFile"],
  fsync: ["fsync", "fdatasync"],
  dirsync: ["fsync", "fdatasync"],
  rename: ["rename"],
  unlink: ["unlink", "rm"],
  mkdir: ["mkdir"],
  rmdir: ["rmdir", "rm"],
  link: ["link"],
};

function normalCall(call: string): string {
  const [owner, name = owner] = call.includes(".") ? call.split(".") : [undefined, call];
  const base = name!.replace(/Sync$/, "");
  if (owner === "FileHandle") return { sync: "fsync", datasync: "fdatasync", truncate: "ftruncate" }[base] ?? base;
  return base;
}

const samePath = (given: string | undefined, abs: string) =>
  given !== undefined &&
  (given === abs || path.resolve(given) === abs || abs.endsWith(`/${given.replace(/^\.\//, "")}`));

/** The op's paths, for calls that name one: the first of `path`/`from`, and `to`. */
function opPaths(op: TraceOp): { path?: string; dest?: string } {
  if ("from" in op) return { path: op.from, dest: op.to };
  if ("path" in op && op.op !== "dirsync") return { path: op.path };
  return {};
}

/** The JavaScript call that made trace op `op`: the last matching call traced by `op.jsAt`. */
export function jsCallOf(op: TraceOp, calls: readonly JsCall[]): JsCall | undefined {
  if (op.jsAt === undefined) return undefined;
  const kinds = MAKES[op.op];
  if (!kinds) return undefined;
  const want = opPaths(op);
  for (let k = calls.length - 1; k >= 0; k--) {
    const c = calls[k]!;
    if (c.end > op.jsAt) continue;
    if (!kinds.includes(normalCall(c.call))) continue;
    // A call that names a path must name the op's (a path-less fd call cannot be checked).
    if (c.path !== undefined && want.path !== undefined && !samePath(c.path, want.path)) continue;
    if (c.dest !== undefined && want.dest !== undefined && !samePath(c.dest, want.dest)) continue;
    return c;
  }
  return undefined;
}

/** "newSegment (file:///app/wal.mjs:110:14)", "file:///app/wal.mjs:110:14", "async open (/app/x.js:3:1)" parsed. */
export function parseJsFrame(frame: string): JsFrame | undefined {
  const m = /^(?:(.*?) \()?(.+?):(\d+):(\d+)\)?$/.exec(frame.trim());
  if (!m) return undefined;
  let file = m[2]!;
  if (file.startsWith("file://")) {
    try {
      file = fileURLToPath(file);
    } catch {
      // keep the URL
    }
  }
  const fn = m[1]
    ?.replace(/^async /, "")
    .replace(/^Object\./, "")
    .replace(/ \[as .*\]$/, "");
  return { ...(fn ? { function: fn } : {}), file, line: Number(m[3]), column: Number(m[4]) };
}

const SYSTEM_LIB = /^\/(usr\/)?lib(32|64|x32)?\/|\/ld-linux|\/libc\.so|\/libpthread|\/libstdc\+\+|\/libgcc_s/;

/** ELF type of a module: 2 (ET_EXEC, absolute addresses) or 3 (ET_DYN, addresses from its load base). */
function elfType(module: string): number | undefined {
  try {
    const fd = fs.openSync(module, "r");
    try {
      const head = Buffer.alloc(18);
      fs.readSync(fd, head, 0, 18, 0);
      return head.readUInt32BE(0) === 0x7f454c46 ? head.readUInt16LE(16) : undefined;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

/** addr2line -f for a few addresses of one module: [function, file, line] per address (undefined where it knows nothing). */
function addr2line(module: string, addresses: bigint[]): ({ fn?: string; file?: string; line?: number } | undefined)[] {
  const r = spawnSync("addr2line", ["-f", "-C", "-e", module, ...addresses.map((a) => `0x${a.toString(16)}`)], {
    encoding: "utf8",
    timeout: 10_000,
  });
  if (r.status !== 0 || typeof r.stdout !== "string") return addresses.map(() => undefined);
  const lines = r.stdout.split("\n");
  return addresses.map((_, k) => {
    const fn = lines[2 * k];
    const loc = lines[2 * k + 1] ?? "";
    const m = /^(.*):(\d+)(?: \(discriminator \d+\))?$/.exec(loc);
    const known = m && m[1] !== "??" && m[2] !== "0";
    return {
      ...(fn && fn !== "??" ? { fn } : {}),
      ...(known ? { file: m[1]!, line: Number(m[2]) } : {}),
    };
  });
}

/** The op's native frames, symbolised (addr2line where the module has debug information; the dladdr symbol otherwise). */
export function nativeFrames(op: TraceOp): NativeFrame[] {
  const stack = op.stack ?? [];
  const byModule = new Map<string, number[]>();
  stack.forEach(([module], k) => {
    if (module) byModule.set(module, [...(byModule.get(module) ?? []), k]);
  });
  const named = new Map<number, { fn?: string; file?: string; line?: number } | undefined>();
  for (const [module, ks] of byModule) {
    if (SYSTEM_LIB.test(module)) continue;
    const exec = elfType(module) === 2;
    // Return addresses: the call is the instruction before.
    const addresses = ks.map((k) => BigInt(exec ? stack[k]![3] : stack[k]![1]) - 1n);
    addr2line(module, addresses).forEach((n, j) => named.set(ks[j]!, n));
  }
  return stack.map(([module, offset, symbol], k): NativeFrame => {
    const n = named.get(k);
    if (n?.file)
      return {
        module,
        offset,
        ...(n.fn ? { function: n.fn } : {}),
        file: n.file,
        line: n.line!,
        symbolised: "debug-info",
      };
    const fn = n?.fn ?? (symbol || undefined);
    return { module, offset, ...(fn ? { function: fn } : {}), symbolised: fn ? "symbol" : "none" };
  });
}

const base = (file: string) => path.basename(file);

/**
 * Where `op` was issued: its JavaScript call's innermost program frame when a Node fs call
 * made it, else its innermost native frame outside the system's libraries (with file:line where
 * the module has debug information). Undefined when the trace has no where-information.
 */
export function whereOf(op: TraceOp, jsCalls: readonly JsCall[] | undefined): OpWhere | undefined {
  const call = jsCalls ? jsCallOf(op, jsCalls) : undefined;
  const js = (call?.stack ?? []).map(parseJsFrame).filter((f): f is JsFrame => f !== undefined);
  if (js.length > 0) {
    const f = js[0]!;
    return { text: `${f.function ? `in ${f.function}() ` : ""}at ${base(f.file)}:${f.line}`, js };
  }
  if (!op.stack) return undefined;
  const native = nativeFrames(op);
  const own = native.find((f) => !SYSTEM_LIB.test(f.module));
  const jsNote = jsCalls && jsCalls.length > 0 ? "no Node fs call matched this op; " : "";
  if (!own) return { text: "", native, note: `${jsNote}no frame outside the system's libraries` };
  const fn = own.function ? `in ${own.function}() ` : "";
  if (own.symbolised === "debug-info") return { text: `${fn}at ${base(own.file!)}:${own.line}`, native };
  return {
    text: `${fn}at ${base(own.module)}+${own.offset}`,
    native,
    note: `${jsNote}${own.symbolised === "symbol" ? "no debug information: the function from its symbols, the offset in its module" : "no debug information or symbol: module and offset"}`,
  };
}
