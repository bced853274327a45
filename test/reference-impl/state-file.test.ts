import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { crc32c } from "@node-rs/crc32";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import { assertDistFresh, tempDir, walErrorOf } from "../helpers.js";
import { WalError } from "../../reference-impl/errors.js";
import type { JsonValue } from "../../harness/protocol/stable-json.js";
import { StateFile, stateWalPath } from "../../reference-impl/state-file.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const writer = path.join(root, "test/fixtures/state-writer.mjs");

const OLD: JsonValue = { step: "old", tasks: ["a", "b"], n: 1 };
const NEW: JsonValue = { step: "new", tasks: ["a", "b", "c"], n: 2, note: "ünïcödé" };

/** Runs the writer child, SIGKILLed at `point`; returns its result. */
async function writeInChild(file: string, data: JsonValue, point: string, history = 0) {
  return execa(process.execPath, [writer, file, JSON.stringify(data), String(history)], {
    env: { WALCHECK_CRASH_AT: `${point}:1` },
    reject: false,
  });
}

describe("StateFile", () => {
  it("starts empty, then writes a checksummed {crc, data, version} line and no WAL", async () => {
    const file = path.join(await tempDir(), "nested", "state.json");
    const state = await StateFile.open(file);
    expect(state.recovery).toEqual({ replayed: false, discardedWal: false });
    expect(state.version).toBe(0);
    expect(await state.read()).toBeUndefined();

    expect(await state.write({ b: 2, a: [1, null] })).toBe(1);
    const body = '{"data":{"a":[1,null],"b":2},"version":1}';
    const crc = crc32c(Buffer.from(body)).toString(16).padStart(8, "0");
    expect(fs.readFileSync(file, "utf8")).toBe(`{"crc":"${crc}",${body.slice(1)}\n`);
    expect(await state.read()).toEqual({ a: [1, null], b: 2 });
    expect(fs.existsSync(stateWalPath(file))).toBe(false);
    expect(stateWalPath(file)).toBe(`${file}.wal`);
    expect(fs.readdirSync(path.dirname(file))).toEqual(["state.json"]);
  });

  it("keeps data and version across a reopen", async () => {
    const file = path.join(await tempDir(), "state.json");
    const first = await StateFile.open(file);
    await first.write(OLD);
    await first.write(NEW);
    const again = await StateFile.open(file);
    expect(again.version).toBe(2);
    expect(await again.read()).toEqual(NEW);
    expect(await again.write(null)).toBe(3);
    expect(await (await StateFile.open(file)).read()).toBeNull();
  });

  it("rejects non-JSON data with TypeError and leaves no trace", async () => {
    const file = path.join(await tempDir(), "state.json");
    const state = await StateFile.open(file);
    await state.write(OLD);
    await expect(state.write({ n: Number.POSITIVE_INFINITY })).rejects.toThrow(TypeError);
    await expect(state.write(undefined as unknown as JsonValue)).rejects.toThrow(TypeError);
    expect(fs.existsSync(stateWalPath(file))).toBe(false);
    expect(await state.read()).toEqual(OLD);
    expect(await state.write(NEW)).toBe(2);
  });

  it("reports a damaged state file as WAL_CORRUPT on read and on open", async () => {
    const file = path.join(await tempDir(), "state.json");
    const state = await StateFile.open(file);
    await state.write(OLD);
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace('"n":1', '"n":7'));
    for (const attempt of [state.read(), StateFile.open(file)]) {
      const error = await walErrorOf(attempt);
      expect(error.code).toBe("WAL_CORRUPT");
      expect(error.details.file).toBe(file);
      expect(error.message).toContain("checksum mismatch");
    }
    fs.writeFileSync(file, "");
    expect((await walErrorOf(state.read())).code).toBe("WAL_CORRUPT");
  });

  it("keeps the last N previous versions in checkpoints/", async () => {
    const dirPath = await tempDir();
    const file = path.join(dirPath, "state.json");
    const state = await StateFile.open(file, { history: 2 });
    for (let v = 1; v <= 4; v += 1) await state.write({ v });
    expect(await state.read()).toEqual({ v: 4 });
    expect(await state.readHistory()).toEqual([
      { version: 2, data: { v: 2 } },
      { version: 3, data: { v: 3 } },
    ]);
    expect(fs.readdirSync(path.join(dirPath, "checkpoints")).sort()).toEqual([
      "state.json.0000000002",
      "state.json.0000000003",
    ]);
  });

  it("keeps no history by default", async () => {
    const dirPath = await tempDir();
    const state = await StateFile.open(path.join(dirPath, "state.json"));
    await state.write(OLD);
    await state.write(NEW);
    expect(await state.readHistory()).toEqual([]);
    expect(fs.existsSync(path.join(dirPath, "checkpoints"))).toBe(false);
  });

  it.each([-1, 1.5, Number.NaN])("rejects history %s with TypeError", async (history) => {
    await expect(StateFile.open(path.join(await tempDir(), "s.json"), { history })).rejects.toThrow(TypeError);
  });
});

