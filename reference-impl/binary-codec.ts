import { crc32c } from "./crc32c.js";
import { decodeBatchBinary, encodeBatchBinary } from "./kv-batch.js";
import type { LogRecord, RecordCodec, RecordVisitor, SegmentScan } from "./record.js";

// Frame layout, little-endian (28-byte header, then the payload):
//   0  u32 CRC32C over bytes [4, end of frame): length, header and payload
//   4  u32 payload length
//   8  u64 seq  (two u32: low, high)
//  16  u64 ts   (epoch ms, two u32)
//  24  u8  type
//  25  u8  flags (0)
//  26  u16 reserved (0)
export const FRAME_HEADER_BYTES = 28;
const TWO_32 = 2 ** 32;

export function encodeFrame(record: LogRecord): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + record.payload.length);
  encodeFrameInto(record, frame, 0);
  return frame;
}

/** Frame `record` into `target` at `at` (no allocation); returns the offset just after the frame. */
export function encodeFrameInto(record: LogRecord, target: Buffer, at: number): number {
  const len = record.payload.length;
  target.writeUInt32LE(len, at + 4);
  target.writeUInt32LE(record.seq % TWO_32, at + 8);
  target.writeUInt32LE(Math.floor(record.seq / TWO_32), at + 12);
  target.writeUInt32LE(record.ts % TWO_32, at + 16);
  target.writeUInt32LE(Math.floor(record.ts / TWO_32), at + 20);
  target[at + 24] = record.type;
  target[at + 25] = 0;
  target.writeUInt16LE(0, at + 26);
  record.payload.copy(target, at + FRAME_HEADER_BYTES);
  const end = at + FRAME_HEADER_BYTES + len;
  target.writeUInt32LE(crc32c(target, at + 4, end), at);
  return end;
}

/** The end offset of a valid frame at `offset`, or the reason there is none. */
function checkFrame(buf: Buffer, offset: number, maxPayload: number): number | string {
  if (buf.length - offset < FRAME_HEADER_BYTES) return `partial header (${buf.length - offset} bytes)`;
  const len = buf.readUInt32LE(offset + 4);
  if (len > maxPayload) return `length ${len} over the ${maxPayload}-byte limit`;
  const end = offset + FRAME_HEADER_BYTES + len;
  if (end > buf.length) return `partial frame (${buf.length - offset} of ${end - offset} bytes)`;
  if (buf.readUInt32LE(offset + 24) >>> 8 !== 0) return "reserved bits set";
  if (crc32c(buf, offset + 4, end) !== buf.readUInt32LE(offset)) return "checksum mismatch";
  return end;
}

const seqAt = (buf: Buffer, offset: number) => buf.readUInt32LE(offset + 8) + buf.readUInt32LE(offset + 12) * TWO_32;

export const binaryCodec: RecordCodec = {
  name: "binary",
  extension: ".wal",
  encode: encodeFrame,
  frameBytes: (payloadBytes: number) => FRAME_HEADER_BYTES + payloadBytes,
  encodeInto: encodeFrameInto,
  encodeBatch: encodeBatchBinary,
  decodeBatch: decodeBatchBinary,
  // A sync marker's payload: the durable length, u64 little-endian (two u32).
  encodeSync(durable: number): Buffer {
    const b = Buffer.allocUnsafe(8);
    b.writeUInt32LE(durable % TWO_32, 0);
    b.writeUInt32LE(Math.floor(durable / TWO_32), 4);
    return b;
  },
  decodeSync(buf: Buffer, start: number, end: number): number | undefined {
    if (end - start !== 8) return undefined;
    return buf.readUInt32LE(start) + buf.readUInt32LE(start + 4) * TWO_32;
  },
  scan(buf: Buffer, maxPayload: number, visit?: RecordVisitor): SegmentScan {
    let records = 0;
    let offset = 0;
    while (offset < buf.length) {
      const end = checkFrame(buf, offset, maxPayload);
      if (typeof end === "string") {
        const scan: SegmentScan = { records, validEnd: offset, size: buf.length, bad: { offset, reason: end } };
        // A torn tail has nothing valid after it; a valid frame further on means the bad
        // frame sits in the middle of acknowledged data.
        for (let probe = offset + 1; probe + FRAME_HEADER_BYTES <= buf.length; probe++) {
          if (typeof checkFrame(buf, probe, maxPayload) === "number") {
            scan.validAfterBad = { offset: probe, seq: seqAt(buf, probe) };
            break;
          }
        }
        return scan;
      }
      const ts = buf.readUInt32LE(offset + 16) + buf.readUInt32LE(offset + 20) * TWO_32;
      if (
        visit &&
        visit(seqAt(buf, offset), ts, buf[offset + 24]!, buf, offset + FRAME_HEADER_BYTES, end, offset) === false
      ) {
        return { records, validEnd: offset, size: buf.length, stoppedAt: offset };
      }
      records += 1;
      offset = end;
    }
    return { records, validEnd: offset, size: buf.length };
  },
};
