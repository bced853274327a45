import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import { nativeCrashEnv } from "../../harness/engine/fault-path.js";
import { ensureRecorder, recordEnv } from "../../harness/faults/power/recorder-build.js";
import { parseTrace } from "../../harness/faults/power/trace.js";
import { tempDir } from "../helpers.js";

// The C preload's crash mode (harness/faults/power/recorder.c, WALCHECK_FS_CRASH and
// WALCHECK_FS_TRACE with WALCHECK_FAULT_DIR): a real Python program SIGKILLed at its k-th
// counted fs call in the directory, and what the files hold afterwards.

const PROGRAM = path.resolve("test/fixtures/faults/crash_ops.py");
let lib: string;
beforeAll(async () => {
  lib = await ensureRecorder();
});

/** crash_ops.py in a fresh directory under `crash` (none: trace only), with its call trace and the files left. */
async function crashAt(crash?: string, extra: Record<string, string> = {}) {
  const dir = fs.realpathSync(await tempDir());
  const elsewhere = fs.realpathSync(await tempDir());
  const trace = path.join(elsewhere, "calls.jsonl");
  const r = await execa("python3", [PROGRAM, dir, elsewhere], {
    env: { ...extra, ...nativeCrashEnv(lib, dir, { trace, ...(crash ? { crash } : {}) }) },
    reject: false,
  });
  const calls = fs
    .readFileSync(trace, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { i: number; call: string; bytes?: number; path?: string; crash?: string });
  const files = Object.fromEntries(
    fs.readdirSync(dir).map((name) => [name, fs.readFileSync(path.join(dir, name), "utf8")]),
  );
  return { r, calls, files, dir };
}

describe("the C preload's fs-call crash points", () => {
  it("counts the changing calls in the directory only, one trace line each, and leaves a program alone without a crash", async () => {
    const { r, calls, files, dir } = await crashAt();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("done");
    expect(calls.map((c) => [c.i, c.call, c.bytes])).toEqual([
      [1, "open", undefined],
      [2, "write", 10],
      [3, "write", 10],
      [4, "fsync", undefined],
      [5, "close", undefined],
      [6, "rename", undefined],
    ]);
    expect(calls[0]!.path).toBe(path.join(dir, "f"));
    expect(files).toEqual({ g: "A".repeat(10) + "B".repeat(10) });
  });

  it("before: SIGKILL before the k-th call is performed", async () => {
    const { r, calls, files } = await crashAt("2:before");
    expect(r.signal).toBe("SIGKILL");
    expect(r.stdout).toBe("");
    expect(files).toEqual({ f: "" });
    expect(calls.at(-1)).toMatchObject({ i: 2, call: "write", crash: "before" });
  });

  it("after: the k-th call is performed, then SIGKILL", async () => {
    expect((await crashAt("2:after")).files).toEqual({ f: "A".repeat(10) });
    const renamed = await crashAt("6:after");
    expect(renamed.r.signal).toBe("SIGKILL");
    expect(renamed.files).toEqual({ g: "A".repeat(10) + "B".repeat(10) });
  });

  it("mid: a write writes the first half of its bytes, then SIGKILL; any other call dies before it", async () => {
    const torn = await crashAt("3:mid");
    expect(torn.r.signal).toBe("SIGKILL");
    expect(torn.files).toEqual({ f: "A".repeat(10) + "B".repeat(5) });
    expect(torn.calls.at(-1)).toMatchObject({ i: 3, call: "write", bytes: 10, crash: "mid" });
    const rename = await crashAt("6:mid");
    expect(rename.files).toEqual({ f: "A".repeat(10) + "B".repeat(10) });
    expect(rename.calls.at(-1)).toMatchObject({ i: 6, call: "rename", crash: "before" });
  });

  it("works with the power-loss recorder: its trace holds the half write", async () => {
    const trace = path.join(fs.realpathSync(await tempDir()), "power.jsonl");
    const dir = fs.realpathSync(await tempDir());
    const elsewhere = fs.realpathSync(await tempDir());
    const r = await execa("python3", [PROGRAM, dir, elsewhere], {
      env: { ...recordEnv(trace, dir, lib), ...nativeCrashEnv(lib, dir, { crash: "3:mid" }) },
      reject: false,
    });
    expect(r.signal).toBe("SIGKILL");
    const writes = parseTrace(fs.readFileSync(trace, "utf8")).filter((op) => op.op === "write");
    expect(writes.map((w) => Buffer.from((w as { data: string }).data, "base64").toString())).toEqual([
      "A".repeat(10),
      "B".repeat(5),
    ]);
  });

  it("a bad WALCHECK_FS_CRASH stops the process at load with exit code 2 and says what is wrong", async () => {
    const dir = fs.realpathSync(await tempDir());
    const r = await execa("python3", ["-c", "print('ran')"], {
      env: nativeCrashEnv(lib, dir, { crash: "0:sideways" }),
      reject: false,
    });
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("WALCHECK_FS_CRASH must be <k>:<before|after|mid>");
  });
});
