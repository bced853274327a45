import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CALLS, type CallName, type FsCall } from "../../harness/faults/fs/calls.js";
import {
  delay,
  dropsUnsyncedData,
  eaccesDir,
  eaccesFiles,
  eioFsync,
  enospc,
  erofs,
  fromSpec,
  onIndex,
  onlyCalls,
  refuse,
  releasable,
  slowFsync,
  spaceBudget,
  when,
  type Failure,
  type Injected,
  type Injector,
} from "../../harness/faults/fs/injectors.js";
import { parseFsFault } from "../../harness/faults/fs/spec.js";
import { tempDir } from "../helpers.js";

// The injectors of WALCHECK_FS_FAULT in this process, with no preload: each gets the calls a
// program would make (as the patched fs describes them, by the arguments of their sync form) and
// says what happens to them. Effects on the disk are run by hand, on real files in a temp dir.
// test/harness/fs-fault.test.ts runs the same faults through the preload in child processes.

const call = (name: CallName, ...args: unknown[]): FsCall => ({ name, args });

/** What an injector did to a call: the error code, "delay <ms>", or "ok". */
function outcome(injected: Injected | undefined): string {
  if (injected === undefined) return "ok";
  return "error" in injected ? String(injected.error.code) : `delay ${injected.delay}`;
}

function failure(injected: Injected | undefined): Failure {
  if (injected === undefined || !("error" in injected)) throw new Error(`expected a failure, got ${outcome(injected)}`);
  return injected;
}

/** A leaf that fails every call it is given with EIO, recording each call's first argument. */
function recorder(): Injector & { seen: string[] } {
  const seen: string[] = [];
  const error = Object.assign(new Error("EIO: i/o error"), { code: "EIO" });
  return { seen, inject: (c) => (seen.push(String(c.args[0])), { error }) };
}

/** One call of each counted name, in CALLS order, on `fd` or on paths in `dir` (it creates none of them). */
function sampleCalls(dir: string, fd: number): FsCall[] {
  const file = path.join(dir, "file");
  const args: Record<CallName, unknown[]> = {
    write: [fd, Buffer.from("ab")],
    writev: [fd, [Buffer.from("ab")]],
    writeFile: [file, "ab"],
    appendFile: [file, "ab"],
    fsync: [fd],
    fdatasync: [fd],
    rename: [file, path.join(dir, "renamed")],
    truncate: [file, 0],
    ftruncate: [fd, 0],
    unlink: [file],
    rm: [file],
    rmdir: [path.join(dir, "sub")],
    mkdir: [path.join(dir, "new-dir")],
    open: [file, "w"],
    close: [fd],
    copyFile: [file, path.join(dir, "copy")],
    link: [file, path.join(dir, "hard")],
    symlink: [file, path.join(dir, "soft")],
  };
  return CALLS.map((name) => call(name, ...args[name]));
}

const openFds: number[] = [];
function open(file: string, flags: string): number {
  const fd = fs.openSync(file, flags);
  openFds.push(fd);
  return fd;
}
afterEach(() => {
  for (const fd of openFds.splice(0)) fs.closeSync(fd);
  vi.restoreAllMocks();
});

