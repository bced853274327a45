import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { TransactionStep } from "../../harness/index.js";
import { tempDir } from "../helpers.js";
import { ok, serveKilledAfterEach } from "./serve-client.js";

// The optional `transaction` op and the `elapsedMs` response field, through real
// `walcheck serve` children (dist/), and the SQLite adapter's "shared" feature: several
// processes on one directory.

const serve = serveKilledAfterEach();

const put = (key: string, value: string | null): TransactionStep => ({ put: { key, value } });
const savepoint: TransactionStep = { savepoint: true };
const rollback: TransactionStep = { rollback: true };
const release: TransactionStep = { release: true };

/** The elapsedMs a reply carries (an extension field the Reply type does not name). */
const elapsedOf = (reply: object) => (reply as { elapsedMs?: unknown }).elapsedMs;

// a and gone exist before; the transaction rolls back a nested scope (and the scope
// released into it), keeps the rest, and leaves its last savepoint open.
const BEFORE = [
  { key: "a", value: "0" },
  { key: "gone", value: "x" },
];
const STEPS: TransactionStep[] = [
  put("a", "1"),
  savepoint,
  put("b", "rolled-b"),
  put("a", "rolled-a"),
  savepoint,
  put("c", "rolled-c"),
  release,
  rollback,
  put("d", "4é日"),
  savepoint,
  put("e", "5"),
  release,
  put("gone", null),
  savepoint,
  put("f", "6"),
];
const AFTER = { a: "1", d: "4é日", e: "5", f: "6" };

describe.each(["reference", "sqlite"])("transaction op on --adapter %s", (adapter) => {
  it("commits only the surviving writes as one seq; a fresh process reads them and never a rolled-back value", async () => {
    const dir = path.join(await tempDir(), "wal");
    const first = serve({ adapter });
    const hello = ok(await first.request("hello", {}));
    expect(hello.features).toContain("transaction");
    expect(ok(await first.request("open", { dir, config: {} })).lastSeq).toBe(0);
    expect(ok(await first.request("append", { ops: BEFORE })).seq).toBe(1);

    const tx = ok(await first.request("transaction", { steps: STEPS }));
    expect(tx.seq).toBe(2);
    expect(ok(await first.request("read", {}))).toMatchObject({ lastSeq: 2, state: AFTER });
    // The transaction used exactly one seq.
    expect(ok(await first.request("append", { ops: [{ key: "after", value: "z" }] })).seq).toBe(3);
    ok(await first.request("close", {}));
    expect(await first.exited).toEqual({ exitCode: 0, signal: undefined });

    const second = serve({ adapter });
    ok(await second.request("hello", {}));
    expect(ok(await second.request("open", { dir, config: {} })).lastSeq).toBe(3);
    const read = ok(await second.request("read", {}));
    expect(read.lastSeq).toBe(3);
    expect(read.state).toEqual({ ...AFTER, after: "z" });
    expect(Object.values(read.state).filter((v) => v.startsWith("rolled"))).toEqual([]);
    ok(await second.request("close", {}));
  });

  it("unbalanced rollback or release, an empty transaction and a malformed step are EINVAL and use no seq", async () => {
    const dir = path.join(await tempDir(), "wal");
    const client = serve({ adapter });
    ok(await client.request("hello", {}));
    ok(await client.request("open", { dir, config: {} }));
    expect(ok(await client.request("append", { ops: [{ key: "a", value: "1" }] })).seq).toBe(1);

    const unbalanced = await client.request("transaction", { steps: [put("a", "bad"), rollback] });
    expect(unbalanced).toMatchObject({ ok: false, error: { code: "EINVAL" } });
    expect(JSON.stringify(unbalanced)).toContain("rollback with no open savepoint");
    expect(
      await client.request("transaction", { steps: [savepoint, release, release, put("a", "bad")] }),
    ).toMatchObject({
      ok: false,
      error: { code: "EINVAL", message: expect.stringContaining("release with no open savepoint") },
    });
    expect(await client.request("transaction", { steps: [savepoint, put("a", "bad"), rollback] })).toMatchObject({
      ok: false,
      error: { code: "EINVAL", message: "empty transaction" },
    });
    // Shape errors are refused by serve before the adapter sees them.
    const malformed = [
      [],
      [{ put: { key: "a", value: 1 } }],
      [{ savepoint: true, rollback: true }],
      [{ savepoint: false }],
      [{ commit: true }],
    ];
    for (const steps of malformed) {
      expect(
        await client.request("transaction", { steps: steps as unknown as TransactionStep[] }),
        JSON.stringify(steps),
      ).toMatchObject({
        ok: false,
        error: { code: "EINVAL" },
      });
    }

    expect(ok(await client.request("read", {}))).toMatchObject({ lastSeq: 1, state: { a: "1" } });
    expect(ok(await client.request("transaction", { steps: [put("a", "2")] })).seq).toBe(2);
    ok(await client.request("close", {}));
  });

  it("every response carries elapsedMs >= 0, ok or not", async () => {
    const dir = path.join(await tempDir(), "wal");
    const client = serve({ adapter });
    const replies: object[] = [];
    replies.push(await client.request("hello", {}));
    replies.push(await client.request("open", { dir, config: {} }));
    replies.push(
      ...(await Promise.all([1, 2, 3].map((i) => client.request("append", { ops: [{ key: `k${i}`, value: "v" }] })))),
    );
    replies.push(await client.request("transaction", { steps: [put("t", "1")] }));
    replies.push(await client.request("transaction", { steps: [rollback] }));
    replies.push(await client.request("checkpoint", { mode: "passive" }));
    replies.push(await client.request("read", {}));
    replies.push(await client.request("check", {}));
    replies.push(await client.request("close", {}));
    expect(replies.filter((r) => !(r as { ok: boolean }).ok)).toHaveLength(1);
    for (const reply of replies) {
      const elapsed = elapsedOf(reply);
      expect(typeof elapsed, JSON.stringify(reply)).toBe("number");
      expect(elapsed as number).toBeGreaterThanOrEqual(0);
    }
  });
});

