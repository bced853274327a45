import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it, test, vi } from "vitest";
// Through the package's public entry point (dist), as a user imports it: its crash cases
// start the compiled CLI.
import { walConformance } from "walcheck/vitest";
import { AdapterError, AdapterClient, PrefixModel } from "../../harness/index.js";
import { createEventLogAdapter, EVENT_LOG_POINTS } from "../../reference-impl/event-log-adapter.js";
import { createStateFileAdapter } from "../../reference-impl/state-file-adapter.js";
import { encodeStateRecord, STATE_FILE_CRASH_POINTS, stateWalPath } from "../../reference-impl/state-file.js";
import { ok, startServe } from "../harness/serve-client.js";
import { assertDistFresh, batch, tempDir } from "../helpers.js";

// The design A (event log) and design B (state file) reference implementations as
// built-in adapters: `walcheck serve --adapter event-log | state-file`, in real child
// processes, killed at each of their named crash points.

beforeAll(() =>
  assertDistFresh([
    "state-file-adapter",
    "event-log-adapter",
    "state-file",
    "event-log",
    "harness/protocol/crashpoint",
  ]),
);

// The same conformance suite every adapter runs: in process, and crash cases in children.
walConformance({
  test,
  factory: () => createStateFileAdapter(),
  adapter: "state-file",
  runs: 2,
  recoveryThresholdMs: 5000,
});
walConformance({
  test,
  factory: () => createEventLogAdapter(),
  adapter: "event-log",
  runs: 2,
  recoveryThresholdMs: 5000,
});

const sha256 = (bytes: Buffer) => crypto.createHash("sha256").update(bytes).digest("hex");

/** The state after applying `batches` in order. */
function stateOf(batches: { key: string; value: string | null }[][]): Record<string, string> {
  const state: Record<string, string> = {};
  for (const ops of batches)
    for (const op of ops) op.value === null ? delete state[op.key] : (state[op.key] = op.value);
  return state;
}

/** Appends batch(1..n) pipelined and checks the seqs. */
async function appendBatches(client: AdapterClient, from: number, to: number): Promise<void> {
  const replies = await Promise.all(
    Array.from({ length: to - from + 1 }, (_, i) => client.request("append", { ops: batch(from + i) })),
  );
  expect(replies.map((r) => ok(r).seq)).toEqual(Array.from({ length: to - from + 1 }, (_, i) => from + i));
}

async function closeClean(client: AdapterClient): Promise<void> {
  ok(await client.request("close", {}));
  expect(await client.exited).toEqual({ exitCode: 0, signal: undefined });
}

const batches = (n: number) => Array.from({ length: n }, (_, i) => batch(i + 1));

const designs = [
  {
    adapter: "state-file",
    factory: () => createStateFileAdapter(),
    name: "walcheck-state-file",
    points: [...STATE_FILE_CRASH_POINTS],
    files: ["state.json"],
  },
  {
    adapter: "event-log",
    factory: () => createEventLogAdapter(),
    name: "walcheck-event-log",
    points: [...EVENT_LOG_POINTS],
    files: ["walcheck.wal.jsonl"],
  },
];

