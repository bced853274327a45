import fs from "node:fs";
import path from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import { requireOptional } from "../../harness/protocol/optional-dependency.js";
import { stableStringify, type JsonValue } from "../../harness/protocol/stable-json.js";
import type { OutboxEntry } from "./outbox-entry.js";
import { SinkUnavailableError, type ApplyResult, type OutboxSink, type SinkSnapshot } from "./sink.js";

// better-sqlite3 (optional, CommonJS) is loaded only when a SQLite sink is opened.
const loadSqlite = () => requireOptional<typeof BetterSqlite3>("better-sqlite3", "a sqlite: sink");

export interface SqliteSinkOptions {
  /**
   * How long a write waits for another connection's lock before the database counts as
   * unavailable. Default 1000 ms. better-sqlite3 waits synchronously, blocking the event
   * loop meanwhile: keep it short.
   */
  busyTimeoutMs?: number;
  /** Epoch ms for applied_at and events.at; default Date.now. */
  now?: () => number;
}

export const SQLITE_SINK_DEFAULTS = { busyTimeoutMs: 1000 } as const;

const SCHEMA = `
create table if not exists outbox_applied (idempotency_key text primary key, entry_id text not null, n integer not null, type text not null, args text not null, applied_at integer not null);
create table if not exists balances (account text primary key, amount real not null);
create table if not exists trades (trade_id text primary key, args text not null);
create table if not exists positions (position_id text primary key, args text not null, open integer not null);
create table if not exists events (id integer primary key autoincrement, type text not null, args text not null, at integer not null);
`;

// SQLite result codes that mean the database cannot be reached or written right now
// (locked past the busy timeout, file or directory gone, I/O error, disk full, damaged):
// an outage, never the entry's fault. Extended codes (SQLITE_IOERR_WRITE) share the prefix.
const OUTAGE_CODES = [
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
  "SQLITE_CANTOPEN",
  "SQLITE_IOERR",
  "SQLITE_FULL",
  "SQLITE_READONLY",
  "SQLITE_CORRUPT",
  "SQLITE_NOTADB",
  "SQLITE_PROTOCOL",
];

function isOutage(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && OUTAGE_CODES.some((c) => code === c || code.startsWith(`${c}_`));
}

interface Connection {
  db: BetterSqlite3.Database;
  /** The database file's identity when opened: a different one (or none) means it was moved or removed. */
  dev: number;
  ino: number;
  apply: BetterSqlite3.Transaction<(entry: OutboxEntry) => ApplyResult>;
  insertEvent: BetterSqlite3.Statement;
  snapshot: BetterSqlite3.Transaction<() => SinkSnapshot>;
}

/**
 * The outbox's database on SQLite (better-sqlite3): WAL journal mode, synchronous=FULL,
 * the tables of sink.ts. `apply` records the key and applies the effect in one
 * BEGIN IMMEDIATE transaction. A database that cannot be reached throws
 * SinkUnavailableError and the connection is reopened on the next call.
 *
 * ```ts
 * const sink = await SqliteSink.open("data/db.sqlite");
 * const outbox = await Outbox.open("data/wal", { sink, ownsSink: true });
 * ```
 */
export class SqliteSink implements OutboxSink {
  readonly kind = "sqlite";
  readonly file: string;
  private readonly busyTimeoutMs: number;
  private readonly now: () => number;
  private conn: Connection | undefined;
  private closed = false;

  private constructor(file: string, options: SqliteSinkOptions) {
    this.file = file;
    this.busyTimeoutMs = options.busyTimeoutMs ?? SQLITE_SINK_DEFAULTS.busyTimeoutMs;
    if (!Number.isInteger(this.busyTimeoutMs) || this.busyTimeoutMs < 0)
      throw new TypeError(`busyTimeoutMs must be an integer >= 0, got ${this.busyTimeoutMs}`);
    this.now = options.now ?? Date.now;
  }

  /** Open (creating if needed) the database at `file` and its tables. Throws SinkUnavailableError if it cannot. */
  static async open(file: string, options: SqliteSinkOptions = {}): Promise<SqliteSink> {
    const sink = new SqliteSink(path.resolve(file), options);
    sink.connection();
    return sink;
  }

  async apply(entry: OutboxEntry): Promise<ApplyResult> {
    return this.run((c) => c.apply.immediate(entry));
  }

  async writeDirect(type: string, args: Record<string, unknown>): Promise<void> {
    if (typeof type !== "string" || type.length === 0)
      throw new TypeError(`type must be a non-empty string, got ${JSON.stringify(type)}`);
    this.run((c) => c.insertEvent.run(type, stableStringify(args), this.now()));
  }

  async snapshot(): Promise<SinkSnapshot> {
    return this.run((c) => c.snapshot.deferred());
  }

  async close(): Promise<void> {
    this.closed = true;
    this.drop();
  }

