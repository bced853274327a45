import fs from "node:fs";
import path from "node:path";
import { crc32c, crc32cContinue } from "./crc32c.js";
import { writeFileAtomic } from "./durable-fs.js";

// A snapshot is the whole key-value state at one seq, in one file:
//   {"bytes":N,"crc":"xxxxxxxx","format":"walcheck-snapshot/1","seq":S,"ts":T}\n<body JSON>
// The CRC32C covers "S T" and the body, so a flipped digit in the header is caught too.
const FORMAT = "walcheck-snapshot/1";
const NAME = /^snap-(\d{20})\.snap$/;

export interface SnapshotData {
  seq: number;
  ts: number;
  state: Map<string, string>;
  /** Idempotency keys still remembered, with the seq of the batch that used each. */
  idempotency: Map<string, number>;
}

export function snapshotName(seq: number): string {
  return `snap-${String(seq).padStart(20, "0")}.snap`;
}

/** The seq in a snapshot file name, or undefined for any other file. */
export function snapshotSeqOf(file: string): number | undefined {
  const m = NAME.exec(file);
  return m ? Number(m[1]) : undefined;
}

function checksum(seq: number, ts: number, body: Buffer): string {
  return crc32cContinue(crc32c(Buffer.from(`${seq} ${ts}`)), body)
    .toString(16)
    .padStart(8, "0");
}

export function encodeSnapshot(snap: SnapshotData): Buffer {
  const body = Buffer.from(JSON.stringify({ idempotency: [...snap.idempotency], state: [...snap.state] }), "utf8");
  const header = JSON.stringify({
    bytes: body.length,
    crc: checksum(snap.seq, snap.ts, body),
    format: FORMAT,
    seq: snap.seq,
    ts: snap.ts,
  });
  return Buffer.concat([Buffer.from(`${header}\n`, "utf8"), body]);
}

/** Parse and verify a snapshot; a string is the reason it is invalid. */
export function decodeSnapshot(buf: Buffer): SnapshotData | string {
  const nl = buf.indexOf(10);
  if (nl < 0) return "no header line";
  let header: { bytes?: unknown; crc?: unknown; format?: unknown; seq?: unknown; ts?: unknown };
  try {
    header = JSON.parse(buf.toString("utf8", 0, nl));
  } catch {
    return "header is not JSON";
  }
  if (header.format !== FORMAT) return `unknown format ${JSON.stringify(header.format)}`;
  const { seq, ts, bytes } = header;
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(ts) || !Number.isSafeInteger(bytes))
    return "bad header fields";
  const body = buf.subarray(nl + 1);
  if (body.length !== bytes) return `body is ${body.length} bytes, header says ${bytes as number}`;
  if (checksum(seq as number, ts as number, body) !== header.crc) return "checksum mismatch";
  try {
    const parsed = JSON.parse(body.toString("utf8")) as { idempotency: [string, number][]; state: [string, string][] };
    return {
      seq: seq as number,
      ts: ts as number,
      state: new Map(parsed.state),
      idempotency: new Map(parsed.idempotency),
    };
  } catch {
    return "body is not JSON";
  }
}

export function readSnapshot(file: string): SnapshotData | string {
  return decodeSnapshot(fs.readFileSync(file));
}

/** Write a snapshot with the temp, fsync, rename, fsync-directory discipline. */
export function writeSnapshot(
  dir: string,
  snap: SnapshotData,
  onStep: (step: "half-written" | "synced" | "renamed") => void,
): string {
  const file = path.join(dir, snapshotName(snap.seq));
  writeFileAtomic(file, encodeSnapshot(snap), onStep);
  return file;
}