describe("transaction op on an adapter without the feature", () => {
  it("serve answers EUNSUPPORTED, even when the adapter has the method but does not list the feature", async () => {
    const work = await tempDir();
    // A minimal in-memory adapter module with a transaction method and no "transaction" feature.
    const module = path.join(work, "no-tx-adapter.mjs");
    fs.writeFileSync(
      module,
      `let seq = 0; const state = {}; let called = false;
export default {
  hello: () => ({ name: "no-tx", protocol: 1, durability: "process", features: [] }),
  open: async () => ({ lastSeq: seq }),
  append: async (ops) => { for (const o of ops) { if (o.value === null) delete state[o.key]; else state[o.key] = o.value; } return { seq: ++seq }; },
  transaction: async () => { called = true; return { seq: ++seq }; },
  read: async () => ({ lastSeq: seq, state: called ? { called: "yes" } : { ...state } }),
  close: async () => {},
};
`,
    );
    const client = serve({ adapter: module });
    expect(ok(await client.request("hello", {})).features).not.toContain("transaction");
    ok(await client.request("open", { dir: path.join(work, "wal"), config: {} }));
    const reply = await client.request("transaction", { steps: [put("a", "1")] });
    expect(reply).toMatchObject({ ok: false, error: { code: "EUNSUPPORTED" } });
    expect(typeof elapsedOf(reply)).toBe("number");
    expect(ok(await client.request("append", { ops: [{ key: "a", value: "1" }] })).seq).toBe(1);
    expect(ok(await client.request("read", {}))).toMatchObject({ lastSeq: 1, state: { a: "1" } });
    ok(await client.request("close", {}));
  });
});

describe("--adapter sqlite shared by several processes (feature shared)", () => {
  it("two processes alternating appends and transactions get seqs strictly increasing by one; a third reads them all", async () => {
    const dir = path.join(await tempDir(), "wal");
    const a = serve({ adapter: "sqlite" });
    const b = serve({ adapter: "sqlite" });
    for (const c of [a, b]) expect(ok(await c.request("hello", {})).features).toContain("shared");
    expect(ok(await a.request("open", { dir, config: {} })).lastSeq).toBe(0);
    expect(ok(await b.request("open", { dir, config: {} })).lastSeq).toBe(0);

    const expected: Record<string, string> = {};
    const seqs: number[] = [];
    for (let i = 0; i < 20; i++) {
      const [who, client] = i % 2 === 0 ? ["a", a] : ["b", b];
      const key = `${who}${i}`;
      const reply =
        i % 5 === 4
          ? await client.request("transaction", {
              steps: [put(key, `tx${i}`), savepoint, put(`${key}-rolled`, "no"), rollback],
            })
          : await client.request("append", {
              ops: [
                { key, value: `v${i}` },
                { key: "last", value: who },
              ],
            });
      seqs.push(ok(reply).seq);
      expected[key] = i % 5 === 4 ? `tx${i}` : `v${i}`;
      if (i % 5 !== 4) expected.last = who;
    }
    expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    // Each process's read sees the other's writes and the shared lastSeq.
    expect(ok(await a.request("read", {}))).toMatchObject({ lastSeq: 20, state: expected });
    expect(ok(await b.request("read", {}))).toMatchObject({ lastSeq: 20, state: expected });

    // Pipelined appends from both at once: every seq used exactly once, each process's in order.
    const burst = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        (i % 2 === 0 ? a : b).request("append", { ops: [{ key: `burst${i}`, value: String(i) }] }),
      ),
    );
    const burstSeqs = burst.map((r) => ok(r).seq);
    expect([...burstSeqs].sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => 21 + i));
    for (const parity of [0, 1]) {
      const own = burstSeqs.filter((_, i) => i % 2 === parity);
      expect(own).toEqual([...own].sort((x, y) => x - y));
    }
    for (let i = 0; i < 30; i++) expected[`burst${i}`] = String(i);

    ok(await a.request("close", {}));
    ok(await b.request("close", {}));
    const c = serve({ adapter: "sqlite" });
    ok(await c.request("hello", {}));
    expect(ok(await c.request("open", { dir, config: {} })).lastSeq).toBe(50);
    const read = ok(await c.request("read", {}));
    expect(read).toMatchObject({ lastSeq: 50 });
    expect(read.state).toEqual(expected);
    expect(ok(await c.request("check", {})).result).toEqual(["ok"]);
    ok(await c.request("close", {}));
  });
});
