import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { AdapterError } from "../harness/protocol/adapter-error.js";
import { batchOf } from "../harness/engine/workload.js";
import { changedRegion, snapshotDir } from "./dir-files.js";
import type { Scenario } from "../harness/engine/scenario.js";

type Batch = { key: string; value: string | null }[];

interface Input {
  batches: Batch[];
  /** After which batch a checkpoint runs (so a snapshot exists), if the adapter has checkpoints. */
  checkpointAfter: number;
  last: Batch;
  /** Which byte to flip: an index into every byte of the directory except the last record's. */
  byte: number;
  bit: number;
}

/** Flip one bit of the directory, outside `exclude` (the last append's bytes, which a torn tail may legally lose). */
function flipBit(
  dir: string,
  files: Map<string, Buffer>,
  exclude: { file: string; start: number; end: number } | undefined,
  byte: number,
  bit: number,
): string | undefined {
  const eligible: { file: string; ranges: [number, number][] }[] = [];
  let total = 0;
  for (const [file, bytes] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const ranges: [number, number][] =
      exclude?.file === file
        ? [
            [0, exclude.start],
            [exclude.end, bytes.length],
          ]
        : [[0, bytes.length]];
    const kept = ranges.filter(([a, b]) => b > a);
    total += kept.reduce((n, [a, b]) => n + b - a, 0);
    if (kept.length > 0) eligible.push({ file, ranges: kept });
  }
  if (total === 0) return undefined;
  let at = byte % total;
  for (const { file, ranges } of eligible) {
    for (const [a, b] of ranges) {
      if (at < b - a) {
        const offset = a + at;
        const bytes = Buffer.from(files.get(file)!);
        bytes[offset]! ^= 1 << bit;
        fs.writeFileSync(path.join(dir, file), bytes);
        return `bit ${bit} of byte ${offset} of ${file} (${bytes.length} bytes) flipped`;
      }
      at -= b - a;
    }
  }
  return undefined;
}

export const bitFlip: Scenario<Input> = {
  name: "bit-flip",
  summary:
    "one flipped bit in a closed segment or snapshot: open or check reports it; acked data is never silently replaced",
  description:
    "Storage rots: a sector comes back with one bit changed. walcheck writes batches (with a checkpoint, so there is a snapshot), kills the adapter, flips one seeded bit anywhere in the directory except in the bytes of the last record (damage there is indistinguishable from a torn write, which torn-tail covers), and reopens. The adapter may refuse to open (the right answer for a corrupt middle), or open and report the damage in `check`; what it may never do is open, say ok, and serve a state that differs from what was acknowledged. Only adapters that claim checksums (`checksums` in hello.features) are held to it.",
  needs: [
    { kind: "feature", feature: "checksums", why: "a format without checksums cannot tell a flipped bit from data" },
  ],
  workload: "2-8 single-batch appends with a checkpoint among them, one last append, SIGKILL",
  faults: "one flipped bit at a seeded offset of a seeded file",
  invariants: [
    {
      id: "corruption-detected",
      text: "open refuses the directory, or check reports a problem, or the state is exactly the acknowledged one",
    },
    { id: "answers-on-corruption", text: "the adapter answers (it does not die) when it meets the corruption" },
  ],
  defaultCases: 16,
  arbitrary: () =>
    fc.record({
      batches: fc.array(batchOf(), { minLength: 2, maxLength: 8 }),
      checkpointAfter: fc.nat({ max: 7 }),
      last: batchOf(),
      byte: fc.nat(),
      bit: fc.integer({ min: 0, max: 7 }),
    }),
  async execute(input, session) {
    await session.start();
    for (const [i, b] of input.batches.entries()) {
      await session.appendBurst([b]);
      if (i === input.checkpointAfter % input.batches.length && session.features.includes("checkpoint"))
        await session.checkpoint("passive");
    }
    const before = snapshotDir(session.dirPath);
    await session.appendBurst([input.last]);
    const after = snapshotDir(session.dirPath);
    await session.crash();
    const flipped = flipBit(session.dirPath, after, changedRegion(before, after), input.byte, input.bit);
    if (!flipped) return;
    session.tampered({ kind: "fault", at: flipped });
    const opened = await session.openRaw();
    if ("broken" in opened)
      return session.fail(
        "corruption-detected",
        `opening the directory after the flip, the adapter did not refuse it: ${opened.broken}`,
      );
    if (!opened.reply.ok) return; // refused: the corruption was reported
    let read;
    try {
      read = await session.send("read", {});
    } catch (error) {
      if (error instanceof AdapterError && error.code === "ADAPTER_PROTOCOL")
        return session.fail(
          "corruption-detected",
          `after ${flipped}, open succeeded and read answered with an invalid message: ${error.message}`,
        );
      throw error;
    }
    if (!read.ok) return; // reads refused: reported too
    const verdict = session.model.judge(read.lastSeq, read.state);
    if (verdict.status === "ok" && read.lastSeq === session.model.lastAcked) return;
    if (session.features.includes("check")) {
      const check = await session.send("check", {});
      if (!check.ok || check.result.length !== 1 || check.result[0] !== "ok") return; // check reported it
    }
    const diff = verdict.status === "violation" ? verdict.diff : [];
    session.fail(
      "corruption-detected",
      `after ${flipped}, open succeeded and served a state that is not what was acknowledged (lastSeq ${read.lastSeq}, ${session.model.lastAcked} acknowledged)${session.features.includes("check") ? ', and check answered ["ok"]' : ""}`,
      diff,
    );
  },
};
