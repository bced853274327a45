import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import { parseFsFault } from "../../harness/faults/fs-preload.js";
import { tempDir } from "../helpers.js";
import { assertPreloadBuilt, DIR, PRELOAD_OPTION, readTrace, snapshot, type TraceLine } from "./preload-helpers.js";

// WALCHECK_FS_FAULT in real child processes: the compiled preload is loaded through NODE_OPTIONS
// into fixtures (test/fixtures/fs-fault-*.mjs) that print how each of their calls ended.

interface FaultFailure {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
  dest?: string;
  message: string;
  keys: string[];
}
type Outcome = "ok" | FaultFailure;

interface RunOptions {
  fault?: string;
  crash?: string;
  args?: string[];
  /** Also set WALCHECK_FS_TRACE (by default only the fault is set, so it alone must install). */
  trace?: boolean;
}

/** Runs test/fixtures/fs-fault-<name>.mjs on `dir` with the preload; `output` is its JSON line. */
async function run(name: string, dir: string, options: RunOptions = {}) {
  const tracePath = path.join(await tempDir(), "trace.jsonl");
  const env: Record<string, string> = { NODE_OPTIONS: PRELOAD_OPTION };
  if (options.fault !== undefined) env.WALCHECK_FS_FAULT = options.fault;
  if (options.crash !== undefined) env.WALCHECK_FS_CRASH = options.crash;
  if (options.trace) env.WALCHECK_FS_TRACE = tracePath;
  const fixture = path.resolve(`test/fixtures/fs-fault-${name}.mjs`);
  const result = await execa(process.execPath, [fixture, dir, ...(options.args ?? [])], { env, reject: false });
  const output =
    result.exitCode === 0
      ? (JSON.parse(result.stdout) as Record<string, unknown> & { anomalies: string[] })
      : undefined;
  return { ...result, output, trace: () => readTrace(tracePath) };
}

const DESCRIPTIONS: Record<string, string> = {
  ENOSPC: "no space left on device",
  EROFS: "read-only file system",
  EACCES: "permission denied",
  EIO: "i/o error",
};

/** The error Node would report: `EROFS: read-only file system, open '/x/y'` and its fields. */
function failure(code: string, syscall: string, file?: string, dest?: string): FaultFailure {
  const errno = -os.constants.errno[code as keyof typeof os.constants.errno];
  let message = `${code}: ${DESCRIPTIONS[code]}, ${syscall}`;
  if (file !== undefined) message += ` '${file}'`;
  if (dest !== undefined) message += ` -> '${dest}'`;
  const keys = [
    "errno",
    "code",
    "syscall",
    ...(file !== undefined ? ["path"] : []),
    ...(dest !== undefined ? ["dest"] : []),
  ];
  return {
    code,
    errno,
    syscall,
    ...(file !== undefined ? { path: file } : {}),
    ...(dest !== undefined ? { dest } : {}),
    message,
    keys,
  };
}

function write(): FaultFailure {
  return failure("ENOSPC", "write");
}

beforeAll(assertPreloadBuilt);

