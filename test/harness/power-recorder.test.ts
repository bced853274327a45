import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ensureRecorder, recordEnv } from "../../harness/faults/power/recorder-build.js";
import { answersOf } from "../../harness/faults/power/answers.js";
import { parseTrace, type TraceOp } from "../../harness/faults/power/trace.js";
import { tempDir } from "../helpers.js";

// Real child processes with the recorder (harness/faults/power/recorder.c) in LD_PRELOAD, writing into
// a fresh directory; fixtures in test/fixtures/power. The key check: replaying a trace's creates,
// truncates and writes gives every file's real bytes.

const FIXTURES = path.resolve("test/fixtures/power");

let so: string;
beforeAll(async () => {
  so = await ensureRecorder();
});

interface Recorded {
  dir: string;
  outside: string;
  tracePath: string;
  ops: TraceOp[];
  stdout: string;
}

/** Runs cmd with the recorder on a fresh (realpath'd) directory, passed as the first argument. */
async function record(
  cmd: string,
  args: (dir: string, outside: string, tracePath: string) => string[],
): Promise<Recorded> {
  const dir = fs.realpathSync(await tempDir());
  const outside = fs.realpathSync(await tempDir());
  const tracePath = path.join(outside, "trace.jsonl");
  const { stdout } = await execa(cmd, args(dir, outside, tracePath), { env: recordEnv(tracePath, dir, so) });
  return { dir, outside, tracePath, stdout, ops: parseTrace(fs.readFileSync(tracePath, "utf8")) };
}

const node =
  (fixture: string, ...extra: string[]) =>
  (dir: string, outside: string) => [path.join(FIXTURES, fixture), dir, outside, ...extra];

/** Ops with their data decoded, for readable expectations. */
function readable(ops: TraceOp[]): unknown[] {
  return ops.map((o) => {
    const { i: _i, ...rest } = o;
    return o.op === "write" ? { ...rest, data: Buffer.from(o.data, "base64").toString("utf8") } : rest;
  });
}

/** Each inode's bytes after applying the trace's creates, truncates and writes to empty files. */
function replay(ops: TraceOp[]): Map<number, Buffer> {
  const files = new Map<number, Buffer>();
  const resize = (b: Buffer, size: number) =>
    size <= b.length ? b.subarray(0, size) : Buffer.concat([b, Buffer.alloc(size - b.length)]);
  for (const o of ops) {
    if (o.op === "create") files.set(o.ino, Buffer.alloc(0));
    if (o.op === "truncate") files.set(o.ino, resize(files.get(o.ino) ?? Buffer.alloc(0), o.size));
    if (o.op === "write") {
      const data = Buffer.from(o.data, "base64");
      const b = Buffer.from(
        resize(files.get(o.ino) ?? Buffer.alloc(0), Math.max(files.get(o.ino)?.length ?? 0, o.offset + data.length)),
      );
      data.copy(b, o.offset);
      files.set(o.ino, b);
    }
  }
  return files;
}

/** Where replayed differs from real, or null. */
function mismatch(name: string, replayed: Buffer | undefined, real: Buffer): string | null {
  if (!replayed) return `${name}: never created in the trace`;
  if (replayed.equals(real)) return null;
  let k = 0;
  while (k < Math.min(replayed.length, real.length) && replayed[k] === real[k]) k++;
  return `${name}: replayed ${replayed.length} bytes, real ${real.length}, first difference at ${k}`;
}

/** Every regular file under dir (but those skipped), compared with the replay of its inode. */
function expectReplayed(dir: string, ops: TraceOp[], skip: (name: string) => boolean = () => false): string[] {
  const files = replay(ops);
  const names = (fs.readdirSync(dir, { recursive: true }) as string[]).filter(
    (n) => fs.lstatSync(path.join(dir, n)).isFile() && !skip(n),
  );
  const problems = names.map((n) =>
    mismatch(n, files.get(fs.statSync(path.join(dir, n)).ino), fs.readFileSync(path.join(dir, n))),
  );
  expect(problems.filter((p) => p !== null)).toEqual([]);
  return names.sort();
}