  private run<T>(fn: (c: Connection) => T): T {
    const c = this.connection();
    try {
      return fn(c);
    } catch (error) {
      if (!isOutage(error)) throw error;
      const code = (error as { code: string }).code;
      // A lock wait ends by itself; anything else may need a fresh connection (and file).
      if (!code.startsWith("SQLITE_BUSY") && !code.startsWith("SQLITE_LOCKED")) this.drop();
      throw new SinkUnavailableError(
        `SQLite database ${this.file} unavailable (${code}): ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  private connection(): Connection {
    if (this.closed) throw new SinkUnavailableError(`the SQLite sink ${this.file} is closed`);
    if (this.conn) {
      // With the directory removed, SQLite in WAL mode goes on writing to the unlinked
      // files and reports success: check the file is still the one opened (one stat).
      const st = statOrUndefined(this.file);
      if (st && st.dev === this.conn.dev && st.ino === this.conn.ino) return this.conn;
      this.drop();
      throw new SinkUnavailableError(`SQLite database ${this.file} was moved or removed (or its directory was)`);
    }
    this.conn = this.connect();
    return this.conn;
  }

  private connect(): Connection {
    const dir = path.dirname(this.file);
    if (!fs.existsSync(dir))
      throw new SinkUnavailableError(`cannot open SQLite database ${this.file}: directory ${dir} does not exist`);
    const Database = loadSqlite();
    let db: BetterSqlite3.Database | undefined;
    try {
      db = new Database(this.file, { timeout: this.busyTimeoutMs });
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      db.exec(SCHEMA);
      const st = fs.statSync(this.file);
      return { db, dev: st.dev, ino: st.ino, ...prepare(db, this.now) };
    } catch (error) {
      db?.close();
      throw new SinkUnavailableError(`cannot open SQLite database ${this.file}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  private drop(): void {
    const c = this.conn;
    this.conn = undefined;
    try {
      c?.db.close();
    } catch {
      // Closing a connection to a vanished file may fail too; it is gone either way.
    }
  }
}

function statOrUndefined(file: string): fs.Stats | undefined {
  try {
    return fs.statSync(file);
  } catch {
    return undefined;
  }
}

function prepare(db: BetterSqlite3.Database, now: () => number): Omit<Connection, "db" | "dev" | "ino"> {
  const insertKey = db.prepare(
    "insert into outbox_applied (idempotency_key, entry_id, n, type, args, applied_at) values (?, ?, ?, ?, ?, ?) on conflict (idempotency_key) do nothing",
  );
  const addBalance = db.prepare(
    "insert into balances (account, amount) values (?, ?) on conflict (account) do update set amount = amount + excluded.amount",
  );
  // A second trade.log of the same tradeId with other args is a conflict the entry must own: no ON CONFLICT.
  const insertTrade = db.prepare("insert into trades (trade_id, args) values (?, ?)");
  const setPosition = db.prepare(
    "insert into positions (position_id, args, open) values (?, ?, ?) on conflict (position_id) do update set args = excluded.args, open = excluded.open",
  );
  const updatePosition = db.prepare(
    "insert into positions (position_id, args, open) values (?, ?, 1) on conflict (position_id) do update set args = excluded.args",
  );

  const applyEffect = (type: string, args: Record<string, JsonValue>): void => {
    switch (type) {
      case "balance.update": {
        const { account, delta } = args;
        if (typeof account !== "string" || account.length === 0)
          throw new TypeError(`balance.update needs a string account, got ${JSON.stringify(account)}`);
        if (typeof delta !== "number" || !Number.isFinite(delta))
          throw new TypeError(`balance.update needs a finite number delta, got ${JSON.stringify(delta)}`);
        addBalance.run(account, delta);
        return;
      }
      case "trade.log":
        insertTrade.run(requireId(type, args, "tradeId"), stableStringify(args));
        return;
      case "position.open":
      case "position.close":
        setPosition.run(requireId(type, args, "positionId"), stableStringify(args), type === "position.open" ? 1 : 0);
        return;
      case "position.update":
        updatePosition.run(requireId(type, args, "positionId"), stableStringify(args));
        return;
      default:
      // Any other critical type (session.create, ...) is recorded by its key row alone.
    }
  };

  const apply = db.transaction((entry: OutboxEntry): ApplyResult => {
    const inserted = insertKey.run(
      entry.idempotencyKey,
      entry.id,
      entry.n,
      entry.type,
      stableStringify(entry.args),
      now(),
    );
    if (inserted.changes === 0) return "duplicate";
    applyEffect(entry.type, entry.args);
    return "applied";
  });

  const appliedRows = db.prepare(
    "select idempotency_key as idempotencyKey, entry_id as entryId, n, type from outbox_applied order by rowid",
  );
  const balanceRows = db.prepare("select account, amount from balances order by account");
  const count = (table: string) => db.prepare(`select count(*) from ${table}`).pluck();
  const [trades, positions, events] = [count("trades"), count("positions"), count("events")];
  const snapshot = db.transaction((): SinkSnapshot => ({
    applied: appliedRows.all() as SinkSnapshot["applied"],
    balances: Object.fromEntries(
      (balanceRows.all() as { account: string; amount: number }[]).map((r) => [r.account, r.amount]),
    ),
    trades: trades.get() as number,
    positions: positions.get() as number,
    events: events.get() as number,
  }));

  return { apply, insertEvent: db.prepare("insert into events (type, args, at) values (?, ?, ?)"), snapshot };
}

function requireId(type: string, args: Record<string, JsonValue>, field: string): string {
  const id = args[field];
  if (typeof id !== "string" || id.length === 0)
    throw new TypeError(`${type} needs a string ${field}, got ${JSON.stringify(id)}`);
  return id;
}
