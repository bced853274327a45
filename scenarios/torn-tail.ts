import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { batchOf } from "../harness/engine/workload.js";
import { changedRegion, inodesOf, snapshotDir, type Region } from "./dir-files.js";
import type { Scenario } from "../harness/engine/scenario.js";

type Tear = "partial" | "garbage" | "zeros";

interface Input {
  batches: { key: string; value: string | null }[][];
  last: { key: string; value: string | null }[];
  tear: Tear;
  /** Of the last record's bytes, how many per mille stay (partial). */
  keepPerMille: number;
  junk: Uint8Array;
  after: { key: string; value: string | null }[];
}

const zeros = (b: Buffer) => b.every((x) => x === 0);

/**
 * Whether the tear touches only bytes that held nothing before the last append: past the old
 * end of the file, or zeros (preallocated space). A region written in place over earlier data
 * (a page of a B-tree, SQLite's database file in DELETE mode) is not a tail: tearing it would
 * damage what earlier commits made durable, which no crash of the last write does.
 */
function tailLike(before: Map<string, Buffer>, after: Map<string, Buffer>, input: Input, region: Region): boolean {
  const old = before.get(region.file) ?? Buffer.alloc(0);
  const now = after.get(region.file)!;
  if (input.tear === "partial") return zeros(old.subarray(region.start, region.end));
  return zeros(now.subarray(region.end, region.end + input.junk.length));
}

/** Cut, or put junk after, the bytes the last acknowledged append wrote; returns what was done. */
function tearTail(
  dir: string,
  before: Map<string, Buffer>,
  after: Map<string, Buffer>,
  input: Input,
  region: Region,
): { what: string; junkBytes: number; torn: boolean } {
  const file = path.join(dir, region.file);
  const now = after.get(region.file)!;
  const len = region.end - region.start;
  if (input.tear === "partial") {
    const keep = Math.floor((len * input.keepPerMille) / 1000);
    const old = before.get(region.file) ?? Buffer.alloc(0);
    // Appended at the end: cut it. Written in place (preallocated space): put the old bytes back after the cut.
    const content =
      region.end === now.length
        ? now.subarray(0, region.start + keep)
        : Buffer.concat([
            now.subarray(0, region.start + keep),
            old.subarray(region.start + keep, region.end),
            now.subarray(region.end),
          ]);
    fs.writeFileSync(file, content);
    return {
      what: `torn tail: ${region.file} keeps ${keep} of the ${len} bytes the last acknowledged append wrote`,
      junkBytes: keep,
      torn: true,
    };
  }
  const junk = input.tear === "zeros" ? Buffer.alloc(input.junk.length) : Buffer.from(input.junk);
  const content = Buffer.concat([
    now.subarray(0, region.end),
    junk,
    now.subarray(Math.min(now.length, region.end + junk.length)),
  ]);
  fs.writeFileSync(file, content);
  return {
    what: `torn tail: ${junk.length} bytes of ${input.tear} after the last record of ${region.file}`,
    junkBytes: junk.length,
    torn: false,
  };
}

export const tornTail: Scenario<Input> = {
  name: "torn-tail",
  summary: "a partial record, garbage or zeros after the last good record: recovery discards and reports it",
  description:
    "A crash in the middle of a write leaves the last record cut short, or leaves bytes after it that were never a record (garbage from a reused block, zeros from preallocation). walcheck appends, kills the adapter, then cuts the bytes of the last append or writes junk after them, and recovers. Recovery must discard the tail without throwing, report it (adapters listing `recovery-stats` must count the discarded bytes), keep every earlier batch, and the WAL must then take new appends that survive the next recovery: the classic bug appends after the junk and loses the new batch next time. Only a tail is torn: bytes past the file's old end or preallocated zeros. A last append written in place over earlier data (a B-tree page, SQLite's database file in DELETE mode) is left alone, since tearing it would damage what earlier commits made durable.",
  needs: [],
  workload: "1-6 single-batch appends, one last append, SIGKILL; after the tear one more append, close and reopen",
  faults: "the last append's bytes cut at a seeded point, or 1-600 bytes of garbage or zeros after them",
  invariants: [
    {
      id: "durability",
      text: "recovery succeeds and keeps every batch before the torn one (the torn one is gone or whole)",
    },
    {
      id: "torn-tail-reported",
      text: "recovery reports the bytes it discarded (recovery.bytesDiscarded > 0, for adapters listing recovery-stats) when there was a tail to discard: junk after the records, or a cut that lost the last batch",
    },
    { id: "append-after-recovery", text: "a batch appended after recovery survives the next recovery" },
  ],
  defaultCases: 12,
  arbitrary: () =>
    fc.record({
      batches: fc.array(batchOf(), { minLength: 1, maxLength: 6 }),
      last: batchOf(),
      tear: fc.constantFrom<Tear>("partial", "garbage", "zeros"),
      keepPerMille: fc.integer({ min: 1, max: 999 }),
      junk: fc.uint8Array({ minLength: 1, maxLength: 600 }),
      after: batchOf(),
    }),
  async execute(input, session) {
    await session.start();
    for (const b of input.batches) await session.appendBurst([b]);
    const before = snapshotDir(session.dirPath);
    const inodes = inodesOf(session.dirPath, before.keys());
    await session.appendBurst([input.last]);
    const lastSeq = session.model.lastSent;
    if (session.model.lastAcked !== lastSeq) return session.finish(); // the append was refused: nothing to tear
    const after = snapshotDir(session.dirPath);
    const region = changedRegion(before, after);
    if (!region)
      return session.fail("durability", `batch ${lastSeq} was acknowledged but no file in the WAL directory changed`);
    // A file replaced whole by rename (a state file, design B) was written elsewhere and
    // synced before it took the name: no crash leaves it torn, so there is no tail to tear.
    const replaced =
      inodes.has(region.file) && inodesOf(session.dirPath, [region.file]).get(region.file) !== inodes.get(region.file);
    if (replaced || !tailLike(before, after, input, region)) return session.finish();
    await session.crash();
    const torn = tearTail(session.dirPath, before, after, input, region);
    session.tampered({ kind: "fault", at: torn.what });
    if (torn.torn) session.model.retract(lastSeq);
    await session.start();
    const open = session.lastOpen;
    // A cut can end exactly on a record boundary inside the last append's bytes (a record, then
    // the commit or sync marker written with it): the bytes kept are then whole records, and
    // nothing needs discarding. So a cut is only known to have left a tail to discard when the
    // last batch did not come back; junk written after the records always is one.
    const tailLeft = !torn.torn || (open?.ok === true && open.lastSeq < lastSeq);
    if (
      torn.junkBytes > 0 &&
      tailLeft &&
      session.features.includes("recovery-stats") &&
      open?.ok &&
      (open.recovery?.bytesDiscarded ?? 0) === 0
    ) {
      session.fail(
        "torn-tail-reported",
        `recovery discarded a ${torn.junkBytes}-byte torn tail but reported bytesDiscarded ${open.recovery?.bytesDiscarded ?? "(no recovery info)"}`,
      );
    }
    await session.appendBurst([input.after]);
    await session.finish();
  },
};
