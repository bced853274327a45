import { randomBytes } from "node:crypto";
import path from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import type pg from "pg";
import { requireOptional } from "../protocol/optional-dependency.js";
import type { OpenConfig } from "../protocol/outbox-messages.js";
import { redactUrl } from "./sink-spec.js";
import { startTcpProxy } from "./tcp-proxy.js";

// The databases the chaos scenarios give an outbox: a fresh, empty one for every outbox
// directory (a SQLite file beside it, or a new PostgreSQL schema, dropped afterwards), and a
// switch that makes it unreachable for a while (sink-outage).

/** An outage in progress: `end()` brings the database back. */
export interface Outage {
  end(): Promise<void>;
}

/** One fresh database for one outbox directory. */
export interface ChaosSink {
  /** `open.sink` */
  spec: string;
  /** Fields for `open.config` (the PostgreSQL schema). */
  config: OpenConfig;
  /** Make the database unreachable for the outbox (only for sinks made with `outage: true`). */
  outage(): Promise<Outage>;
  /** Remove it (drop the schema, close the proxy). */
  dispose(): Promise<void>;
}

export interface SinkTarget {
  kind: "sqlite" | "postgres";
  /** What the report and replay line call it: `sqlite`, or the URL with its password hidden. */
  label: string;
  /** The --sink flag that selects it again. */
  flag: string;
  fresh(dir: string, options?: { outage?: boolean }): Promise<ChaosSink>;
  /** Check the target is usable (PostgreSQL: the server answers); throws with the reason. */
  check(): Promise<void>;
}

const loadSqlite = () => requireOptional<typeof BetterSqlite3>("better-sqlite3", "a sqlite sink");

/** SQLite: a file in the outbox's directory; the outage is a connection of walcheck's holding BEGIN EXCLUSIVE. */
export function sqliteTarget(): SinkTarget {
  return {
    kind: "sqlite",
    label: "sqlite",
    flag: "sqlite",
    // better-sqlite3 is optional: missing, the check says which package to install.
    check: async () => void loadSqlite(),
    async fresh(dir) {
      const file = path.join(dir, "sink.sqlite");
      return {
        spec: `sqlite:${file}`,
        config: {},
        async outage() {
          const Database = loadSqlite();
          const db = new Database(file, { timeout: 0 });
          db.exec("BEGIN EXCLUSIVE");
          return {
            async end() {
              db.exec("COMMIT");
              db.close();
            },
          };
        },
        dispose: async () => {},
      };
    },
  };
}

/** PostgreSQL: a new schema per outbox directory; the outage is a TCP proxy (tcp-proxy.ts) cutting every connection. */
export function postgresTarget(url: string): SinkTarget {
  const pgModule = () => requireOptional<typeof pg>("pg", "a postgres:// sink");
  const query = async (text: string): Promise<void> => {
    const client = new (pgModule().Client)({
      connectionString: url,
      connectionTimeoutMillis: 5_000,
      application_name: "walcheck-outbox-chaos",
    });
    client.on("error", () => {});
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end().catch(() => {});
    }
  };
  return {
    kind: "postgres",
    label: redactUrl(url),
    flag: url,
    async check() {
      pgModule(); // pg is optional: missing, this says which package to install (not "no answer")
      try {
        await query("SELECT 1");
      } catch (error) {
        const e = error instanceof AggregateError && error.errors.length > 0 ? error.errors[0] : error;
        throw new Error(
          `no PostgreSQL answers at ${redactUrl(url)}: ${(e as Error).message || String((e as { code?: string }).code)}`,
        );
      }
    },
    async fresh(_dir, options = {}) {
      const schema = `walcheck_chaos_${randomBytes(6).toString("hex")}`;
      let spec = url;
      let proxy: Awaited<ReturnType<typeof startTcpProxy>> | undefined;
      if (options.outage) {
        const u = new URL(url);
        proxy = await startTcpProxy({ host: u.hostname.replace(/^\[|\]$/g, ""), port: Number(u.port || 5432) });
        u.hostname = "127.0.0.1";
        u.port = String(proxy.port);
        spec = u.toString();
      }
      return {
        spec,
        config: { schema },
        async outage() {
          if (!proxy) throw new TypeError("this sink was made without outage: true");
          proxy.cut();
          return { end: async () => proxy.restore() };
        },
        async dispose() {
          await proxy?.close();
          await query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        },
      };
    },
  };
}