describe("StateFile WAL recovery", () => {
  beforeAll(() =>
    assertDistFresh([
      "state-file",
      "harness/protocol/crashpoint",
      "crc32c",
      "durable-fs",
      "errors",
      "harness/protocol/stable-json",
    ]),
  );

  // Old until the WAL is synced (step 3); new from then on. SIGKILL keeps the page cache,
  // so "before step 3" means the WAL is incomplete, not merely unsynced.
  const cases = [
    { point: "state.intent", expect: "old", walLeft: false, recovery: { replayed: false, discardedWal: false } },
    { point: "state.data", expect: "old", walLeft: true, recovery: { replayed: false, discardedWal: true } },
    { point: "state.wal-synced", expect: "new", walLeft: true, recovery: { replayed: true, discardedWal: false } },
    {
      point: "state.file-half-written",
      expect: "new",
      walLeft: true,
      recovery: { replayed: true, discardedWal: false },
    },
    { point: "state.file-synced", expect: "new", walLeft: true, recovery: { replayed: true, discardedWal: false } },
    { point: "state.file-renamed", expect: "new", walLeft: true, recovery: { replayed: true, discardedWal: false } },
    { point: "state.file-written", expect: "new", walLeft: true, recovery: { replayed: true, discardedWal: false } },
    { point: "state.wal-deleted", expect: "new", walLeft: false, recovery: { replayed: false, discardedWal: false } },
  ] as const;

  it.each(cases)("a crash at $point recovers the $expect state and removes the WAL", async (c) => {
    const dirPath = await tempDir();
    const file = path.join(dirPath, "state.json");
    await (await StateFile.open(file, { history: 1 })).write(OLD);

    const child = await writeInChild(file, NEW, c.point, 1);
    expect(child.signal).toBe("SIGKILL");
    expect(child.stdout).toBe("");
    expect(fs.existsSync(stateWalPath(file))).toBe(c.walLeft);

    const state = await StateFile.open(file, { history: 1 });
    expect(state.recovery).toEqual(c.recovery);
    expect(await state.read()).toEqual(c.expect === "old" ? OLD : NEW);
    expect(state.version).toBe(c.expect === "old" ? 1 : 2);
    expect(await state.readHistory()).toEqual(c.expect === "old" ? [] : [{ version: 1, data: OLD }]);
    expect(fs.readdirSync(dirPath).sort()).toEqual(c.expect === "old" ? ["state.json"] : ["checkpoints", "state.json"]);

    // The recovered file takes the next write normally.
    await state.write({ after: true });
    expect(await (await StateFile.open(file)).read()).toEqual({ after: true });
  });

  it.each([
    ["state.data", undefined],
    ["state.file-synced", NEW],
  ] as const)("a crash at %s during the very first write recovers to %j", async (point, expected) => {
    const file = path.join(await tempDir(), "state.json");
    const child = await writeInChild(file, NEW, point);
    expect(child.signal).toBe("SIGKILL");
    const state = await StateFile.open(file);
    expect(await state.read()).toEqual(expected);
    expect(state.version).toBe(expected === undefined ? 0 : 1);
    expect(fs.existsSync(stateWalPath(file))).toBe(false);
  });

  it("runs to the end without a crash point", async () => {
    const file = path.join(await tempDir(), "state.json");
    const child = await execa(process.execPath, [writer, file, JSON.stringify(NEW)], {
      env: { WALCHECK_CRASH_AT: "" },
    });
    expect(child.stdout).toBe("written");
    expect(await (await StateFile.open(file)).read()).toEqual(NEW);
  });

  it("drops a WAL torn at any length and keeps the old state; applies it only when complete", async () => {
    const source = await tempDir();
    const sourceFile = path.join(source, "state.json");
    await (await StateFile.open(sourceFile)).write(OLD);
    const oldBytes = fs.readFileSync(sourceFile);
    expect((await writeInChild(sourceFile, NEW, "state.wal-synced")).signal).toBe("SIGKILL");
    const wal = fs.readFileSync(stateWalPath(sourceFile));
    expect(wal.length).toBeGreaterThan(100);

    for (let cut = 0; cut <= wal.length; cut += 1) {
      const dirPath = await tempDir();
      const file = path.join(dirPath, "state.json");
      fs.writeFileSync(file, oldBytes);
      fs.writeFileSync(stateWalPath(file), wal.subarray(0, cut));
      const state = await StateFile.open(file);
      const complete = cut === wal.length;
      expect({ cut, ...state.recovery }).toEqual({ cut, replayed: complete, discardedWal: !complete });
      expect(await state.read()).toEqual(complete ? NEW : OLD);
      expect(fs.readdirSync(dirPath)).toEqual(["state.json"]);
    }
  });

  it("drops a complete-length WAL whose data fails its checksum", async () => {
    const dirPath = await tempDir();
    const file = path.join(dirPath, "state.json");
    await (await StateFile.open(file)).write(OLD);
    expect((await writeInChild(file, NEW, "state.wal-synced")).signal).toBe("SIGKILL");
    const walFile = stateWalPath(file);
    const wal = fs.readFileSync(walFile);
    const at = wal.indexOf('"step":"new"') + 9;
    wal[at] = "m".charCodeAt(0); // "new" -> "mew", same length
    fs.writeFileSync(walFile, wal);

    const state = await StateFile.open(file);
    expect(state.recovery).toEqual({ replayed: false, discardedWal: true });
    expect(await state.read()).toEqual(OLD);
    expect(fs.existsSync(walFile)).toBe(false);
  });
});
