import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Wal } from "../../reference-impl/index.js";
import { batch, copyDir, segmentFiles, silentLogger, tempDir } from "../helpers.js";

async function build(dir: string, codec: "binary" | "jsonl", n: number, opts: { maxSegmentBytes?: number } = {}) {
  const wal = await Wal.open(dir, { codec, logger: silentLogger, ...opts });
  const states: Record<string, string>[] = [{}];
  const sizes: number[] = [0];
  for (let i = 1; i <= n; i++) {
    await wal.append(batch(i));
    states.push(wal.read().state);
    const segs = segmentFiles(dir);
    sizes.push(fs.statSync(segs[segs.length - 1]!).size);
  }
  await wal.close();
  return { states, sizes };
}

describe.each(["binary", "jsonl"] as const)("recovery (%s codec)", (codec) => {
  it("recovers to the previous frame when the last frame is cut at every byte length", async () => {
    const base = await tempDir();
    const { states, sizes } = await build(base, codec, 4);
    const segment = segmentFiles(base)[0]!;
    const full = fs.readFileSync(segment);
    const work = await tempDir();
    // Batch 4's frame, then its sync marker: a cut inside the marker keeps batch 4.
    const markerStart = codec === "binary" ? sizes[4]! - 36 : full.lastIndexOf(10, sizes[4]! - 2) + 1;
    for (let keep = sizes[3]!; keep < sizes[4]!; keep++) {
      copyDir(base, work);
      const file = path.join(work, path.basename(segment));
      fs.writeFileSync(file, full.subarray(0, keep));
      const wal = await Wal.open(work, { codec, logger: silentLogger });
      const seq = keep >= markerStart ? 4 : 3;
      const clean = keep >= markerStart ? markerStart : sizes[3]!;
      expect(wal.lastSeq).toBe(seq);
      expect(wal.read().state).toEqual(states[seq]);
      expect(wal.recovery.bytesDiscarded).toBe(keep - clean);
      expect(fs.statSync(file).size).toBe(clean);
      // The WAL goes on from there: the next batch takes the next seq and survives a reopen.
      expect((await wal.append(batch(99))).seq).toBe(seq + 1);
      await wal.close();
      const again = await Wal.open(work, { codec, logger: silentLogger });
      expect(again.lastSeq).toBe(seq + 1);
      expect(again.recovery.bytesDiscarded).toBe(0);
      expect(await again.check()).toEqual(["ok"]);
      await again.close();
    }
  });

  it("discards garbage after the last good record and reports it", async () => {
    const dir = await tempDir();
    const { states } = await build(dir, codec, 3);
    const segment = segmentFiles(dir)[0]!;
    fs.appendFileSync(segment, Buffer.from("\u0000\u0000garbage that a crash left\u00ff"));
    const wal = await Wal.open(dir, { codec, logger: silentLogger });
    expect(wal.read()).toEqual({ lastSeq: 3, state: states[3] });
    expect(wal.recovery.bytesDiscarded).toBe(Buffer.byteLength("\u0000\u0000garbage that a crash left\u00ff"));
    expect(wal.recovery.tornTail?.file).toBe(segment);
    await wal.close();
  });

  it("refuses a bad frame followed by good ones, and salvage keeps a copy and reports exactly what was lost", async () => {
    const dir = await tempDir();
    const { states, sizes } = await build(dir, codec, 6);
    const segment = segmentFiles(dir)[0]!;
    const buf = fs.readFileSync(segment);
    const damageAt = sizes[2]! + 5; // inside batch 3's frame
    buf[damageAt] = buf[damageAt]! ^ 0xff;
    fs.writeFileSync(segment, buf);

    const refused = Wal.open(dir, { codec, logger: silentLogger });
    await expect(refused).rejects.toMatchObject({ code: "WAL_CORRUPT", details: { file: segment, offset: sizes[2] } });
    // Refusing changed nothing on disk.
    expect(fs.readFileSync(segment)).toEqual(buf);

    const wal = await Wal.open(dir, { codec, logger: silentLogger, salvage: true });
    expect(wal.read()).toEqual({ lastSeq: 2, state: states[2] });
    const salvage = wal.recovery.salvage!;
    expect(salvage.file).toBe(segment);
    expect(salvage.offset).toBe(sizes[2]);
    expect(salvage.bytesLost).toBe(sizes[6]! - sizes[2]!);
    expect(salvage.recordsLost).toBe(3); // batches 4..6 were intact but follow the hole
    expect(salvage.seqsLost).toEqual({ from: 4, to: 6 });
    expect(fs.readFileSync(path.join(salvage.copiedTo, path.basename(segment)))).toEqual(buf);
    expect(await wal.check()).toEqual(["ok"]);
    await wal.close();
  });

  it("cuts damage that no sync marker covers, valid frames after it and all, but refuses the same damage once a marker covers it", async () => {
    // Three acked batches (each followed by its sync marker), then a group of three that
    // never reached an fdatasync (sync=none writes no markers): the write a power cut can
    // leave with its first bytes lost and its later records intact.
    const dir = await tempDir();
    const { states, sizes } = await build(dir, codec, 3);
    const unsynced = await Wal.open(dir, { codec, logger: silentLogger, sync: "none" });
    await Promise.all([4, 5, 6].map((i) => unsynced.append(batch(i))));
    await unsynced.close();
    const segment = segmentFiles(dir)[0]!;
    const buf = fs.readFileSync(segment);
    buf.fill(0, sizes[3]!, sizes[3]! + 16); // batch 4's first bytes read as zeros
    fs.writeFileSync(segment, buf);
    const covered = await tempDir();
    copyDir(dir, covered);

    const wal = await Wal.open(dir, { codec, logger: silentLogger });
    expect(wal.read()).toEqual({ lastSeq: 3, state: states[3] });
    expect(wal.recovery.tornTail).toMatchObject({ file: segment, offset: sizes[3], bytes: buf.length - sizes[3]! });
    expect(wal.recovery.tornTail!.reason).toContain("no sync marker covers the damage");
    expect(fs.statSync(segment).size).toBe(sizes[3]);
    expect((await wal.append(batch(7))).seq).toBe(4);
    expect(await wal.check()).toEqual(["ok"]);
    await wal.close();

    // The same bytes, then an acked batch: its marker states the damaged bytes durable.
    fs.writeFileSync(path.join(covered, path.basename(segment)), buf);
    fs.appendFileSync(
      path.join(covered, path.basename(segment)),
      fs.readFileSync(segment).subarray(sizes[3]!), // batch 7 (seq 4) and its marker, from the first WAL
    );
    const coveredSegment = path.join(covered, path.basename(segment));
    const before = fs.readFileSync(coveredSegment);
    const refused = await Wal.open(covered, { codec, logger: silentLogger }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toMatchObject({ code: "WAL_CORRUPT", details: { file: coveredSegment, offset: sizes[3] } });
    expect((refused as Error).message).toContain("a sync marker states");
    expect(fs.readFileSync(coveredSegment)).toEqual(before);
  });

  it("rotates segments at the maximum size and recovers across all of them", async () => {
    const dir = await tempDir();
    const { states } = await build(dir, codec, 40, { maxSegmentBytes: 512 });
    expect(segmentFiles(dir).length).toBeGreaterThan(4);
    for (const s of segmentFiles(dir).slice(0, -1)) expect(fs.statSync(s).size).toBeLessThanOrEqual(512);
    const wal = await Wal.open(dir, { codec, logger: silentLogger });
    expect(wal.read()).toEqual({ lastSeq: 40, state: states[40] });
    expect(wal.recovery.recordsReplayed).toBe(40);
    await wal.close();
  });
});

describe("recovery: snapshots and sequence", () => {
  it("refuses a snapshot whose checksum fails, naming it", async () => {
    const dir = await tempDir();
    const wal = await Wal.open(dir, { logger: silentLogger });
    for (let i = 1; i <= 5; i++) await wal.append(batch(i));
    await wal.checkpoint("truncate");
    await wal.close();
    const snap = fs.readdirSync(dir).find((n) => n.startsWith("snap-"))!;
    const file = path.join(dir, snap);
    const buf = fs.readFileSync(file);
    buf[buf.length - 3] = buf[buf.length - 3]! ^ 0x01;
    fs.writeFileSync(file, buf);
    await expect(Wal.open(dir, { logger: silentLogger })).rejects.toMatchObject({
      code: "WAL_CORRUPT",
      details: { file },
    });
  });

  it("refuses a log with a missing segment in the middle (a seq gap)", async () => {
    const dir = await tempDir();
    await build(dir, "binary", 30, { maxSegmentBytes: 400 });
    const segs = segmentFiles(dir);
    fs.unlinkSync(segs[1]!);
    await expect(Wal.open(dir, { logger: silentLogger })).rejects.toMatchObject({
      code: "WAL_CORRUPT",
      details: { file: segs[2] },
    });
  });

  it("removes a leftover snapshot temp file on recovery and reports it; check() flags one that appears later", async () => {
    const dir = await tempDir();
    await build(dir, "binary", 2);
    fs.writeFileSync(path.join(dir, "snap-00000000000000000002.snap.tmp"), "half a snapshot");
    const wal = await Wal.open(dir, { logger: silentLogger });
    expect(wal.recovery.tempFilesRemoved).toEqual(["snap-00000000000000000002.snap.tmp"]);
    expect(await wal.check()).toEqual(["ok"]);
    fs.writeFileSync(path.join(dir, "snap-00000000000000000009.snap.tmp"), "x");
    expect(await wal.check()).toEqual(["leftover temp file snap-00000000000000000009.snap.tmp"]);
    await wal.close();
  });

  it("refuses to open a directory written with the other codec", async () => {
    const dir = await tempDir();
    await build(dir, "jsonl", 1);
    await expect(Wal.open(dir, { logger: silentLogger, codec: "binary" })).rejects.toMatchObject({
      code: "WAL_CONFIG",
    });
  });

  it("writes byte-identical JSONL for the same batches", async () => {
    const a = await tempDir();
    const b = await tempDir();
    let t = 1_700_000_000_000;
    for (const dir of [a, b]) {
      t = 1_700_000_000_000;
      const wal = await Wal.open(dir, { codec: "jsonl", logger: silentLogger, clock: () => t++ });
      for (let i = 1; i <= 5; i++) await wal.append(batch(i));
      await wal.close();
    }
    const [fa] = segmentFiles(a);
    const [fb] = segmentFiles(b);
    const text = fs.readFileSync(fa!, "utf8");
    expect(fs.readFileSync(fb!, "utf8")).toBe(text);
    const first = text.split("\n")[0]!;
    expect(first).toMatch(
      /^\{"crc":"[0-9a-f]{8}","data":\{"ops":\[\["k1","v1-é日"\],\["x1","y1"\]\]\},"seq":1,"ts":1700000000000,"type":"kv\.batch"\}$/,
    );
  });
});
