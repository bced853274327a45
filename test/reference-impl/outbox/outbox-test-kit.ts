import fs from "node:fs";
import path from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { afterEach } from "vitest";
import type { Timers } from "../../../reference-impl/outbox/index.js";
import { SqliteSink } from "../../../reference-impl/outbox/index.js";
import { tempDir } from "../../helpers.js";

/**
 * A clock and timers the test moves by hand: no test sleeps on wall-clock time. `fireNext`
 * jumps the clock to the earliest timer and runs it.
 */
export class FakeTime implements Timers {
  t = 1_700_000_000_000;
  private nextId = 0;
  private readonly pending = new Map<number, { at: number; ms: number; fn: () => void }>();

  readonly now = (): number => this.t;

  readonly setTimeout = (fn: () => void, ms: number): unknown => {
    const id = ++this.nextId;
    this.pending.set(id, { at: this.t + ms, ms, fn });
    return id;
  };

  readonly clearTimeout = (handle: unknown): void => {
    this.pending.delete(handle as number);
  };

  /** Delays (as scheduled) of the timers not yet fired. */
  get delays(): number[] {
    return [...this.pending.values()].map((p) => p.ms);
  }

  advance(ms: number): void {
    this.t += ms;
  }

  /** Run the earliest timer (moving the clock to it); its scheduled delay. */
  fireNext(): number {
    const [id, next] = [...this.pending.entries()].sort((a, b) => a[1].at - b[1].at)[0] ?? [];
    if (id === undefined || !next) throw new Error("no timer is pending");
    this.pending.delete(id);
    this.t = Math.max(this.t, next.at);
    next.fn();
    return next.ms;
  }
}

const opened: { close(): unknown }[] = [];
afterEach(async () => {
  for (const c of opened.splice(0).reverse()) await c.close();
});

/** Close `thing` after the test (reverse order of registration), before its directory is removed. */
export function closeAfter<T extends { close(): unknown }>(thing: T): T {
  opened.push(thing);
  return thing;
}

/** A fresh directory with a SQLite sink in it (short busy timeout: the lock tests wait it out for real). */
export async function sqliteSinkIn(busyTimeoutMs = 25): Promise<{ dir: string; dbFile: string; sink: SqliteSink }> {
  const dir = await tempDir();
  const dbFile = path.join(dir, "db", "outbox.sqlite");
  fs.mkdirSync(path.dirname(dbFile));
  const sink = closeAfter(await SqliteSink.open(dbFile, { busyTimeoutMs }));
  return { dir, dbFile, sink };
}

/** A second connection holding SQLite's write lock (BEGIN EXCLUSIVE) until `release()`: a real outage. */
export function holdExclusiveLock(dbFile: string): { release(): void } {
  const other = new BetterSqlite3(dbFile, { timeout: 0 });
  other.exec("BEGIN EXCLUSIVE");
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    other.exec("COMMIT");
    other.close();
  };
  closeAfter({ close: release });
  return { release };
}

/** A balance.update with a unique op id (the idempotency key hashes type and args). */
export function credit(
  account: string,
  delta: number,
  op: string,
): [string, { account: string; delta: number; op: string }] {
  return ["balance.update", { account, delta, op }];
}
