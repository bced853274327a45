import fs from "node:fs";
import path from "node:path";
import type { RecordCodec } from "./record.js";

/** One log segment file and what recovery or the writer knows of it. */
export interface Segment {
  id: number;
  file: string;
  size: number;
  frames: number;
  firstSeq?: number;
  lastSeq?: number;
}

const NAME = /^seg-(\d{16})\.(wal|jsonl)$/;

export function segmentName(id: number, codec: RecordCodec): string {
  return `seg-${String(id).padStart(16, "0")}${codec.extension}`;
}

/** Segment files in `dir`, oldest first, with the codec extension each has. */
export function listSegments(dir: string, names: string[]): { id: number; file: string; extension: string }[] {
  const found: { id: number; file: string; extension: string }[] = [];
  for (const name of names) {
    const m = NAME.exec(name);
    if (m) found.push({ id: Number(m[1]), file: path.join(dir, name), extension: `.${m[2]}` });
  }
  return found.sort((a, b) => a.id - b.id);
}

/** Open a segment for appending; `create` fails if it already exists. */
export function openSegment(file: string, create: boolean): number {
  const { O_WRONLY, O_APPEND, O_CREAT, O_EXCL } = fs.constants;
  return fs.openSync(file, create ? O_WRONLY | O_APPEND | O_CREAT | O_EXCL : O_WRONLY | O_APPEND);
}
