import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureRecorder, recordEnv } from "../../harness/faults/power/recorder-build.js";
import { parseTrace } from "../../harness/faults/power/trace.js";
import { nativeFaultEnv } from "../../harness/engine/fault-path.js";
import { tempDir } from "../helpers.js";

// The C preload's fault mode (harness/faults/power/recorder.c, WALCHECK_FS_FAULT with
// WALCHECK_FAULT_DIR): real programs (Python's os module, a C program built with
// _FORTIFY_SOURCE) in LD_PRELOAD, each call's result as the program saw it.

const FIXTURES = path.resolve("test/fixtures/faults");
let lib: string;
beforeAll(async () => {
  lib = await ensureRecorder();
});

/** Runs fault_ops.py's `kind` in a fresh directory holding the 4-byte file "a", under `spec` (none: no preload). */
async function ops(kind: string, spec?: string, extra: string[] = []) {
  const dir = fs.realpathSync(await tempDir());
  fs.writeFileSync(path.join(dir, "a"), "abcd");
  const r = await execa("python3", [path.join(FIXTURES, "fault_ops.py"), dir, kind, ...extra], {
    env: spec ? nativeFaultEnv(lib, dir, spec) : {},
    reject: false,
  });
  expect(r.exitCode, r.stderr).toBe(0);
  return { dir, lines: r.stdout.split("\n") };
}

describe("the C preload injects the fs faults with the errno Linux gives", () => {
  it("enospc: the crossing write writes what fits and returns the short count, then ENOSPC", async () => {
    expect((await ops("enospc", "enospc:10")).lines).toEqual([
      "write6 6",
      "write6 4",
      "write1 ENOSPC",
      "fsync ok",
      "size 10",
    ]);
    expect((await ops("enospc")).lines).toEqual(["write6 6", "write6 6", "write1 1", "fsync ok", "size 13"]);
  });

  it("erofs: every change fails with EROFS (an existing name's mkdir with EEXIST); reads and fsync work", async () => {
    const { dir, lines } = await ops("erofs", "erofs");
    expect(lines).toEqual([
      "create EROFS",
      "open-write EROFS",
      "open-read ok",
      "mkdir-existing EEXIST",
      "mkdir EROFS",
      "rename EROFS",
      "unlink EROFS",
      "truncate EROFS",
      "dir-fsync ok",
    ]);
    expect(fs.readdirSync(dir)).toEqual(["a"]);
  });

  it("eacces-dir: new names, renames and removals fail with EACCES; a missing name is still ENOENT", async () => {
    expect((await ops("eacces-dir", "eacces-dir")).lines).toEqual([
      "create EACCES",
      "open-existing ok",
      "unlink-missing ENOENT",
      "rename EACCES",
      "mkdir EACCES",
    ]);
  });

  it("eacces-files: existing files cannot be opened for writing or truncated; new files can", async () => {
    expect((await ops("eacces-files", "eacces-files")).lines).toEqual([
      "open-write EACCES",
      "open-read ok",
      "truncate EACCES",
      "create ok",
    ]);
  });

  it("eio-fsync: the n-th fsync fails with EIO once and the unsynced bytes are gone (fsyncgate)", async () => {
    expect((await ops("eio-fsync", "eio-fsync:2")).lines).toEqual([
      "fsync1 ok",
      "fsync2 EIO",
      "size 4",
      "fsync3 ok",
      "size 8",
    ]);
  });

  it("slow-fsync delays fsync (the fs trace marks the fsync it held); release=<file> lifts a fault while the file exists", async () => {
    // Not timed: the call trace (WALCHECK_FS_TRACE) says which fsync took the delay branch.
    const dir = fs.realpathSync(await tempDir());
    const trace = path.join(fs.realpathSync(await tempDir()), "calls.jsonl");
    const r = await execa("python3", [path.join(FIXTURES, "fault_ops.py"), dir, "slow-fsync"], {
      env: { ...nativeFaultEnv(lib, dir, "slow-fsync:5"), WALCHECK_FS_TRACE: trace },
    });
    expect(r.stdout.split("\n")).toEqual(["fsync ok"]);
    const calls = fs
      .readFileSync(trace, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(calls.map((c) => [c.call, c.fault])).toEqual([
      ["open", undefined],
      ["fsync", "slow-fsync"],
    ]);
    const gate = path.join(fs.realpathSync(await tempDir()), "space-back");
    fs.writeFileSync(gate, "");
    expect((await ops("enospc", `enospc:0,release=${gate}`)).lines).toContain("size 13");
  });

  it("with the power-loss trace too, the trace holds what the fault left: eio-fsync's cut is a truncate", async () => {
    const dir = fs.realpathSync(await tempDir());
    const trace = path.join(fs.realpathSync(await tempDir()), "trace.jsonl");
    const env = { ...recordEnv(trace, dir, lib), ...nativeFaultEnv(lib, dir, "eio-fsync:2") };
    const r = await execa("python3", [path.join(FIXTURES, "fault_ops.py"), dir, "eio-fsync"], { env });
    expect(r.stdout.split("\n")).toEqual(["fsync1 ok", "fsync2 EIO", "size 4", "fsync3 ok", "size 8"]);
    const ops = parseTrace(fs.readFileSync(trace, "utf8")).map((op) => op.op);
    expect(ops).toEqual(["create", "write", "fsync", "write", "truncate", "write", "fsync"]);
  });

  it("calls outside WALCHECK_FAULT_DIR are never faulted", async () => {
    const elsewhere = fs.realpathSync(await tempDir());
    expect((await ops("outside", "enospc:0", [elsewhere])).lines).toEqual(["write 20", "fsync ok"]);
  });

  it("a bad WALCHECK_FS_FAULT stops the program at load with exit 2 and says why", async () => {
    const dir = fs.realpathSync(await tempDir());
    const r = await execa("python3", ["-c", "print('ran')"], {
      env: nativeFaultEnv(lib, dir, "enospc:-1"),
      reject: false,
    });
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("WALCHECK_FS_FAULT must be enospc:<bytes>");
  });

  it("eio-read: a read starting before the bad range gets the bytes before it, one starting inside gets EIO (every read form, stdio, fortified)", async (ctx) => {
    const dir = fs.realpathSync(await tempDir());
    const bin = path.join(dir, "read_faults");
    const cc = await execa("cc", ["-O2", "-D_FORTIFY_SOURCE=2", "-o", bin, path.join(FIXTURES, "read_faults.c")], {
      reject: false,
    });
    if (cc.exitCode !== 0) ctx.skip(`cc cannot build here: ${cc.stderr.slice(0, 200)}`);
    const file = path.join(dir, "wal", "data");
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, Buffer.alloc(1024, 7));
    const run = (env: Record<string, string>) => execa(bin, [file], { env }).then((r) => r.stdout.split("\n"));
    expect(await run({})).toEqual([
      "pread@0 200",
      "pread@100 10",
      "pread@110 10",
      "pread@120 10",
      "read@0 1024",
      "read again 0",
      "preadv@50 120",
      "readv@0 120",
      "fread 1024",
    ]);
    expect(await run(nativeFaultEnv(lib, path.dirname(file), `eio-read:100:20:${file}`))).toEqual([
      "pread@0 100",
      "pread@100 EIO",
      "pread@110 EIO",
      "pread@120 10",
      "read@0 100",
      "read again EIO",
      "preadv@50 50",
      "readv@0 100",
      "fread 100 error",
    ]);
  });
});
