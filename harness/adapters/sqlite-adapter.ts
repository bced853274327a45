import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type BetterSqlite3 from "better-sqlite3";
import { crashpoint } from "../protocol/crashpoint.js";
import { requireOptional } from "../protocol/optional-dependency.js";
import { WalError } from "../../reference-impl/errors.js";
import { netOps } from "../protocol/transaction-steps.js";
import type { WalAdapter } from "../protocol/wal-adapter.js";

// better-sqlite3 (optional, CommonJS: no ESM lexer pass at start-up) is loaded only when
// `--adapter sqlite` is asked for; missing, it is a UsageError naming the package.
const loadSqlite = (): typeof BetterSqlite3 =>
  requireOptional<typeof BetterSqlite3>("better-sqlite3", "--adapter sqlite");

/** `open.config` of the SQLite adapter. */
export interface SqliteConfig {
  /** FULL (default) syncs the WAL at every commit: durable across power loss. NORMAL does not. */
  synchronous?: "FULL" | "NORMAL";
}

/** Named crash points of the SQLite adapter, around its commits and checkpoints. */
export const SQLITE_POINTS = [
  "sqlite.before-commit",
  "sqlite.after-commit",
  "sqlite.before-checkpoint",
  "sqlite.after-checkpoint",
] as const;

function parseConfig(raw: Record<string, unknown>): Required<SqliteConfig> {
  for (const key of Object.keys(raw))
    if (key !== "synchronous") throw new WalError("WAL_CONFIG", `invalid sqlite config: ${key}: unknown field`);
  const synchronous = raw.synchronous ?? "FULL";
  if (synchronous !== "FULL" && synchronous !== "NORMAL")
    throw new WalError(
      "WAL_CONFIG",
      `invalid sqlite config: synchronous: expected "FULL" or "NORMAL", got ${JSON.stringify(synchronous)}`,
    );
  return { synchronous };
}

/** How long a write waits for another process's write lock (SQLite's busy_timeout). */
export const SQLITE_BUSY_TIMEOUT_MS = 5000;

interface Opened {
  db: BetterSqlite3.Database;
  /** Run `apply` and bump the seq in one BEGIN IMMEDIATE transaction; the new seq. */
  writeBatch: (apply: () => void) => number;
  /** lastSeq and the state from one read snapshot. */
  snapshot: () => { lastSeq: number; state: Record<string, string> };
  applyOp: (op: { key: string; value: string | null }) => void;
  /** The I/O error that failed a write or checkpoint: every later write is refused until the WAL is reopened. */
  failed?: unknown;
}

/**
 * An error of SQLite's I/O (EIO from fsync, a full disk, a read-only file system): after it the
 * file may have lost pages SQLite believes written, so the process stops writing (fail-stop).
 */
function ioFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && /^SQLITE_(IOERR|FULL|READONLY|CORRUPT|NOTADB)/.test(code);
}

/** Runs `write` unless an earlier I/O error failed the WAL; an I/O error now fails it. */
function failStop<T>(opened: Opened, write: () => T): T {
  if (opened.failed !== undefined)
    throw new WalError(
      "WAL_FAILED",
      `an earlier write failed (${(opened.failed as Error).message}); reopen the WAL to recover`,
      { cause: opened.failed },
    );
  try {
    return write();
  } catch (error) {
    if (ioFailure(error)) opened.failed = error;
    throw error;
  }
}

/** An error the protocol answers with code EINVAL (a request the WAL must refuse, nothing written). */
function invalidRequest(message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code: "EINVAL" });
}

/**
 * SQLite as a WAL under test: better-sqlite3, journal_mode=WAL, the key-value model in one
 * table, one transaction per batch, the batch's seq in the same transaction.
 * Checkpoints map to `PRAGMA wal_checkpoint(PASSIVE | TRUNCATE)`, `check` to
 * `PRAGMA quick_check`, `transaction` to SAVEPOINT / ROLLBACK TO / RELEASE inside one
 * BEGIN IMMEDIATE ... COMMIT.
 *
 * Feature "shared": several processes may open the same directory. Nothing is cached
 * across requests: every write reads the seq inside its BEGIN IMMEDIATE transaction
 * (which holds SQLite's write lock, waiting up to SQLITE_BUSY_TIMEOUT_MS for another
 * process's), and `read` reads lastSeq and the state from one snapshot.
 */
