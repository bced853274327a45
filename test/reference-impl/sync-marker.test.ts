import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { Wal } from "../../reference-impl/index.js";
import { binaryCodec } from "../../reference-impl/binary-codec.js";
import { jsonlCodec } from "../../reference-impl/jsonl-codec.js";
import { RECORD_TYPE_SYNC } from "../../reference-impl/record.js";
import { assertPreloadBuilt, PRELOAD_OPTION, readTrace } from "../harness/preload-helpers.js";
import { assertDistFresh, batch, segmentFiles, silentLogger, tempDir } from "../helpers.js";

// The sync marker of an fdatasync is not written on its own before the acks: it rides at the
// head of the next group's write (or is written when the event loop turns, or before a
// rotation's or a close's fdatasync). These tests pin what that must not change: the bytes on
// disk, and what a marker written late vouches for (docs/reference-wal.md#sync-markers).

const codecs = { binary: binaryCodec, jsonl: jsonlCodec } as const;

/** The frames of a segment's bytes: offset, end, type, seq, and a marker's durable length. */
function frames(buf: Buffer, codec: "binary" | "jsonl") {
  const c = codecs[codec];
  const out: { offset: number; end: number; type: number; seq: number; durable?: number }[] = [];
  const scan = c.scan(buf, 1 << 20, (seq, _ts, type, b, start, end, offset) => {
    const f: (typeof out)[number] = { offset, end: 0, type, seq };
    if (type === RECORD_TYPE_SYNC) f.durable = c.decodeSync(b, start, end);
    out.push(f);
  });
  expect(scan.bad).toBeUndefined();
  out.forEach((f, i) => (f.end = out[i + 1]?.offset ?? buf.length));
  return out;
}

/** A WAL directory holding only `segment` (by name) with these bytes, one byte of them flipped at `offset`. */
async function damaged(segment: string, bytes: Buffer, offset: number): Promise<string> {
  const dir = await tempDir();
  const buf = Buffer.from(bytes);
  buf[offset] = buf[offset]! ^ 0x5a;
  fs.writeFileSync(path.join(dir, path.basename(segment)), buf);
  return dir;
}

async function openOutcome(dir: string, codec: "binary" | "jsonl") {
  try {
    const wal = await Wal.open(dir, { codec, logger: silentLogger });
    const out = { lastSeq: wal.lastSeq, tornTail: wal.recovery.tornTail, check: await wal.check() };
    await wal.close();
    return out;
  } catch (error) {
    return { error: error as { code?: string; details?: { offset?: number } } };
  }
}

