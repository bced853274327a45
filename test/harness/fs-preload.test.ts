import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import { opensForWriting, parseFsCrash, prefixLength } from "../../harness/faults/fs-preload.js";
import { tempDir } from "../helpers.js";
import { assertPreloadBuilt, DIR, PRELOAD_OPTION, readTrace, snapshot, type TraceLine } from "./preload-helpers.js";

// Real child processes, real SIGKILL: the compiled preload is loaded through NODE_OPTIONS into
// fixtures (test/fixtures/fs-preload-*.mjs) that know nothing about it.

interface RunOptions {
  args?: string[];
  crash?: string;
  /** Environment to use instead of the preload's (then no trace is read). */
  env?: Record<string, string>;
}

/** Runs test/fixtures/fs-preload-<name>.mjs with the preload and a trace file, in a fresh dir. */
async function run(name: string, options: RunOptions = {}) {
  const dir = await tempDir();
  const tracePath = path.join(await tempDir(), "trace.jsonl"); // outside dir: snapshots stay clean
  const env = options.env ?? {
    NODE_OPTIONS: PRELOAD_OPTION,
    WALCHECK_FS_TRACE: tracePath,
    ...(options.crash ? { WALCHECK_FS_CRASH: options.crash } : {}),
  };
  return { dir, env, ...(await runIn(dir, name, env, options.args)), trace: () => readTrace(tracePath) };
}

function runIn(dir: string, name: string, env: Record<string, string>, args: string[] = []) {
  const fixture = path.resolve(`test/fixtures/fs-preload-${name}.mjs`);
  return execa(process.execPath, [fixture, dir, ...args], { env, reject: false });
}

beforeAll(assertPreloadBuilt);