describe.each(designs)("walcheck serve --adapter $adapter", (design) => {
  it("says hello with its name, power durability, its features and its crash points", async () => {
    const client = startServe({ adapter: design.adapter });
    const hello = ok(await client.request("hello", {}));
    const features =
      design.name === "walcheck-event-log"
        ? ["check", "checksums", "recovery-stats", "recover", "deterministic"]
        : ["check", "checksums", "recovery-stats", "recover"];
    expect(hello).toMatchObject({
      name: design.name,
      protocol: 1,
      durability: "power",
      features,
      points: design.points,
    });
    await client.kill();
  });

  it("round-trips appends through read, close and a reopen in a fresh process", async () => {
    const dir = path.join(await tempDir(), "wal");
    const first = startServe({ adapter: design.adapter });
    expect(ok(await first.request("open", { dir, config: {} })).lastSeq).toBe(0);
    await appendBatches(first, 1, 6);
    expect(ok(await first.request("read", {}))).toMatchObject({ lastSeq: 6, state: stateOf(batches(6)) });
    expect(ok(await first.request("check", {})).result).toEqual(["ok"]);
    await closeClean(first);
    expect(fs.readdirSync(dir).sort()).toEqual(["LOCK", ...design.files]);

    const second = startServe({ adapter: design.adapter });
    const opened = ok(await second.request("open", { dir, config: {} }));
    expect(opened.lastSeq).toBe(6);
    expect(opened.recovery).toMatchObject({ bytesDiscarded: 0 });
    expect(ok(await second.request("read", {}))).toMatchObject({ lastSeq: 6, state: stateOf(batches(6)) });
    await appendBatches(second, 7, 7);
    expect(ok(await second.request("read", {}))).toMatchObject({ lastSeq: 7, state: stateOf(batches(7)) });
    expect(ok(await second.request("check", {})).result).toEqual(["ok"]);
    await closeClean(second);
  });

  it("keeps keys that are Object.prototype names as plain data", async () => {
    // In process: the harness client's zod record schema would itself drop "__proto__".
    const dir = path.join(await tempDir(), "wal");
    const ops = [
      { key: "__proto__", value: "p" },
      { key: "constructor", value: "c" },
      { key: "toString", value: null },
    ];
    const first = design.factory();
    await first.open(dir, {});
    expect(await first.append(ops)).toEqual({ seq: 1 });
    await first.close();
    const second = design.factory();
    await second.open(dir, {});
    const { state } = await second.read();
    expect(Object.entries(state).sort()).toEqual([
      ["__proto__", "p"],
      ["constructor", "c"],
    ]);
    await second.close();
  });

  it("answers ops pipelined behind open once open is done", async () => {
    const dir = path.join(await tempDir(), "wal");
    const client = startServe({ adapter: design.adapter });
    const [opened, ...appends] = await Promise.all([
      client.request("open", { dir, config: {} }),
      client.request("append", { ops: batch(1) }),
      client.request("append", { ops: batch(2) }),
    ]);
    expect(ok(opened!).lastSeq).toBe(0);
    expect(appends.map((r) => ok(r).seq)).toEqual([1, 2]);
    await closeClean(client);
  });

  it("refuses a second process on the same directory with WAL_LOCKED, until the first dies", async () => {
    const dir = path.join(await tempDir(), "wal");
    const first = startServe({ adapter: design.adapter });
    ok(await first.request("open", { dir, config: {} }));
    await appendBatches(first, 1, 2);
    const second = startServe({ adapter: design.adapter });
    const refused = await second.request("open", { dir, config: {} });
    expect(refused).toMatchObject({ ok: false, error: { code: "WAL_LOCKED" } });
    await second.kill();
    await first.kill();
    const third = startServe({ adapter: design.adapter });
    expect(ok(await third.request("open", { dir, config: {} })).lastSeq).toBe(2);
    await closeClean(third);
  });
});

/**
 * A first life appends batches 1-3 and closes; the second, armed with `<point>:2`, acks
 * batch 4 and is SIGKILLed inside batch 5; a third recovers.
 */