describe("the recorder", () => {
  it("records Node's sync and threadpool calls under the directory, and nothing else", async () => {
    const r = await record(process.execPath, node("node-ops.mjs"));
    const { inos, env } = JSON.parse(r.stdout);
    const p = (name: string) => path.join(r.dir, name);
    expect(readable(r.ops)).toEqual([
      { op: "create", path: p("log"), ino: inos.log },
      { op: "write", ino: inos.log, offset: 0, data: "hello " },
      { op: "fsync", ino: inos.log, kind: "fdatasync" },
      { op: "write", ino: inos.log, offset: 6, data: "world" }, // pwrite on O_APPEND lands at the end
      { op: "write", ino: inos.log, offset: 0, data: "HE" },
      { op: "write", ino: inos.log, offset: 20, data: "abcd" },
      { op: "truncate", ino: inos.log, size: 8 },
      { op: "fsync", ino: inos.log, kind: "fsync" },
      { op: "create", path: p("state"), ino: inos.state1 },
      { op: "write", ino: inos.state1, offset: 0, data: "v1" },
      { op: "create", path: p("state.tmp"), ino: inos.state2 },
      { op: "write", ino: inos.state2, offset: 0, data: "v2" },
      { op: "rename", from: p("state.tmp"), to: p("state"), ino: inos.state2, replaced: inos.state1 },
      { op: "truncate", ino: inos.state2, size: 0 },
      { op: "write", ino: inos.state2, offset: 0, data: "v3" },
      { op: "create", path: p("junk"), ino: inos.junk },
      { op: "write", ino: inos.junk, offset: 0, data: "x" },
      { op: "unlink", path: p("junk"), ino: inos.junk },
      { op: "mkdir", path: p("sub") },
      { op: "create", path: p("sub/rel"), ino: inos.rel },
      { op: "write", ino: inos.rel, offset: 0, data: "relative" },
      { op: "dirsync", path: r.dir },
      // The grandchild, started through a shell: every process with the variables records.
      { op: "create", path: p("child"), ino: inos.child },
      { op: "write", ino: inos.child, offset: 0, data: "grandchild" },
    ]);
    expect(r.ops.map((o) => o.i)).toEqual(r.ops.map((_, k) => k + 1));
    expect(env).toEqual([r.tracePath, r.dir]);
    expect(fs.readFileSync(path.join(r.outside, "elsewhere"), "utf8")).toBe("not recorded");
    expect(expectReplayed(r.dir, r.ops)).toEqual(["child", "log", "state", "sub/rel"]);
  });

  it("records what C programs do: dup, *at calls, O_DSYNC, copies, fallocate, syscall(2), unsupported calls", async () => {
    const exe = path.join(await tempDir(), "c-ops");
    const [cc = "cc", ...ccArgs] = (process.env.CC?.trim() || "cc").split(/\s+/);
    await execa(cc, [...ccArgs, "-o", exe, path.join(FIXTURES, "c-ops.c")]);
    const r = await record(exe, (dir, outside) => [dir, outside]);
    const ino = JSON.parse(r.stdout);
    const p = (name: string) => path.join(r.dir, name);
    expect(readable(r.ops)).toEqual([
      { op: "create", path: p("stale"), ino: ino.stale }, // then /dev/null on its fd: nothing
      { op: "create", path: p("a"), ino: ino.a },
      { op: "write", ino: ino.a, offset: 0, data: "dup" },
      { op: "write", ino: ino.a, offset: 3, data: "fc" },
      { op: "write", ino: ino.a, offset: 5, data: "d2" },
      { op: "write", ino: ino.a, offset: 7, data: "!" },
      { op: "write", ino: ino.a, offset: 8, data: "K" }, // from a forked child; then a pipe dup2'ed over b: nothing
      { op: "mkdir", path: p("sub") },
      { op: "create", path: p("sub/f"), ino: ino.f },
      { op: "write", ino: ino.f, offset: 0, data: "dsync" },
      { op: "fsync", ino: ino.f, kind: "fdatasync" },
      { op: "write", ino: ino.f, offset: 5, data: "pwv2" },
      { op: "fsync", ino: ino.f, kind: "fsync" },
      { op: "dirsync", path: p("sub") },
      { op: "rename", from: p("sub/f"), to: p("g"), ino: ino.f },
      { op: "link", from: p("g"), to: p("sub/h"), ino: ino.f },
      { op: "unlink", path: p("sub/h"), ino: ino.f },
      { op: "create", path: p("copy"), ino: ino.copy },
      { op: "write", ino: ino.copy, offset: 0, data: "yncpw" }, // copy_file_range
      { op: "write", ino: ino.copy, offset: 5, data: "dsyn" }, // sendfile
      { op: "truncate", ino: ino.copy, size: 4096 }, // fallocate mode 0; KEEP_SIZE and no growth: nothing
      { op: "create", path: p(ino.tmp), ino: ino.tmpIno },
      { op: "write", ino: ino.tmpIno, offset: 0, data: "m" },
      { op: "write", ino: ino.tmpIno, offset: 1, data: "sys" }, // syscall(SYS_write)
      { op: "truncate", ino: ino.a, size: 0 }, // creat on an existing file
      { op: "truncate", ino: ino.a, size: 3 },
      { op: "unlink", path: p("copy"), ino: ino.copy },
      { op: "rmdir", path: p("sub") },
      { op: "mkdir", path: p("sub2") },
      { op: "rmdir", path: p("sub2") },
      { op: "unsupported", what: "symlink", path: p("ln") },
      { op: "unsupported", what: "stdio stream reopened for writing (freopen)", path: p("stdio") },
      { op: "unsupported", what: "renameat2 with RENAME_EXCHANGE or RENAME_WHITEOUT", path: p("a") },
      { op: "create", path: p("holed"), ino: ino.holed },
      { op: "unsupported", what: "fallocate mode 0x3", path: p("holed") },
      { op: "unsupported", what: "rename into the recorded directory", path: p("inbound") },
      { op: "unlink", path: p("g"), ino: ino.a }, // renamed out of the directory
    ]);
    expect(ino.uring).toEqual([-1, 38]); // io_uring_setup: ENOSYS
    // Not replayable, as the unsupported ops say: stdio's writes, a file renamed in, a punched hole.
    expect(expectReplayed(r.dir, r.ops, (n) => ["stdio", "inbound", "holed"].includes(n))).toEqual([
      "a",
      "stale",
      ino.tmp,
    ]);
  });

  it("follows stdio streams opened for writing in the directory: fopen, fdopen, fprintf, fflush, fsync(fileno)", async () => {
    const exe = path.join(await tempDir(), "c-stdio");
    const [cc = "cc", ...ccArgs] = (process.env.CC?.trim() || "cc").split(/\s+/);
    await execa(cc, [...ccArgs, "-o", exe, path.join(FIXTURES, "c-stdio.c")]);
    const r = await record(exe, (dir, outside) => [dir, outside]);
    const out = JSON.parse(r.stdout);
    const p = (name: string) => path.join(r.dir, name);
    // What the program saw: 'e' set FD_CLOEXEC, a+ appended and read back, r+ read, x refused.
    expect(out).toMatchObject({ cloexec: 1, end: 18, head: "hello", read: "hello", xErrno: 17 });
    const [big, rest] = [
      r.ops.filter((o) => "ino" in o && o.ino === out.big),
      r.ops.filter((o) => !("ino" in o) || o.ino !== out.big),
    ];
    expect(readable(rest)).toEqual([
      { op: "create", path: p("log"), ino: out.log },
      { op: "write", ino: out.log, offset: 0, data: "hello 42\n" }, // fflush
      { op: "fsync", ino: out.log, kind: "fsync" }, // fsync(fileno(f))
      { op: "write", ino: out.log, offset: 9, data: "tail" }, // fclose
      { op: "write", ino: out.log, offset: 13, data: "+more" }, // a+
      { op: "create", path: p("info"), ino: out.info }, // open, then fdopen
      { op: "write", ino: out.info, offset: 0, data: "info line\n" },
      { op: "fsync", ino: out.info, kind: "fdatasync" },
      { op: "write", ino: out.log, offset: 0, data: "HELLO" }, // r+ after fseek
    ]);
    // fwrite of 10000 bytes: a create, then writes as the buffer fills and at fclose, end to end.
    expect(big[0]).toMatchObject({ op: "create", path: p("big") });
    let at = 0;
    for (const o of big.slice(1)) {
      expect(o).toMatchObject({ op: "write", offset: at });
      at += Buffer.from((o as { data: string }).data, "base64").length;
    }
    expect([big.length > 2, at]).toEqual([true, 10000]);
    // Every byte of every file is in the trace; the stream outside the directory was not followed.
    expect(expectReplayed(r.dir, r.ops)).toEqual(["big", "info", "log"]);
    expect(fs.readFileSync(p("log"), "utf8")).toBe("HELLO 42\ntail+more");
    expect(fs.readFileSync(path.join(r.outside, "outside.txt"), "utf8")).toBe("outside");
    expect(r.ops.some((o) => JSON.stringify(o).includes("outside"))).toBe(false);
  });

  it("replays better-sqlite3's WAL-mode files byte for byte, midway and after close", async () => {
    const snapshot = await tempDir();
    const r = await record(process.execPath, (dir, _outside, trace) => [
      path.join(FIXTURES, "sqlite-wal.mjs"),
      dir,
      trace,
      snapshot,
    ]);
    const midway = JSON.parse(r.stdout) as { traceSize: number; inos: Record<string, number> };
    const db = path.join(r.dir, "db.sqlite");
    const creates = r.ops.filter((o) => o.op === "create").map((o) => o.path);
    expect(creates).toEqual(expect.arrayContaining([db, `${db}-wal`]));
    const wal = midway.inos["db.sqlite-wal"]!;
    const dbIno = midway.inos["db.sqlite"]!;
    const writes = (ino: number) => r.ops.flatMap((o) => (o.op === "write" && o.ino === ino ? [o.offset] : []));
    // WAL: a 32-byte header, then frames of a 24-byte header and a 4096-byte page, written apart.
    expect(writes(wal).length).toBeGreaterThan(20);
    expect(writes(wal).filter((off) => off !== 0 && ![0, 24].includes((off - 32) % 4120))).toEqual([]);
    expect(writes(dbIno).length).toBeGreaterThan(1);
    expect(writes(dbIno).filter((off) => off % 4096 !== 0)).toEqual([]);
    const fsyncs = new Set(r.ops.flatMap((o) => (o.op === "fsync" ? [o.ino] : [])));
    expect(fsyncs.has(wal) && fsyncs.has(dbIno)).toBe(true);
    for (const o of r.ops) if (o.op === "dirsync") expect(o.path).toBe(r.dir);

    // Midway: the trace up to its size then replays to the copied files. The -shm file is
    // written through mmap (not seen; not durable state either).
    const prefix = parseTrace(fs.readFileSync(r.tracePath).subarray(0, midway.traceSize).toString("utf8"));
    const files = replay(prefix);
    const problems = Object.entries(midway.inos)
      .filter(([name]) => !name.endsWith("-shm"))
      .map(([name, ino]) => mismatch(name, files.get(ino), fs.readFileSync(path.join(snapshot, name))));
    expect(problems).toEqual([null, null]);
    expect(fs.statSync(path.join(snapshot, "db.sqlite-wal")).size).toBeGreaterThan(100_000);
    // After close: the WAL was checkpointed into the db file and removed.
    expect(expectReplayed(r.dir, r.ops)).toEqual(["db.sqlite"]);
    expect(r.ops.some((o) => o.op === "unlink" && o.path === `${db}-wal`)).toBe(true);
  });

  it("keeps the threadpool's concurrent writes in the order they took effect", async () => {
    const r = await record(process.execPath, node("concurrent-appends.mjs"));
    const appends = fs.statSync(path.join(r.dir, "appends")).ino;
    expect(r.ops.filter((o) => o.op === "write" && o.ino === appends)).toHaveLength(400);
    expect(expectReplayed(r.dir, r.ops)).toEqual(["appends", "positional"]);
  });

  it("records the answers written to walcheck's pipe (stdout) in place among the fs ops, from a wrapper's relay too, only when asked", async () => {
    // A line in two writes, then two lines in one write, after a write to the directory.
    const script = `const fs = require("fs"); fs.writeFileSync(process.argv[1] + "/wal", "x"); const w = (s) => fs.writeSync(1, s); w('{"id":3,"ok":tr'); w('ue,"seq":1}\\n'); w('{"id":4,"ok":true,"seq":2}\\n{"id":5,"ok":false}\\n'); fs.writeFileSync(process.argv[1] + "/after", "y");`;
    const expected = '{"id":3,"ok":true,"seq":1}\n{"id":4,"ok":true,"seq":2}\n{"id":5,"ok":false}\n';
    const run = async (cmd: string, args: (dir: string) => string[], answers: boolean) => {
      const dir = fs.realpathSync(await tempDir());
      const trace = path.join(fs.realpathSync(await tempDir()), "trace.jsonl");
      const { stdout } = await execa(cmd, args(dir), { env: recordEnv(trace, dir, so, { answers }) });
      expect(`${stdout}\n`).toBe(expected);
      return parseTrace(fs.readFileSync(trace, "utf8"));
    };
    const direct = await run(process.execPath, (dir) => ["-e", script, dir], true);
    expect(direct.map((o) => o.op)).toEqual(["create", "write", "stdout", "stdout", "stdout", "create", "write"]);
    const answers = answersOf(direct);
    expect(answers.fsOps.map((o) => o.op)).toEqual(["create", "write", "create", "write"]);
    // Both acks come after the first two fs ops and before the last two.
    expect([...answers.ackedSeqAt]).toEqual([
      [1, 2],
      [2, 2],
    ]);
    const data = (ops: TraceOp[]) =>
      Buffer.concat(ops.flatMap((o) => (o.op === "stdout" ? [Buffer.from(o.data, "base64")] : []))).toString("utf8");
    expect(data(direct)).toBe(expected);
    // Through a shell that pipes the program into cat: node writes into the shell's pipe (not
    // recorded), cat writes the same bytes into walcheck's (recorded, however cat splits them).
    const relayed = await run("sh", (dir) => ["-c", 'node -e "$0" "$1" | cat', script, dir], true);
    expect(data(relayed)).toBe(expected);
    expect(answersOf(relayed).ackedSeqAt.size).toBe(2);
    // Without `answers` (sequential lives): no stdout op.
    const plain = await run(process.execPath, (dir) => ["-e", script, dir], false);
    expect(plain.map((o) => o.op)).toEqual(["create", "write", "create", "write"]);
  });

  it("lets several processes record into one trace, in turns", async () => {
    const r = await record(process.execPath, node("processes.mjs"));
    expect(r.ops.map((o) => o.i)).toEqual(r.ops.map((_, k) => k + 1));
    const shared = fs.statSync(path.join(r.dir, "shared")).ino;
    expect(r.ops.filter((o) => o.op === "write" && o.ino === shared)).toHaveLength(4 * 100);
    expect(expectReplayed(r.dir, r.ops)).toEqual(["shared"]);
  });

  it("does nothing without both variables", async () => {
    const dir = await tempDir();
    const trace = path.join(dir, "trace.jsonl");
    const script = `const fs = require("fs"); fs.writeFileSync(process.argv[1], "plain"); fs.renameSync(process.argv[1], process.argv[1] + ".2"); console.log(process.env.WALCHECK_POWER_TRACE ?? "-", process.env.WALCHECK_POWER_DIR ?? "-")`;
    const { WALCHECK_POWER_DIR: _d, ...onlyTrace } = recordEnv(trace, dir, so);
    const { WALCHECK_POWER_TRACE: _t, ...onlyDir } = recordEnv(trace, dir, so);
    const a = await execa(process.execPath, ["-e", script, path.join(dir, "a")], { env: onlyTrace });
    const b = await execa(process.execPath, ["-e", script, path.join(dir, "b")], { env: onlyDir });
    expect([a.stdout, b.stdout]).toEqual([`${trace} -`, `- ${dir}`]);
    expect(fs.readdirSync(dir).sort()).toEqual(["a.2", "b.2"]);
    expect(fs.readFileSync(path.join(dir, "b.2"), "utf8")).toBe("plain");
  });
});

