import path from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { OutboxFault, OutboxClient, type OutboxOp, type OutboxReply } from "../../harness/outbox/index.js";
import { idempotencyKeyOf, OUTBOX_CRASH_POINTS } from "../../reference-impl/outbox/index.js";
import { CLI, tempDir } from "../helpers.js";

// `walcheck outbox serve` as a real child over the outbox protocol, and the client's handling
// of outboxes that break it (fixtures/outbox/misbehaving-outbox.mjs).

const serve = (timeoutMs = 15_000) =>
  OutboxClient.start({ file: process.execPath, args: [CLI, "outbox", "serve"], timeoutMs });
const misbehaving = (mode: string, timeoutMs = 5_000) =>
  OutboxClient.start({
    file: process.execPath,
    args: [path.resolve("test/fixtures/outbox/misbehaving-outbox.mjs"), mode],
    timeoutMs,
  });

function refusal(reply: OutboxReply<OutboxOp>): { code: string; message: string } {
  if (reply.ok) throw new Error(`expected ok:false, got ${JSON.stringify(reply)}`);
  return reply.error;
}

async function faultOf(promise: Promise<unknown>): Promise<OutboxFault> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OutboxFault);
  return error as OutboxFault;
}

describe("walcheck outbox serve", () => {
  it("hello names the protocol, the kind and the reference outbox's crash points", async () => {
    const client = serve();
    expect(await client.call("hello", {})).toEqual({
      name: "walcheck-reference-outbox",
      protocol: 1,
      kind: "outbox",
      features: ["direct", "worker", "compact"],
      points: [...OUTBOX_CRASH_POINTS],
    });
    expect(await client.close()).toEqual({ exitCode: 0, signal: undefined });
  });

  it("open, write (accepted, duplicate, direct), sync, stats, snapshot, compact, close on a real SQLite sink", async () => {
    const dir = await tempDir();
    const dbFile = path.join(dir, "db.sqlite");
    const client = serve();
    const opened = await client.call("open", { dir: path.join(dir, "wal"), sink: `sqlite:${dbFile}` });
    expect(opened).toMatchObject({
      pending: 0,
      syncing: 0,
      completed: 0,
      halted: false,
      circuit: "closed",
      sink: "sqlite",
    });

    const args = { account: "acct-1", delta: 7, opId: "op-1" };
    const first = await client.call("write", { type: "balance.update", args });
    expect(first).toMatchObject({
      status: "accepted",
      n: 1,
      duplicate: false,
      idempotencyKey: idempotencyKeyOf("balance.update", args),
    });
    // The same operation again is recognised by its key: the same entry, nothing new written.
    const again = await client.call("write", { type: "balance.update", args });
    expect(again).toEqual({ ...first, duplicate: true });
    const second = await client.call("write", {
      type: "balance.update",
      args: { account: "acct-1", delta: -2, opId: "op-2" },
    });
    expect(second).toMatchObject({ status: "accepted", n: 2, duplicate: false });
    expect(await client.call("write", { type: "metrics.tick", args: { v: 1 }, critical: false })).toEqual({
      status: "direct",
    });
    expect(await client.call("stats", {})).toMatchObject({ pending: 2, completed: 0 });

    expect(await client.call("sync", {})).toEqual({
      applied: 2,
      duplicates: 0,
      failed: 0,
      remaining: 0,
      stopped: null,
    });
    expect(await client.call("stats", {})).toMatchObject({ pending: 0, syncing: 0, completed: 2 });
    const snap = await client.call("snapshot", {});
    expect(snap.applied.map((a) => [a.n, a.idempotencyKey])).toEqual([
      [1, first.status === "accepted" ? first.idempotencyKey : ""],
      [2, second.status === "accepted" ? second.idempotencyKey : ""],
    ]);
    expect(snap).toMatchObject({ balances: { "acct-1": 5 }, events: 1, trades: 0 });
    // Default retention (168 h): nothing is old enough to go.
    expect(await client.call("compact", {})).toEqual({ removed: 0 });
    expect(await client.close()).toEqual({ exitCode: 0, signal: undefined });

    // What the database holds, read past the outbox.
    const db = new BetterSqlite3(dbFile, { readonly: true });
    try {
      expect(db.prepare("select amount from balances where account = 'acct-1'").pluck().get()).toBe(5);
      expect(db.prepare("select count(*) from outbox_applied").pluck().get()).toBe(2);
    } finally {
      db.close();
    }
  });

  it("refuses what it cannot do with a code and a message, and goes on", async () => {
    const dir = await tempDir();
    const client = serve();
    expect(refusal(await client.request("write", { type: "balance.update", args: {} }))).toEqual({
      code: "EPROTO",
      message: "open must come first",
    });
    expect(refusal(await client.request("open", { dir, sink: "sqlite:relative.sqlite" }))).toEqual({
      code: "EINVAL",
      message: 'open: the sink "sqlite:relative.sqlite" must name an absolute path',
    });
    expect(refusal(await client.request("open", { dir, sink: "mysql://db" })).code).toBe("EINVAL");
    // The wire allows any config; the reference outbox refuses fields it does not know.
    const badConfig = refusal(
      await client.request("open", { dir, sink: `sqlite:${dir}/db.sqlite`, config: { breakerResetMS: 5 } as never }),
    );
    expect(badConfig.code).toBe("EINVAL");
    expect(badConfig.message).toContain("config.breakerResetMS is not a config field");
    await client.call("open", {
      dir: path.join(dir, "wal"),
      sink: `sqlite:${dir}/db.sqlite`,
      config: { breakerResetMs: 0 },
    });
    expect(refusal(await client.request("open", { dir, sink: `sqlite:${dir}/db.sqlite` })).code).toBe("EPROTO");
    expect(refusal(await client.request("write", { type: "", args: {} })).code).toBe("EINVAL");
    expect(refusal(await client.request("frobnicate" as "stats", {}))).toEqual({
      code: "EUNSUPPORTED",
      message: 'unknown op "frobnicate"',
    });
    // A malformed entry reaches the sink and is refused there: it stays queued with its error.
    await client.call("write", { type: "balance.update", args: { account: "", delta: 1, opId: "bad" } });
    expect(await client.call("sync", {})).toMatchObject({ applied: 0, remaining: 1, stopped: "entry-error" });
    expect(await client.close()).toEqual({ exitCode: 0, signal: undefined });
  });
});

