import fs from "node:fs/promises";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  allStates,
  countStates,
  CrashStateError,
  materialize,
  pendingAt,
  stateFor,
  statesAt,
  type CrashState,
} from "../../harness/faults/power/crash-states.js";
import { describeState } from "../../harness/faults/power/describe-state.js";
import type { InitialState, TraceOp } from "../../harness/faults/power/trace.js";
import { tempDir } from "../helpers.js";

const ROOT = "/w";
type Op = TraceOp extends infer T ? (T extends TraceOp ? Omit<T, "i"> : never) : never;

const at = (rel: string) => (rel ? `${ROOT}/${rel}` : ROOT);
const trace = (...ops: Op[]): TraceOp[] => ops.map((o, k) => ({ ...o, i: k + 1 }) as TraceOp);
const create = (rel: string, ino: number): Op => ({ op: "create", path: at(rel), ino });
const write = (ino: number, offset: number, data: string | Buffer): Op => ({
  op: "write",
  ino,
  offset,
  data: Buffer.from(data).toString("base64"),
});
const truncate = (ino: number, size: number): Op => ({ op: "truncate", ino, size });
const fsync = (ino: number): Op => ({ op: "fsync", ino, kind: "fdatasync" });
const dirsync = (rel = ""): Op => ({ op: "dirsync", path: at(rel) });
const rename = (from: string, to: string, ino: number): Op => ({ op: "rename", from: at(from), to: at(to), ino });
const unlink = (rel: string, ino: number): Op => ({ op: "unlink", path: at(rel), ino });
const link = (from: string, to: string, ino: number): Op => ({ op: "link", from: at(from), to: at(to), ino });
const mkdir = (rel: string): Op => ({ op: "mkdir", path: at(rel) });

/** Initial files get inodes 100, 101, … in the order given. */
function initial(files: Record<string, string | Buffer> = {}, dirs: string[] = []): InitialState {
  return {
    root: ROOT,
    dirs: dirs.map(at),
    files: Object.entries(files).map(([rel, data], k) => ({ path: at(rel), ino: 100 + k, data: Buffer.from(data) })),
  };
}

/** The state a variant gave (as its first name or one of the others). */
function variant(states: CrashState[], name: string): CrashState {
  const state = states.find((s) => s.variant === name || s.alsoVariants.includes(name));
  if (!state)
    throw new Error(`no ${name} among ${states.map((s) => [s.variant, ...s.alsoVariants].join("=")).join(", ")}`);
  return state;
}

/** A state's tree, bytes as latin1 text (zeros as \0). */
const tree = (s: CrashState) => ({
  dirs: s.dirs,
  files: Object.fromEntries([...s.files].map(([p, b]) => [p, b.toString("latin1")])),
});
const names = (states: CrashState[]) => states.flatMap((s) => [s.variant, ...s.alsoVariants]);
const zeros = (n: number) => "\0".repeat(n);

