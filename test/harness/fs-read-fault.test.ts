import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import { parseFsFault } from "../../harness/faults/fs-preload.js";
import { tempDir } from "../helpers.js";
import { assertPreloadBuilt, PRELOAD_OPTION } from "./preload-helpers.js";

// WALCHECK_FS_FAULT=eio-read (the latent sector error of the corruption sweep) in a real child
// process: test/fixtures/fs-read-fault.mjs reads a 2048-byte file every way node:fs can, with
// bytes 1024-1535 unreadable, and prints what each read gave.

describe("eio-read: the spec", () => {
  it("parses offset, length and a path that may hold ':' and ','", () => {
    expect(parseFsFault("eio-read:0:512:/a:b,c/wal.log")).toEqual({
      kind: "eio-read",
      offset: 0,
      length: 512,
      file: "/a:b,c/wal.log",
    });
  });

  it.each(["eio-read:0:0:/x", "eio-read:1:2:relative/x", "eio-read:1:2", "eio-read:-1:2:/x", "eio-read:a:2:/x"])(
    "refuses %s",
    (raw) => {
      expect(() => parseFsFault(raw)).toThrow(/eio-read:<offset>:<length>:<absolute path>/);
    },
  );
});

describe("eio-read: reads of the damaged range fail, reads before it come back short", () => {
  beforeAll(assertPreloadBuilt);

  it("faults every form of read of that file, and only of that file", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "wal.log");
    const other = path.join(dir, "other.log");
    fs.writeFileSync(file, Buffer.alloc(2048, 7));
    fs.writeFileSync(other, Buffer.alloc(2048, 7));
    const result = await execa(process.execPath, [path.resolve("test/fixtures/fs-read-fault.mjs"), file, other], {
      env: { NODE_OPTIONS: PRELOAD_OPTION, WALCHECK_FS_FAULT: `eio-read:1024:512:${file}` },
      reject: false,
    });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      readFileSync: "EIO",
      "readFileSync utf8": "EIO",
      "readFileSync other": 2048,
      "readSync from 0": 1024,
      "readSync inside": "EIO",
      "readSync after": 100,
      "readvSync from 0": 1024,
      "read callback inside": "EIO",
      "readSync current 1": 1000,
      "readSync current 2": 24,
      "readSync current 3": "EIO",
      "readFile callback": "EIO",
      "promises.readFile": "EIO",
      "FileHandle.read from 0": 1024,
      "FileHandle.read inside": "EIO",
      "FileHandle.readFile": "EIO",
      createReadStream: "1024 then EIO",
    });
  });

  it("leaves a file shorter than the damaged range's start alone, and every read without the fault", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "wal.log");
    fs.writeFileSync(file, Buffer.alloc(2048, 7));
    const result = await execa(process.execPath, [path.resolve("test/fixtures/fs-read-fault.mjs"), file, file], {
      env: { NODE_OPTIONS: PRELOAD_OPTION, WALCHECK_FS_FAULT: `eio-read:4096:512:${file}` },
      reject: false,
    });
    expect(result.exitCode, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(out.readFileSync).toBe(2048);
    expect(out["readSync from 0"]).toBe(2048);
    expect(out["readSync current 3"]).toBe(48);
    expect(out.createReadStream).toBe("2048 then end");
  });
});
