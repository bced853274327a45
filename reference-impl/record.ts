import type { BatchOp, DecodedBatch } from "./kv-batch.js";

/** One record of the log: a batch, with its sequence number and timestamp. */
export interface LogRecord {
  seq: number;
  /** Epoch milliseconds when the record was framed. */
  ts: number;
  /** Record type; 1 is a key-value batch, 2 a sync marker (see RECORD_TYPE_SYNC). */
  type: number;
  /** The batch, in the codec's payload encoding. */
  payload: Buffer;
}

export const RECORD_TYPE_BATCH = 1;
/**
 * A sync marker: appended (never fsynced on its own) after each fdatasync of a segment
 * completes, stating the segment length that fdatasync made durable; written at the head of
 * the next group's write, or alone when the event loop turns first, or before a rotation's or
 * a clean close's fdatasync (docs/reference-wal.md#sync-markers). It carries the seq of the
 * last record it covers (it takes no seq of its own) and is skipped by replay and every reader.
 * Recovery uses it to tell damage to data that was known durable (corruption: refuse) from a
 * write that never reached its fdatasync (a torn tail, however it landed: cut), in the manner
 * of PAR's persist record (FAST'18).
 */
export const RECORD_TYPE_SYNC = 2;
export const RECORD_TYPE_NAMES: Record<number, string> = {
  [RECORD_TYPE_BATCH]: "kv.batch",
  [RECORD_TYPE_SYNC]: "sync",
};

/**
 * Called for each valid record, in order, with the payload as a range of `buf` (no copy:
 * recovery of a million records must not allocate a million objects). Return false to
 * stop at this record (it then counts as the end of the clean log).
 */
export type RecordVisitor = (
  seq: number,
  ts: number,
  type: number,
  buf: Buffer,
  payloadStart: number,
  payloadEnd: number,
  offset: number,
) => boolean | void;

/** What scanning a segment found: where the valid records end, and any bad frame. */
export interface SegmentScan {
  /** Valid records visited (and accepted by the visitor). */
  records: number;
  /** Byte offset just after the last accepted frame. */
  validEnd: number;
  /** Total bytes in the segment. */
  size: number;
  /** Set when the visitor stopped the scan: the offset of the record it refused. */
  stoppedAt?: number;
  /** The first bad frame, if any: where it starts and why it is bad. */
  bad?: { offset: number; reason: string };
  /** Whether a valid frame was found after the bad one (corruption, not a torn tail). */
  validAfterBad?: { offset: number; seq: number };
}

/** Encodes and decodes records and batch payloads: binary frames or JSON lines, same checksum and seq rules. */
export interface RecordCodec {
  readonly name: "binary" | "jsonl";
  readonly extension: string;
  encode(record: LogRecord): Buffer;
  /** Optional, with encodeInto: the size of the frame of a record whose payload has `payloadBytes` bytes. */
  frameBytes?(payloadBytes: number): number;
  /** Optional: frame `record` into `target` at `at` without allocating; returns the offset after it. */
  encodeInto?(record: LogRecord, target: Buffer, at: number): number;
  scan(buf: Buffer, maxPayload: number, visit?: RecordVisitor): SegmentScan;
  encodeBatch(ops: readonly BatchOp[], idempotencyKey?: string): Buffer;
  decodeBatch(buf: Buffer, start: number, end: number): DecodedBatch;
  /** The payload of a sync marker stating that the segment's first `durable` bytes are durable. */
  encodeSync(durable: number): Buffer;
  /** The durable length a sync marker's payload states, or undefined if it is not one. */
  decodeSync(buf: Buffer, start: number, end: number): number | undefined;
}
