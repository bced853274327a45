import type pg from "pg";
import { requireOptional } from "../../harness/protocol/optional-dependency.js";
import type { JsonValue } from "../../harness/protocol/stable-json.js";
import type { OutboxEntry } from "./outbox-entry.js";
import { SinkUnavailableError, type ApplyResult, type OutboxSink, type SinkSnapshot } from "./sink.js";

// The outbox's PostgreSQL sink: the tables of sink.ts in one schema, an entry applied and its
// idempotency key recorded in ONE transaction. The key row goes in first with ON CONFLICT DO
// NOTHING: a replayed entry (or the same entry applied twice at once: the second insert waits
// for the first transaction and then finds the key) inserts nothing and its effect is skipped.
// A failure anywhere rolls the whole transaction back, key included, so a retry applies it.
// The effects follow the SQLite sink's (sqlite-sink.ts), so either sink holds the same state.
//
// Errors: a server that cannot be reached or went away (refused, reset, terminated, timed out,
// SQLSTATE class 08, shutting down or starting up, too many connections) is
// SinkUnavailableError with the driver's error as cause; anything else (an entry the database
// refuses: a constraint, a bad value; a malformed entry's TypeError) is rethrown as it was.

export interface PostgresSinkOptions {
  /** How long to wait for a connection (TCP connect and startup): ms, 5000 by default. */
  connectTimeoutMs?: number;
  /** The schema holding the tables, created if missing: "public" by default. */
  schema?: string;
}

/** A query that gets no answer for this long counts as a lost server (a hung or partitioned host). */
const QUERY_TIMEOUT_MS = 30_000;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** errno names of a socket that could not connect or lost its peer. */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "EADDRNOTAVAIL",
]);

/** SQLSTATEs of a server that is going away or not taking connections (besides class 08). */
const UNAVAILABLE_SQLSTATES = new Set(["57P01", "57P02", "57P03", "53300"]);

/** What node-postgres says when the connection died or never came up (it has no code for these). */
const UNAVAILABLE_MESSAGE =
  /connection terminated|connection timeout|timeout expired|timeout exceeded when trying to connect|query read timeout|not queryable|connection ended|terminating connection|the database system is (starting up|shutting down|in recovery mode)/i;

/** True when `error` (or what it wraps) says the server cannot be reached, rather than that it refused the statement. */
export function isUnavailable(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== "object" || depth > 5) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") {
    if (NETWORK_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
    // Any other SQLSTATE is the server's verdict on the statement: not an outage.
    if (/^[0-9A-Z]{5}$/.test(code)) return false;
  }
  const message = (error as { message?: unknown }).message;
  if (typeof message === "string" && UNAVAILABLE_MESSAGE.test(message)) return true;
  // Node reports a refused dual-stack connect as an AggregateError of one error per address.
  if (error instanceof AggregateError && error.errors.some((e) => isUnavailable(e, depth + 1))) return true;
  return isUnavailable((error as { cause?: unknown }).cause, depth + 1);
}

function requireId(type: string, args: Record<string, JsonValue>, field: string): string {
  const id = args[field];
  if (typeof id !== "string" || id.length === 0)
    throw new TypeError(`${type} needs a string ${field}, got ${JSON.stringify(id)}`);
  return id;
}