describe("fs-fault: WALCHECK_FS_FAULT", () => {
  it("parses every kind, with and without a release file, and rejects anything else", () => {
    expect(parseFsFault(undefined)).toBeUndefined();
    expect(parseFsFault("")).toBeUndefined();
    expect(parseFsFault("enospc:4096")).toStrictEqual({ kind: "enospc", bytes: 4096 });
    expect(parseFsFault("enospc:0")).toStrictEqual({ kind: "enospc", bytes: 0 });
    expect(parseFsFault("erofs")).toStrictEqual({ kind: "erofs" });
    expect(parseFsFault("eacces-dir")).toStrictEqual({ kind: "eacces-dir" });
    expect(parseFsFault("eacces-files")).toStrictEqual({ kind: "eacces-files" });
    expect(parseFsFault("eio-fsync:1")).toStrictEqual({ kind: "eio-fsync", n: 1 });
    expect(parseFsFault("slow-fsync:250")).toStrictEqual({ kind: "slow-fsync", ms: 250 });
    expect(parseFsFault("enospc:4096,release=/tmp/x/space-back")).toStrictEqual({
      kind: "enospc",
      bytes: 4096,
      release: "/tmp/x/space-back",
    });
    expect(parseFsFault("erofs,release=/tmp/a,b")).toStrictEqual({ kind: "erofs", release: "/tmp/a,b" });
    const bad = [
      "enospc",
      "enospc:",
      "enospc:-1",
      "enospc:1.5",
      "enospc:1e3",
      "enospc: 1",
      "enospc:1:2",
      "enospc:99999999999999999999",
      "eio-fsync",
      "eio-fsync:0",
      "slow-fsync:0",
      "slow-fsync:2147483648",
      "erofs:1",
      "eacces",
      "EROFS",
      " erofs",
      "erofs ",
      "erofs,",
      "erofs,release=",
      "erofs,release=relative/file",
      "erofs,free=/tmp/x",
      "nospace:1",
    ];
    for (const raw of bad) {
      expect(() => parseFsFault(raw), raw).toThrow(TypeError);
      expect(() => parseFsFault(raw), raw).toThrow(`got ${JSON.stringify(raw)}`);
    }
  });

  it("a malformed WALCHECK_FS_FAULT stops the process before it starts, naming the variable and the value", async () => {
    const result = await run("ops", await tempDir(), { fault: "enospc:lots" });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(
      "WALCHECK_FS_FAULT must be enospc:<bytes>, erofs, eacces-dir, eacces-files, eio-fsync:<n> or slow-fsync:<ms>",
    );
    expect(result.stderr).toContain('got "enospc:lots"');
    expect(result.stdout).toBe("");
  });

  it("alone, it installs the patches; empty, it patches nothing", async () => {
    const fingerprint = async (env: Record<string, string>) => {
      const fixture = path.resolve("test/fixtures/fs-preload-fingerprint.mjs");
      const result = await execa(process.execPath, [fixture], { env, reject: false });
      expect(result.exitCode).toBe(0);
      return result.stdout;
    };
    const pristine = await fingerprint({ NODE_OPTIONS: "" });
    expect(await fingerprint({ NODE_OPTIONS: PRELOAD_OPTION, WALCHECK_FS_FAULT: "" })).toBe(pristine);
    expect(await fingerprint({ NODE_OPTIONS: PRELOAD_OPTION, WALCHECK_FS_FAULT: "erofs" })).not.toBe(pristine);
  });
});

// fs-fault-ops.mjs: one call per op in <dir>/<op>/, which holds "existing" ("data") and "dir".
// Each op: the syscall, path and dest of the error it gets when refused.
const OPS: Record<string, [syscall: string, file: string, dest?: string]> = {
  "openSync-new-w": ["open", "new"],
  "open-new-O_CREAT-callback": ["open", "new"],
  "fsp.open-new-wx": ["open", "new"],
  "openSync-existing-r+": ["open", "existing"],
  "fsp.open-existing-r": ["open", "existing"],
  "writeFileSync-existing": ["open", "existing"],
  "writeFile-new-callback": ["open", "new"],
  "fsp.appendFile-existing": ["open", "existing"],
  "appendFileSync-new": ["open", "new"],
  "truncateSync-existing": ["open", "existing"],
  "mkdirSync-new": ["mkdir", "sub"],
  "fsp.mkdir-existing-recursive": ["mkdir", "dir"],
  "renameSync-existing": ["rename", "existing", "moved"],
  "fsp.unlink-existing": ["unlink", "existing"],
  "rmSync-dir": ["rm", "dir"],
  "rmdir-dir-callback": ["rmdir", "dir"],
  "copyFileSync-existing-new": ["copyfile", "existing", "copy"],
  "linkSync-existing": ["link", "existing", "hard"],
  "fsp.symlink": ["symlink", "existing", "soft"],
};
const ALL_OPS = Object.keys(OPS);
/** Ops that leave their folder as it was even when they succeed. */
const NO_CHANGE = ["fsp.open-existing-r", "fsp.mkdir-existing-recursive"];

const REFUSED: Record<"erofs" | "eacces-dir" | "eacces-files", { code: string; ops: string[] }> = {
  erofs: { code: "EROFS", ops: ALL_OPS.filter((op) => op !== "fsp.open-existing-r") },
  "eacces-dir": {
    code: "EACCES",
    ops: [
      "openSync-new-w",
      "open-new-O_CREAT-callback",
      "fsp.open-new-wx",
      "writeFile-new-callback",
      "appendFileSync-new",
      "mkdirSync-new",
      "renameSync-existing",
      "fsp.unlink-existing",
      "rmSync-dir",
      "rmdir-dir-callback",
      "copyFileSync-existing-new",
      "linkSync-existing",
      "fsp.symlink",
    ],
  },
  "eacces-files": {
    code: "EACCES",
    ops: ["openSync-existing-r+", "writeFileSync-existing", "fsp.appendFile-existing", "truncateSync-existing"],
  },
};

async function runOps(fault: string | undefined) {
  const dir = await tempDir();
  for (const op of ALL_OPS) {
    fs.mkdirSync(path.join(dir, op, "dir"), { recursive: true });
    fs.writeFileSync(path.join(dir, op, "existing"), "data");
  }
  const before = snapshot(dir);
  const result = await run("ops", dir, fault === undefined ? {} : { fault });
  expect(result.exitCode, result.stderr).toBe(0);
  const output = result.output as { results: Record<string, Outcome>; env: string | null; anomalies: string[] };
  expect(Object.keys(output.results)).toEqual(ALL_OPS);
  expect(output.anomalies).toEqual([]);
  // Deleted from the environment at load, like the other variables.
  expect(output.env).toBeNull();
  return { dir, before, results: output.results };
}

