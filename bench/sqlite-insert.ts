import fs from "node:fs";
import path from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import { requireOptional } from "../harness/protocol/optional-dependency.js";
import { nextKey, runOne, taskJson, VALUE, type RunOptions, type TaskJson } from "./bench-util.js";

// better-sqlite3 (optional) is loaded only when the sqlite subject runs.
const loadSqlite = () => requireOptional<typeof BetterSqlite3>("better-sqlite3", "the bench's sqlite subject");

export function sqliteVersion(): string {
  const Database = loadSqlite();
  const db = new Database(":memory:");
  try {
    return (db.prepare("select sqlite_version() as v").get() as { v: string }).v;
  } finally {
    db.close();
  }
}

/**
 * better-sqlite3 in WAL mode: one autocommit `INSERT OR REPLACE` (one transaction) per
 * iteration into kv(key TEXT PRIMARY KEY, value TEXT). Default wal_autocheckpoint, so the
 * periodic checkpoint cost is part of the figure, as it would be in production.
 */
export async function benchSqlite(dir: string, synchronous: "FULL" | "NORMAL", opts: RunOptions): Promise<TaskJson> {
  const dbDir = path.join(dir, `sqlite-${synchronous.toLowerCase()}`);
  fs.mkdirSync(dbDir, { recursive: true });
  const Database = loadSqlite();
  const db = new Database(path.join(dbDir, "kv.sqlite"));
  try {
    const journalMode = db.pragma("journal_mode = WAL", { simple: true });
    db.pragma(`synchronous = ${synchronous}`);
    const syncLevel = db.pragma("synchronous", { simple: true });
    const autocheckpoint = db.pragma("wal_autocheckpoint", { simple: true });
    if (String(journalMode).toLowerCase() !== "wal")
      throw new Error(`sqlite refused journal_mode=WAL (got ${String(journalMode)})`);
    db.exec("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT)");
    const insert = db.prepare("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)");
    const task = await runOne(
      `sqlite WAL synchronous=${synchronous}`,
      () => insert.run(nextKey(), VALUE),
      { async: false },
      opts,
    );
    const rows = (db.prepare("select count(*) as n from kv").get() as { n: number }).n;
    return taskJson(`sqlite-${synchronous.toLowerCase()}`, task, 1, {
      journalMode,
      synchronous: syncLevel,
      walAutocheckpointPages: autocheckpoint,
      rows,
    });
  } finally {
    db.close();
    fs.rmSync(dbDir, { recursive: true, force: true });
  }
}
