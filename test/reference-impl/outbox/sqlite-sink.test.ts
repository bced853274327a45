import fs from "node:fs";
import path from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { makeEntry, SinkUnavailableError, SqliteSink } from "../../../reference-impl/outbox/index.js";
import { tempDir } from "../../helpers.js";
import { closeAfter, holdExclusiveLock, sqliteSinkIn } from "./outbox-test-kit.js";

const T0 = 1_700_000_000_000;

describe("SqliteSink", () => {
  it("applies each effect once per idempotency key and a replay is a duplicate; the data is in the file", async () => {
    const { dbFile, sink } = await sqliteSinkIn();
    const entries = [
      makeEntry(1, "balance.update", { account: "acme", delta: 5, op: "a" }, T0),
      makeEntry(2, "balance.update", { account: "acme", delta: -2, op: "b" }, T0),
      makeEntry(3, "balance.update", { account: "zen", delta: 7, op: "c" }, T0),
      makeEntry(4, "trade.log", { tradeId: "t1", qty: 3 }, T0),
      makeEntry(5, "position.open", { positionId: "p1", qty: 3 }, T0),
      makeEntry(6, "position.update", { positionId: "p1", qty: 4 }, T0),
      makeEntry(7, "position.close", { positionId: "p1" }, T0),
      makeEntry(8, "session.create", { sessionId: "s1" }, T0),
    ];
    for (const e of entries) expect(await sink.apply(e)).toBe("applied");
    // A replay of every entry (new ids, same operations): the keys are known, nothing is applied again.
    for (const e of entries) expect(await sink.apply(makeEntry(e.n + 100, e.type, e.args, T0))).toBe("duplicate");

    const snap = await sink.snapshot();
    expect(snap.applied.map((a) => [a.n, a.type, a.entryId, a.idempotencyKey])).toEqual(
      entries.map((e) => [e.n, e.type, e.id, e.idempotencyKey]),
    );
    expect(snap.balances).toEqual({ acme: 3, zen: 7 });
    expect(snap).toMatchObject({ trades: 1, positions: 1, events: 0 });
    await sink.close();

    const db = new BetterSqlite3(dbFile, { readonly: true });
    try {
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(db.prepare("select open, args from positions").get()).toEqual({ open: 0, args: '{"positionId":"p1"}' });
      expect(db.prepare("select count(*) from outbox_applied").pluck().get()).toBe(8);
    } finally {
      db.close();
    }
  });

  it("an entry it refuses rolls back whole: no key row, no effect, and the error is not an outage", async () => {
    const { sink } = await sqliteSinkIn();
    const bad = makeEntry(1, "balance.update", { account: "acme", delta: "lots" }, T0);
    const error = await sink.apply(bad).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(error).not.toBeInstanceOf(SinkUnavailableError);
    expect(await sink.apply(makeEntry(2, "trade.log", { tradeId: "t1", px: 1 }, T0))).toBe("applied");
    // The same trade id with other args: SQLite's primary key refuses it (the entry's fault, not an outage).
    const conflict = await sink.apply(makeEntry(3, "trade.log", { tradeId: "t1", px: 2 }, T0)).catch((e: unknown) => e);
    expect(conflict).toMatchObject({ code: "SQLITE_CONSTRAINT_PRIMARYKEY" });
    expect(conflict).not.toBeInstanceOf(SinkUnavailableError);
    const snap = await sink.snapshot();
    expect(snap.applied.map((a) => a.n)).toEqual([2]);
    expect(snap.balances).toEqual({});
    expect(snap.trades).toBe(1);
  });

  it("another connection holding the write lock past the busy timeout is an outage (SinkUnavailableError); after it commits, apply goes through", async () => {
    const { dbFile, sink } = await sqliteSinkIn(20);
    const lock = holdExclusiveLock(dbFile);
    const entry = makeEntry(1, "balance.update", { account: "acme", delta: 5, op: "a" }, T0);
    const error = await sink.apply(entry).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SinkUnavailableError);
    expect((error as SinkUnavailableError).message).toMatch(/SQLITE_BUSY/);
    expect((error as Error).cause).toMatchObject({ code: "SQLITE_BUSY" });
    lock.release();
    expect(await sink.apply(entry)).toBe("applied");
    expect((await sink.snapshot()).balances).toEqual({ acme: 5 });
  });

  it("the database's directory removed under an open connection is an outage, not a silent write to a deleted file", async () => {
    const { dbFile, sink } = await sqliteSinkIn();
    expect(await sink.apply(makeEntry(1, "balance.update", { account: "acme", delta: 5, op: "a" }, T0))).toBe(
      "applied",
    );
    fs.rmSync(path.dirname(dbFile), { recursive: true });
    const entry = makeEntry(2, "balance.update", { account: "acme", delta: 1, op: "b" }, T0);
    await expect(sink.apply(entry)).rejects.toBeInstanceOf(SinkUnavailableError);
    await expect(sink.apply(entry)).rejects.toThrow(/directory .* does not exist/);
    // The directory is back (an empty one, as after a restore from nothing): the sink reconnects by itself.
    fs.mkdirSync(path.dirname(dbFile));
    expect(await sink.apply(entry)).toBe("applied");
    expect((await sink.snapshot()).balances).toEqual({ acme: 1 });
  });

  it("open fails with SinkUnavailableError when the directory does not exist; writeDirect goes to events, outside the key table", async () => {
    const dir = await tempDir();
    await expect(SqliteSink.open(path.join(dir, "missing", "db.sqlite"))).rejects.toBeInstanceOf(SinkUnavailableError);
    const sink = closeAfter(await SqliteSink.open(path.join(dir, "db.sqlite")));
    await sink.writeDirect("metrics.tick", { cpu: 0.5 });
    await sink.writeDirect("metrics.tick", { cpu: 0.5 });
    expect(await sink.snapshot()).toMatchObject({ events: 2, applied: [] });
    await sink.close();
    await expect(sink.apply(makeEntry(1, "x", {}, T0))).rejects.toBeInstanceOf(SinkUnavailableError);
  });
});
