import { crc32c } from "./crc32c.js";
import { decodeBatchJson, encodeBatchJson } from "./kv-batch.js";
import { RECORD_TYPE_NAMES, type LogRecord, type RecordCodec, type RecordVisitor, type SegmentScan } from "./record.js";

// One record per line, keys sorted, no spaces, so the same records give the same bytes:
//   {"crc":"1a2b3c4d","data":<payload JSON>,"seq":1,"ts":1700000000000,"type":"kv.batch"}\n
// The CRC32C covers every byte after `{"crc":"xxxxxxxx",` up to (not including) the newline.
const PREFIX = '{"crc":"';
const PREFIX_BYTES = Buffer.from(PREFIX, "latin1");
const CRC_END = PREFIX.length + 8;
const BODY_START = CRC_END + 2; // after `",`
const DATA_START = BODY_START + '"data":'.length;
const typeIds = new Map(Object.entries(RECORD_TYPE_NAMES).map(([id, name]) => [name, Number(id)]));

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

function encodeLine(record: LogRecord): Buffer {
  const typeName = RECORD_TYPE_NAMES[record.type];
  if (!typeName) throw new TypeError(`jsonl codec: unknown record type, got ${record.type}`);
  // The payload is already canonical single-line JSON; it is embedded verbatim.
  const body = `"data":${record.payload.toString("utf8")},"seq":${record.seq},"ts":${record.ts},"type":${JSON.stringify(typeName)}}`;
  const bodyBuf = Buffer.from(body, "utf8");
  return Buffer.concat([Buffer.from(`${PREFIX}${hex8(crc32c(bodyBuf))}",`, "utf8"), bodyBuf, Buffer.from("\n")]);
}

interface LineRecord {
  seq: number;
  ts: number;
  type: number;
  payloadStart: number;
  payloadEnd: number;
}

/** Decode the line buf[start, end) (no newline), or say why it is not a record. */
function decodeLine(buf: Buffer, start: number, end: number): LineRecord | { reason: string } {
  if (end - start < BODY_START + 2 || buf.toString("latin1", start, start + PREFIX.length) !== PREFIX)
    return { reason: "not a record line" };
  if (buf.toString("latin1", start + PREFIX.length, start + CRC_END) !== hex8(crc32c(buf, start + BODY_START, end))) {
    return { reason: "checksum mismatch" };
  }
  let parsed: { seq?: unknown; ts?: unknown; type?: unknown };
  try {
    parsed = JSON.parse(buf.toString("utf8", start, end));
  } catch {
    return { reason: "invalid JSON" };
  }
  const type = typeof parsed.type === "string" ? typeIds.get(parsed.type) : undefined;
  if (!Number.isSafeInteger(parsed.seq) || !Number.isSafeInteger(parsed.ts) || type === undefined)
    return { reason: "bad record fields" };
  // The payload's exact bytes: everything between `"data":` and the top-level `,"seq":N,`.
  const seqField = Buffer.from(`,"seq":${parsed.seq as number},`, "latin1");
  const payloadEnd = buf.lastIndexOf(seqField, end);
  return { seq: parsed.seq as number, ts: parsed.ts as number, type, payloadStart: start + DATA_START, payloadEnd };
}

function validRecordInside(buf: Buffer, from: number, end: number): { offset: number; seq: number } | undefined {
  for (let at = buf.indexOf(PREFIX_BYTES, from); at !== -1 && at < end; at = buf.indexOf(PREFIX_BYTES, at + 1)) {
    const decoded = decodeLine(buf, at, end);
    if (!("reason" in decoded)) return { offset: at, seq: decoded.seq };
  }
  return undefined;
}

export const jsonlCodec: RecordCodec = {
  name: "jsonl",
  extension: ".jsonl",
  encode: encodeLine,
  encodeBatch: encodeBatchJson,
  decodeBatch: decodeBatchJson,
  // A sync marker's payload: {"durable":N}, the durable length in bytes.
  encodeSync(durable: number): Buffer {
    return Buffer.from(`{"durable":${durable}}`, "utf8");
  },
  decodeSync(buf: Buffer, start: number, end: number): number | undefined {
    try {
      const parsed = JSON.parse(buf.toString("utf8", start, end)) as { durable?: unknown };
      return Number.isSafeInteger(parsed.durable) && (parsed.durable as number) >= 0
        ? (parsed.durable as number)
        : undefined;
    } catch {
      return undefined;
    }
  },
  scan(buf: Buffer, maxPayload: number, visit?: RecordVisitor): SegmentScan {
    let records = 0;
    let offset = 0;
    let bad: SegmentScan["bad"];
    while (offset < buf.length) {
      const nl = buf.indexOf(10, offset);
      const end = nl === -1 ? buf.length : nl;
      const decoded =
        nl === -1
          ? { reason: `partial line (${buf.length - offset} bytes, no newline)` }
          : end - offset > maxPayload + 256
            ? { reason: `line over the ${maxPayload}-byte limit` }
            : decodeLine(buf, offset, end);
      if ("reason" in decoded) {
        if (!bad) {
          bad = { offset, reason: decoded.reason };
          // A damaged newline merges two lines: look for a valid record starting inside.
          const inner = validRecordInside(buf, offset + 1, end);
          if (inner) return { records, validEnd: offset, size: buf.length, bad, validAfterBad: inner };
        }
      } else if (bad) {
        return { records, validEnd: bad.offset, size: buf.length, bad, validAfterBad: { offset, seq: decoded.seq } };
      } else {
        if (
          visit &&
          visit(decoded.seq, decoded.ts, decoded.type, buf, decoded.payloadStart, decoded.payloadEnd, offset) === false
        ) {
          return { records, validEnd: offset, size: buf.length, stoppedAt: offset };
        }
        records += 1;
      }
      offset = nl === -1 ? buf.length : nl + 1;
    }
    return bad
      ? { records, validEnd: bad.offset, size: buf.length, bad }
      : { records, validEnd: offset, size: buf.length };
  },
};