/** What each op should end with when `refused` (with `code`) fail and the others succeed. */
function expectedOutcomes(dir: string, code: string, refused: string[]): Record<string, Outcome> {
  return Object.fromEntries(
    ALL_OPS.map((op) => {
      const [syscall, file, dest] = OPS[op]!;
      const at = (name: string) => path.join(dir, op, name);
      return [
        op,
        refused.includes(op) ? failure(code, syscall, at(file), dest === undefined ? undefined : at(dest)) : "ok",
      ];
    }),
  );
}

/** One op's folder in a snapshot of the whole dir. */
function folder(entries: Record<string, string>, op: string): Record<string, string> {
  return Object.fromEntries(Object.entries(entries).filter(([entry]) => entry.startsWith(`${op}/`)));
}

describe("fs-fault: erofs, eacces-dir, eacces-files", () => {
  it("erofs refuses every call that changes the file system, leaving the directory unchanged; reads, sync and close work", async () => {
    const { dir, before, results } = await runOps("erofs");
    expect(results).toEqual(expectedOutcomes(dir, "EROFS", REFUSED.erofs.ops));
    expect(snapshot(dir)).toEqual(before);
  });

  it("errors have the own properties of Node's: errno, code, syscall, path, dest", () => {
    let nodeError: unknown;
    try {
      fs.renameSync("/nonexistent/walcheck-a", "/nonexistent/walcheck-b");
    } catch (error) {
      nodeError = error;
    }
    expect(Object.keys(nodeError as object)).toEqual(failure("EROFS", "rename", "/a", "/b").keys);
    expect((nodeError as Error).message).toBe(
      "ENOENT: no such file or directory, rename '/nonexistent/walcheck-a' -> '/nonexistent/walcheck-b'",
    );
  });

  it.for(["eacces-dir", "eacces-files"] as const)(
    "%s refuses exactly its calls, with EACCES, and performs the others",
    async (kind) => {
      const { code, ops } = REFUSED[kind];
      const { dir, before, results } = await runOps(kind);
      expect(results).toEqual(expectedOutcomes(dir, code, ops));
      const after = snapshot(dir);
      for (const op of ALL_OPS) {
        if (ops.includes(op) || NO_CHANGE.includes(op)) expect(folder(after, op), op).toEqual(folder(before, op));
        else expect(folder(after, op), op).not.toEqual(folder(before, op));
      }
    },
  );

  it("an unset variable changes nothing, and neither does a fault whose release file exists", async () => {
    for (const fault of [undefined, `erofs,release=${path.join(await tempDir(), "released")}`]) {
      if (fault) fs.writeFileSync(fault.split("release=")[1]!, "");
      const { dir, results } = await runOps(fault);
      expect(results).toEqual(expectedOutcomes(dir, "EROFS", []));
    }
  });
});

