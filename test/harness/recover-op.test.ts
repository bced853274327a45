import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { batch, segmentFiles, tempDir } from "../helpers.js";
import { ok, serveKilledAfterEach } from "./serve-client.js";

// The optional `recover` op (power-loss checking without a process per state), through real
// `walcheck serve` children: it answers what a fresh process's open, read and check would,
// lets go of the directory, and carries nothing into the next recover.

const serve = serveKilledAfterEach();

/** A reference WAL in a new directory with `n` acknowledged batches, its writer SIGKILLed. */
async function crashedWal(n: number): Promise<string> {
  const dir = await tempDir();
  const writer = serve();
  ok(await writer.request("hello", {}));
  ok(await writer.request("open", { dir, config: {} }));
  for (let i = 0; i < n; i++) ok(await writer.request("append", { ops: batch(i) }));
  await writer.kill("SIGKILL");
  return dir;
}

describe("the recover op", () => {
  it("answers the recovered state and check, releases the directory, and carries nothing into the next recover", async () => {
    const full = await crashedWal(3);
    const empty = await tempDir();
    const corrupt = await crashedWal(3);
    const seg = segmentFiles(corrupt)[0]!;
    const bytes = fs.readFileSync(seg);
    bytes[10]! ^= 0x01; // inside the first record, with valid ones after it: a corrupt middle
    fs.writeFileSync(seg, bytes);

    const a = serve();
    expect(ok(await a.request("hello", {})).features).toContain("recover");
    const first = ok(await a.request("recover", { dir: full, config: {} }));
    expect(first.lastSeq).toBe(3);
    expect(first.state).toEqual(
      Object.fromEntries(
        [0, 1, 2]
          .flatMap((i) => batch(i))
          .filter((o) => o.value !== null)
          .map((o) => [o.key, o.value]),
      ),
    );
    expect(first.check).toEqual(["ok"]);
    expect(first.recovery?.recordsReplayed).toBe(3);

    // The lock is gone while the recovering process lives on: another process opens the directory.
    const other = serve();
    ok(await other.request("hello", {}));
    expect(ok(await other.request("open", { dir: full, config: {} })).lastSeq).toBe(3);
    await other.kill("SIGKILL");

    expect(ok(await a.request("recover", { dir: empty, config: {} }))).toMatchObject({ lastSeq: 0, state: {} });
    const refused = await a.request("recover", { dir: corrupt, config: {} });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.error.code).toBe("WAL_CORRUPT");
    const again = ok(await a.request("recover", { dir: full, config: {} }));
    expect({ lastSeq: again.lastSeq, state: again.state, check: again.check }).toEqual({
      lastSeq: first.lastSeq,
      state: first.state,
      check: first.check,
    });
  });

  it("is refused in a process that opened a WAL, and open is refused in one that recovered (EPROTO)", async () => {
    const dir = await crashedWal(1);
    const opener = serve();
    ok(await opener.request("hello", {}));
    ok(await opener.request("open", { dir, config: {} }));
    const r1 = await opener.request("recover", { dir: await tempDir(), config: {} });
    expect(r1.ok ? "ok" : r1.error.code).toBe("EPROTO");

    const recoverer = serve();
    ok(await recoverer.request("hello", {}));
    ok(await recoverer.request("recover", { dir: await tempDir(), config: {} }));
    const r2 = await recoverer.request("open", { dir: await tempDir(), config: {} });
    expect(r2.ok ? "ok" : r2.error.code).toBe("EPROTO");
  });

  it("is not offered for a module that exports one adapter object instead of a factory", async () => {
    const client = serve({ adapter: path.resolve("test/fixtures/adapters/power-wal-object.mjs") });
    const hello = ok(await client.request("hello", {}));
    expect(hello.name).toBe("power-wal");
    expect(hello.features).not.toContain("recover");
    const r = await client.request("recover", { dir: await tempDir(), config: {} });
    expect(r.ok ? "ok" : r.error.code).toBe("EUNSUPPORTED");
    expect(client.stderrTail).toContain('"recover" is not offered');
  });
});
