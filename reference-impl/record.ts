/** One record of the log: a batch, with its sequence number and timestamp. */
export interface LogRecord {
  seq: number;
  /** Epoch milliseconds when the record was framed. */
  ts: number;
  /** Record type; 1 is a key-value batch. */
  type: number;
  /** The batch, as canonical JSON text (UTF-8). */
  payload: Buffer;
}

export const RECORD_TYPE_BATCH = 1;
export const RECORD_TYPE_NAMES: Record<number, string> = { [RECORD_TYPE_BATCH]: "kv.batch" };

/** What scanning a segment found: the valid records, where they end, and any bad frame. */
export interface SegmentScan {
  records: LogRecord[];
  /** Byte offset just after the last valid frame. */
  validEnd: number;
  /** Total bytes in the segment. */
  size: number;
  /** The first bad frame, if any: where it starts and why it is bad. */
  bad?: { offset: number; reason: string };
  /** Whether a valid frame was found after the bad one (corruption, not a torn tail). */
  validAfterBad?: { offset: number; seq: number };
}

/** Encodes and decodes records; binary frames or JSON lines, same checksum and seq rules. */
export interface RecordCodec {
  readonly name: "binary" | "jsonl";
  readonly extension: string;
  encode(record: LogRecord): Buffer;
  scan(buf: Buffer, maxPayload: number): SegmentScan;
}