describe("fs-preload: counting", () => {
  it("with neither variable set it patches nothing: fs, fs/promises and FileHandle are Node's own", async () => {
    // The fixture prints the source text of every fs function; patched ones read differently.
    const fingerprint = async (env: Record<string, string>) => {
      const result = await run("fingerprint", { env });
      expect(result.exitCode).toBe(0);
      return result.stdout;
    };
    const pristine = await fingerprint({ NODE_OPTIONS: "" });
    expect(await fingerprint({ NODE_OPTIONS: PRELOAD_OPTION })).toBe(pristine);
    // The detector does detect patching.
    const traceFile = path.join(await tempDir(), "trace.jsonl");
    expect(await fingerprint({ NODE_OPTIONS: PRELOAD_OPTION, WALCHECK_FS_TRACE: traceFile })).not.toBe(pristine);
  });

  it("traces a mixed sequence exactly: sync, callback, promise and FileHandle forms; default, named and require imports", async () => {
    const result = await run("sequence");
    expect(result.exitCode).toBe(0);
    const at = (name: string) => path.join(result.dir, name);
    const fd = expect.any(Number);
    const trace = result.trace();
    expect(trace).toEqual([
      { i: 1, call: "openSync", path: at("a"), flags: "w" },
      { i: 2, call: "writeSync", fd, bytes: 5 },
      { i: 3, call: "fsyncSync", fd },
      { i: 4, call: "closeSync", fd },
      // readFileSync and a read-only open are not counted; closing that fd is.
      { i: 5, call: "closeSync", fd },
      // writeFile's own open, write and close are not counted again.
      { i: 6, call: "writeFile", path: at("b"), bytes: 3 },
      { i: 7, call: "renameSync", path: at("b"), dest: at("c") },
      { i: 8, call: "promises.appendFile", path: at("c"), bytes: 1 },
      { i: 9, call: "promises.writeFile", path: at("d"), bytes: 3 },
      { i: 10, call: "promises.open", path: at("e"), flags: "wx" },
      { i: 11, call: "FileHandle.write", fd, bytes: 3 },
      { i: 12, call: "FileHandle.sync", fd },
      { i: 13, call: "FileHandle.close", fd },
      { i: 14, call: "promises.unlink", path: at("d") },
    ]);
    expect(trace[1]?.fd).toBeGreaterThan(2);
    expect(new Set([2, 3, 4].map((i) => trace[i - 1]?.fd)).size).toBe(1);
    // The calls were performed as usual.
    expect(snapshot(result.dir)).toEqual({ a: "hello", c: "bee!", e: "eee" });
    expect(result.stdout).toContain("not counted: fs.writeSync(1)");
  });

  it("counts every listed call in its sync, callback and promise/FileHandle form, which all do the same", async () => {
    const result = await run("all-calls");
    expect(result.exitCode).toBe(0);
    const calls = [
      "mkdir",
      "open",
      "write",
      "writev",
      "fsync",
      "fdatasync",
      "ftruncate",
      "close",
      "writeFile",
      "appendFile",
      "truncate",
      "rename",
      "copyFile",
      "link",
      "symlink",
      "unlink",
      "rm",
      "rmdir",
    ];
    const handleMethod: Record<string, string> = {
      write: "write",
      writev: "writev",
      fsync: "sync",
      fdatasync: "datasync",
      ftruncate: "truncate",
      close: "close",
    };
    const promiseForm = (call: string) =>
      handleMethod[call] ? `FileHandle.${handleMethod[call]}` : `promises.${call}`;
    const expected = [
      ...calls.map((call) => `${call}Sync`),
      ...calls,
      ...calls.map(promiseForm),
      ...["promises.open", "FileHandle.writeFile", "FileHandle.appendFile", "FileHandle.close"],
    ];
    const trace = result.trace();
    expect(trace.map((line) => line.call)).toEqual(expected);
    expect(trace.map((line) => line.i)).toEqual(expected.map((_, i) => i + 1));
    const files = JSON.parse(result.stdout) as Record<string, string>;
    for (const form of ["sync", "callback", "promises"]) {
      expect([files[`${form}-f`], files[`${form}-h`], files[`${form}-i`]]).toEqual(["abcd", "123", "123"]);
    }
    expect(files["promises-l"]).toBe("xyz");
  });

  it("never counts writes to stdout and stderr, so protocol output cannot hit the crash point", async () => {
    const traced = await run("stdio");
    expect(traced.exitCode).toBe(0);
    expect(traced.stdout.split("\n")).toEqual(["one", "two", "three", "four", "five"]);
    expect(traced.stderr).toBe("err one\nerr two");
    expect(traced.trace()).toEqual([{ i: 1, call: "writeFileSync", path: path.join(traced.dir, "file"), bytes: 1 }]);

    const crashed = await run("stdio", { crash: "1:before" });
    expect(crashed.signal).toBe("SIGKILL");
    expect(crashed.stdout).toContain("one"); // fs.writeSync(1, …)
    expect(crashed.stdout).toContain("four"); // fs.write(1, …)
    expect(crashed.stdout).not.toContain("five");
    expect(snapshot(crashed.dir)).toEqual({});
  });

  it("does not count in a Node child process of the adapter: it inherits NODE_OPTIONS but not the counter", async () => {
    const result = await run("child", { crash: "1:before" });
    expect(result.signal).toBe("SIGKILL");
    // The child's write (its own first call) happened; the parent died at its first call.
    expect(snapshot(result.dir)).toEqual({ child: "child" });
    expect(result.trace()).toEqual([
      { i: 1, call: "writeFileSync", path: path.join(result.dir, "parent"), bytes: 6, crash: "before" },
    ]);
  });

  it("a malformed WALCHECK_FS_CRASH stops the process before it starts, with a message", async () => {
    const result = await run("stdio", { crash: "3:sideways" });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('WALCHECK_FS_CRASH must be <k>:<before|after|mid> with k >= 1, got "3:sideways"');
    expect(result.stdout).toBe("");
  });
});

// fs-preload-steps.mjs: eight calls, each visible on disk. STATES[n] is the disk after n calls.
const STEP_CALLS = [
  "mkdirSync",
  "writeFileSync",
  "appendFile",
  "copyFile",
  "promises.rename",
  "promises.truncate",
  "promises.link",
  "promises.unlink",
];
const STATES: Record<string, string>[] = [
  {},
  { sub: DIR },
  { sub: DIR, "sub/a": "AAAA" },
  { sub: DIR, "sub/a": "AAAABBBB" },
  { sub: DIR, "sub/a": "AAAABBBB", "sub/b": "AAAABBBB" },
  { sub: DIR, "sub/b": "AAAABBBB", "sub/c": "AAAABBBB" },
  { sub: DIR, "sub/b": "AA", "sub/c": "AAAABBBB" },
  { sub: DIR, "sub/b": "AA", "sub/c": "AAAABBBB", "sub/d": "AAAABBBB" },
  { sub: DIR, "sub/b": "AA", "sub/d": "AAAABBBB" },
];
const KS = STEP_CALLS.map((_, i) => i + 1);

