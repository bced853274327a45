import fs from "node:fs";
import path from "node:path";
import { fsyncDir, truncateFile } from "./durable-fs.js";
import { WalError } from "./errors.js";
import { applyBatch } from "./kv-batch.js";
import { RECORD_TYPE_BATCH, RECORD_TYPE_SYNC, type RecordCodec } from "./record.js";
import { listSegments, type Segment } from "./segment.js";
import { readSnapshot, snapshotSeqOf } from "./snapshot-file.js";

/** What recovery did, reported by `Wal.open` and the protocol's `open`. */
export interface RecoveryReport {
  elapsedMs: number;
  /** Log records applied on top of the snapshot. */
  recordsReplayed: number;
  /** Bytes of torn tail cut from the last segment. */
  bytesDiscarded: number;
  /** Seq of the snapshot recovery started from (0 for none). */
  snapshotSeq: number;
  lastSeq: number;
  tempFilesRemoved: string[];
  tornTail?: { file: string; offset: number; bytes: number; reason: string };
  /** Present only when the caller opted into salvage and damage was found. */
  salvage?: SalvageReport;
}

/** Exactly what a salvaging open gave up, and where the damaged files were copied. */
export interface SalvageReport {
  file: string;
  offset: number;
  reason: string;
  copiedTo: string;
  bytesLost: number;
  /** Valid records found after the damage that were dropped to keep a clean prefix. */
  recordsLost: number;
  seqsLost?: { from: number; to: number };
  snapshotsSetAside: string[];
}

export interface RecoveredWal {
  segments: Segment[];
  state: Map<string, string>;
  idempotency: Map<string, number>;
  lastSeq: number;
  snapshotSeq: number;
  report: Omit<RecoveryReport, "elapsedMs">;
}

export interface RecoveryOptions {
  codec: RecordCodec;
  maxRecordBytes: number;
  idempotencyWindow: number;
  salvage: boolean;
  point: (name: "recovery.temp-removed" | "recovery.before-tail-truncate" | "recovery.tail-truncated") => void;
}

function rememberKey(idempotency: Map<string, number>, key: string, seq: number, window: number): void {
  idempotency.set(key, seq);
  if (idempotency.size > window) idempotency.delete(idempotency.keys().next().value as string);
}

function salvageDir(dir: string): string {
  const target = path.join(dir, `salvage-${new Date().toISOString().replace(/[:.]/g, "-")}`);
  fs.mkdirSync(target, { recursive: true });
  return target;
}

/**
 * Rebuild the state of the WAL in `dir`: the newest snapshot, then every log record after
 * it. A bad frame in the last segment that no later sync marker covers is a torn write and
 * is cut off with everything after it; a bad frame that a later sync marker states durable,
 * or one in an earlier segment, is corruption and fails with WAL_CORRUPT (file, offset),
 * unless `salvage` is set, which copies the damaged files aside, keeps the clean prefix and
 * reports what was lost.
 */