describe("OutboxClient against outboxes that break the protocol", () => {
  it("a line that is not JSON is OUTBOX_PROTOCOL with the line and the stderr tail; the process is stopped", async () => {
    const client = misbehaving("garbage");
    const error = await faultOf(client.request("hello", {}));
    expect(error.code).toBe("OUTBOX_PROTOCOL");
    expect(error.message).toContain("the outbox wrote a line that is not JSON: <html>not an answer</html>");
    expect(error.message).toContain("misbehaving outbox in mode garbage");
    expect((await client.exited).signal).toBe("SIGKILL");
  });

  it("an answer missing a field is OUTBOX_PROTOCOL naming it", async () => {
    const client = misbehaving("bad-hello");
    const error = await faultOf(client.request("hello", {}));
    expect(error.code).toBe("OUTBOX_PROTOCOL");
    expect(error.message).toMatch(/invalid hello response: points: /);
  });

  it("no answer within the timeout is OUTBOX_TIMEOUT; an outbox that exits is OUTBOX_EXITED; one that cannot start is OUTBOX_START", async () => {
    const hung = misbehaving("hang", 200);
    const timeout = await faultOf(hung.request("hello", {}));
    expect(timeout.code).toBe("OUTBOX_TIMEOUT");
    expect(timeout.message).toContain("no answer to hello (id 1) within 200 ms");
    expect((await hung.exited).signal).toBe("SIGKILL");

    const exiting = misbehaving("exit");
    const exited = await faultOf(exiting.request("hello", {}));
    expect(exited.code).toBe("OUTBOX_EXITED");
    expect(exited.message).toContain("the outbox exited with code 3");

    const missing = OutboxClient.start({ file: "/no/such/outbox-binary", timeoutMs: 5_000 });
    const start = await faultOf(missing.request("hello", {}));
    expect(start.code).toBe("OUTBOX_START");
    expect(start.message).toContain("cannot start the outbox: Command failed with ENOENT: /no/such/outbox-binary");
  });
});