describe("fs injectors: leaves and combinators", () => {
  it("refuse fails every call with the error Node reports: errno, code, syscall, path, dest, message", () => {
    const erofs = refuse("EROFS");
    const rename = failure(erofs.inject(call("rename", "/w/a", "/w/b"))).error;
    expect(rename.message).toBe("EROFS: read-only file system, rename '/w/a' -> '/w/b'");
    expect({ ...rename }).toStrictEqual({
      errno: -os.constants.errno.EROFS,
      code: "EROFS",
      syscall: "rename",
      path: "/w/a",
      dest: "/w/b",
    });
    expect(rename).toBeInstanceOf(Error);
    // An fd names no path; writeFile to a path fails at its open, truncate of a path too.
    expect({ ...failure(erofs.inject(call("fsync", 7))).error }).toStrictEqual({
      errno: -os.constants.errno.EROFS,
      code: "EROFS",
      syscall: "fsync",
    });
    expect(failure(erofs.inject(call("writeFile", "/w/f", "x"))).error.message).toBe(
      "EROFS: read-only file system, open '/w/f'",
    );
    expect(failure(refuse("EACCES").inject(call("truncate", "/w/f"))).error.message).toBe(
      "EACCES: permission denied, open '/w/f'",
    );
    expect(failure(refuse("EIO").inject(call("copyFile", "/w/a", "/w/b"))).error.syscall).toBe("copyfile");
    // ENOSPC from writeFile/appendFile happens at the write, which names no path.
    const full = failure(refuse("ENOSPC").inject(call("appendFile", "/w/f", "x"))).error;
    expect(full.message).toBe("ENOSPC: no space left on device, write");
    expect(full.errno).toBe(-os.constants.errno.ENOSPC);
    expect(full.path).toBeUndefined();
  });

  it("delay performs every call late by its ms", () => {
    expect(delay(40).inject(call("fsync", 3))).toStrictEqual({ delay: 40 });
    expect(delay(7).inject(call("mkdir", "/w/d"))).toStrictEqual({ delay: 7 });
  });

  it("when and onlyCalls hand the injector exactly the calls they select, and perform the others", () => {
    const inner = recorder();
    const evens = when((c) => (c.args[0] as number) % 2 === 0, inner);
    expect([1, 2, 3, 4].map((fd) => outcome(evens.inject(call("fsync", fd))))).toEqual(["ok", "EIO", "ok", "EIO"]);
    expect(inner.seen).toEqual(["2", "4"]);

    const syncs = recorder();
    const onlySyncs = onlyCalls(["fsync", "fdatasync"], syncs);
    const names: CallName[] = ["write", "fsync", "close", "fdatasync", "ftruncate"];
    expect(names.map((name, i) => outcome(onlySyncs.inject(call(name, i))))).toEqual(["ok", "EIO", "ok", "EIO", "ok"]);
    expect(syncs.seen).toEqual(["1", "3"]);
  });

  it("onIndex hands the injector the n-th call it is given, and that one only", () => {
    const inner = recorder();
    const third = onIndex(3, inner);
    expect([1, 2, 3, 4, 5, 6].map((fd) => outcome(third.inject(call("fsync", fd))))).toEqual([
      "ok",
      "ok",
      "EIO",
      "ok",
      "ok",
      "ok",
    ]);
    expect(inner.seen).toEqual(["3"]);
    // Behind a filter, it counts only the calls that pass it.
    const secondSync = onlyCalls(["fsync"], onIndex(2, refuse("EIO")));
    const names: CallName[] = ["write", "fsync", "write", "write", "fsync", "fsync"];
    expect(names.map((name) => outcome(secondSync.inject(call(name, 5))))).toEqual([
      "ok",
      "ok",
      "ok",
      "ok",
      "EIO",
      "ok",
    ]);
  });

  it("releasable lifts the fault while its file exists, looking it up only for a call about to be faulted", async () => {
    const release = path.join(await tempDir(), "release");
    const exists = vi.spyOn(fs, "existsSync");
    const lifted = releasable(
      release,
      when((c) => c.name === "mkdir", refuse("EROFS")),
    );
    expect(outcome(lifted.inject(call("mkdir", "/w/d")))).toBe("EROFS");
    expect(outcome(lifted.inject(call("close", 3)))).toBe("ok");
    expect(exists.mock.calls).toEqual([[release]]); // not for the close, which is not faulted
    fs.writeFileSync(release, "");
    expect(outcome(lifted.inject(call("mkdir", "/w/d")))).toBe("ok");
    fs.rmSync(release);
    expect(outcome(lifted.inject(call("mkdir", "/w/d")))).toBe("EROFS");
    // Delays are lifted too; without a file it is the injector itself.
    fs.writeFileSync(release, "");
    expect(outcome(releasable(release, delay(5)).inject(call("fsync", 3)))).toBe("ok");
    const inner = refuse("EIO");
    expect(releasable(undefined, inner)).toBe(inner);
  });

  it("releasable under onIndex: the lifted call still has its index, so a later one is not faulted instead", async () => {
    const release = path.join(await tempDir(), "release");
    fs.writeFileSync(release, "");
    const second = onIndex(2, releasable(release, refuse("EIO")));
    expect(outcome(second.inject(call("fsync", 3)))).toBe("ok");
    expect(outcome(second.inject(call("fsync", 3)))).toBe("ok"); // the 2nd, lifted
    fs.rmSync(release);
    expect([3, 4, 5].map(() => outcome(second.inject(call("fsync", 3))))).toEqual(["ok", "ok", "ok"]);
  });

  it("spaceBudget: what fits is performed, the crossing call writes what still fits, then nothing fits", async () => {
    const file = path.join(await tempDir(), "data");
    const fd = open(file, "w+");
    const budget = spaceBudget(10, refuse("ENOSPC"));
    expect(outcome(budget.inject(call("write", fd, Buffer.from("aaaa"))))).toBe("ok");
    fs.writeSync(fd, "aaaa");
    expect(outcome(budget.inject(call("write", fd, "bbbbb")))).toBe("ok"); // 9 of 10
    fs.writeSync(fd, "bbbbb");
    const crossing = failure(budget.inject(call("write", fd, Buffer.from("cccc"))));
    expect(crossing.error.code).toBe("ENOSPC");
    expect(fs.readFileSync(file, "utf8")).toBe("aaaabbbbb"); // nothing written before the effect
    crossing.effect!();
    expect(fs.readFileSync(file, "utf8")).toBe("aaaabbbbbc");
    const later = failure(budget.inject(call("write", fd, "d")));
    later.effect!();
    expect(fs.readFileSync(file, "utf8")).toBe("aaaabbbbbc");
    expect(outcome(budget.inject(call("write", fd, "")))).toBe("ok"); // an empty write still fits
  });

  it("spaceBudget: a call the full disk lets through counts all of its bytes", async () => {
    const inner = recorder();
    let refusing = false;
    const full: Injector = { inject: (c) => (refusing ? inner.inject(c) : undefined) };
    const budget = spaceBudget(10, full);
    expect(outcome(budget.inject(call("write", 3, "x".repeat(8))))).toBe("ok");
    expect(outcome(budget.inject(call("write", 3, "x".repeat(8))))).toBe("ok"); // past the budget, let through
    refusing = true;
    expect(outcome(budget.inject(call("write", 3, "x")))).toBe("EIO"); // 16 counted: no room for 1
    expect(inner.seen).toEqual(["3"]);
  });

  it("dropsUnsyncedData: a failed call cuts its file back to its size at its last sync", async () => {
    const file = path.join(await tempDir(), "log");
    const fd = open(file, "w+");
    const fail = { on: false };
    const drops = dropsUnsyncedData(when(() => fail.on, refuse("EIO")));
    drops.inject(call("write", fd, "aaaa"));
    fs.writeSync(fd, "aaaa");
    expect(drops.inject(call("fsync", fd))).toBeUndefined();
    drops.inject(call("write", fd, "bbb"));
    fs.writeSync(fd, "bbb");
    fail.on = true;
    const failed = failure(drops.inject(call("ftruncate", fd, 100)));
    expect(failed.error.code).toBe("EIO");
    expect(fs.readFileSync(file, "utf8")).toBe("aaaabbb");
    failed.effect!();
    expect(fs.readFileSync(file, "utf8")).toBe("aaaa");
    // A call by path never reaches the injector.
    expect(drops.inject(call("truncate", file))).toBeUndefined();
  });
});

