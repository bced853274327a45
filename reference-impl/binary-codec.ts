import { crc32c } from "./crc32c.js";
import type { LogRecord, RecordCodec, SegmentScan } from "./record.js";

// Frame layout, little-endian (28-byte header, then the payload):
//   0  u32 payload length
//   4  u32 CRC32C over bytes [0,4) and [8, end of frame)
//   8  u64 seq  (two u32: low, high)
//  16  u64 ts   (epoch ms, two u32)
//  24  u8  type
//  25  u8  flags (0)
//  26  u16 reserved (0)
export const FRAME_HEADER_BYTES = 28;
const TWO_32 = 2 ** 32;

function frameCrc(buf: Buffer, start: number, end: number): number {
  return crc32c(buf.subarray(start + 8, end), crc32c(buf.subarray(start, start + 4)));
}

export function encodeFrame(record: LogRecord): Buffer {
  const len = record.payload.length;
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + len);
  frame.writeUInt32LE(len, 0);
  frame.writeUInt32LE(record.seq % TWO_32, 8);
  frame.writeUInt32LE(Math.floor(record.seq / TWO_32), 12);
  frame.writeUInt32LE(record.ts % TWO_32, 16);
  frame.writeUInt32LE(Math.floor(record.ts / TWO_32), 20);
  frame.writeUInt8(record.type, 24);
  frame.writeUInt8(0, 25);
  frame.writeUInt16LE(0, 26);
  record.payload.copy(frame, FRAME_HEADER_BYTES);
  frame.writeUInt32LE(frameCrc(frame, 0, frame.length), 4);
  return frame;
}

/** Decode the frame at `offset`, or say why there is no valid frame there. */
function frameAt(buf: Buffer, offset: number, maxPayload: number): { record: LogRecord; end: number } | { reason: string } {
  if (buf.length - offset < FRAME_HEADER_BYTES) return { reason: `partial header (${buf.length - offset} bytes)` };
  const len = buf.readUInt32LE(offset);
  if (len > maxPayload) return { reason: `length ${len} over the ${maxPayload}-byte limit` };
  const end = offset + FRAME_HEADER_BYTES + len;
  if (end > buf.length) return { reason: `partial frame (${buf.length - offset} of ${end - offset} bytes)` };
  if (buf[offset + 25] !== 0 || buf.readUInt16LE(offset + 26) !== 0) return { reason: "reserved bits set" };
  if (frameCrc(buf, offset, end) !== buf.readUInt32LE(offset + 4)) return { reason: "checksum mismatch" };
  const seq = buf.readUInt32LE(offset + 8) + buf.readUInt32LE(offset + 12) * TWO_32;
  const ts = buf.readUInt32LE(offset + 16) + buf.readUInt32LE(offset + 20) * TWO_32;
  const type = buf[offset + 24]!;
  return { record: { seq, ts, type, payload: buf.subarray(offset + FRAME_HEADER_BYTES, end) }, end };
}

export const binaryCodec: RecordCodec = {
  name: "binary",
  extension: ".wal",
  encode: encodeFrame,
  scan(buf: Buffer, maxPayload: number): SegmentScan {
    const records: LogRecord[] = [];
    let offset = 0;
    while (offset < buf.length) {
      const frame = frameAt(buf, offset, maxPayload);
      if ("reason" in frame) {
        const scan: SegmentScan = { records, validEnd: offset, size: buf.length, bad: { offset, reason: frame.reason } };
        // A torn tail has nothing valid after it; a valid frame further on means the
        // bad frame sits in the middle of acknowledged data.
        for (let probe = offset + 1; probe + FRAME_HEADER_BYTES <= buf.length; probe++) {
          const later = frameAt(buf, probe, maxPayload);
          if ("record" in later) {
            scan.validAfterBad = { offset: probe, seq: later.record.seq };
            break;
          }
        }
        return scan;
      }
      records.push(frame.record);
      offset = frame.end;
    }
    return { records, validEnd: offset, size: buf.length };
  },
};