describe("fs-preload: crashing", () => {
  it("the 8-call workload runs to the end without a crash point and its trace names each call", async () => {
    const result = await run("steps");
    expect(result.exitCode).toBe(0);
    expect(result.trace().map((line) => line.call)).toEqual(STEP_CALLS);
    expect(snapshot(result.dir)).toEqual(STATES[8]);
  });

  it("k:before, for every k: SIGKILL with call k absent and call k-1 present, each k a different outcome", async () => {
    const results = await Promise.all(KS.map((k) => run("steps", { crash: `${k}:before` })));
    for (const [index, result] of results.entries()) {
      const k = index + 1;
      expect(result.signal).toBe("SIGKILL");
      expect(result.stdout).toBe("");
      expect(snapshot(result.dir)).toEqual(STATES[k - 1]);
      const trace = result.trace();
      expect(trace.map((line) => line.call)).toEqual(STEP_CALLS.slice(0, k));
      expect(trace.at(-1)).toMatchObject({ i: k, crash: "before" });
    }
    const outcomes = results.map((result) => JSON.stringify(snapshot(result.dir)));
    expect(new Set(outcomes).size).toBe(KS.length);
  });

  it("k:after, for every k: SIGKILL with call k present and call k+1 absent, async forms included", async () => {
    const results = await Promise.all(KS.map((k) => run("steps", { crash: `${k}:after` })));
    for (const [index, result] of results.entries()) {
      const k = index + 1;
      expect(result.signal).toBe("SIGKILL");
      expect(snapshot(result.dir)).toEqual(STATES[k]);
      expect(result.trace().at(-1)).toMatchObject({ i: k, call: STEP_CALLS[k - 1], crash: "after" });
    }
  });

  it("k:after on FileHandle.write and callback write: all bytes are in the file", async () => {
    const handle = await writeCase("FileHandle.write with an options object", "2:after");
    expect(handle.content).toEqual(Buffer.from("0123456789"));
    const callback = await writeCase("write (callback) of a string at a position", "2:after", "ZZZZZZZZZZZZZZ");
    expect(callback.content).toEqual(Buffer.from("ZZZZ0123456789"));
  });

  // fs-preload-writes.mjs: one write-like call on <dir>/out, the k-th counted call.
  const MID_CASES: { name: string; prefill?: string; k: number; call: string; full: Buffer; mid: Buffer }[] = [
    {
      name: "writeSync with offset, length and position",
      k: 2,
      call: "writeSync",
      full: b("0123456789"),
      mid: b("01234"),
    },
    {
      name: "write (callback) of a string at a position",
      prefill: "ZZZZZZZZZZZZZZ",
      k: 2,
      call: "write",
      full: b("ZZZZ0123456789"),
      mid: b("ZZZZ01234ZZZZZ"),
    },
    { name: "writevSync of two buffers", k: 2, call: "writevSync", full: b("0123456789"), mid: b("01234") },
    { name: "writeSync of a single byte", k: 2, call: "writeSync", full: b("x"), mid: b("") },
    {
      name: "writeFile (callback) over an existing file",
      prefill: "previous content",
      k: 1,
      call: "writeFile",
      full: b("0123456789"),
      mid: b("01234"),
    },
    { name: "writeFileSync with the hex encoding", k: 1, call: "writeFileSync", full: b("0123"), mid: b("01") },
    {
      name: "appendFileSync of an odd length",
      prefill: "AB",
      k: 1,
      call: "appendFileSync",
      full: b("ABabcdefg"),
      mid: b("ABabc"),
    },
    {
      name: "promises.appendFile",
      prefill: "AB",
      k: 1,
      call: "promises.appendFile",
      full: b("AB0123456789"),
      mid: b("AB01234"),
    },
    {
      name: "FileHandle.write with an options object",
      k: 2,
      call: "FileHandle.write",
      full: b("0123456789"),
      mid: b("01234"),
    },
    { name: "FileHandle.writev", k: 2, call: "FileHandle.writev", full: b("0123456789"), mid: b("01234") },
    // Bytes, not characters: half of the 8 bytes of "é日本" cuts 日 in two.
    {
      name: "FileHandle.writeFile of UTF-8 text",
      k: 2,
      call: "FileHandle.writeFile",
      full: b("é日本"),
      mid: b("é日本").subarray(0, 4),
    },
  ];

  it.for(MID_CASES)("k:mid on $name leaves exactly the first half of its bytes, at the same position", async (c) => {
    const full = await writeCase(c.name, undefined, c.prefill);
    expect(full.exitCode).toBe(0);
    expect(full.content).toEqual(c.full);

    const mid = await writeCase(c.name, `${c.k}:mid`, c.prefill);
    expect(mid.signal).toBe("SIGKILL");
    expect(mid.content).toEqual(c.mid);
    expect(mid.trace.at(-1)).toMatchObject({ i: c.k, call: c.call, crash: "mid" });
  });

  it("k:mid on a call that writes no data is k:before", async () => {
    const result = await writeCase("renameSync (not a write)", "1:mid", "kept");
    expect(result.signal).toBe("SIGKILL");
    expect(result.files).toEqual({ out: "kept" });
    expect(result.trace).toEqual([expect.objectContaining({ i: 1, call: "renameSync", crash: "mid" })]);
  });
});