describe("fs injectors: the fault kinds", () => {
  it("erofs refuses every counted call but close, fsync and fdatasync, with EROFS", async () => {
    const dir = await tempDir();
    const injector = erofs();
    const outcomes = Object.fromEntries(sampleCalls(dir, 9).map((c) => [c.name, outcome(injector.inject(c))]));
    expect(outcomes).toStrictEqual({
      ...Object.fromEntries(CALLS.map((name) => [name, "EROFS"])),
      close: "ok",
      fsync: "ok",
      fdatasync: "ok",
    });
    expect(outcome(erofs().inject(call("open", path.join(dir, "x"), "w")))).toBe("EROFS");
  });

  it("eacces-dir refuses the calls that would add, remove or rename an entry, with EACCES", async () => {
    const dir = await tempDir();
    const at = (name: string) => path.join(dir, name);
    fs.writeFileSync(at("file"), "x");
    fs.writeFileSync(at("other"), "y");
    fs.mkdirSync(at("sub"));
    const fd = open(at("file"), "r+");
    const injector = eaccesDir();
    const cases: [FsCall, string][] = [
      [call("open", at("missing"), "w"), "EACCES"],
      [call("open", at("missing"), "a+"), "EACCES"],
      [call("open", at("missing"), "wx"), "EACCES"],
      [call("open", at("missing"), fs.constants.O_CREAT | fs.constants.O_WRONLY), "EACCES"],
      [call("open", at("missing"), "r+"), "ok"], // cannot create it: ENOENT by itself
      [call("open", at("missing"), fs.constants.O_WRONLY), "ok"],
      [call("open", at("file"), "w"), "ok"],
      [call("writeFile", at("missing"), "x"), "EACCES"],
      [call("writeFile", at("file"), "x"), "ok"],
      [call("writeFile", fd, "x"), "ok"],
      [call("appendFile", at("missing"), "x"), "EACCES"],
      [call("appendFile", at("file"), "x"), "ok"],
      [call("mkdir", at("missing")), "EACCES"],
      [call("mkdir", at("sub")), "ok"], // EEXIST by itself
      [call("copyFile", at("file"), at("missing")), "EACCES"],
      [call("copyFile", at("file"), at("other")), "ok"],
      [call("unlink", at("file")), "EACCES"],
      [call("unlink", at("missing")), "ok"], // ENOENT, as Linux reports it
      [call("rm", at("file")), "EACCES"],
      [call("rm", at("missing")), "ok"],
      [call("rmdir", at("sub")), "EACCES"],
      [call("rmdir", at("missing")), "ok"],
      [call("rename", at("file"), at("missing")), "EACCES"],
      [call("rename", at("missing"), at("other")), "ok"],
      [call("link", at("file"), at("missing")), "EACCES"],
      [call("symlink", at("file"), at("missing")), "EACCES"],
      [call("write", fd, "x"), "ok"],
      [call("writev", fd, [Buffer.from("x")]), "ok"],
      [call("truncate", at("file"), 0), "ok"],
      [call("ftruncate", fd, 0), "ok"],
      [call("fsync", fd), "ok"],
      [call("close", fd), "ok"],
    ];
    expect(cases.map(([c]) => `${c.name} ${outcome(injector.inject(c))}`)).toEqual(
      cases.map(([c, expected]) => `${c.name} ${expected}`),
    );
    const rename = failure(injector.inject(call("rename", at("file"), at("missing")))).error;
    expect(rename.message).toBe(`EACCES: permission denied, rename '${at("file")}' -> '${at("missing")}'`);
  });

  it("eacces-files refuses opening, truncating and writing an existing regular file by its path, with EACCES", async () => {
    const dir = await tempDir();
    const at = (name: string) => path.join(dir, name);
    fs.writeFileSync(at("file"), "x");
    fs.mkdirSync(at("sub"));
    const fd = open(at("file"), "r+");
    const injector = eaccesFiles();
    const cases: [FsCall, string][] = [
      [call("open", at("file"), "w"), "EACCES"],
      [call("open", at("file"), "r+"), "EACCES"],
      [call("open", at("missing"), "w"), "ok"],
      [call("open", at("sub"), "r+"), "ok"], // not a regular file
      [call("truncate", at("file"), 0), "EACCES"],
      [call("writeFile", at("file"), "x"), "EACCES"],
      [call("appendFile", at("file"), "x"), "EACCES"],
      [call("writeFile", at("missing"), "x"), "ok"],
      [call("writeFile", fd, "x"), "ok"],
      [call("write", fd, "x"), "ok"],
      [call("ftruncate", fd, 0), "ok"],
      [call("mkdir", at("new")), "ok"],
      [call("unlink", at("file")), "ok"],
      [call("rename", at("file"), at("moved")), "ok"],
      [call("copyFile", at("file"), at("copy")), "ok"],
      [call("fsync", fd), "ok"],
    ];
    expect(cases.map(([c]) => `${c.name} ${outcome(injector.inject(c))}`)).toEqual(
      cases.map(([c, expected]) => `${c.name} ${expected}`),
    );
    expect(failure(injector.inject(call("truncate", at("file"), 0))).error.message).toBe(
      `EACCES: permission denied, open '${at("file")}'`,
    );
  });

  it("enospc: only write-like calls count and fail; the crossing one writes the bytes that still fit", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "wal");
    const fd = open(file, "w+");
    const injector = enospc(6);
    for (const c of sampleCalls(dir, fd).filter(
      (c) => !["write", "writev", "writeFile", "appendFile"].includes(c.name),
    )) {
      expect(`${c.name} ${outcome(injector.inject(c))}`).toBe(`${c.name} ok`);
    }
    expect(outcome(injector.inject(call("writev", fd, [Buffer.from("ab"), Buffer.from("c")])))).toBe("ok");
    fs.writeSync(fd, "abc");
    // Only the slice a write names counts: 2 bytes of "xdex" at offset 1.
    expect(outcome(injector.inject(call("write", fd, Buffer.from("xdex"), 1, 2)))).toBe("ok");
    fs.writeSync(fd, "de");
    const crossing = failure(injector.inject(call("write", fd, "fgh")));
    expect(crossing.error.message).toBe("ENOSPC: no space left on device, write");
    crossing.effect!();
    expect(fs.readFileSync(file, "utf8")).toBe("abcdef");
    for (const c of sampleCalls(dir, fd)) {
      const full = ["write", "writev", "writeFile", "appendFile"].includes(c.name) ? "ENOSPC" : "ok";
      expect(`${c.name} ${outcome(injector.inject(c))}`).toBe(`${c.name} ${full}`);
    }
  });

  it("enospc: writeFile to a path writes its prefix with its own flag; data of unknown size never fits", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "snapshot");
    fs.writeFileSync(file, "old content");
    const injector = enospc(3);
    const crossing = failure(injector.inject(call("writeFile", file, "new!", { flag: "w" })));
    crossing.effect!();
    expect(fs.readFileSync(file, "utf8")).toBe("new"); // truncated by "w", then 3 bytes
    const appended = path.join(dir, "appended");
    failure(injector.inject(call("appendFile", appended, "more"))).effect!();
    expect(fs.readFileSync(appended, "utf8")).toBe(""); // opened (created), nothing written
    const stream = enospc(1_000_000).inject(call("writeFile", path.join(dir, "x"), ["an", "iterable"]));
    expect(outcome(stream)).toBe("ENOSPC");
  });

  it("enospc: the release file lifts it, and the bytes written meanwhile still count", async () => {
    const dir = await tempDir();
    const release = path.join(dir, "release");
    const injector = fromSpec({ kind: "enospc", bytes: 10, release });
    fs.writeFileSync(release, "");
    expect(outcome(injector.inject(call("write", 3, "x".repeat(4))))).toBe("ok");
    expect(outcome(injector.inject(call("write", 3, "x".repeat(12))))).toBe("ok"); // would not fit
    fs.rmSync(release);
    expect(outcome(injector.inject(call("write", 3, "x")))).toBe("ENOSPC"); // 16 of 10 used

    const fresh = enospc(10, release);
    fs.writeFileSync(release, "");
    expect(outcome(fresh.inject(call("write", 3, "x".repeat(4))))).toBe("ok");
    fs.rmSync(release);
    expect(outcome(fresh.inject(call("write", 3, "x".repeat(6))))).toBe("ok"); // 10 of 10
    expect(outcome(fresh.inject(call("write", 3, "x")))).toBe("ENOSPC");
  });

  it("eio-fsync: the n-th fsync or fdatasync fails with EIO and cuts its file back to its last synced size, once", async () => {
    const file = path.join(await tempDir(), "wal");
    const fd = open(file, "w+");
    const injector = eioFsync(2);
    const write = (text: string) => {
      expect(outcome(injector.inject(call("write", fd, text)))).toBe("ok");
      fs.writeSync(fd, text);
    };
    write("aaaa");
    expect(outcome(injector.inject(call("fsync", fd)))).toBe("ok"); // 1st: synced at 4 bytes
    write("bbb");
    const eio = failure(injector.inject(call("fdatasync", fd)));
    expect({ ...eio.error }).toStrictEqual({ errno: -os.constants.errno.EIO, code: "EIO", syscall: "fdatasync" });
    eio.effect!();
    expect(fs.readFileSync(file, "utf8")).toBe("aaaa");
    write("ccc");
    expect(["fsync", "fdatasync", "fsync"].map((name) => outcome(injector.inject(call(name as CallName, fd))))).toEqual(
      ["ok", "ok", "ok"],
    );
  });

  it("eio-fsync: a file never synced goes back to its size when first seen; close forgets it", async () => {
    const file = path.join(await tempDir(), "wal");
    fs.writeFileSync(file, "xy");
    const fd = open(file, "r+");
    const first = eioFsync(1);
    first.inject(call("write", fd, "zzz", 2)); // first seen: 2 bytes
    fs.writeSync(fd, "zzz", 2);
    failure(first.inject(call("fsync", fd))).effect!();
    expect(fs.readFileSync(file, "utf8")).toBe("xy");

    const second = eioFsync(2);
    expect(outcome(second.inject(call("fsync", fd)))).toBe("ok"); // synced at 2 bytes
    expect(outcome(second.inject(call("close", fd)))).toBe("ok"); // as if closed and the fd reused
    fs.writeSync(fd, "qqqq", 2);
    second.inject(call("write", fd, "r", 6)); // first seen again: 6 bytes
    fs.writeSync(fd, "r", 6);
    failure(second.inject(call("fsync", fd))).effect!();
    expect(fs.readFileSync(file, "utf8")).toBe("xyqqqq");
  });

  it("eio-fsync: a directory fd gets the EIO and loses nothing; a sync with no fd does not count", async () => {
    const dir = await tempDir();
    fs.writeFileSync(path.join(dir, "entry"), "");
    const dirFd = open(dir, "r");
    const injector = eioFsync(1);
    expect(outcome(injector.inject(call("fsync", "not an fd")))).toBe("ok");
    const eio = failure(injector.inject(call("fsync", dirFd)));
    expect(eio.error.code).toBe("EIO");
    eio.effect!();
    expect(fs.readdirSync(dir)).toEqual(["entry"]);
  });

  it("eio-fsync: a released n-th sync never fails, nor does any later one", async () => {
    const dir = await tempDir();
    const release = path.join(dir, "release");
    const fd = open(path.join(dir, "wal"), "w+");
    const injector = eioFsync(1, release);
    fs.writeFileSync(release, "");
    expect(outcome(injector.inject(call("fsync", fd)))).toBe("ok");
    fs.rmSync(release);
    expect([1, 2, 3].map(() => outcome(injector.inject(call("fdatasync", fd))))).toEqual(["ok", "ok", "ok"]);
  });

  it("slow-fsync delays every fsync and fdatasync, and nothing else, while not released", async () => {
    const dir = await tempDir();
    const release = path.join(dir, "release");
    const injector = slowFsync(40, release);
    const outcomes = Object.fromEntries(sampleCalls(dir, 9).map((c) => [c.name, outcome(injector.inject(c))]));
    expect(outcomes).toStrictEqual({
      ...Object.fromEntries(CALLS.map((name) => [name, "ok"])),
      fsync: "delay 40",
      fdatasync: "delay 40",
    });
    fs.writeFileSync(release, "");
    expect(outcome(injector.inject(call("fsync", 9)))).toBe("ok");
  });

  it("fromSpec builds the kind a WALCHECK_FS_FAULT names, with its release file", async () => {
    const dir = await tempDir();
    const release = path.join(dir, "release");
    fs.writeFileSync(path.join(dir, "file"), "x");
    const sample = sampleCalls(dir, 1_000_000); // no such fd: eio-fsync measures nothing
    const faulted = (spec: string) => {
      const injector = fromSpec(parseFsFault(spec)!);
      return sample.flatMap((c) => {
        const result = outcome(injector.inject(c));
        return result === "ok" ? [] : [`${c.name} ${result}`];
      });
    };
    expect(faulted("enospc:0")).toEqual(["write ENOSPC", "writev ENOSPC", "writeFile ENOSPC", "appendFile ENOSPC"]);
    expect(faulted("erofs")).toHaveLength(CALLS.length - 3);
    expect(faulted("eacces-dir")).toEqual([
      "rename EACCES",
      "unlink EACCES",
      "rm EACCES",
      "mkdir EACCES",
      "copyFile EACCES",
      "link EACCES",
      "symlink EACCES",
    ]);
    expect(faulted("eacces-files")).toEqual([
      "writeFile EACCES",
      "appendFile EACCES",
      "truncate EACCES",
      "open EACCES",
    ]);
    expect(faulted("eio-fsync:2")).toEqual(["fdatasync EIO"]);
    expect(faulted("slow-fsync:25")).toEqual(["fsync delay 25", "fdatasync delay 25"]);
    fs.writeFileSync(release, "");
    for (const kind of ["enospc:0", "erofs", "eacces-dir", "eacces-files", "eio-fsync:1", "slow-fsync:25"]) {
      expect(faulted(`${kind},release=${release}`), kind).toEqual([]);
    }
  });
});
