import fs from "node:fs";
import path from "node:path";
import { RECORD_TYPE_SYNC, type RecordCodec } from "./record.js";
import { listSegments } from "./segment.js";
import { readSnapshot, snapshotSeqOf } from "./snapshot-file.js";

/**
 * Read every file of the WAL back from disk and report what is wrong, one line per
 * problem, or `["ok"]`: like SQLite's `PRAGMA quick_check`, it reads, it never repairs.
 */
export function integrityCheck(
  dir: string,
  opts: { codec: RecordCodec; maxRecordBytes: number; lastSeq: number },
): string[] {
  const problems: string[] = [];
  const names = fs.readdirSync(dir).sort();

  for (const name of names) if (name.endsWith(".tmp")) problems.push(`leftover temp file ${name}`);

  let snapshotSeq = 0;
  for (const name of names) {
    const seq = snapshotSeqOf(name);
    if (seq === undefined) continue;
    const snap = readSnapshot(path.join(dir, name));
    if (typeof snap === "string") problems.push(`snapshot ${name}: ${snap}`);
    else if (snap.seq !== seq) problems.push(`snapshot ${name}: holds seq ${snap.seq}, its name says ${seq}`);
    else snapshotSeq = Math.max(snapshotSeq, seq);
  }

  let prev: number | undefined;
  for (const seg of listSegments(dir, names)) {
    const name = path.basename(seg.file);
    if (seg.extension !== opts.codec.extension) {
      problems.push(`segment ${name}: written with another codec`);
      continue;
    }
    const scan = opts.codec.scan(
      fs.readFileSync(seg.file),
      opts.maxRecordBytes,
      (seq, _ts, type, buf, start, end, offset) => {
        if (type === RECORD_TYPE_SYNC) {
          // A sync marker names the last record it covers and holds a durable length.
          const durable = opts.codec.decodeSync(buf, start, end);
          if (durable === undefined || durable > offset || (prev !== undefined && seq !== prev))
            problems.push(`segment ${name} offset ${offset}: bad sync marker (seq ${seq}, durable ${durable ?? "?"})`);
          return;
        }
        const expected = Math.max(prev ?? 0, snapshotSeq) + 1;
        if (seq > snapshotSeq && seq !== expected) {
          problems.push(`segment ${name} offset ${offset}: seq ${seq} where ${expected} was expected`);
        }
        try {
          opts.codec.decodeBatch(buf, start, end);
        } catch (error) {
          problems.push(
            `segment ${name} offset ${offset}: type ${type} record does not decode: ${(error as Error).message}`,
          );
        }
        prev = seq;
      },
    );
    if (scan.bad) problems.push(`segment ${name} offset ${scan.bad.offset}: ${scan.bad.reason}`);
  }

  const onDisk = Math.max(snapshotSeq, prev ?? 0);
  if (onDisk !== opts.lastSeq)
    problems.push(`files end at seq ${onDisk} but the WAL has acknowledged seq ${opts.lastSeq}`);
  return problems.length === 0 ? ["ok"] : problems;
}
