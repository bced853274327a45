import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { Outbox, SqliteSink } from "../../reference-impl/outbox/index.js";
import { CLI, segmentFiles, silentLogger, tempDir } from "../helpers.js";
import { holdExclusiveLock } from "../reference-impl/outbox/outbox-test-kit.js";

// `walcheck outbox status | sync | compact` on a real outbox directory (the reference outbox,
// its default SQLite sink <dir>/outbox.sqlite), run as the compiled CLI.

const walcheck = (args: string[]) => execa(process.execPath, [CLI, "outbox", ...args], { reject: false });

/** An outbox directory with `n` balance updates accepted and not synced (the default sink beside them). */
async function outboxWithPending(n: number): Promise<string> {
  const dir = await tempDir();
  const sink = await SqliteSink.open(path.join(dir, "outbox.sqlite"));
  const outbox = await Outbox.open(dir, { sink, ownsSink: true, logger: silentLogger });
  for (let i = 0; i < n; i++)
    await outbox.write("balance.update", { account: "acct-1", delta: 10 + i, opId: `op-${i}` });
  await outbox.close();
  return dir;
}

function appliedRows(dbFile: string): number {
  const db = new BetterSqlite3(dbFile, { readonly: true });
  try {
    return db.prepare("select count(*) from outbox_applied").pluck().get() as number;
  } finally {
    db.close();
  }
}

/** Every file's bytes (but LOCK's, which every open rewrites with its pid), by name. */
function fingerprint(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of fs.readdirSync(dir).sort()) {
    if (name === "LOCK") continue;
    out[name] = createHash("sha256")
      .update(fs.readFileSync(path.join(dir, name)))
      .digest("hex");
  }
  return out;
}

const statusJson = async (dir: string) =>
  JSON.parse((await walcheck(["status", "--dir", dir, "--json"])).stdout) as Record<string, unknown>;