function b(text: string): Buffer {
  return Buffer.from(text);
}

/** Runs one case of fs-preload-writes.mjs on a fresh <dir>/out (holding `prefill`, if given). */
async function writeCase(name: string, crash?: string, prefill?: string) {
  const dir = await tempDir();
  const tracePath = path.join(await tempDir(), "trace.jsonl");
  if (prefill !== undefined) fs.writeFileSync(path.join(dir, "out"), prefill);
  const env = {
    NODE_OPTIONS: PRELOAD_OPTION,
    WALCHECK_FS_TRACE: tracePath,
    ...(crash ? { WALCHECK_FS_CRASH: crash } : {}),
  };
  const result = await runIn(dir, "writes", env, [name]);
  const out = path.join(dir, "out");
  return {
    exitCode: result.exitCode,
    signal: result.signal,
    content: fs.existsSync(out) ? fs.readFileSync(out) : undefined,
    files: snapshot(dir),
    trace: readTrace(tracePath),
  };
}

describe("fs-preload: rules", () => {
  it("WALCHECK_FS_CRASH is <k>:<before|after|mid> with k >= 1", () => {
    expect(parseFsCrash(undefined)).toBeUndefined();
    expect(parseFsCrash("")).toBeUndefined();
    expect(parseFsCrash("12:mid")).toEqual({ k: 12, mode: "mid" });
    for (const bad of ["0:before", "-1:after", "1.5:after", "3", "3:", ":before", "3:during", " 3:before"]) {
      expect(() => parseFsCrash(bad), bad).toThrow(TypeError);
    }
  });

  it("open counts unless its flags are read-only", () => {
    const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_APPEND, O_TRUNC } = fs.constants;
    for (const flags of [undefined, null, "r", "rs", "sr", O_RDONLY])
      expect(opensForWriting(flags), String(flags)).toBe(false);
    for (const flags of [
      "r+",
      "rs+",
      "w",
      "wx",
      "w+",
      "a",
      "ax",
      "a+",
      "as+",
      O_WRONLY,
      O_RDWR,
      O_RDONLY | O_CREAT,
      O_RDONLY | O_TRUNC,
      O_RDONLY | O_APPEND,
    ]) {
      expect(opensForWriting(flags), String(flags)).toBe(true);
    }
  });

  it("mid writes half of the bytes, rounded down", () => {
    expect([0, 1, 2, 3, 10, 11].map(prefixLength)).toEqual([0, 0, 1, 1, 5, 5]);
  });
});
