import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Wal, WalError } from "../../reference-impl/index.js";
import { batch, copyDir, segmentFiles, silentLogger, tempDir } from "../helpers.js";

async function writeLog(dir: string, codec: "binary" | "jsonl", n: number) {
  const wal = await Wal.open(dir, { codec, logger: silentLogger, sync: "always" });
  const states: Record<string, string>[] = [wal.read().state];
  const sizes: number[] = [0];
  for (let i = 1; i <= n; i++) {
    await wal.append(batch(i));
    states.push(wal.read().state);
    sizes.push(fs.statSync(segmentFiles(dir)[0]!).size);
  }
  await wal.close();
  return { states, sizes };
}

async function openOutcome(dir: string, codec: "binary" | "jsonl") {
  try {
    const wal = await Wal.open(dir, { codec, logger: silentLogger });
    const out = {
      status: "open" as const,
      lastSeq: wal.lastSeq,
      state: wal.read().state,
      recovery: wal.recovery,
      check: await wal.check(),
    };
    await wal.close();
    return out;
  } catch (error) {
    if (error instanceof WalError) return { status: "error" as const, error };
    throw error;
  }
}

describe.each(["binary", "jsonl"] as const)("framing (%s codec)", (codec) => {
  it("detects a flipped byte at every offset of a small log: corruption is refused, a damaged last frame is a torn tail", async () => {
    const base = await tempDir();
    const { states, sizes } = await writeLog(base, codec, 5);
    const [segment] = segmentFiles(base);
    const bytes = fs.readFileSync(segment!);
    // Every acked append ends with a sync marker (the segment length its fdatasync made
    // durable): the last frame is batch 5's marker.
    const lastFrameStart = codec === "binary" ? bytes.length - 36 : bytes.lastIndexOf(10, bytes.length - 2) + 1;
    expect(lastFrameStart).toBeGreaterThan(sizes[4]!);
    const work = await tempDir();
    let refused = 0;
    let torn = 0;
    for (let offset = 0; offset < bytes.length; offset++) {
      copyDir(base, work);
      const file = path.join(work, path.basename(segment!));
      const damaged = Buffer.from(bytes);
      damaged[offset] = damaged[offset]! ^ 0x5a;
      fs.writeFileSync(file, damaged);
      const out = await openOutcome(work, codec);
      // Damage before the last frame has a sync marker after it that states it durable:
      // corruption. Damage to the last marker is indistinguishable from a torn write.
      expect(out.status).toBe(offset < lastFrameStart ? "error" : "open");
      if (out.status === "error") {
        // A bad frame with acknowledged data after it: refused, naming file and offset.
        expect(out.error.code).toBe("WAL_CORRUPT");
        expect(out.error.details.file).toBe(file);
        expect(out.error.details.offset).toBeLessThanOrEqual(offset);
        expect(out.error.message).toContain(path.basename(file));
        refused += 1;
      } else {
        // Otherwise the damage can only have hit the last marker, which is then a torn
        // tail: recovery returns all five batches, never an altered value.
        expect(out.lastSeq).toBe(5);
        expect(out.state).toEqual(states[5]);
        expect(out.recovery.bytesDiscarded).toBeGreaterThan(0);
        expect(out.check).toEqual(["ok"]);
        torn += 1;
      }
    }
    expect(refused).toBe(lastFrameStart);
    expect(torn).toBe(bytes.length - lastFrameStart);
  });

  it("check() reports a damaged closed segment with its file and offset", async () => {
    const dir = await tempDir();
    const wal = await Wal.open(dir, { codec, logger: silentLogger, maxSegmentBytes: 300 });
    for (let i = 1; i <= 12; i++) await wal.append(batch(i));
    const segments = segmentFiles(dir);
    expect(segments.length).toBeGreaterThan(2);
    expect(await wal.check()).toEqual(["ok"]);
    const first = segments[0]!;
    const buf = fs.readFileSync(first);
    buf[40] = buf[40]! ^ 1;
    fs.writeFileSync(first, buf);
    const result = await wal.check();
    expect(result).not.toEqual(["ok"]);
    expect(result.join("\n")).toContain(path.basename(first));
    await wal.close();
    await expect(Wal.open(dir, { codec, logger: silentLogger })).rejects.toMatchObject({ code: "WAL_CORRUPT" });
  });
});