describe("crash states: lost, kept and reordered ops", () => {
  it("an unsynced append is lost in none and kept in all", () => {
    const init = initial({ "wal.log": "head" });
    const t = trace(write(100, 4, "tail"));
    expect(statesAt(init, t, 0, 1).map(tree)).toEqual([{ dirs: [], files: { "wal.log": "head" } }]);
    const states = statesAt(init, t, 1, 1);
    expect(tree(variant(states, "none")).files).toEqual({ "wal.log": "head" });
    expect(tree(variant(states, "all")).files).toEqual({ "wal.log": "headtail" });
  });

  it("an fsynced write survives every variant of every later cut", () => {
    const init = initial({ "wal.log": "", "other.log": "o" });
    const t = trace(
      write(100, 0, "A".repeat(1500)),
      fsync(100),
      write(101, 0, "y".repeat(2000)),
      write(101, 3000, "z"),
      truncate(101, 10),
    );
    for (let cut = 2; cut <= t.length; cut++) {
      const states = statesAt(init, t, cut, 1);
      expect(states.length).toBeGreaterThan(cut === 2 ? 0 : 3);
      for (const s of states) expect(s.files.get("wal.log")!.toString()).toBe("A".repeat(1500));
    }
  });

  it("a file created and fsynced in a directory never fsynced does not exist in none", () => {
    const t = trace(create("a", 1), write(1, 0, "data"), fsync(1), dirsync());
    const before = statesAt(initial(), t, 3, 1);
    expect(tree(variant(before, "none"))).toEqual({ dirs: [], files: {} });
    expect(tree(variant(before, "all"))).toEqual({ dirs: [], files: { a: "data" } });
    expect(statesAt(initial(), t, 4, 1).map(tree)).toEqual([{ dirs: [], files: { a: "data" } }]);
  });

  it("a snapshot renamed over the old one: the old one after a crash until the directory is fsynced, then the new one in every variant", () => {
    const t = trace(
      create("snapshot.tmp", 1),
      write(1, 0, "new"),
      fsync(1),
      rename("snapshot.tmp", "snapshot", 1),
      dirsync(),
    );
    const init = initial({ snapshot: "old" });
    const unsynced = statesAt(init, t, 4, 1);
    expect(pendingAt(init, t, 4).pending.map((o) => o.op)).toEqual(["create", "rename"]);
    expect(tree(variant(unsynced, "none")).files).toEqual({ snapshot: "old" });
    expect(tree(variant(unsynced, "all")).files).toEqual({ snapshot: "new" });
    expect(tree(variant(unsynced, "omit:2")).files).toEqual({ snapshot: "old", "snapshot.tmp": "new" });
    expect(statesAt(init, t, 5, 1).map(tree)).toEqual([{ dirs: [], files: { snapshot: "new" } }]);
  });

  it("reordering: omit:1 has the second write without the first, over a hole of zeros", () => {
    const t = trace(write(100, 0, "first"), write(100, 10, "second"));
    const states = statesAt(initial({ log: "" }), t, 2, 1);
    expect(names(states).sort()).toEqual(["all", "none", "omit:1", "omit:2", "prefix:1"]);
    expect(tree(variant(states, "omit:1")).files).toEqual({ log: `${zeros(10)}second` });
    expect(tree(variant(states, "prefix:1")).files).toEqual({ log: "first" });
    expect(tree(variant(states, "all")).files).toEqual({ log: `first${zeros(5)}second` });
    expect(tree(variant(states, "none")).files).toEqual({ log: "" });
  });

  it("a pending truncate is undone in none; an fsynced one is kept everywhere; extending reads zeros", () => {
    const t = trace(truncate(100, 10), fsync(100), truncate(100, 12));
    const init = initial({ log: "x".repeat(1000) });
    const pending = statesAt(init, t, 1, 1);
    expect(variant(pending, "none").files.get("log")!.length).toBe(1000);
    expect(tree(variant(pending, "all")).files).toEqual({ log: "x".repeat(10) });
    const extended = statesAt(init, t, 3, 1);
    expect(tree(variant(extended, "none")).files).toEqual({ log: "x".repeat(10) });
    expect(tree(variant(extended, "all")).files).toEqual({ log: `${"x".repeat(10)}\0\0` });
  });

  it("a lost unlink leaves the file; after the directory's fsync it is gone in every variant", () => {
    const t = trace(unlink("old.wal", 100), dirsync());
    const init = initial({ "old.wal": "kept", "new.wal": "n" });
    const states = statesAt(init, t, 1, 1);
    expect(tree(variant(states, "none")).files).toEqual({ "new.wal": "n", "old.wal": "kept" });
    expect(tree(variant(states, "all")).files).toEqual({ "new.wal": "n" });
    expect(statesAt(init, t, 2, 1).map(tree)).toEqual([{ dirs: [], files: { "new.wal": "n" } }]);
  });

  it("a lost mkdir takes its files along, even fsynced ones in a fsynced subdirectory", () => {
    const t = trace(mkdir("seg"), create("seg/1.wal", 1), write(1, 0, "abc"), fsync(1), dirsync("seg"), dirsync());
    const states = statesAt(initial(), t, 5, 1);
    expect(pendingAt(initial(), t, 5).pending.map((o) => o.op)).toEqual(["mkdir"]);
    expect(tree(variant(states, "none"))).toEqual({ dirs: [], files: {} });
    expect(tree(variant(states, "all"))).toEqual({ dirs: ["seg"], files: { "seg/1.wal": "abc" } });
    expect(statesAt(initial(), t, 6, 1).map(tree)).toEqual([{ dirs: ["seg"], files: { "seg/1.wal": "abc" } }]);
  });

  it("a cross-directory rename is two halves that persist with their own directory", () => {
    const t = trace(rename("a/x", "b/x", 100), dirsync("b"), dirsync("a"));
    const init = initial({ "a/x": "data" }, ["a", "b"]);
    expect(pendingAt(init, t, 1).ops.map((o) => o.label)).toEqual([
      "rename of a/x → b/x, its new name (#1)",
      "rename of a/x → b/x, its removal of the old name (#1)",
    ]);
    const states = statesAt(init, t, 1, 1);
    expect(tree(variant(states, "omit:1")).files).toEqual({});
    expect(tree(variant(states, "omit:2")).files).toEqual({ "a/x": "data", "b/x": "data" });
    expect(tree(variant(states, "all")).files).toEqual({ "b/x": "data" });
    expect(tree(variant(statesAt(init, t, 2, 1), "none")).files).toEqual({ "a/x": "data", "b/x": "data" });
    expect(statesAt(init, t, 3, 1).map(tree)).toEqual([{ dirs: ["a", "b"], files: { "b/x": "data" } }]);
  });

  it("a lost link leaves one name; a rename onto another link of the same file does nothing", () => {
    const t = trace(link("a", "b", 100), rename("a", "b", 100));
    const states = statesAt(initial({ a: "x" }), t, 2, 1);
    expect(pendingAt(initial({ a: "x" }), t, 2).pending.map((o) => o.op)).toEqual(["link"]);
    expect(tree(variant(states, "none")).files).toEqual({ a: "x" });
    expect(tree(variant(states, "all")).files).toEqual({ a: "x", b: "x" });
  });

  it("a renamed directory keeps its entries; a lost rename leaves them under the old name", () => {
    const t = trace(create("d/f", 1), write(1, 0, "v"), fsync(1), dirsync("d"), rename("d", "e", 7));
    const states = statesAt(initial({}, ["d"]), t, 5, 1);
    expect(tree(variant(states, "all"))).toEqual({ dirs: ["e"], files: { "e/f": "v" } });
    expect(tree(variant(states, "none"))).toEqual({ dirs: ["d"], files: { "d/f": "v" } });
  });
});

