import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Wal, WalError } from "../../reference-impl/index.js";
import { ok, startServe } from "../harness/serve-client.js";
import { silentLogger, tempDir } from "../helpers.js";

describe("directory lock across processes", () => {
  it("a second opener in another process gets WAL_LOCKED naming the holder, and a SIGKILLed owner leaves no stale lock", async () => {
    const dir = await tempDir();
    const owner = startServe();
    ok(await owner.request("open", { dir, config: {} }));
    ok(await owner.request("append", { ops: [{ key: "a", value: "1" }] }));

    const refused = await Wal.open(dir, { logger: silentLogger }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(WalError);
    expect((refused as WalError).code).toBe("WAL_LOCKED");
    expect((refused as WalError).message).toContain(`pid ${owner.pid}`);

    // The same through the protocol: a second adapter process is refused too.
    const second = startServe();
    const reply = await second.request("open", { dir, config: {} });
    expect(reply).toMatchObject({ ok: false, error: { code: "WAL_LOCKED" } });
    await second.kill();

    // Kill the owner outright: the kernel drops its flock, recovery needs no waiting.
    expect((await owner.kill("SIGKILL")).signal).toBe("SIGKILL");
    expect(fs.existsSync(path.join(dir, "LOCK"))).toBe(true);
    const wal = await Wal.open(dir, { logger: silentLogger });
    expect(wal.read()).toEqual({ lastSeq: 1, state: { a: "1" } });
    await wal.close();
  });

  it("in one process, a second handle on the same directory is refused until the first closes", async () => {
    const dir = await tempDir();
    const first = await Wal.open(dir, { logger: silentLogger });
    await expect(Wal.open(dir, { logger: silentLogger })).rejects.toMatchObject({ code: "WAL_LOCKED" });
    await first.close();
    const second = await Wal.open(dir, { logger: silentLogger });
    await second.close();
  });
});