describe("ensureRecorder", () => {
  const saved = { XDG_CACHE_HOME: process.env.XDG_CACHE_HOME, CC: process.env.CC };
  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  /** A fresh copy of the module (its in-process memo empty), on a fresh cache directory. */
  async function freshModule(cc?: string) {
    process.env.XDG_CACHE_HOME = await tempDir();
    if (cc) process.env.CC = cc;
    vi.resetModules();
    return import("../../harness/faults/power/recorder-build.js");
  }

  it("builds once into the cache, named by the source's hash, and reuses the build", async () => {
    const first = await (await freshModule()).ensureRecorder();
    const hash = createHash("sha256")
      .update(fs.readFileSync("harness/faults/power/recorder.c"))
      .digest("hex")
      .slice(0, 12);
    expect(first).toBe(path.join(process.env.XDG_CACHE_HOME!, "walcheck", `recorder-${hash}.so`));
    const mtime = fs.statSync(first).mtimeMs;
    vi.resetModules();
    const again = await (await import("../../harness/faults/power/recorder-build.js")).ensureRecorder();
    expect(again).toBe(first);
    expect(fs.statSync(again).mtimeMs).toBe(mtime);
    expect(fs.readdirSync(path.dirname(first))).toEqual([path.basename(first)]); // no temp files left
  });

  it("says a C compiler is needed when there is none, or when it fails", async () => {
    const message =
      "power-loss simulation needs a C compiler to build its recorder: set CC or install cc (gcc or clang)";
    await expect((await freshModule("/nonexistent/cc")).ensureRecorder()).rejects.toThrow(message);
    const failing = path.join(await tempDir(), "failing-cc");
    fs.writeFileSync(failing, "#!/bin/sh\necho 'recorder.c:1: boom' >&2\nexit 1\n", { mode: 0o755 });
    const err = await (await freshModule(failing)).ensureRecorder().catch((e: Error) => e);
    expect(String(err)).toContain(message);
    expect(String(err)).toContain("recorder.c:1: boom");
    expect(fs.readdirSync(path.join(process.env.XDG_CACHE_HOME!, "walcheck"))).toEqual([]);
  });

  it("appends the recorder to an existing LD_PRELOAD", () => {
    const saved = process.env.LD_PRELOAD;
    try {
      process.env.LD_PRELOAD = "/lib/other.so";
      expect(recordEnv("/t/trace", "/d", "/c/rec.so")).toEqual({
        LD_PRELOAD: "/lib/other.so /c/rec.so",
        WALCHECK_POWER_TRACE: "/t/trace",
        WALCHECK_POWER_DIR: "/d",
        UV_USE_IO_URING: "0",
      });
    } finally {
      if (saved === undefined) delete process.env.LD_PRELOAD;
      else process.env.LD_PRELOAD = saved;
    }
  });
});
