import fs from "node:fs";
import path from "node:path";
import { describe, expect, it, test } from "vitest";
// Through the package's public entry point, as a user imports it.
import { walConformance } from "walcheck/vitest";
import { createReferenceAdapter } from "../../reference-impl/index.js";
import { createSimpleWal } from "../fixtures/adapters/simple-wal.mjs";
import { createSqliteAdapter } from "../../harness/adapters/sqlite-adapter.js";
import { tempDir } from "../helpers.js";

// The reference WAL runs the same conformance suite a user's adapter runs.
walConformance({
  test,
  factory: () => createReferenceAdapter(),
  adapter: "reference",
  runs: 2,
  recoveryThresholdMs: 5000,
});

// And SQLite (better-sqlite3, WAL mode, synchronous=FULL): one violation here would be a harness bug.
walConformance({ test, factory: () => createSqliteAdapter(), adapter: "sqlite", runs: 2, recoveryThresholdMs: 5000 });

// So does the small correct fixture WAL, as an adapter module in a child process.
walConformance({
  test,
  adapter: path.resolve("test/fixtures/adapters/simple-wal.mjs"),
  runs: 1,
  recoveryThresholdMs: 5000,
});

// The suite fails a WAL that is wrong, with the invariant and the replay line.
describe("walConformance on broken WALs", () => {
  const collect = (options: Omit<Parameters<typeof walConformance>[0], "test">) => {
    const tests: { name: string; fn: () => Promise<void> }[] = [];
    walConformance({ ...options, test: (name, fn) => void tests.push({ name, fn }) });
    return tests;
  };
  const failures = async (tests: { fn: () => Promise<void> }[]) =>
    (
      await Promise.all(
        tests.map((t) =>
          t.fn().then(
            () => undefined,
            (e: Error) => e.message,
          ),
        ),
      )
    ).filter((m): m is string => m !== undefined);

  it("in-process tests catch a lastSeq that restarts after a truncate checkpoint", async () => {
    const messages = await failures(collect({ factory: () => createSimpleWal("seq-restart") }));
    expect(messages).toEqual([expect.stringContaining(`read after checkpoints: expected {"lastSeq":6,`)]);
  });

  it("crash cases catch an ack before the fsync, naming the invariant and the replay line", async () => {
    // Failing cases are kept for a person to inspect: here in a temp directory, not the project's walcheck-reports/.
    const reportDir = await tempDir();
    const tests = collect({
      adapter: path.resolve("test/fixtures/adapters/bug-ack-before-fsync.mjs"),
      runs: 3,
      crash: ["signal"],
      recoveryThresholdMs: 5000,
      reportDir,
    });
    const messages = await failures(tests);
    expect(messages.length).toBeGreaterThan(0);
    expect(messages[0]).toContain("invariant durability violated");
    expect(messages[0]).toMatch(/replay: npx walcheck run --adapter \S+ --replay \S+/);
    // Each failure names its kept directory, which holds the WAL as the failing recovery found it.
    const kept = /kept: (\S+)/.exec(messages[0]!)?.[1];
    expect(kept?.startsWith(reportDir)).toBe(true);
    expect(fs.readFileSync(path.join(kept!, "violation.txt"), "utf8")).toContain("invariant durability violated");
  });
});