describe.each(["binary", "jsonl"] as const)("sync markers written late (%s codec)", (codec) => {
  it("the bytes are those of a marker written right after each fdatasync: each follows the bytes it states durable", async () => {
    const dir = await tempDir();
    const wal = await Wal.open(dir, { codec, logger: silentLogger, sync: "always", maxSegmentBytes: 400 });
    for (let i = 1; i <= 12; i++) await wal.append(batch(i));
    await wal.close();
    const segments = segmentFiles(dir);
    expect(segments.length).toBeGreaterThan(2);
    let seq = 0;
    for (const segment of segments) {
      const fs_ = frames(fs.readFileSync(segment), codec);
      // batch, marker, batch, marker, ...: every segment, closed or last, ends with the marker
      // of its last fdatasync (a rotation writes a pending one into the segment it closes).
      expect(fs_.map((f) => f.type)).toEqual(fs_.map((_, i) => (i % 2 === 0 ? 1 : RECORD_TYPE_SYNC)));
      for (const f of fs_) {
        if (f.type === RECORD_TYPE_SYNC) {
          expect(f.seq).toBe(seq);
          expect(f.durable).toBe(f.offset);
        } else {
          expect(f.seq).toBe(++seq);
        }
      }
    }
    expect(seq).toBe(12);
  });

  it("a marker written with the next batch vouches for the batch before it: damage there is refused; the last batch, its marker still pending, is a torn tail", async () => {
    const dir = await tempDir();
    const wal = await Wal.open(dir, { codec, logger: silentLogger, sync: "always" });
    // No turn of the event loop between these appends: each marker goes out with the next batch.
    for (let i = 1; i <= 3; i++) await wal.append(batch(i));
    // What a process crash now leaves: the page cache as written, read before the event loop turns.
    const [segment] = segmentFiles(dir);
    const crashed = fs.readFileSync(segment!);
    const live = frames(crashed, codec);
    // batch 1, its marker, batch 2, its marker, batch 3 (batch 3's marker is pending).
    expect(live.map((f) => f.type)).toEqual([1, RECORD_TYPE_SYNC, 1, RECORD_TYPE_SYNC, 1]);
    const [, , second, secondMarker, third] = live;
    expect(secondMarker!.durable).toBe(second!.end);
    // A clean close right away (no turn of the event loop in between) writes the pending
    // marker and makes it durable.
    await wal.close();
    const closedBytes = fs.readFileSync(segment!);
    const closed = frames(closedBytes, codec);
    expect(closed.map((f) => f.type)).toEqual([1, RECORD_TYPE_SYNC, 1, RECORD_TYPE_SYNC, 1, RECORD_TYPE_SYNC]);
    expect(closed[5]!.durable).toBe(third!.end);
    expect(closedBytes.subarray(0, crashed.length)).toEqual(crashed);

    // Damage to batch 2 after the crash: its marker, written late at the head of batch 3's
    // write, still has it refused.
    const refused = await openOutcome(await damaged(segment!, crashed, second!.offset + 5), codec);
    expect(refused).toMatchObject({ error: { code: "WAL_CORRUPT", details: { offset: second!.offset } } });
    // Damage to batch 3, whose marker was not written yet, is cut as a torn tail (the rule for
    // the last group whenever its marker is missing); batches 1 and 2 are kept.
    const torn = await openOutcome(await damaged(segment!, crashed, third!.offset + 5), codec);
    expect(torn).toMatchObject({ lastSeq: 2, tornTail: { offset: third!.offset }, check: ["ok"] });
    // After the clean close the same damage to batch 3 is refused: close wrote its marker.
    const afterClose = await openOutcome(await damaged(segment!, closedBytes, third!.offset + 5), codec);
    expect(afterClose).toMatchObject({ error: { code: "WAL_CORRUPT", details: { offset: third!.offset } } });
  });

  it("a marker still pending when the event loop turns is written on its own, before the next append", async () => {
    const dir = await tempDir();
    const wal = await Wal.open(dir, { codec, logger: silentLogger, sync: "always" });
    await wal.append(batch(1));
    const [segment] = segmentFiles(dir);
    expect(frames(fs.readFileSync(segment!), codec).map((f) => f.type)).toEqual([1]);
    await new Promise((resolve) => setImmediate(resolve));
    const after = frames(fs.readFileSync(segment!), codec);
    expect(after.map((f) => f.type)).toEqual([1, RECORD_TYPE_SYNC]);
    expect(after[1]!.durable).toBe(after[0]!.end);
    // The next write then carries no marker of its own, and the log reads as before.
    await wal.append(batch(2));
    await wal.close();
    const closed = frames(fs.readFileSync(segment!), codec);
    expect(closed.map((f) => f.type)).toEqual([1, RECORD_TYPE_SYNC, 1, RECORD_TYPE_SYNC]);
    expect(closed.filter((f) => f.type === RECORD_TYPE_SYNC).every((f) => f.durable === f.offset)).toBe(true);
  });
});

describe("sync=always syscalls", () => {
  it("one append from one caller makes one write and one fdatasync (the previous marker rides in the write)", async () => {
    assertPreloadBuilt();
    assertDistFresh(["wal", "async-mutex", "binary-codec"]);
    const walDir = await tempDir();
    const markDir = await tempDir();
    const trace = path.join(await tempDir(), "trace.jsonl");
    const n = 20;
    const child = await execa(
      process.execPath,
      [path.resolve("test/fixtures/wal-always-appends.mjs"), walDir, markDir, String(n)],
      { env: { NODE_OPTIONS: PRELOAD_OPTION, WALCHECK_FS_TRACE: trace }, reject: false },
    );
    expect(child.exitCode, child.stderr).toBe(0);
    const lines = readTrace(trace);
    const at = (name: string) => lines.findIndex((l) => l.path === path.join(markDir, name));
    const between = lines.slice(at("begin") + 1, at("end"));
    const segment = segmentFiles(walDir)[0]!;
    const fd = between[0]?.fd;
    // Exactly write, fdatasync, write, fdatasync, ...: nothing else, all on the segment's fd.
    expect(between.map((l) => l.call)).toEqual(
      Array.from({ length: 2 * n }, (_, i) => (i % 2 === 0 ? "writeSync" : "fdatasyncSync")),
    );
    expect(between.every((l) => l.fd === fd)).toBe(true);
    // Each write is the previous append's marker (36 bytes) and this append's frame.
    const log = frames(fs.readFileSync(segment), "binary");
    const batchFrames = log.filter((f) => f.type === 1).slice(3);
    expect(between.filter((l) => l.call === "writeSync").map((l) => l.bytes)).toEqual(
      batchFrames.map((f) => 36 + (f.end - f.offset)),
    );
  });
});
