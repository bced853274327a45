import { describe, expect, it } from "vitest";
import { PG_URL, postgresAvailable, POSTGRES_REQUIRED, sql } from "../helpers/postgres.js";
import { expectReferencePasses, runChaos } from "./chaos-run.js";

// `walcheck outbox chaos --sink postgres://…` against the real server of .ci/postgres.sh
// (WALCHECK_PG_URL): the outage is walcheck's TCP proxy cutting every connection, so the
// server itself keeps running. Without a server the test skips saying why;
// WALCHECK_REQUIRE_POSTGRES=1 makes that a failure.

const availability = await postgresAvailable();
const missing = availability.ok ? undefined : availability.reason;

const chaosSchemas = async () =>
  (
    await sql<{ n: string }>(
      "SELECT count(*) AS n FROM information_schema.schemata WHERE schema_name LIKE 'walcheck\\_chaos\\_%'",
    )
  )[0]!.n;

describe.runIf(missing)("walcheck outbox chaos (PostgreSQL sink)", () => {
  it("needs a PostgreSQL server", (ctx) => {
    if (POSTGRES_REQUIRED) throw new Error(`WALCHECK_REQUIRE_POSTGRES=1, and ${missing}`);
    const why = `outbox chaos PostgreSQL tests skipped: ${missing} (WALCHECK_REQUIRE_POSTGRES=1 makes this a failure)`;
    console.warn(why);
    ctx.skip(why);
  });
});

describe.skipIf(missing)("walcheck outbox chaos (PostgreSQL sink)", () => {
  it("the reference outbox passes sink-outage, crash-mid-sync and wal-full; every schema it made is dropped", async () => {
    const before = await chaosSchemas();
    const run = await runChaos(["--sink", PG_URL!, "--ops", "24", "--seed", "12"]);
    expectReferencePasses(run, 24);
    expect(run.report!.sink).toEqual({
      kind: "postgres",
      label: PG_URL!.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@"),
    });
    expect(await chaosSchemas()).toBe(before);
  }, 180_000); // about 7 s alone; room for a loaded 2-core CI box

  it("a server that does not answer is a usage error: exit 2 naming it, nothing run", async () => {
    const url = new URL(PG_URL!);
    url.port = "1";
    const run = await runChaos(["--sink", url.toString(), "--seed", "1"]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain(`walcheck outbox chaos: --sink: no PostgreSQL answers at ${url.toString()}`);
    expect(run.report).toBeUndefined();
  });
});
