import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { CLI } from "../helpers.js";

// walcheck serve reads its input straight from stdin's data events and starts each request as
// its line arrives. Requests pipelined behind an open (in the same write) wait for that open,
// however long it takes, and then run in arrival order; their answers, pipelined, come out
// together.

describe("walcheck serve, requests pipelined in one write", () => {
  it("holds what follows an open until the open is done, then runs it in order", async () => {
    const lines = [
      { id: 1, op: "hello" },
      { id: 2, op: "open", dir: "/nonexistent-is-fine-in-memory", config: {} },
      { id: 3, op: "append", ops: [{ key: "a", value: "1" }] },
      { id: 4, op: "append", ops: [{ key: "b", value: "2" }] },
      { id: 5, op: "append", ops: [{ key: "a", value: null }] },
      { id: 6, op: "read" },
      { id: 7, op: "close" },
    ];
    const r = await execa(
      process.execPath,
      [CLI, "serve", "--adapter", path.resolve("test/fixtures/adapters/slow-open.mjs")],
      { input: `${lines.map((l) => JSON.stringify(l)).join("\n")}\n`, reject: false },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const replies = new Map(
      r.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { id: number })
        .map((m) => [m.id, m]),
    );
    expect(replies.get(2)).toMatchObject({ ok: true, lastSeq: 0 });
    expect([3, 4, 5].map((id) => replies.get(id))).toMatchObject([
      { ok: true, seq: 1 },
      { ok: true, seq: 2 },
      { ok: true, seq: 3 },
    ]);
    expect(replies.get(6)).toMatchObject({ ok: true, lastSeq: 3, state: { b: "2" } });
    expect(replies.get(7)).toMatchObject({ ok: true });
  });
});