async function crashAt(adapter: string, point: string, config: Record<string, unknown> = {}) {
  const dir = path.join(await tempDir(), "wal");
  const model = new PrefixModel();
  const setup = startServe({ adapter, config });
  ok(await setup.request("open", { dir, config: {} }));
  for (let i = 1; i <= 3; i++) {
    model.send(batch(i));
    model.ack(ok(await setup.request("append", { ops: batch(i) })).seq);
  }
  await closeClean(setup);

  const child = startServe({ adapter, config, crashAt: `${point}:2` });
  ok(await child.request("open", { dir, config: {} }));
  model.send(batch(4));
  model.ack(ok(await child.request("append", { ops: batch(4) })).seq);
  model.send(batch(5));
  const died = await child.request("append", { ops: batch(5) }).then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(died).toBeInstanceOf(AdapterError);
  expect((died as AdapterError).code).toBe("ADAPTER_EXITED");
  expect(await child.exited).toEqual({ exitCode: undefined, signal: "SIGKILL" });
  const onDisk = Object.fromEntries(fs.readdirSync(dir).map((name) => [name, fs.readFileSync(path.join(dir, name))]));

  const fresh = startServe({ adapter, config });
  const opened = ok(await fresh.request("open", { dir, config: {} }));
  const read = ok(await fresh.request("read", {}));
  expect(read.lastSeq).toBe(opened.lastSeq);
  // Old (batch 5 lost, it was never acknowledged) or new, never anything else.
  expect(model.judge(read.lastSeq, read.state)).toMatchObject({ status: "ok" });
  expect([4, 5]).toContain(read.lastSeq);
  expect(ok(await fresh.request("check", {})).result).toEqual(["ok"]);
  // The recovered WAL takes the next batch.
  expect(ok(await fresh.request("append", { ops: batch(6) })).seq).toBe(read.lastSeq + 1);
  await closeClean(fresh);
  return { dir, opened, read, onDisk };
}

describe("state-file: SIGKILL at every named crash point", () => {
  // Old until the WAL is complete and synced; new from state.wal-synced on (state-file.ts).
  const outcomes: Record<string, { seq: 4 | 5; rolledForward: boolean; discardedIntent: boolean }> = {
    "state.intent": { seq: 4, rolledForward: false, discardedIntent: false },
    "state.data": { seq: 4, rolledForward: false, discardedIntent: true },
    "state.wal-synced": { seq: 5, rolledForward: true, discardedIntent: false },
    "state.file-half-written": { seq: 5, rolledForward: true, discardedIntent: false },
    "state.file-synced": { seq: 5, rolledForward: true, discardedIntent: false },
    "state.file-renamed": { seq: 5, rolledForward: true, discardedIntent: false },
    "state.file-written": { seq: 5, rolledForward: true, discardedIntent: false },
    "state.wal-deleted": { seq: 5, rolledForward: false, discardedIntent: false },
  };

  it("covers every point the adapter announces", () => {
    expect(Object.keys(outcomes)).toEqual([...STATE_FILE_CRASH_POINTS]);
  });

  it.each([...STATE_FILE_CRASH_POINTS])(
    "%s: the file parses and is the old or the new document, by sha256",
    async (point) => {
      const expected = outcomes[point]!;
      const document = (n: number) => encodeStateRecord({ seq: n, state: stateOf(batches(n)) }, n);
      const [oldHash, newHash] = [sha256(document(4)), sha256(document(5))];
      const { dir, opened, read, onDisk } = await crashAt("state-file", point);

      // What the crash left: the state file itself is always one whole version.
      const left = onDisk["state.json"];
      expect(left).toBeDefined();
      expect([oldHash, newHash]).toContain(sha256(left!));
      const wal = onDisk[path.basename(stateWalPath("state.json"))];

      expect(read.lastSeq).toBe(expected.seq);
      expect(read.state).toEqual(stateOf(batches(expected.seq)));
      expect(opened.recovery).toMatchObject({
        rolledForward: expected.rolledForward,
        discardedIntent: expected.discardedIntent,
        recordsReplayed: expected.rolledForward ? 1 : 0,
        bytesDiscarded: expected.discardedIntent ? wal!.length : 0,
      });
      // Batch 6 went on top, cleanly: one file, version 6 or 7, and no WAL or temp file.
      expect(fs.readdirSync(dir).sort()).toEqual(["LOCK", "state.json"]);
      const final = fs.readFileSync(path.join(dir, "state.json"));
      const seq = expected.seq + 1;
      expect(sha256(final)).toBe(
        sha256(encodeStateRecord({ seq, state: stateOf([...batches(expected.seq), batch(6)]) }, seq)),
      );
    },
  );
});