export function recoverDir(dir: string, opts: RecoveryOptions): RecoveredWal {
  const names = fs.readdirSync(dir);
  let dirDirty = false;

  // A temp file is a snapshot that never reached its rename: never part of the state.
  const tempFilesRemoved = names.filter((n) => n.endsWith(".tmp"));
  for (const name of tempFilesRemoved) fs.unlinkSync(path.join(dir, name));
  dirDirty ||= tempFilesRemoved.length > 0;
  if (tempFilesRemoved.length > 0) opts.point("recovery.temp-removed");

  let salvage: SalvageReport | undefined;
  const snapshotsSetAside: string[] = [];
  const state = new Map<string, string>();
  const idempotency = new Map<string, number>();
  let snapshotSeq = 0;

  const snapshots = names
    .map((name) => ({ name, seq: snapshotSeqOf(name) }))
    .filter((s): s is { name: string; seq: number } => s.seq !== undefined)
    .sort((a, b) => b.seq - a.seq);
  for (const snap of snapshots) {
    const file = path.join(dir, snap.name);
    const data = readSnapshot(file);
    if (typeof data === "string") {
      // A snapshot only gets its final name after it was fsynced: a bad one is damage.
      if (!opts.salvage) {
        throw new WalError("WAL_CORRUPT", `corrupt snapshot ${file}: ${data}`, {
          details: { file, offset: 0, reason: data },
        });
      }
      const aside = salvageDir(dir);
      fs.renameSync(file, path.join(aside, snap.name));
      snapshotsSetAside.push(snap.name);
      dirDirty = true;
      continue;
    }
    for (const [k, v] of data.state) state.set(k, v);
    for (const [k, s] of data.idempotency) idempotency.set(k, s);
    snapshotSeq = data.seq;
    break;
  }

  const found = listSegments(dir, names);
  const foreign = found.find((s) => s.extension !== opts.codec.extension);
  if (foreign) {
    throw new WalError("WAL_CONFIG", `${foreign.file} was written with another codec than "${opts.codec.name}"`, {
      details: { file: foreign.file },
    });
  }

  const segments: Segment[] = [];
  let prevSeq: number | undefined;
  let lastSeq = snapshotSeq;
  let recordsReplayed = 0;
  let bytesDiscarded = 0;
  let tornTail: RecoveryReport["tornTail"];

  for (let i = 0; i < found.length; i++) {
    const { id, file } = found[i]!;
    const buf = fs.readFileSync(file);
    const segment: Segment = { id, file, size: buf.length, frames: 0 };
    segments.push(segment);

    // Where the clean prefix of the log ends, if it ends inside this segment.
    let cut: { offset: number; reason: string } | undefined;
    const scan = opts.codec.scan(buf, opts.maxRecordBytes, (seq, _ts, type, b, start, end, offset) => {
      if (type === RECORD_TYPE_SYNC) {
        // A sync marker: no seq of its own (it names the last record it covers), no state.
        const durable = opts.codec.decodeSync(b, start, end);
        if (durable === undefined || durable > offset || (prevSeq !== undefined && seq !== prevSeq)) {
          cut = { offset, reason: `bad sync marker (seq ${seq}, durable ${durable ?? "?"})` };
          return false;
        }
        return true;
      }
      // Records the snapshot covers may come in any subset (their segments' unlinks can
      // reach the disk in any order); after them the log must go on exactly at +1.
      const expected = Math.max(prevSeq ?? 0, snapshotSeq) + 1;
      if (seq > snapshotSeq && seq !== expected) {
        cut = { offset, reason: `seq ${seq} where ${expected} was expected` };
        return false;
      }
      if (seq > snapshotSeq) {
        // A frame whose checksum holds but whose batch does not decode was written wrong: corruption.
        let batch;
        try {
          if (type !== RECORD_TYPE_BATCH) throw new Error(`unknown record type ${type}`);
          batch = opts.codec.decodeBatch(b, start, end);
        } catch (error) {
          cut = { offset, reason: `seq ${seq}: ${(error as Error).message}` };
          return false;
        }
        applyBatch(state, batch.ops);
        if (batch.idempotencyKey !== undefined)
          rememberKey(idempotency, batch.idempotencyKey, seq, opts.idempotencyWindow);
        lastSeq = seq;
        recordsReplayed += 1;
      }
      prevSeq = seq;
      segment.frames += 1;
      segment.firstSeq ??= seq;
      segment.lastSeq = seq;
      return true;
    });

    const isLast = i === found.length - 1;
    if (!cut && scan.bad) {
      // In the last segment, valid frames after a bad one are corruption only if a sync
      // marker after the damage says its bytes had been made durable. Otherwise the damage
      // and all after it belong to writes no fdatasync ever covered (none of them acked):
      // a group write cut by power loss can land with its first sector lost and later
      // sectors intact. That is a torn tail, however it landed.
      const durable = isLast && scan.validAfterBad ? durableAfter(buf, scan.validAfterBad.offset, opts) : 0;
      if (isLast && durable <= scan.bad.offset) {
        // Torn tail: the write that was in flight when the process died. Never acked.
        opts.point("recovery.before-tail-truncate");
        truncateFile(file, scan.validEnd);
        const bytes = scan.size - scan.validEnd;
        bytesDiscarded += bytes;
        const reason = scan.validAfterBad
          ? `${scan.bad.reason}; the valid frames after it (from offset ${scan.validAfterBad.offset}) were never made durable (no sync marker covers the damage)`
          : scan.bad.reason;
        tornTail = { file, offset: scan.validEnd, bytes, reason };
        segment.size = scan.validEnd;
        opts.point("recovery.tail-truncated");
        continue;
      }
      const after = scan.validAfterBad
        ? `a valid record (seq ${scan.validAfterBad.seq}) follows at offset ${scan.validAfterBad.offset}` +
          (isLast ? ` and a sync marker states ${durable} bytes durable` : "")
        : `${found.length - 1 - i} later segment(s) follow`;
      cut = { offset: scan.bad.offset, reason: `${scan.bad.reason}; ${after}` };
    }
    if (!cut) continue;

    if (!opts.salvage) {
      throw new WalError("WAL_CORRUPT", `corrupt log ${file} at offset ${cut.offset}: ${cut.reason}`, {
        details: { file, offset: cut.offset, reason: cut.reason },
      });
    }
    salvage = salvageFrom(dir, found.slice(i), cut, opts);
    salvage.snapshotsSetAside.push(...snapshotsSetAside);
    segment.size = cut.offset;
    dirDirty = true;
    break;
  }

  if (dirDirty) fsyncDir(dir);
  const report: RecoveredWal["report"] = { recordsReplayed, bytesDiscarded, snapshotSeq, lastSeq, tempFilesRemoved };
  if (tornTail) report.tornTail = tornTail;
  if (salvage) report.salvage = salvage;
  else if (snapshotsSetAside.length > 0) {
    report.salvage = {
      file: "",
      offset: 0,
      reason: "corrupt snapshot set aside",
      copiedTo: "",
      bytesLost: 0,
      recordsLost: 0,
      snapshotsSetAside,
    };
  }
  return { segments, state, idempotency, lastSeq, snapshotSeq, report };
}

