import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import type BetterSqlite3 from "better-sqlite3";
import { crashpoint } from "../reference-impl/crashpoint.js";
import { WalError } from "../reference-impl/errors.js";
import type { WalAdapter } from "./wal-adapter.js";

// better-sqlite3 is CommonJS; require it (no ESM lexer pass at start-up) and only when
// `--adapter sqlite` is asked for.
const require = createRequire(import.meta.url);

/** `open.config` of the SQLite adapter. */
export interface SqliteConfig {
  /** FULL (default) syncs the WAL at every commit: durable across power loss. NORMAL does not. */
  synchronous?: "FULL" | "NORMAL";
}

/** Named crash points of the SQLite adapter, around its commits and checkpoints. */
export const SQLITE_POINTS = ["sqlite.before-commit", "sqlite.after-commit", "sqlite.before-checkpoint", "sqlite.after-checkpoint"] as const;

function parseConfig(raw: Record<string, unknown>): Required<SqliteConfig> {
  for (const key of Object.keys(raw)) if (key !== "synchronous") throw new WalError("WAL_CONFIG", `invalid sqlite config: ${key}: unknown field`);
  const synchronous = raw.synchronous ?? "FULL";
  if (synchronous !== "FULL" && synchronous !== "NORMAL") throw new WalError("WAL_CONFIG", `invalid sqlite config: synchronous: expected "FULL" or "NORMAL", got ${JSON.stringify(synchronous)}`);
  return { synchronous };
}

/**
 * SQLite as a WAL under test: better-sqlite3, journal_mode=WAL, the key-value model in one
 * table, one transaction per batch, the batch's seq in the same transaction.
 * Checkpoints map to `PRAGMA wal_checkpoint(PASSIVE | TRUNCATE)`, `check` to
 * `PRAGMA quick_check`.
 */
export function createSqliteAdapter(defaults: SqliteConfig = {}): WalAdapter {
  const base = parseConfig(defaults as Record<string, unknown>);
  let db: BetterSqlite3.Database | undefined;
  let lastSeq = 0;
  let applyBatch: ((ops: { key: string; value: string | null }[]) => number) | undefined;
  const opened = () => {
    if (!db || !applyBatch) throw new WalError("WAL_CLOSED", "open must come first");
    return { db, applyBatch };
  };

  return {
    hello() {
      const Database = require("better-sqlite3") as typeof BetterSqlite3;
      const version = (new Database(":memory:").prepare("select sqlite_version() as v").get() as { v: string }).v;
      return {
        name: `sqlite ${version} (better-sqlite3, WAL, synchronous=${base.synchronous})`,
        protocol: 1,
        // synchronous=NORMAL in WAL mode survives a process crash, not a power loss.
        durability: base.synchronous === "FULL" ? "power" : "process",
        features: ["checkpoint", "checkpoint.truncate", "check"],
        points: [...SQLITE_POINTS],
      };
    },

    async open(dir, config) {
      const cfg = parseConfig({ ...defaults, ...config });
      const t0 = performance.now();
      fs.mkdirSync(dir, { recursive: true });
      const Database = require("better-sqlite3") as typeof BetterSqlite3;
      const handle = new Database(path.join(dir, "kv.sqlite"));
      handle.pragma("journal_mode = WAL");
      handle.pragma(`synchronous = ${cfg.synchronous}`);
      handle.exec("create table if not exists kv (key text primary key, value text not null); create table if not exists meta (name text primary key, seq integer not null)");
      lastSeq = (handle.prepare("select seq from meta where name = 'seq'").get() as { seq: number } | undefined)?.seq ?? 0;
      const upsert = handle.prepare("insert into kv (key, value) values (?, ?) on conflict(key) do update set value = excluded.value");
      const remove = handle.prepare("delete from kv where key = ?");
      const setSeq = handle.prepare("insert into meta (name, seq) values ('seq', ?) on conflict(name) do update set seq = excluded.seq");
      applyBatch = handle.transaction((ops: { key: string; value: string | null }[]) => {
        for (const op of ops) {
          if (op.value === null) remove.run(op.key);
          else upsert.run(op.key, op.value);
        }
        setSeq.run(lastSeq + 1);
        // Inside the transaction, before better-sqlite3 commits it.
        crashpoint("sqlite.before-commit");
        return lastSeq + 1;
      });
      db = handle;
      return { lastSeq, recovery: { elapsedMs: performance.now() - t0, recordsReplayed: 0, bytesDiscarded: 0 } };
    },

    async append(ops) {
      const seq = opened().applyBatch(ops);
      lastSeq = seq;
      crashpoint("sqlite.after-commit");
      return { seq };
    },

    async checkpoint(mode) {
      const t0 = performance.now();
      crashpoint("sqlite.before-checkpoint");
      const [row] = opened().db.pragma(`wal_checkpoint(${mode === "truncate" ? "TRUNCATE" : "PASSIVE"})`) as { busy: number; log: number; checkpointed: number }[];
      crashpoint("sqlite.after-checkpoint");
      return { stats: { logFrames: Math.max(0, row?.log ?? 0), checkpointedFrames: Math.max(0, row?.checkpointed ?? 0), elapsedMs: performance.now() - t0, busy: row?.busy ?? 0 } };
    },

    async read() {
      const rows = opened().db.prepare("select key, value from kv").all() as { key: string; value: string }[];
      return { lastSeq, state: Object.fromEntries(rows.map((r) => [r.key, r.value])) };
    },

    async check() {
      const rows = opened().db.pragma("quick_check") as { quick_check: string }[];
      return rows.map((r) => r.quick_check);
    },

    async close() {
      db?.close();
      db = undefined;
      applyBatch = undefined;
    },
  };
}