describe("event-log: SIGKILL at every named crash point", () => {
  // SIGKILL keeps the page cache: once the line is written, the batch survives the kill.
  const outcomes: Record<string, 4 | 5> = { "event.before-write": 4, "event.after-write": 5 };

  it("covers every point the adapter announces", () => {
    expect(Object.keys(outcomes)).toEqual([...EVENT_LOG_POINTS]);
  });

  it.each([...EVENT_LOG_POINTS])("%s: a fresh process recovers the state before or after the batch", async (point) => {
    const { dir, read } = await crashAt("event-log", point, { clock: "logical" });
    expect(read.lastSeq).toBe(outcomes[point]);
    expect(read.state).toEqual(stateOf(batches(outcomes[point]!)));
    const log = (read as { log?: unknown }).log as string[];
    expect(log).toHaveLength(outcomes[point]!);
    expect(log.map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual(
      batches(outcomes[point]!).map((ops, i) =>
        expect.objectContaining({ run_id: "walcheck", type: "kv.batch", seq: i + 1, ts: i + 1, payload: { ops } }),
      ),
    );
    expect(fs.readFileSync(path.join(dir, "walcheck.wal.jsonl"), "utf8").split("\n")).toHaveLength(
      outcomes[point]! + 2,
    );
  });
});

describe("event-log files", () => {
  async function runIn(dir: string, config: Record<string, unknown>) {
    const client = startServe({ adapter: "event-log", config });
    ok(await client.request("open", { dir, config: {} }));
    await appendBatches(client, 1, 5);
    const read = ok(await client.request("read", {}));
    await closeClean(client);
    return {
      bytes: fs.readFileSync(path.join(dir, "walcheck.wal.jsonl")),
      log: (read as { log?: unknown }).log as string[],
    };
  }

  it("with clock logical, the same appends in two directories give byte-identical files", async () => {
    const [a, b] = [
      await runIn(path.join(await tempDir(), "a"), { clock: "logical" }),
      await runIn(path.join(await tempDir(), "b"), { clock: "logical" }),
    ];
    expect(a.bytes.equals(b.bytes)).toBe(true);
    // `read.log` is the file's lines, in replay order.
    expect(`${a.log.join("\n")}\n`).toBe(a.bytes.toString("utf8"));
    expect(a.log.map((line) => (JSON.parse(line) as { ts: number }).ts)).toEqual([1, 2, 3, 4, 5]);
  });

  it("with the wall clock, events carry epoch milliseconds", async () => {
    const before = Date.now();
    const { log } = await runIn(path.join(await tempDir(), "wall"), { clock: "wall" });
    for (const line of log) expect((JSON.parse(line) as { ts: number }).ts).toBeGreaterThanOrEqual(before);
  });

  it("refuses a log whose last line holds a whole event and more (a lost newline), and still cuts a real torn tail", async () => {
    const dir = await tempDir();
    const adapter = createEventLogAdapter();
    await adapter.open(dir, { clock: "logical" });
    for (let i = 1; i <= 3; i++) await adapter.append(batch(i));
    await adapter.close();
    const file = path.join(dir, "walcheck.wal.jsonl");
    const good = fs.readFileSync(file);
    const [l1, l2, l3] = good
      .toString("utf8")
      .split("\n")
      .map((l) => Buffer.byteLength(l));
    // One flipped bit turns the newline after event 2 into "*": events 2 and 3 become one bad last line.
    const merged = Buffer.from(good);
    const newline = l1! + 1 + l2!;
    expect(merged[newline]).toBe(0x0a);
    merged[newline] = 0x2a;
    fs.writeFileSync(file, merged);
    await expect(createEventLogAdapter().open(dir, {})).rejects.toMatchObject({
      code: "WAL_CORRUPT",
      message: expect.stringContaining("the whole event seq 2 and"),
    });
    expect(fs.readFileSync(file).equals(merged)).toBe(true);

    // Half of the last line, as a crash mid-append leaves it: cut off and counted.
    const torn = good.subarray(0, good.length - 1 - Math.floor(l3! / 2));
    fs.writeFileSync(file, torn);
    const reopened = createEventLogAdapter();
    expect(await reopened.open(dir, {})).toMatchObject({
      lastSeq: 2,
      recovery: { bytesDiscarded: torn.length - (l1! + 1 + l2! + 1) },
    });
    expect(await reopened.check!()).toEqual(["ok"]);
    await reopened.close();
  });

  it("rejects an unknown clock with WAL_CONFIG", async () => {
    const adapter = createEventLogAdapter();
    await expect(adapter.open(await tempDir(), { clock: "sundial" })).rejects.toMatchObject({ code: "WAL_CONFIG" });
  });
});

describe("check finds damage", () => {
  it("state-file: a flipped byte in state.json and a WAL left behind are one line each", async () => {
    const dir = await tempDir();
    const adapter = createStateFileAdapter();
    await adapter.open(dir, {});
    await adapter.append(batch(1));
    expect(await adapter.check!()).toEqual(["ok"]);
    const file = path.join(dir, "state.json");
    const bytes = fs.readFileSync(file);
    bytes[bytes.indexOf("y1")] = "z".charCodeAt(0);
    fs.writeFileSync(file, bytes);
    fs.writeFileSync(stateWalPath(file), "{}\n");
    const problems = await adapter.check!();
    expect(problems).toHaveLength(2);
    expect(problems[0]).toContain("checksum mismatch");
    expect(problems[1]).toContain("left over with no write in progress");
    await adapter.close();
  });

  it("event-log: bytes after the last complete event", async () => {
    const dir = await tempDir();
    const adapter = createEventLogAdapter();
    await adapter.open(dir, { clock: "logical" });
    await adapter.append(batch(1));
    fs.appendFileSync(path.join(dir, "walcheck.wal.jsonl"), '{"torn');
    expect(await adapter.check!()).toEqual([
      `${path.join(dir, "walcheck.wal.jsonl")}: 6 bytes after the last complete event`,
    ]);
    await adapter.close();
  });
});

describe("fail-stop after an I/O error", () => {
  const eio = () => {
    throw Object.assign(new Error("EIO: i/o error"), { code: "EIO" });
  };

  it("event-log: after a failed fdatasync no later append is acknowledged, until a reopen", async () => {
    const dir = await tempDir();
    const adapter = createEventLogAdapter();
    await adapter.open(dir, { clock: "logical" });
    await adapter.append(batch(1));
    const spy = vi.spyOn(fs, "fdatasyncSync").mockImplementationOnce(eio);
    await expect(adapter.append(batch(2))).rejects.toMatchObject({ code: "WAL_IO" });
    spy.mockRestore();
    // EventLog cut the failed line off and is now fail-stop: no later ack until a reopen.
    await expect(adapter.append(batch(3))).rejects.toMatchObject({ code: "WAL_FAILED" });
    await adapter.close();
    const again = createEventLogAdapter();
    expect((await again.open(dir, { clock: "logical" })).lastSeq).toBe(1);
    expect(await again.append(batch(2))).toEqual({ seq: 2 });
    await again.close();
  });

  it("state-file: after a failed fsync no later append is acknowledged, until a reopen", async () => {
    const dir = await tempDir();
    const adapter = createStateFileAdapter();
    await adapter.open(dir, {});
    await adapter.append(batch(1));
    const spy = vi.spyOn(fs, "fsyncSync").mockImplementationOnce(eio);
    await expect(adapter.append(batch(2))).rejects.toMatchObject({ code: "WAL_IO" });
    spy.mockRestore();
    await expect(adapter.append(batch(3))).rejects.toMatchObject({ code: "WAL_FAILED" });
    await adapter.close();
    const again = createStateFileAdapter();
    const opened = await again.open(dir, {});
    // The WAL of batch 2 was never synced: recovery drops it or, complete in the page cache, applies it.
    expect([1, 2]).toContain(opened.lastSeq);
    expect(await again.check!()).toEqual(["ok"]);
    await again.close();
  });
});
