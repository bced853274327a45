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

// The sync marker of an fdatasync is written right after it, before the acks: once a batch is
// acknowledged, its group's marker is in the page cache, so a process crash never leaves an
// acknowledged group unvouched (bit rot in it is refused, never cut as a torn tail). A marker
// whose write fails stays pending, and the next group's write carries it at its head. These
// tests pin the bytes on disk, what a marker vouches for, and the syscalls of an append
// (docs/reference-wal.md#sync-markers).

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

describe.each(["binary", "jsonl"] as const)("sync markers (%s codec)", (codec) => {
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

  // walcheck's own quick start caught this: with the marker written after the ack (issue 17's
  // first version), a SIGKILL right after an ack left the last group without one, and a bit
  // flipped in it later was cut as a torn tail, losing an acknowledged batch (bit-flip).
  it("every acknowledged batch's marker is written before its ack: damage to any of them after a crash is refused, the last one included", async () => {
    const dir = await tempDir();
    const wal = await Wal.open(dir, { codec, logger: silentLogger, sync: "always" });
    // No turn of the event loop between these appends and the read below.
    for (let i = 1; i <= 3; i++) await wal.append(batch(i));
    // What a process crash now leaves: the page cache as written, read before the event loop turns.
    const [segment] = segmentFiles(dir);
    const crashed = fs.readFileSync(segment!);
    const live = frames(crashed, codec);
    expect(live.map((f) => f.type)).toEqual([1, RECORD_TYPE_SYNC, 1, RECORD_TYPE_SYNC, 1, RECORD_TYPE_SYNC]);
    const [, , second, , third, thirdMarker] = live;
    expect(thirdMarker!.durable).toBe(third!.end);
    await wal.close();
    // A clean close adds nothing: the bytes were complete at the last ack.
    expect(fs.readFileSync(segment!)).toEqual(crashed);

    for (const victim of [second!, third!]) {
      const refused = await openOutcome(await damaged(segment!, crashed, victim.offset + 5), codec);
      expect(refused).toMatchObject({ error: { code: "WAL_CORRUPT", details: { offset: victim.offset } } });
    }
    // A group whose marker never reached the file (a crash between its write and its ack) is
    // the torn tail recovery may cut: it was never acknowledged.
    const unvouched = crashed.subarray(0, thirdMarker!.offset);
    const torn = await openOutcome(await damaged(segment!, unvouched, third!.offset + 5), codec);
    expect(torn).toMatchObject({ lastSeq: 2, tornTail: { offset: third!.offset }, check: ["ok"] });
  });

  it("a marker whose write failed stays pending: the ack stands, and the next group's write carries it at its head", async () => {
    const dir = await tempDir();
    let failLength: number | undefined;
    const writes: number[] = [];
    const wal = await Wal.open(dir, {
      codec,
      logger: silentLogger,
      sync: "always",
      io: {
        write(fd, buf) {
          if (buf.length === failLength) {
            failLength = undefined;
            throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
          }
          writes.push(buf.length);
          fs.writeSync(fd, buf);
        },
      },
    });
    await wal.append(batch(1));
    const [segment] = segmentFiles(dir);
    const first = frames(fs.readFileSync(segment!), codec);
    expect(first.map((f) => f.type)).toEqual([1, RECORD_TYPE_SYNC]);
    // Batch 2's frame is written and fdatasynced; the write of its marker then fails.
    failLength = first[1]!.end - first[1]!.offset;
    const markerBytes = failLength;
    await expect(wal.append(batch(2))).resolves.toMatchObject({ seq: 2 });
    expect(failLength).toBeUndefined();
    expect(frames(fs.readFileSync(segment!), codec).map((f) => f.type)).toEqual([1, RECORD_TYPE_SYNC, 1]);
    await wal.append(batch(3));
    await wal.close();
    const closed = frames(fs.readFileSync(segment!), codec);
    expect(closed.map((f) => f.type)).toEqual([1, RECORD_TYPE_SYNC, 1, RECORD_TYPE_SYNC, 1, RECORD_TYPE_SYNC]);
    expect(closed.filter((f) => f.type === RECORD_TYPE_SYNC).every((f) => f.durable === f.offset)).toBe(true);
    // Batch 3's write was batch 2's marker and batch 3's frame, in one; then batch 3's marker.
    expect(writes.slice(-2)).toEqual([markerBytes + (closed[4]!.end - closed[4]!.offset), markerBytes]);
  });
});

describe("sync=always syscalls", () => {
  it("one append from one caller makes a write, an fdatasync and the write of its marker", async () => {
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
    // Exactly write, fdatasync, write per append: nothing else, all on the segment's fd.
    expect(between.map((l) => l.call)).toEqual(
      Array.from({ length: 3 * n }, (_, i) => ["writeSync", "fdatasyncSync", "writeSync"][i % 3]),
    );
    expect(between.every((l) => l.fd === fd)).toBe(true);
    // The first write is the append's frame, the second its marker (36 bytes).
    const log = frames(fs.readFileSync(segment), "binary");
    const batchFrames = log.filter((f) => f.type === 1).slice(3);
    expect(between.filter((l) => l.call === "writeSync").map((l) => l.bytes)).toEqual(
      batchFrames.flatMap((f) => [f.end - f.offset, 36]),
    );
  });
});