describe("crash states: torn writes", () => {
  const old = "o".repeat(1000);
  const payload = Buffer.alloc(3000, "n");
  const torn = trace(write(100, 700, payload));

  it("torn-prefix tears at sector boundaries (file offsets) strictly inside the write: the first, one near the middle and the last", () => {
    const { variants } = pendingAt(initial({ log: old }), torn, 1);
    const points = variants.filter((v) => v.startsWith("torn-prefix:")).map((v) => Number(v.split(":")[2]));
    expect(points).toEqual([1024, 2048, 3584]);
    const states = statesAt(initial({ log: old }), torn, 1, 1);
    for (const b of points) {
      expect(b % 512).toBe(0);
      expect(tree(variant(states, `torn-prefix:1:${b}`)).files).toEqual({ log: "o".repeat(700) + "n".repeat(b - 700) });
    }
  });

  it("a write that spans a page tears at a page boundary in the middle", () => {
    const { variants } = pendingAt(initial({ log: "" }), trace(write(100, 100, Buffer.alloc(10_000, 1))), 1);
    expect(variants.filter((v) => v.startsWith("torn-prefix:"))).toEqual([
      "torn-prefix:1:512",
      "torn-prefix:1:4096",
      "torn-prefix:1:9728",
    ]);
  });

  it("a write inside one sector never tears (the sector is the atomic unit); one across a boundary can", () => {
    const inside = pendingAt(
      initial({ log: "" }),
      trace(write(100, 10, "x".repeat(100)), write(100, 512, Buffer.alloc(512, 1))),
      2,
    );
    expect(inside.variants.filter((v) => v.startsWith("torn"))).toEqual([]);
    const across = pendingAt(initial({ log: "" }), trace(write(100, 500, "x".repeat(100))), 1);
    expect(across.variants.filter((v) => v.startsWith("torn"))).toEqual([
      "torn-prefix:1:512",
      "torn-zero:1:0",
      "torn-zero:1:512",
      "torn-junk:1:0",
      "torn-junk:1:512",
    ]);
  });

  it("torn-zero and torn-junk change only the write's bytes in one 512-byte sector (its first or last); junk is a function of the seed", () => {
    const init = initial({ log: "o".repeat(3000) });
    const t = trace(write(100, 300, Buffer.alloc(2000, "n")), write(100, 5000, "later"));
    const states = statesAt(init, t, 2, 7);
    const landed = variant(states, "prefix:1").files.get("log")!;
    const tornNames = names(states).filter((n) => /^torn-(zero|junk):1:/.test(n));
    expect(tornNames.sort()).toEqual(["torn-junk:1:0", "torn-junk:1:2048", "torn-zero:1:0", "torn-zero:1:2048"]);
    for (const name of tornNames) {
      const sector = Number(name.split(":")[2]);
      const data = variant(states, name).files.get("log")!;
      expect(data.length).toBe(landed.length);
      const changed = [...data.keys()].filter((q) => data[q] !== landed[q]);
      expect(Math.min(...changed)).toBeGreaterThanOrEqual(sector);
      expect(Math.max(...changed)).toBeLessThan(sector + 512);
      // The sector's bytes from before the write (durable "o"s at 0..299) are untouched: sectors are atomic.
      const from = Math.max(sector, 300);
      const part = data.subarray(from, Math.min(sector + 512, 2300));
      expect(data.subarray(0, 300).equals(Buffer.alloc(300, "o"))).toBe(true);
      if (name.startsWith("torn-zero")) expect(part.equals(Buffer.alloc(part.length))).toBe(true);
      else expect(part.some((b) => b !== 0)).toBe(true);
    }
    const junk = (seed: number) => stateFor(init, t, 2, "torn-junk:1:2048", seed).files.get("log")!;
    expect(junk(7).equals(variant(states, "torn-junk:1:2048").files.get("log")!)).toBe(true);
    expect(junk(7).equals(junk(8))).toBe(false);
  });

  it("a junk sector past the end of the file is cut at the end and still not zeros", () => {
    const t = trace(write(100, 0, Buffer.alloc(1000, "n")));
    const data = stateFor(initial({ log: "" }), t, 1, "torn-junk:1:512", 3).files.get("log")!;
    expect(data.length).toBe(1000);
    expect(data.subarray(0, 512).equals(Buffer.alloc(512, "n"))).toBe(true);
    expect(data.subarray(512).some((b) => b !== 0)).toBe(true);
  });
});