export function createPostgresSink(url: string, options: PostgresSinkOptions = {}): OutboxSink {
  const schema = options.schema ?? "public";
  if (!IDENTIFIER.test(schema))
    throw new TypeError(`schema must be a plain SQL identifier (letters, digits, _), not ${JSON.stringify(schema)}`);
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  if (!(Number.isFinite(connectTimeoutMs) && connectTimeoutMs > 0))
    throw new TypeError(`connectTimeoutMs must be a positive number, not ${connectTimeoutMs}`);

  const s = `"${schema}"`;
  const t = {
    applied: `${s}.outbox_applied`,
    balances: `${s}.balances`,
    trades: `${s}.trades`,
    positions: `${s}.positions`,
    events: `${s}.events`,
  };

  // pg (optional) is loaded only when a PostgreSQL sink is made; missing, a UsageError naming it.
  const { Pool } = requireOptional<typeof pg>("pg", "a postgres:// sink");
  const pool = new Pool({
    connectionString: url,
    max: 2,
    connectionTimeoutMillis: connectTimeoutMs,
    query_timeout: QUERY_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    application_name: "walcheck-outbox",
  });
  // An idle client whose server went away (shutdown, restart, network) emits 'error' on the
  // pool, which drops it; without a listener that event would crash the process. The next
  // caller gets a new connection, or the outage as SinkUnavailableError.
  pool.on("error", () => {});

  let closed = false;
  let ready: Promise<void> | undefined;

  const unavailable = (what: string, error: unknown): SinkUnavailableError => {
    const detail =
      error instanceof Error ? error.message || (error as { code?: string }).code || error.name : String(error);
    return new SinkUnavailableError(`PostgreSQL unavailable (${what}): ${detail}`, { cause: error });
  };

  /**
   * Run `fn` on a pooled client, in a transaction opened by `begin` when given (COMMIT after,
   * ROLLBACK on any error). Errors are classified; a client whose connection broke (lost,
   * unreachable, or whose ROLLBACK failed) is destroyed, never returned to the pool.
   */
  async function withClient<T>(what: string, fn: (client: pg.PoolClient) => Promise<T>, begin?: string): Promise<T> {
    if (closed) throw new Error("the PostgreSQL sink is closed");
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw isUnavailable(error) ? unavailable(what, error) : error;
    }
    // pg-pool listens for a client's errors only while it is idle: a connection lost while
    // this code holds it (between two queries) would otherwise be an unhandled 'error' event.
    let broken: Error | undefined;
    const onError = (error: Error) => {
      broken ??= error;
    };
    client.on("error", onError);
    let inTransaction = false;
    try {
      if (begin !== undefined) {
        await client.query(begin);
        inTransaction = true;
      }
      const result = await fn(client);
      if (inTransaction) {
        inTransaction = false;
        await client.query("COMMIT");
      }
      return result;
    } catch (error) {
      if (inTransaction) {
        try {
          await client.query("ROLLBACK");
        } catch (rollbackError) {
          // The connection is unusable; the server rolls back a transaction whose connection ends.
          broken ??= rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        }
      }
      if (isUnavailable(error)) {
        broken ??= error instanceof Error ? error : new Error(String(error));
        throw unavailable(what, error);
      }
      // The statement's error decides what the caller hears (an entry the database refused
      // stays that, even if the connection then broke): the client's fate is decided apart.
      throw error;
    } finally {
      client.removeListener("error", onError);
      // release(error) destroys the client instead of returning it to the pool.
      client.release(broken);
    }
  }

  function ensureTables(): Promise<void> {
    ready ??= withClient(
      "create tables",
      async (client) => {
        // Two processes creating the same tables at once would collide on the catalog's unique
        // indexes: serialise them (the lock ends with the transaction).
        await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`walcheck.outbox.tables.${schema}`]);
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
        await client.query(`CREATE TABLE IF NOT EXISTS ${t.applied} (
          seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
          idempotency_key text PRIMARY KEY,
          entry_id text NOT NULL,
          n bigint NOT NULL,
          type text NOT NULL,
          args jsonb NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now())`);
        await client.query(`CREATE TABLE IF NOT EXISTS ${t.balances} (
          account text PRIMARY KEY,
          amount double precision NOT NULL)`);
        await client.query(`CREATE TABLE IF NOT EXISTS ${t.trades} (
          trade_id text PRIMARY KEY,
          args jsonb NOT NULL)`);
        await client.query(`CREATE TABLE IF NOT EXISTS ${t.positions} (
          position_id text PRIMARY KEY,
          args jsonb NOT NULL,
          open boolean NOT NULL)`);
        await client.query(`CREATE TABLE IF NOT EXISTS ${t.events} (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          type text NOT NULL,
          args jsonb NOT NULL,
          at timestamptz NOT NULL DEFAULT now())`);
      },
      "BEGIN",
    ).catch((error: unknown) => {
      // Not ready (the server is down, say): try again on the next call.
      ready = undefined;
      throw error;
    });
    return ready;
  }

  /**
   * The entry's effect, inside the transaction that recorded its key (the same rules as the
   * SQLite sink: a malformed entry is a TypeError, thrown after its key row went in, so the
   * rollback takes that back too).
   */
  async function applyEffect(client: pg.PoolClient, entry: OutboxEntry): Promise<void> {
    const a = entry.args;
    switch (entry.type) {
      case "balance.update": {
        const { account, delta } = a;
        if (typeof account !== "string" || account.length === 0)
          throw new TypeError(`balance.update needs a string account, got ${JSON.stringify(account)}`);
        if (typeof delta !== "number" || !Number.isFinite(delta))
          throw new TypeError(`balance.update needs a finite number delta, got ${JSON.stringify(delta)}`);
        // double precision, as SQLite's real and JavaScript's number: the same deltas in the
        // same order give the same balance in either sink and in a scenario's own sum.
        await client.query(
          `INSERT INTO ${t.balances} (account, amount) VALUES ($1, $2::double precision)
           ON CONFLICT (account) DO UPDATE SET amount = ${t.balances}.amount + EXCLUDED.amount`,
          [account, delta],
        );
        return;
      }
      case "trade.log":
        // A trade is logged once: another entry with the same tradeId (other args, so another
        // key) is a conflict the entry owns: refused (23505), no ON CONFLICT.
        await client.query(`INSERT INTO ${t.trades} (trade_id, args) VALUES ($1, $2::jsonb)`, [
          requireId(entry.type, a, "tradeId"),
          JSON.stringify(a),
        ]);
        return;
      case "position.open":
      case "position.close":
        // The latest entry's args; open after position.open, closed after position.close.
        await client.query(
          `INSERT INTO ${t.positions} (position_id, args, open) VALUES ($1, $2::jsonb, $3)
           ON CONFLICT (position_id) DO UPDATE SET args = EXCLUDED.args, open = EXCLUDED.open`,
          [requireId(entry.type, a, "positionId"), JSON.stringify(a), entry.type === "position.open"],
        );
        return;
      case "position.update":
        // New args, the open flag kept (a position first seen in an update is open).
        await client.query(
          `INSERT INTO ${t.positions} (position_id, args, open) VALUES ($1, $2::jsonb, true)
           ON CONFLICT (position_id) DO UPDATE SET args = EXCLUDED.args`,
          [requireId(entry.type, a, "positionId"), JSON.stringify(a)],
        );
        return;
      default:
        // session.create, session.end, ...: the key row is the whole record.
        return;
    }
  }

  return {
    kind: "postgres",

    async apply(entry: OutboxEntry): Promise<ApplyResult> {
      await ensureTables();
      return withClient(
        "apply",
        async (client) => {
          const inserted = await client.query(
            `INSERT INTO ${t.applied} (idempotency_key, entry_id, n, type, args) VALUES ($1, $2, $3, $4, $5::jsonb)
             ON CONFLICT (idempotency_key) DO NOTHING`,
            [entry.idempotencyKey, entry.id, entry.n, entry.type, JSON.stringify(entry.args)],
          );
          if (inserted.rowCount !== 1) return "duplicate" as const;
          await applyEffect(client, entry);
          return "applied" as const;
        },
        "BEGIN",
      );
    },

    async writeDirect(type: string, args: Record<string, unknown>): Promise<void> {
      await ensureTables();
      await withClient("writeDirect", (client) =>
        client.query(`INSERT INTO ${t.events} (type, args) VALUES ($1, $2::jsonb)`, [type, JSON.stringify(args)]),
      );
    },

    async snapshot(): Promise<SinkSnapshot> {
      await ensureTables();
      // One snapshot of the database for all five answers.
      return withClient(
        "snapshot",
        async (client) => {
          const applied = await client.query<{ idempotency_key: string; entry_id: string; n: string; type: string }>(
            `SELECT idempotency_key, entry_id, n, type FROM ${t.applied} ORDER BY seq`,
          );
          const balances = await client.query<{ account: string; amount: string }>(
            `SELECT account, amount FROM ${t.balances} ORDER BY account`,
          );
          const counts = await client.query<{ trades: string; positions: string; events: string }>(
            `SELECT (SELECT count(*) FROM ${t.trades}) AS trades, (SELECT count(*) FROM ${t.positions}) AS positions, (SELECT count(*) FROM ${t.events}) AS events`,
          );
          const c = counts.rows[0]!;
          return {
            applied: applied.rows.map((r) => ({
              idempotencyKey: r.idempotency_key,
              entryId: r.entry_id,
              n: Number(r.n),
              type: r.type,
            })),
            balances: Object.fromEntries(balances.rows.map((r) => [r.account, Number(r.amount)])),
            trades: Number(c.trades),
            positions: Number(c.positions),
            events: Number(c.events),
          };
        },
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
      );
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