export function createSqliteAdapter(defaults: SqliteConfig = {}): WalAdapter {
  const base = parseConfig(defaults as Record<string, unknown>);
  loadSqlite(); // a missing better-sqlite3 is a UsageError now, not at the first request
  let current: Opened | undefined;
  const opened = (): Opened => {
    if (!current) throw new WalError("WAL_CLOSED", "open must come first");
    return current;
  };

  return {
    hello() {
      const Database = loadSqlite();
      const version = (new Database(":memory:").prepare("select sqlite_version() as v").get() as { v: string }).v;
      return {
        name: `sqlite ${version} (better-sqlite3, WAL, synchronous=${base.synchronous})`,
        protocol: 1,
        // synchronous=NORMAL in WAL mode survives a process crash, not a power loss.
        durability: base.synchronous === "FULL" ? "power" : "process",
        features: ["checkpoint", "checkpoint.truncate", "check", "transaction", "shared", "recover"],
        points: [...SQLITE_POINTS],
      };
    },

    async open(dir, config) {
      if (current) throw new WalError("WAL_INVALID", "the WAL is already open");
      const cfg = parseConfig({ ...defaults, ...config });
      const t0 = performance.now();
      fs.mkdirSync(dir, { recursive: true });
      const Database = loadSqlite();
      const db = new Database(path.join(dir, "kv.sqlite"), { timeout: SQLITE_BUSY_TIMEOUT_MS });
      try {
        db.pragma("journal_mode = WAL");
        db.pragma(`synchronous = ${cfg.synchronous}`);
        db.exec(
          "create table if not exists kv (key text primary key, value text not null); create table if not exists meta (name text primary key, seq integer not null)",
        );
      } catch (error) {
        db.close();
        throw error;
      }
      const upsert = db.prepare(
        "insert into kv (key, value) values (?, ?) on conflict(key) do update set value = excluded.value",
      );
      const remove = db.prepare("delete from kv where key = ?");
      const getSeq = db.prepare("select seq from meta where name = 'seq'").pluck();
      const setSeq = db.prepare(
        "insert into meta (name, seq) values ('seq', ?) on conflict(name) do update set seq = excluded.seq",
      );
      const allRows = db.prepare("select key, value from kv");
      const readSeq = () => (getSeq.get() as number | undefined) ?? 0;
      const applyOp = (op: { key: string; value: string | null }) => {
        if (op.value === null) remove.run(op.key);
        else upsert.run(op.key, op.value);
      };
      // better-sqlite3 runs the function between BEGIN and COMMIT (ROLLBACK if it throws);
      // `.immediate` makes it BEGIN IMMEDIATE, so the seq is read under the write lock.
      const write = db.transaction((apply: () => void) => {
        const seq = readSeq() + 1;
        apply();
        setSeq.run(seq);
        // Inside the transaction, before better-sqlite3 commits it.
        crashpoint("sqlite.before-commit");
        return seq;
      });
      const read = db.transaction(() => ({
        lastSeq: readSeq(),
        state: Object.fromEntries((allRows.all() as { key: string; value: string }[]).map((r) => [r.key, r.value])),
      }));
      current = { db, writeBatch: (apply) => write.immediate(apply), snapshot: () => read.deferred(), applyOp };
      return {
        lastSeq: readSeq(),
        recovery: { elapsedMs: performance.now() - t0, recordsReplayed: 0, bytesDiscarded: 0 },
      };
    },

    async append(ops) {
      const o = opened();
      const seq = failStop(o, () => o.writeBatch(() => ops.forEach(o.applyOp)));
      crashpoint("sqlite.after-commit");
      return { seq };
    },

    async transaction(steps) {
      const o = opened();
      const { db, applyOp } = o;
      // Refuse an unbalanced or empty transaction before BEGIN: nothing written, no seq used.
      const net = netOps(steps);
      if (!Array.isArray(net)) throw invalidRequest(`transaction: ${net.error}`);
      if (net.length === 0) throw invalidRequest("empty transaction");
      const seq = failStop(o, () =>
        o.writeBatch(() => {
          let depth = 0;
          for (const step of steps) {
            if ("put" in step) {
              applyOp(step.put);
            } else if ("savepoint" in step) {
              db.exec(`SAVEPOINT s${++depth}`);
            } else if ("rollback" in step) {
              // ROLLBACK TO keeps the savepoint open; RELEASE closes the (now empty) scope.
              db.exec(`ROLLBACK TO s${depth}; RELEASE s${depth}`);
              depth--;
            } else {
              db.exec(`RELEASE s${depth--}`);
            }
          }
          // Savepoints left open are released (innermost first), then the batch commits.
          while (depth > 0) db.exec(`RELEASE s${depth--}`);
        }),
      );
      crashpoint("sqlite.after-commit");
      return { seq };
    },

    async checkpoint(mode) {
      const t0 = performance.now();
      crashpoint("sqlite.before-checkpoint");
      const o = opened();
      const [row] = failStop(o, () =>
        o.db.pragma(`wal_checkpoint(${mode === "truncate" ? "TRUNCATE" : "PASSIVE"})`),
      ) as {
        busy: number;
        log: number;
        checkpointed: number;
      }[];
      crashpoint("sqlite.after-checkpoint");
      return {
        stats: {
          logFrames: Math.max(0, row?.log ?? 0),
          checkpointedFrames: Math.max(0, row?.checkpointed ?? 0),
          elapsedMs: performance.now() - t0,
          busy: row?.busy ?? 0,
        },
      };
    },

    async read() {
      return opened().snapshot();
    },

    async check() {
      const rows = opened().db.pragma("quick_check") as { quick_check: string }[];
      return rows.map((r) => r.quick_check);
    },

    async close() {
      current?.db.close();
      current = undefined;
    },
  };
}