describe("crash states: deduplication, counts, replay", () => {
  it("variants that give the same bytes are one state carrying every name", () => {
    const t = trace(write(100, 0, "a"), write(101, 0, "b"));
    const states = statesAt(initial({ x: "", y: "" }), t, 2, 1);
    expect(states.map((s) => [s.variant, ...s.alsoVariants])).toEqual([
      ["all"],
      ["none"],
      ["prefix:1", "omit:2"],
      ["omit:1"],
    ]);
    expect(new Set(states.map((s) => s.key)).size).toBe(4);
    expect(statesAt(initial({ x: "" }), t, 0, 1).map((s) => [s.variant, ...s.alsoVariants])).toEqual([["all", "none"]]);
  });

  it("countStates: cuts, variants, states per cut and distinct contents, as counted by hand", () => {
    // cut 0: {} | cut 1 [create]: {a:""}, {} | cut 2 [create, write of 1000 bytes]: all, none,
    // prefix:1 = omit:2, omit:1 = none, torn-prefix:2:512, torn-zero and torn-junk at 0 and 512
    // (10 variants, 8 states) | cut 3 [create]: 2 | cut 4: 1.
    const t = trace(create("a", 1), write(1, 0, Buffer.alloc(1000, "x")), fsync(1), dirsync());
    expect(countStates(initial(), t, 1)).toEqual({ cuts: 5, variants: 18, states: 14, distinct: 8 });
    expect(statesAt(initial(), t, 2, 1)).toHaveLength(8);
  });

  const rich = trace(
    mkdir("seg"),
    create("seg/1.wal", 1),
    write(1, 0, Buffer.alloc(700, 1)),
    write(1, 700, Buffer.alloc(5000, 2)),
    fsync(1),
    create("snap.tmp", 2),
    write(2, 0, "snapshot"),
    rename("snap.tmp", "seg/snap", 2),
    truncate(1, 100),
    dirsync("seg"),
    unlink("old", 100),
    dirsync(),
    write(1, 100, "tail"),
  );
  const richInit = initial({ old: "gone" });

  it("stateFor rebuilds exactly the state statesAt gave, for every variant name at every cut", () => {
    for (let cut = 0; cut <= rich.length; cut++) {
      for (const state of statesAt(richInit, rich, cut, 5)) {
        for (const name of [state.variant, ...state.alsoVariants]) {
          const again = stateFor(richInit, rich, cut, name, 5);
          expect(again.variant).toBe(name);
          expect(again.key).toBe(state.key);
          expect(tree(again)).toEqual(tree(state));
        }
      }
    }
  });

  it("allStates gives every cut's states in order and marks bytes an earlier cut already gave", () => {
    const all = [...allStates(richInit, rich, 5)];
    const perCut = Array.from({ length: rich.length + 1 }, (_, cut) => statesAt(richInit, rich, cut, 5)).flat();
    expect(all.map((s) => [s.cut, s.variant, s.alsoVariants, s.key])).toEqual(
      perCut.map((s) => [s.cut, s.variant, s.alsoVariants, s.key]),
    );
    const first = new Map<string, CrashState>();
    for (const s of all) {
      const earlier = first.get(s.key);
      expect(s.sameAs).toEqual(earlier ? { cut: earlier.cut, variant: earlier.variant } : undefined);
      if (!earlier) first.set(s.key, s);
    }
    expect(countStates(richInit, rich, 5)).toMatchObject({
      cuts: rich.length + 1,
      states: all.length,
      distinct: first.size,
    });
  });

  it("an unknown variant, an unsupported op, a broken trace and a bad cut are clear errors", () => {
    const t = trace(write(100, 0, "a"), { op: "unsupported", what: "mmap msync", path: at("x") }, write(100, 1, "b"));
    const init = initial({ x: "" });
    const error = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
        return e as CrashStateError;
      }
      throw new Error("no error thrown");
    };
    const unknown = error(() => stateFor(init, t, 1, "omit:2", 1));
    expect(unknown.code).toBe("POWER_VARIANT_UNKNOWN");
    expect(unknown.message).toBe(
      'no crash-state variant "omit:2" at cut 1 (1 pending ops); the variants there: all, none',
    );
    expect(statesAt(init, t, 1, 1)).toHaveLength(2);
    for (const f of [
      () => statesAt(init, t, 2, 1),
      () => allStates(init, t, 1),
      () => countStates(init, t, 1),
      () => stateFor(init, t, 3, "all", 1),
    ]) {
      const e = error(f);
      expect(e.code).toBe("POWER_UNSUPPORTED");
      expect(e.message).toBe("power trace line #2: mmap msync on /w/x cannot be replayed by the power-loss model");
    }
    const broken = error(() => statesAt(init, trace(write(5, 0, "?")), 1, 1));
    expect(broken.code).toBe("POWER_TRACE_INVALID");
    expect(broken.message).toContain("inode 5 was neither created in the trace nor in the initial state");
    expect(error(() => statesAt(init, trace(rename("nope", "x", 1)), 1, 1)).message).toContain("nope does not exist");
    expect(() => statesAt(init, t, 4, 1)).toThrow(new TypeError("cut must be an integer from 0 to 3, got 4"));
  });
});

