import fs from "node:fs";
import { performance } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import { Wal } from "../../reference-impl/index.js";
import { captureLogger, segmentFiles, tempDir } from "../helpers.js";

const checkpointLines = (lines: Record<string, unknown>[], mode?: string) =>
  lines.filter((l) => l.msg === "wal checkpoint" && (mode === undefined || l.mode === mode));

describe("checkpoint loop", () => {
  it("is never started by open; when started, logs each passive checkpoint with its stats, and close logs the aggregate and a final truncate", async () => {
    const dir = await tempDir();
    const { logger, lines, waitFor } = captureLogger();
    const wal = await Wal.open(dir, { logger, maxSegmentBytes: 512 });
    for (let i = 0; i < 20; i++) await wal.set(`k${i % 4}`, `v${i}`);
    expect(checkpointLines(lines)).toHaveLength(0);

    wal.startCheckpointLoop(5);
    expect(() => wal.startCheckpointLoop(5)).toThrow(/already running/);
    // Writes go on while the loop checkpoints; wait (on events, not time) for two passes.
    const writer = (async () => {
      for (let i = 0; i < 200; i++) await wal.set(`w${i % 10}`, String(i));
    })();
    await waitFor((l) => checkpointLines(l, "passive").length >= 2);
    await writer;
    const state = wal.read();
    await wal.close();

    const passive = checkpointLines(lines, "passive");
    expect(passive.length).toBeGreaterThanOrEqual(2);
    for (const line of passive) {
      expect(line).toMatchObject({ level: 30, mode: "passive", busy: 0 });
      expect(typeof line.logFrames).toBe("number");
      expect(typeof line.checkpointedFrames).toBe("number");
      expect(typeof line.elapsedMs).toBe("number");
    }
    const aggregate = lines.find((l) => l.msg === "wal checkpoint aggregate")!;
    expect(aggregate.n).toBe(passive.length);
    expect(aggregate.p50 as number).toBeLessThanOrEqual(aggregate.p95 as number);
    expect(aggregate.p95 as number).toBeLessThanOrEqual(aggregate.max as number);
    // The final truncate comes after the aggregate, and leaves an empty log behind.
    const final = checkpointLines(lines, "truncate");
    expect(final).toHaveLength(1);
    expect(lines.indexOf(final[0]!)).toBeGreaterThan(lines.indexOf(aggregate));
    const segs = segmentFiles(dir);
    expect(segs).toHaveLength(1);
    expect(fs.statSync(segs[0]!).size).toBe(0);

    const again = await Wal.open(dir, { logger });
    expect(again.read()).toEqual(state);
    await again.close();
  });

  it("a slow checkpoint logs the warning with the same fields (the checkpoint is made slow, the clock is not read for the assertion)", async () => {
    const dir = await tempDir();
    const { logger, lines, waitFor } = captureLogger();
    // A clock we move: the snapshot phase "takes" 350 ms of it.
    let skew = 0;
    const wal = await Wal.open(dir, {
      logger,
      now: () => performance.now() + skew,
      onPoint: (point) => {
        if (point === "checkpoint.snapshot-synced") skew += 350;
      },
    });
    await wal.set("a", "1");
    wal.startCheckpointLoop(1);
    await waitFor((l) => l.some((x) => x.msg === "wal checkpoint slow"));
    await wal.close();
    const slow = lines.find((l) => l.msg === "wal checkpoint slow")!;
    expect(slow).toMatchObject({ level: 40, mode: "passive", busy: 0, thresholdMs: 200 });
    expect(slow.elapsedMs as number).toBeGreaterThanOrEqual(350);
    // Every slow line follows an info line with the same stats.
    const info = checkpointLines(lines).find((l) => l.elapsedMs === slow.elapsedMs);
    expect(info).toBeDefined();
  });

  it("a failed checkpoint is logged with its cause and the loop goes on; a failing final truncate never blocks close", async () => {
    const dir = await tempDir();
    const { logger, lines, waitFor } = captureLogger();
    let failures = 0;
    const wal = await Wal.open(dir, {
      logger,
      onPoint: (point) => {
        if (point === "checkpoint.before-snapshot" && failures < 1) {
          failures += 1;
          throw Object.assign(new Error("EIO: injected snapshot failure"), { code: "EIO" });
        }
      },
    });
    await wal.set("a", "1");
    wal.startCheckpointLoop(1);
    await waitFor((l) => l.some((x) => x.msg === "wal checkpoint failed") && checkpointLines(l, "passive").length >= 1);
    const failed = lines.find((l) => l.msg === "wal checkpoint failed")!;
    expect(failed.level).toBe(50);
    expect((failed.err as { message: string }).message).toContain("injected snapshot failure");
    await wal.set("b", "2");
    await wal.close();
    expect(await Wal.open(dir, { logger }).then(async (w) => (await w.close(), w.read()))).toEqual({
      lastSeq: 2,
      state: { a: "1", b: "2" },
    });
  });

  it("close completes and releases the lock even when the final truncate fails", async () => {
    const dir = await tempDir();
    const { logger, lines } = captureLogger();
    const wal = await Wal.open(dir, {
      logger,
      onPoint: (point) => {
        if (point === "checkpoint.before-truncate") throw new Error("injected truncate failure");
      },
    });
    await wal.set("a", "1");
    wal.startCheckpointLoop(60_000);
    await wal.close();
    expect(lines.find((l) => l.msg === "wal final truncate checkpoint failed")).toMatchObject({
      level: 50,
      mode: "truncate",
    });
    const again = await Wal.open(dir, { logger });
    expect(again.read()).toEqual({ lastSeq: 1, state: { a: "1" } });
    await again.close();
  });

  it("an interval <= 0 disables the loop", async () => {
    const dir = await tempDir();
    const { logger, lines } = captureLogger();
    const wal = await Wal.open(dir, { logger });
    wal.startCheckpointLoop(0);
    wal.startCheckpointLoop(-5);
    await wal.set("a", "1");
    await wal.close();
    expect(lines.filter((l) => String(l.msg).startsWith("wal checkpoint"))).toEqual([]);
  });
});