describe("fs-fault: enospc", () => {
  async function enospc(
    name: string,
    fault: string | ((dir: string) => string),
    prefill: Record<string, string> = {},
    options: RunOptions = {},
  ) {
    const dir = await tempDir();
    for (const [file, content] of Object.entries(prefill)) fs.writeFileSync(path.join(dir, file), content);
    const result = await run("enospc", dir, {
      ...options,
      fault: typeof fault === "string" ? fault : fault(dir),
      args: [name],
    });
    return { ...result, files: () => snapshot(dir) };
  }

  it("sync forms: the crossing write writes exactly the bytes that fit, then ENOSPC; later writes write nothing; the rest works", async () => {
    const result = await enospc("sync", "enospc:10", {}, { trace: true });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.output?.results).toEqual([
      "ok",
      write(),
      failure("ENOSPC", "writev"),
      write(),
      "ok",
      "ok",
      "ok",
      "ok",
    ]);
    // writeFileSync still opened "later" with its "w" flag, as on a full disk.
    expect(result.files()).toEqual({ renamed: "0123456789", later: "", sub: DIR });
    // Faulted calls are counted and traced.
    expect(result.trace().map((line) => [line.i, line.call, line.fault])).toEqual([
      [1, "openSync", undefined],
      [2, "writeSync", undefined],
      [3, "writeSync", "ENOSPC"],
      [4, "writevSync", "ENOSPC"],
      [5, "writeFileSync", "ENOSPC"],
      [6, "fsyncSync", undefined],
      [7, "closeSync", undefined],
      [8, "renameSync", undefined],
      [9, "mkdirSync", undefined],
    ]);
  });

  it("callback forms: the error comes on a later tick, once, and the callback's own writes are faulted too", async () => {
    const result = await enospc("callback", "enospc:10", { kept: "kept" });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.output?.results).toEqual(["ok", write(), write(), write()]);
    expect(result.output?.anomalies).toEqual([]);
    expect(result.files()).toEqual({ out: "0123456789", kept: "kept" });
  });

  it("promise and FileHandle forms reject with ENOSPC after writing what fits", async () => {
    const result = await enospc("promises", "enospc:10");
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.output?.results).toEqual(["ok", failure("ENOSPC", "writev"), write(), "ok", "ok", write()]);
    expect(result.files()).toEqual({ out: "0123456789", full: "" });
  });

  it("writeFile and appendFile to a path write the prefix with their own flag", async () => {
    const result = await enospc("path", "enospc:4", { kept: "kept" });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.output?.results).toEqual([write(), write()]);
    expect(result.files()).toEqual({ out: "abcd", kept: "kept" });
  });

  it("the release file lifts the fault while it exists; without it the disk is full again", async () => {
    const result = await enospc("release", (dir) => `enospc:4,release=${path.join(dir, "space-back")}`);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.output?.results).toEqual(["ok", write(), "ok", "ok", write()]);
    expect(result.files()).toEqual({ out: "abcdghij" });
  });

  it("works alongside WALCHECK_FS_CRASH: k:after at the crossing write leaves only the prefix that fits", async () => {
    const result = await enospc("sync", "enospc:10", {}, { crash: "3:after", trace: true });
    expect(result.signal).toBe("SIGKILL");
    expect(result.files()).toEqual({ out: "0123456789" });
    expect(result.trace().at(-1)).toEqual({
      i: 3,
      call: "writeSync",
      fd: expect.any(Number),
      bytes: 6,
      crash: "after",
      fault: "ENOSPC",
    });
  });
});

describe("fs-fault: eio-fsync and slow-fsync", () => {
  async function fsyncCase(name: string, fault: string, prefill: Record<string, string> = {}) {
    const dir = await tempDir();
    for (const [file, content] of Object.entries(prefill)) fs.writeFileSync(path.join(dir, file), content);
    const result = await run("fsync", dir, { fault, args: [name] });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.output?.anomalies).toEqual([]);
    return { output: result.output!, files: snapshot(dir) };
  }

  it("the n-th sync fails with EIO and cuts its file back to its last synced size; the next sync succeeds", async () => {
    const { output, files } = await fsyncCase("sync", "eio-fsync:3");
    expect(output.syncs).toEqual(["ok", "ok", failure("EIO", "fsync"), "ok"]);
    expect(output.sizeAfterEio).toBe(4);
    // "bbbb" was dropped from a; b, synced by the 2nd sync, is whole.
    expect(files).toEqual({ a: "aaaa", b: "xx" });
  });

  it("a file never synced is cut back to its size when first seen; FileHandle.sync rejects", async () => {
    const { output, files } = await fsyncCase("handle", "eio-fsync:1", { log: "base" });
    expect(output.syncs).toEqual([failure("EIO", "fsync"), "ok"]);
    expect(output.sizeAfterEio).toBe(4);
    expect(files).toEqual({ log: "baseagain" });
  });

  it("a directory fd gets the EIO (callback form) and loses nothing", async () => {
    const { output, files } = await fsyncCase("directory", "eio-fsync:1");
    expect(output.syncs).toEqual([failure("EIO", "fsync"), "ok"]);
    expect(files).toEqual({ file: "file" });
  });

  it("an fd's size is forgotten at its close, so a reused fd number starts afresh", async () => {
    const { output, files } = await fsyncCase("reuse", "eio-fsync:2");
    expect(output.sameFd).toBe(true); // else the case proves nothing
    expect(output.syncs).toEqual(["ok", failure("EIO", "fsync")]);
    expect(files).toEqual({ x: "1111", y: "" });
  });

  it("slow-fsync delays every form of fsync and fdatasync by at least its ms", async () => {
    const ms = 150;
    const result = await run("slow", await tempDir(), { fault: `slow-fsync:${ms}`, trace: true });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.output?.anomalies).toEqual([]);
    const elapsed = result.output?.elapsed as Record<string, number>;
    expect(Object.keys(elapsed)).toEqual([
      "fsyncSync",
      "fdatasyncSync",
      "fsync",
      "fdatasync",
      "FileHandle.sync",
      "FileHandle.datasync",
    ]);
    for (const [form, time] of Object.entries(elapsed)) expect(time, form).toBeGreaterThanOrEqual(ms);
    const delayed = result.trace().filter((line) => line.fault === "slow-fsync");
    expect(delayed.map((line) => line.call)).toEqual(Object.keys(elapsed));
  });
});