describe("crash states for a person and on disk", () => {
  it("describeState says the cut, the variant, what was lost or torn and what else gives the same bytes", () => {
    const t = trace(
      create("snapshot.tmp", 1),
      write(1, 0, "new"),
      fsync(1),
      rename("snapshot.tmp", "snapshot", 1),
      write(100, 128, Buffer.alloc(1000, 1)),
    );
    const init = initial({ "wal.log": "" });
    const states = statesAt(init, t, 5, 1);
    const describe = (name: string) => describeState(stateFor(init, t, 5, name, 1), t);
    expect(describe("omit:2")).toBe(
      "cut after #5 (write of 1000 bytes at 128 of wal.log), variant omit:2: the rename of snapshot.tmp → snapshot (#4) was lost, the other 2 pending ops landed",
    );
    expect(describe("torn-prefix:3:512")).toBe(
      "cut after #5 (write of 1000 bytes at 128 of wal.log), variant torn-prefix:3:512: the write of 1000 bytes at 128 of wal.log (#5) was torn: only its first 384 bytes landed (to offset 512)",
    );
    expect(describe("none")).toBe(
      "cut after #5 (write of 1000 bytes at 128 of wal.log), variant none: every pending op was lost: create of snapshot.tmp (#1); rename of snapshot.tmp → snapshot (#4); write of 1000 bytes at 128 of wal.log (#5)",
    );
    expect(describeState(variant(states, "prefix:2"), t)).toBe(
      "cut after #5 (write of 1000 bytes at 128 of wal.log), variant prefix:2: the first 2 of 3 pending ops landed, the rest were lost: write of 1000 bytes at 128 of wal.log (#5)\nthe same bytes as: omit:3",
    );
    expect(describe("torn-zero:3:0")).toBe(
      "cut after #5 (write of 1000 bytes at 128 of wal.log), variant torn-zero:3:0: the write of 1000 bytes at 128 of wal.log (#5) was torn: it landed but its sector at offset 0 reads as zeros",
    );
    const sameAs = [...allStates(init, t, 1)].find((s) => s.cut === 5 && s.sameAs)!;
    expect(describeState(sameAs, t).split("\n")[1]).toMatch(/^the same bytes as: .*cut \d variant \S+$/);
    expect(describeState(statesAt(init, t, 0, 1)[0]!, t)).toBe(
      "cut before the first op, variant all: nothing was pending: every op had reached the disk\nthe same bytes as: none",
    );
  });

  it("materialize writes the directories and files, mode 0644, into an empty directory", async () => {
    const t = trace(mkdir("seg"), create("seg/1.wal", 1), write(1, 0, Buffer.from([0, 1, 2, 255])), create("top", 2));
    const state = variant(statesAt(initial({ "a b": "x" }), t, 4, 1), "all");
    const dir = await tempDir();
    await materialize(state, dir);
    expect((await fs.readdir(dir)).sort()).toEqual(["a b", "seg", "top"]);
    expect([...(await fs.readFile(path.join(dir, "seg/1.wal")))]).toEqual([0, 1, 2, 255]);
    expect(await fs.readFile(path.join(dir, "top"), "utf8")).toBe("");
    expect((await fs.stat(path.join(dir, "a b"))).mode & 0o777).toBe(0o644);
    expect((await fs.stat(path.join(dir, "seg"))).isDirectory()).toBe(true);
  });
});

