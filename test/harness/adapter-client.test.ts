import path from "node:path";
import { describe, expect, it } from "vitest";
import { AdapterClient, AdapterError } from "../../harness/index.js";
import { ok, startServe } from "./serve-client.js";
import { tempDir } from "../helpers.js";

const fixture = path.resolve("test/fixtures/misbehaving-adapter.mjs");
const misbehaving = (mode: string, timeoutMs = 5_000) =>
  AdapterClient.start({ file: process.execPath, args: [fixture, mode], timeoutMs });

async function failureOf(promise: Promise<unknown>): Promise<AdapterError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AdapterError);
  return error as AdapterError;
}

describe("AdapterClient", () => {
  it("pipelines requests and matches responses by id", async () => {
    const dir = await tempDir();
    const client = startServe();
    ok(await client.request("open", { dir, config: {} }));
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => client.request("append", { ops: [{ key: "k", value: String(i) }] })),
    );
    expect(replies.map((r) => ok(r).seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(ok(await client.request("read", {})).state).toEqual({ k: "19" });
    ok(await client.request("close", {}));
    expect(await client.exited).toEqual({ exitCode: 0, signal: undefined });
  });

  it("a line that is not JSON is ADAPTER_PROTOCOL with the line and the stderr tail, and the adapter is stopped", async () => {
    const client = misbehaving("garbage");
    ok(await client.request("hello", {}));
    const error = await failureOf(client.request("read", {}));
    expect(error.code).toBe("ADAPTER_PROTOCOL");
    expect(error.details.line).toBe("<html>definitely not json</html>");
    expect(error.details.stderrTail).toContain("misbehaving adapter in mode garbage");
    expect((await client.exited).signal).toBe("SIGKILL");
    await expect(client.request("read", {})).rejects.toBe(error);
  });

  it("an answer to an unknown id, or of the wrong shape, is ADAPTER_PROTOCOL naming the field", async () => {
    const wrongId = misbehaving("wrong-id");
    ok(await wrongId.request("hello", {}));
    expect((await failureOf(wrongId.request("read", {}))).message).toContain("an id nobody is waiting for (1002)");

    const badShape = misbehaving("bad-shape");
    ok(await badShape.request("hello", {}));
    const error = await failureOf(badShape.request("append", { ops: [{ key: "a", value: "1" }] }));
    expect(error.code).toBe("ADAPTER_PROTOCOL");
    expect(error.message).toContain("invalid append response: seq:");
    expect(error.details).toMatchObject({ op: "append", id: 2, line: '{"id":2,"ok":true,"seq":"seven"}' });
  });

  it("a hung adapter is ADAPTER_TIMEOUT after the per-request timeout, and is killed", async () => {
    // Start-up gets the default timeout (a loaded machine is slow to start node); only
    // the request that is never answered gets a short one.
    const client = misbehaving("hang");
    ok(await client.request("hello", {}));
    const error = await failureOf(client.request("read", {}, { timeoutMs: 300 }));
    expect(error.code).toBe("ADAPTER_TIMEOUT");
    expect(error.details).toMatchObject({ op: "read", timeoutMs: 300 });
    expect((await client.exited).signal).toBe("SIGKILL");
  });

  it("an adapter that exits is ADAPTER_EXITED with its exit code and stderr", async () => {
    const client = misbehaving("exit");
    ok(await client.request("hello", {}));
    const error = await failureOf(client.request("read", {}));
    expect(error.code).toBe("ADAPTER_EXITED");
    expect(error.details.exitCode).toBe(3);
    expect(error.message).toContain("fatal: the adapter gave up");
  });

  it("a command that does not exist is ADAPTER_START", async () => {
    const client = AdapterClient.start({ file: "/no/such/walcheck-adapter" });
    const error = await failureOf(client.request("hello", {}));
    expect(error.code).toBe("ADAPTER_START");
  });
});
