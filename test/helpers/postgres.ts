import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { onTestFinished } from "vitest";

// The PostgreSQL server of the postgres-sink tests: the one .ci/postgres.sh starts, named by
// the environment it prints (eval "$(bash .ci/postgres.sh)"):
//   WALCHECK_PG_URL    postgres://postgres@127.0.0.1:<port>/walcheck
//   WALCHECK_PG_DATA   its data directory      WALCHECK_PG_CTL   its pg_ctl
//   WALCHECK_PG_USER   the OS user pg_ctl runs as (the cluster's owner)
//   WALCHECK_PG_LOG    the server log (default: postgres.log beside the data directory)
// The outage tests stop and restart a second server of their own (`.ci/postgres.sh outage`:
// WALCHECK_PG_OUTAGE_URL, _DATA, _CTL, _USER, _LOG), so that no other test file, running at
// the same moment in another vitest worker, sees their outage.
// Without a server the tests skip, saying why; WALCHECK_REQUIRE_POSTGRES=1 (CI) makes that a
// failure. Each test works in a schema of its own (testSchema), dropped when it ends.

export const PG_URL: string | undefined = process.env.WALCHECK_PG_URL || undefined;
/** The server the outage tests stop and start. */
export const PG_OUTAGE_URL: string | undefined = process.env.WALCHECK_PG_OUTAGE_URL || undefined;
const PG_DATA = process.env.WALCHECK_PG_OUTAGE_DATA || undefined;
const PG_CTL = process.env.WALCHECK_PG_OUTAGE_CTL || undefined;
const PG_USER = process.env.WALCHECK_PG_OUTAGE_USER || os.userInfo().username;
const PG_LOG =
  process.env.WALCHECK_PG_OUTAGE_LOG || (PG_DATA ? path.join(path.dirname(PG_DATA), "postgres.log") : undefined);

/** Set to 1 (as CI does) to fail, not skip, when no server is configured or it does not answer. */
export const POSTGRES_REQUIRED = process.env.WALCHECK_REQUIRE_POSTGRES === "1";

const HINT = 'start one with: eval "$(bash .ci/postgres.sh)"';
const OUTAGE_HINT = 'start the outage tests\' own with: eval "$(bash .ci/postgres.sh outage)"';

export type Availability = { ok: true } | { ok: false; reason: string };

let availability: Promise<Availability> | undefined;

/** Whether the configured server answers (cached); when not, why, with how to fix it. */
export function postgresAvailable(): Promise<Availability> {
  availability ??= (async (): Promise<Availability> => {
    if (!PG_URL) return { ok: false, reason: `WALCHECK_PG_URL is not set: ${HINT}` };
    try {
      await sql("SELECT 1");
      return { ok: true };
    } catch (error) {
      return { ok: false, reason: `no PostgreSQL answers at ${redact(PG_URL)} (${explain(error)}): ${HINT}` };
    }
  })();
  return availability;
}

/** Why stopServer/startServer cannot work here, or undefined when they can. */
export const serverControlMissing: string | undefined = !PG_OUTAGE_URL
  ? `WALCHECK_PG_OUTAGE_URL is not set: ${OUTAGE_HINT}`
  : !PG_CTL || !PG_DATA
    ? `WALCHECK_PG_OUTAGE_CTL and WALCHECK_PG_OUTAGE_DATA are not both set, so the tests cannot stop and restart the server: ${OUTAGE_HINT}`
    : undefined;

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@");
}

function explain(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return explain(error.errors[0]);
  if (error instanceof Error) return error.message || String((error as { code?: unknown }).code ?? error.name);
  return String(error);
}

/** A connected client of its own (end it). Its 'error' events (the server stopping under it) are swallowed. */
export async function connect(url = PG_URL): Promise<pg.Client> {
  if (!url) throw new Error(`WALCHECK_PG_URL is not set: ${HINT}`);
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 3_000,
    application_name: "walcheck-test",
  });
  client.on("error", () => {});
  await client.connect();
  return client;
}

/** Run one statement on a connection of its own: the rows. */
export async function sql<R extends pg.QueryResultRow = Record<string, unknown>>(
  text: string,
  params: unknown[] = [],
  url = PG_URL,
): Promise<R[]> {
  const client = await connect(url);
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

let stoppedByTest = false;

/** Run pg_ctl as the cluster's owner: its exit code and output. */
function pgCtl(args: string[]): Promise<{ code: number | null; output: string }> {
  if (!PG_CTL || !PG_DATA) throw new Error(serverControlMissing);
  const argv = [PG_CTL, ...args, "-D", PG_DATA];
  const me = os.userInfo();
  const [cmd, ...rest] =
    PG_USER === me.username
      ? argv
      : me.uid === 0
        ? ["runuser", "-u", PG_USER, "--", ...argv]
        : ["sudo", "-n", "-u", PG_USER, "--", ...argv];
  return new Promise((resolve, reject) => {
    // cwd /: the cluster's owner may not be allowed into ours. The result on 'exit', not
    // 'close': a started postmaster could hold inherited pipes open (it should not: -l).
    const child = spawn(cmd!, rest, { cwd: "/", stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, output }));
  });
}

async function running(): Promise<boolean> {
  // pg_ctl status: 0 running, 3 not running, 4 no data directory.
  const { code, output } = await pgCtl(["status"]);
  if (code === 0) return true;
  if (code === 3) return false;
  throw new Error(`pg_ctl status failed (${code}): ${output}`);
}

/**
 * A real outage: `pg_ctl stop` (waits until the server is down). "fast" terminates every
 * session, each rolling back its transaction and releasing its locks as it goes; "immediate"
 * is a server crash: every backend quits at once, releasing nothing, and the next start
 * runs crash recovery (committed work survives: synchronous_commit is on).
 */
export async function stopServer(mode: "fast" | "immediate" = "fast"): Promise<void> {
  if (!(await running())) return;
  stoppedByTest = true;
  const { code, output } = await pgCtl(["stop", "-m", mode, "-w", "-t", "60"]);
  if (code !== 0) throw new Error(`pg_ctl stop failed (${code}): ${output}`);
}

/** `pg_ctl start -w`: returns once the server takes connections. Does nothing when it runs. */
export async function startServer(): Promise<void> {
  if (await running()) {
    stoppedByTest = false;
    return;
  }
  const { code, output } = await pgCtl(["start", "-w", "-t", "60", ...(PG_LOG ? ["-l", PG_LOG] : [])]);
  if (code !== 0)
    throw new Error(`pg_ctl start failed (${code}): ${output}${PG_LOG ? ` (server log: ${PG_LOG})` : ""}`);
  stoppedByTest = false;
}

/**
 * A fresh schema for the current test (a random name), created now and dropped, with
 * everything in it, when the test ends; the server is started again first if the test left
 * it stopped.
 */
export async function testSchema(url = PG_URL): Promise<string> {
  const name = `walcheck_t_${randomBytes(6).toString("hex")}`;
  await sql(`CREATE SCHEMA "${name}"`, [], url);
  onTestFinished(async () => {
    if (stoppedByTest) await startServer();
    await sql(`DROP SCHEMA IF EXISTS "${name}" CASCADE`, [], url);
  });
  return name;
}

/** Poll `condition` until it holds (every 20 ms, up to `timeoutMs`): for states the tests wait on, never for timing. */
export async function waitUntil(what: string, condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