// A WAL's life as a recorder would see it: appends of a few small writes (header, payload,
// checksum) each fdatasync'ed, a snapshot every fifth step (tmp, fsync, rename, dirsync),
// a new segment every tenth.
function walLife(steps: number): { init: InitialState; trace: TraceOp[] } {
  const ops: Op[] = [];
  let ino = 1;
  let seg = ino++;
  let segSize = 0;
  ops.push(create("seg-1.wal", seg), dirsync());
  for (let s = 1; s <= steps; s++) {
    for (let w = 0; w < 12; w++) {
      const len = 20 + ((s * 37 + w * 101) % 280);
      ops.push(write(seg, segSize, Buffer.alloc(len, (s * 13 + w) % 251)));
      segSize += len;
    }
    ops.push(fsync(seg));
    if (s % 5 === 0) {
      const tmp = ino++;
      ops.push(
        create("snapshot.tmp", tmp),
        write(tmp, 0, Buffer.alloc(2000, s)),
        fsync(tmp),
        rename("snapshot.tmp", "snapshot", tmp),
        dirsync(),
      );
    }
    if (s % 10 === 0) {
      seg = ino++;
      segSize = 0;
      ops.push(create(`seg-${s / 10 + 1}.wal`, seg), truncate(seg, 0), dirsync());
    }
  }
  return { init: initial(), trace: trace(...ops) };
}

describe("crash states: a 20-step life", () => {
  // How fast this runs is measured by `walcheck bench --suites power`, not asserted here.
  it("every cut of a 20-step life (about 300 trace lines) yields its states, the same ones each time", () => {
    const { init, trace: t } = walLife(20);
    expect(t.length).toBeGreaterThan(280);
    const counts = countStates(init, t, 1);
    expect(counts.cuts).toBe(t.length + 1);
    expect(counts.distinct).toBeGreaterThan(0);
    expect(counts.distinct).toBeLessThanOrEqual(counts.states);
    expect(countStates(init, t, 1)).toEqual(counts);
  });
});

// Property tests: random lives in one directory, replayed by a naive model beside the generator.
type Cmd =
  | {
      kind: "create" | "fsync" | "unlink" | "write" | "truncate" | "rename" | "link";
      f: number;
      g: number;
      offset: number;
      len: number;
    }
  | { kind: "dirsync" };
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constantFrom("create", "fsync", "unlink", "write", "write", "write", "truncate", "rename", "link"),
      f: fc.nat(3),
      g: fc.nat(3),
      offset: fc.nat(1500),
      len: fc.integer({ min: 1, max: 1200 }),
    }),
    weight: 8,
  },
  { arbitrary: fc.constant({ kind: "dirsync" as const }), weight: 1 },
);

interface Life {
  trace: TraceOp[];
  /** After each cut k: the files as the process sees them. */
  seen: Record<string, string>[];
  /** After each cut k (creates/writes/fsyncs/dirsyncs only): the files with fsynced data in fsynced entries. */
  durable: Record<string, string>[];
}

/** Turn commands into a valid trace (skipping the impossible ones), with the naive model's files after each op. */
function lifeOf(cmds: Cmd[], simple: boolean): Life {
  const names = new Map<string, number>();
  const data = new Map<number, Buffer>();
  const synced = new Map<number, Buffer>();
  let syncedNames = new Map<string, number>();
  let ino = 1;
  const ops: Op[] = [];
  const life: Life = { trace: [], seen: [], durable: [] };
  const text = (b: Buffer) => b.toString("latin1");
  // Record an op once the model has applied it.
  const did = (op: Op) => {
    ops.push(op);
    life.seen.push(Object.fromEntries([...names].map(([n, i]) => [n, text(data.get(i)!)])));
    life.durable.push(
      Object.fromEntries([...syncedNames].map(([n, i]) => [n, text(synced.get(i) ?? Buffer.alloc(0))])),
    );
  };
  life.seen.push({});
  life.durable.push({});
  for (const c of cmds) {
    if (c.kind === "dirsync") {
      syncedNames = new Map(names);
      did(dirsync());
      continue;
    }
    const name = `f${c.f}`;
    let target = names.get(name);
    // An op on a name that does not exist creates it first.
    if (target === undefined) {
      target = ino++;
      names.set(name, target);
      data.set(target, Buffer.alloc(0));
      did(create(name, target));
    }
    if (c.kind === "create" || (simple && ["unlink", "truncate", "rename", "link"].includes(c.kind))) continue;
    if (c.kind === "write") {
      const bytes = Buffer.alloc(c.len, (ops.length % 255) + 1);
      const old = data.get(target)!;
      const next = Buffer.alloc(Math.max(old.length, c.offset + c.len));
      old.copy(next);
      bytes.copy(next, c.offset);
      data.set(target, next);
      did(write(target, c.offset, bytes));
    } else if (c.kind === "fsync") {
      synced.set(target, data.get(target)!);
      did(fsync(target));
    } else if (c.kind === "truncate") {
      const next = Buffer.alloc(c.offset);
      data.get(target)!.copy(next, 0, 0, c.offset);
      data.set(target, next);
      did(truncate(target, c.offset));
    } else if (c.kind === "unlink") {
      names.delete(name);
      did(unlink(name, target));
    } else {
      const to = `f${c.g}`;
      if (to === name || (c.kind === "link" && names.has(to))) continue;
      // A rename onto another link of the same file does nothing (rename(2)).
      if (names.get(to) !== target) {
        if (c.kind === "rename") names.delete(name);
        names.set(to, target);
      }
      did(c.kind === "rename" ? rename(name, to, target) : link(name, to, target));
    }
  }
  life.trace = trace(...ops);
  return life;
}