/**
 * The largest durable length stated by a valid sync marker at or after `from` (0 for none),
 * resynchronising past further bad frames.
 */
function durableAfter(buf: Buffer, from: number, opts: RecoveryOptions): number {
  let durable = 0;
  let at: number | undefined = from;
  while (at !== undefined && at < buf.length) {
    const base: number = at;
    const scan = opts.codec.scan(buf.subarray(base), opts.maxRecordBytes, (_seq, _ts, type, b, start, end) => {
      if (type !== RECORD_TYPE_SYNC) return;
      const stated = opts.codec.decodeSync(b, start, end);
      if (stated !== undefined) durable = Math.max(durable, stated);
    });
    at = scan.validAfterBad && scan.validAfterBad.offset > 0 ? base + scan.validAfterBad.offset : undefined;
  }
  return durable;
}

/** Copy the damaged segment and everything after it aside, then keep only the clean prefix. */
function salvageFrom(
  dir: string,
  damaged: { file: string }[],
  cut: { offset: number; reason: string },
  opts: RecoveryOptions,
): SalvageReport {
  const aside = salvageDir(dir);
  let bytesLost = 0;
  let recordsLost = 0;
  let seqsLost: SalvageReport["seqsLost"];
  damaged.forEach(({ file }, i) => {
    const buf = fs.readFileSync(file);
    fs.copyFileSync(file, path.join(aside, path.basename(file)));
    const from = i === 0 ? cut.offset : 0;
    bytesLost += buf.length - from;
    // Count every decodable record past the cut, including those after a bad frame.
    const seqs: number[] = [];
    const collect = (seq: number, _ts: number, type: number) => void (type !== RECORD_TYPE_SYNC && seqs.push(seq));
    const lost = opts.codec.scan(buf.subarray(from), opts.maxRecordBytes, collect);
    if (lost.validAfterBad)
      opts.codec.scan(buf.subarray(from + lost.validAfterBad.offset), opts.maxRecordBytes, collect);
    recordsLost += seqs.length;
    for (const s of seqs) seqsLost = { from: Math.min(seqsLost?.from ?? s, s), to: Math.max(seqsLost?.to ?? s, s) };
    if (i === 0) {
      truncateFile(file, cut.offset);
    } else {
      fs.unlinkSync(file);
    }
  });
  fsyncDir(aside);
  const report: SalvageReport = {
    file: damaged[0]!.file,
    offset: cut.offset,
    reason: cut.reason,
    copiedTo: aside,
    bytesLost,
    recordsLost,
    snapshotsSetAside: [],
  };
  if (seqsLost) report.seqsLost = seqsLost;
  return report;
}