describe("walcheck outbox status | sync | compact", () => {
  it("status prints the queue as a table, or JSON; sync drains it into the database; compact removes completed entries past retention", async () => {
    const dir = await outboxWithPending(3);
    const status = await walcheck(["status", "--dir", dir]);
    expect(status.exitCode).toBe(0);
    expect(status.stdout).toContain(`outbox ${dir}`);
    expect(status.stdout).toMatch(/pending +3 \(PENDING 3, SYNCING 0\)/);
    expect(status.stdout).toMatch(/oldest pending age +\d/);
    expect(status.stdout).toMatch(/halted +no/);
    expect(status.stdout).toMatch(/corrupt skipped +0/);
    expect(status.stdout).toMatch(/circuit +closed/);
    expect(await statusJson(dir)).toMatchObject({
      dir,
      pending: 3,
      syncing: 0,
      completed: 0,
      failed: 0,
      corruptSkipped: 0,
      halted: false,
      circuit: "closed",
    });
    // status never contacts the database: it was never written.
    expect(appliedRows(path.join(dir, "outbox.sqlite"))).toBe(0);

    const sync = await walcheck(["sync", "--dir", dir]);
    expect(sync.exitCode).toBe(0);
    expect(sync.stdout).toMatch(/applied +3/);
    expect(sync.stdout).toContain("the queue is empty");
    expect(appliedRows(path.join(dir, "outbox.sqlite"))).toBe(3);
    expect(await statusJson(dir)).toMatchObject({ pending: 0, syncing: 0, completed: 3 });
    // Nothing left: a second sync applies nothing and still exits 0.
    const again = await walcheck(["sync", "--dir", dir, "--json"]);
    expect(again.exitCode).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ applied: 0, remaining: 0, reason: null });

    const keep = await walcheck(["compact", "--dir", dir]);
    expect(keep.exitCode).toBe(0);
    expect(keep.stdout).toContain("removed 0 COMPLETED entries older than 168h");
    const compact = await walcheck(["compact", "--dir", dir, "--retention", "0s"]);
    expect(compact.exitCode).toBe(0);
    expect(compact.stdout).toContain("removed 3 COMPLETED entries older than 0s");
    expect(await statusJson(dir)).toMatchObject({ pending: 0, completed: 0 });
    // The database keeps what was applied.
    expect(appliedRows(path.join(dir, "outbox.sqlite"))).toBe(3);
  });

  it("sync with the database locked: exit 1, saying how many entries remain and why; they stay queued", async () => {
    const dir = await outboxWithPending(2);
    const lock = holdExclusiveLock(path.join(dir, "outbox.sqlite"));
    const sync = await walcheck(["sync", "--dir", dir]);
    lock.release();
    expect(sync.exitCode).toBe(1);
    expect(sync.stdout).toContain("walcheck outbox sync: 2 entries remain: the sink is unavailable: SQLite database");
    expect(sync.stdout).toContain("SQLITE_BUSY");
    expect(await statusJson(dir)).toMatchObject({ pending: 1, syncing: 1, completed: 0 });
    expect(appliedRows(path.join(dir, "outbox.sqlite"))).toBe(0);
    // The database back: the next sync finishes the job, exit 0.
    expect((await walcheck(["sync", "--dir", dir])).exitCode).toBe(0);
    expect(appliedRows(path.join(dir, "outbox.sqlite"))).toBe(2);
  });

  it("a wrong flag, a missing or empty directory, a bad sink or retention: exit 2 with a message, nothing created", async () => {
    const dir = await outboxWithPending(1);
    const before = fingerprint(dir);
    const cases: [string[], string][] = [
      [["status", "--dir", dir, "--verbose"], "unknown option '--verbose'"],
      [["sync"], "required option '--dir <dir>' not specified"],
      // A misspelt --dir is named as the unknown flag it is, with the suggestion, not as a missing --dir.
      [["status", "--dri", dir], "unknown option '--dri'\n(Did you mean --dir?)"],
      [["status", "--dir", path.join(dir, "nope")], `--dir ${path.join(dir, "nope")}: no such directory`],
      [
        ["sync", "--dir", dir, "--sink", "mysql://db/x"],
        'walcheck outbox sync: --sink: the sink must be sqlite:<path> or postgres://user@host:port/database, got "mysql://db/x"',
      ],
      [["sync", "--dir", dir, "--sink", "postgres://"], '--sink: the sink "postgres://" names no host'],
      [
        ["status", "--dir", dir, "--sink", "postgres://me@db:port/x"],
        '--sink: the sink "postgres://me@db:port/x" is not a valid URL',
      ],
      [
        ["sync", "--dir", dir, "--sink", `sqlite:${dir}/no/such/dir/db.sqlite`],
        `directory ${dir}/no/such/dir does not exist`,
      ],
      [
        ["compact", "--dir", dir, "--retention", "a week"],
        '--retention must be a duration like 168h, 30m, 90s, 500ms or 7d, got "a week"',
      ],
    ];
    const results = await Promise.all(cases.map(([args]) => walcheck(args)));
    for (const [i, [args, message]] of cases.entries()) {
      expect(results[i]!.exitCode, args.join(" ")).toBe(2);
      expect(results[i]!.stderr, args.join(" ")).toContain(message);
    }
    expect(fingerprint(dir)).toEqual(before);
    const empty = await tempDir();
    const r = await walcheck(["sync", "--dir", empty]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(
      "no outbox WAL there (no seg-* or snapshot files); walcheck outbox sync never creates one",
    );
    expect(fs.readdirSync(empty)).toEqual([]);
  });

  it("a corrupt WAL: status, sync and compact exit 2 naming the damaged file and change nothing", async () => {
    const dir = await outboxWithPending(3);
    const segment = segmentFiles(dir)[0]!;
    // One bit of the first record's payload: a bad frame with good ones after it is damage, not a torn tail.
    const bytes = fs.readFileSync(segment);
    bytes[40]! ^= 0x01;
    fs.writeFileSync(segment, bytes);
    const before = fingerprint(dir);
    for (const sub of ["status", "sync", "compact"]) {
      const r = await walcheck([sub, "--dir", dir, ...(sub === "compact" ? ["--retention", "0s"] : [])]);
      expect(r.exitCode, sub).toBe(2);
      expect(r.stderr, sub).toContain(
        `walcheck outbox ${sub}: the outbox WAL is corrupt: corrupt log ${segment} at offset 0`,
      );
      expect(r.stderr, sub).toContain("nothing was changed");
    }
    expect(fingerprint(dir)).toEqual(before);
    expect(appliedRows(path.join(dir, "outbox.sqlite"))).toBe(0);
  });
});