/** For random lives, the `name` state at every cut holds the files `expected` gives for that cut. */
function holdsAtEveryCut(
  name: "all" | "none",
  simple: boolean,
  expected: (life: Life) => Record<string, string>[],
): void {
  fc.assert(
    fc.property(fc.array(cmdArb, { minLength: 1, maxLength: 40, size: "max" }), (cmds) => {
      const life = lifeOf(cmds, simple);
      const want = expected(life);
      for (const state of allStates(initial(), life.trace, 1)) {
        if (names([state]).includes(name)) expect(tree(state).files).toEqual(want[state.cut]);
      }
    }),
    { numRuns: 100 },
  );
}

describe("crash states: properties", () => {
  it("the all state at every cut is the ops 1..k applied naively", () =>
    holdsAtEveryCut("all", false, (life) => life.seen));

  it("the none state holds only fsynced bytes under fsynced names (creates, writes, fsyncs, dirsyncs)", () =>
    holdsAtEveryCut("none", true, (life) => life.durable));

  it("allStates, replaying once, gives at every cut what statesAt gives replaying afresh", () => {
    fc.assert(
      fc.property(fc.array(cmdArb, { minLength: 1, maxLength: 25, size: "max" }), fc.nat(), (cmds, seed) => {
        const { trace: t } = lifeOf(cmds, false);
        const once = [...allStates(initial(), t, seed)].map((s) => [s.cut, names([s]), s.key]);
        const afresh = Array.from({ length: t.length + 1 }, (_, cut) =>
          statesAt(initial(), t, cut, seed).map((s) => [s.cut, names([s]), s.key]),
        ).flat();
        expect(once).toEqual(afresh);
      }),
      { numRuns: 40 },
    );
  });
});

describe("crash states: persistence models", () => {
  const all = (s: CrashState[]) => names(s).sort();

  it("an append then a rename without fsync: posix and sector-atomic land the rename without the data, ext4-ordered never does", () => {
    // snap.tmp (new file) gets its data, then is renamed over snap; nothing fsynced.
    const init = initial({ snap: "old" });
    const t = trace(create("snap.tmp", 7), write(7, 0, "new"), rename("snap.tmp", "snap", 7));
    const contents = (s: CrashState[]) => s.map((x) => tree(x).files["snap"]);
    for (const model of ["posix-pessimistic", "sector-atomic"] as const) {
      const states = statesAt(init, t, 3, 1, model);
      expect(names(states)).toContain("omit:2");
      expect(tree(variant(states, "omit:2")).files).toEqual({ snap: "" });
    }
    const ext4 = statesAt(init, t, 3, 1, "ext4-ordered");
    // (omit:1, the rename landing without the create before it, breaks the journal's order too.)
    expect(all(ext4)).toEqual(["all", "none", "omit:3", "prefix:1", "prefix:2"]);
    expect(contents(ext4)).not.toContain("");
    expect(new Set(contents(ext4))).toEqual(new Set(["old", "new"]));
    expect(statesAt(init, t, 3, 1, "process-only").map(tree)).toEqual([{ dirs: [], files: { snap: "new" } }]);
  });

  it("directory operations without a dirsync: posix lands a later one without an earlier one, ext4-ordered keeps their order", () => {
    // Two files created, then the first unlinked; no directory fsync.
    const t = trace(create("a", 7), create("b", 8), unlink("a", 7));
    const files = (s: CrashState[]) => s.map((x) => Object.keys(tree(x).files).sort().join(",")).sort();
    const posix = statesAt(initial(), t, 3, 1, "posix-pessimistic");
    expect(names(posix)).toContain("omit:1");
    expect(files(posix)).toContain("b");
    const ext4 = statesAt(initial(), t, 3, 1, "ext4-ordered");
    // omit:1 and omit:2 (b's create or a's unlink landing without an earlier op) are out; omit:3 is prefix:2's bytes.
    expect(all(ext4)).toEqual(["all", "none", "omit:3", "prefix:1", "prefix:2"]);
    // Prefixes only: nothing, a, a and b, b alone (a's unlink after b's create).
    expect(files(ext4)).toEqual(["", "a", "a,b", "b"]);
  });

  it("an fsync of a created file without a dirsync: posix can lose its entry, ext4-ordered cannot", () => {
    const init = initial();
    const t = trace(mkdir("d"), create("d/wal", 7), write(7, 0, "rec"), fsync(7));
    const posix = statesAt(init, t, 4, 1);
    expect(posix.map((s) => tree(s).files)).toContainEqual({});
    const ext4 = statesAt(init, t, 4, 1, "ext4-ordered");
    // The fsync committed the create and the mkdir that gave it its entry: nothing is pending.
    expect(ext4.map(tree)).toEqual([{ dirs: ["d"], files: { "d/wal": "rec" } }]);
    expect(pendingAt(init, t, 4, "ext4-ordered").pending).toEqual([]);
    expect(pendingAt(init, t, 4).pending.map((o) => o.op)).toEqual(["mkdir", "create"]);
  });

  it("a directory fsync after a rename without a data fsync: posix keeps the name over empty data, ext4-ordered writes the data with it", () => {
    const init = initial({ snap: "old" });
    const t = trace(create("snap.tmp", 7), write(7, 0, "new"), rename("snap.tmp", "snap", 7), dirsync());
    expect(statesAt(init, t, 4, 1).map((s) => tree(s).files)).toContainEqual({ snap: "" });
    expect(statesAt(init, t, 4, 1, "ext4-ordered").map(tree)).toEqual([{ dirs: [], files: { snap: "new" } }]);
  });

  it("ext4-ordered: an fsync after a rename across directories commits both halves", () => {
    const init = initial({}, ["a", "b"]);
    const t = trace(create("a/f", 7), write(7, 0, "x"), fsync(7), rename("a/f", "b/f", 7), fsync(7));
    const files = (s: CrashState[]) => s.map((x) => Object.keys(tree(x).files).sort().join(","));
    expect(new Set(files(statesAt(init, t, 5, 1)))).toEqual(new Set(["", "a/f", "b/f", "a/f,b/f"]));
    expect(files(statesAt(init, t, 5, 1, "ext4-ordered"))).toEqual(["b/f"]);
  });

  it("ext4-ordered keeps a reordering that changes no size: an overwrite may be lost under a later in-place write", () => {
    const init = initial({ "wal.log": "aaaabbbb" });
    const t = trace(write(100, 0, "AAAA"), write(100, 4, "BBBB"), write(100, 8, "CC"));
    const ext4 = all(statesAt(init, t, 3, 1, "ext4-ordered"));
    // The append (#3) changes the size: every write of the file before it must land first.
    expect(ext4).toContain("omit:3");
    expect(ext4).not.toContain("omit:1");
    expect(ext4).not.toContain("omit:2");
    const t2 = trace(write(100, 0, "AAAA"), write(100, 4, "BBBB"));
    expect(all(statesAt(init, t2, 2, 1, "ext4-ordered"))).toContain("omit:1");
  });

  it("sector-atomic and ext4-ordered drop the garbage sectors and keep torn prefixes; process-only keeps all alone", () => {
    const init = initial({ "wal.log": "" });
    const t = trace(write(100, 0, "x".repeat(1500)));
    const posix = names(statesAt(init, t, 1, 1));
    expect(posix.some((n) => n.startsWith("torn-junk"))).toBe(true);
    expect(posix.some((n) => n.startsWith("torn-zero"))).toBe(true);
    for (const model of ["sector-atomic", "ext4-ordered"] as const) {
      const got = names(statesAt(init, t, 1, 1, model));
      expect(got).toEqual(posix.filter((n) => !n.startsWith("torn-zero") && !n.startsWith("torn-junk")));
      expect(got).toContain("torn-prefix:1:512");
    }
    expect(names(statesAt(init, t, 1, 1, "process-only"))).toEqual(["all"]);
    // A replay of a garbage variant under a model that does not admit it is refused, naming the model.
    expect(() => stateFor(init, t, 1, "torn-junk:1:0", 1, "sector-atomic")).toThrow(
      /under persistence model sector-atomic/,
    );
  });

  it("every model's states are a subset of posix-pessimistic's variants (same names, same bytes), and dedup and sameAs hold per model", () => {
    const init = initial({ snap: "old" });
    const t = trace(
      create("wal", 7),
      write(7, 0, "x".repeat(700)),
      write(7, 700, "y".repeat(700)),
      create("snap.tmp", 8),
      write(8, 0, "s"),
      rename("snap.tmp", "snap", 8),
      fsync(7),
      write(7, 0, "z"),
    );
    for (const model of ["sector-atomic", "ext4-ordered", "process-only"] as const) {
      const seen = new Set<string>();
      for (const s of allStates(init, t, 3, model)) {
        // Within a cut, distinct contents; a key seen before carries sameAs, and only then.
        expect(Boolean(s.sameAs)).toBe(seen.has(s.key));
        seen.add(s.key);
        if (model === "ext4-ordered") continue; // its replay differs after the fsync
        for (const name of [s.variant, ...s.alsoVariants]) expect(stateFor(init, t, s.cut, name, 3).key).toBe(s.key);
      }
      expect(countStates(init, t, 3, model).states).toBeLessThanOrEqual(countStates(init, t, 3).states);
    }
    expect(countStates(init, t, 3, "process-only").states).toBe(t.length + 1);
  });
});
