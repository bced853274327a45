import { createHash } from "node:crypto";

// File contents as immutable Buffers: every change makes a new one, so the versions a crash
// can leave share nothing mutable. Sectors are the atomic unit of the simulated disk: a
// 512-byte sector lands whole or not at all, so a write inside one sector never tears.

export const SECTOR = 512;
/** A page: where writeback most often splits a long write. */
export const PAGE = 4096;

export const EMPTY: Buffer = Buffer.alloc(0);

/** `data` with `bytes` written at `offset` (a gap past the end reads as zeros). */
export function writeAt(data: Buffer, offset: number, bytes: Buffer): Buffer {
  const out = Buffer.alloc(Math.max(data.length, offset + bytes.length));
  data.copy(out);
  bytes.copy(out, offset);
  return out;
}

/** `data` cut, or extended with zeros, to `size`. */
export function truncateTo(data: Buffer, size: number): Buffer {
  if (size === data.length) return data;
  const out = Buffer.alloc(size);
  data.copy(out, 0, 0, Math.min(size, data.length));
  return out;
}

const multipleNear = (q: number, x: number, lo: number, hi: number) =>
  Math.min(hi, Math.max(lo, Math.round(x / q) * q));

/**
 * Where a write of `length` bytes at `offset` can tear (file offsets, sector multiples strictly
 * inside it): the first sector boundary, the last, and one near the middle, a page boundary
 * when the write spans one. A write inside one sector has none.
 */
export function tearPoints(offset: number, length: number): number[] {
  const end = offset + length;
  const first = (Math.floor(offset / SECTOR) + 1) * SECTOR;
  const last = (Math.ceil(end / SECTOR) - 1) * SECTOR;
  if (first > last) return [];
  const mid = (offset + end) / 2;
  const firstPage = (Math.floor(offset / PAGE) + 1) * PAGE;
  const lastPage = (Math.ceil(end / PAGE) - 1) * PAGE;
  const middle =
    firstPage <= lastPage ? multipleNear(PAGE, mid, firstPage, lastPage) : multipleNear(SECTOR, mid, first, last);
  return [...new Set([first, middle, last])].sort((a, b) => a - b);
}

/** The first and last sector (file offsets) of a write that spans more than one; none for a write inside one sector. */
export function edgeSectors(offset: number, length: number): number[] {
  const first = Math.floor(offset / SECTOR) * SECTOR;
  const last = Math.floor((offset + length - 1) / SECTOR) * SECTOR;
  return length > 0 && first < last ? [first, last] : [];
}

/**
 * `data` with the bytes a torn write put in the sector at `sector` replaced: by zeros, or by
 * `fill`. Only the write's own bytes (`offset`, `length`): the disk's sectors are atomic, so
 * bytes of the sector written and made durable before this write stay as they were (the
 * sector holds either its old or its new content there); what was in flight reads as zeros
 * or garbage. Clipped to the file's end.
 */
export function replaceSector(
  data: Buffer,
  sector: number,
  fill: Buffer | "zeros",
  offset: number,
  length: number,
): Buffer {
  const out = Buffer.from(data);
  const start = Math.max(sector, offset);
  const end = Math.min(sector + SECTOR, offset + length, out.length);
  if (end <= start) return out;
  if (fill === "zeros") out.fill(0, start, end);
  else fill.copy(out, start, start - sector, end - sector);
  return out;
}

/**
 * One sector of garbage, a function of the seed, the write's trace line and the sector, so
 * a replay rebuilds it and the same tear at several cuts gives the same bytes. Its first
 * byte is never zero, so no part of it a file holds is all zeros.
 */
export function junkSector(seed: number, line: number, sector: number): Buffer {
  const blocks: Buffer[] = [];
  for (let k = 0; k * 32 < SECTOR; k++)
    blocks.push(createHash("sha256").update(`walcheck junk ${seed} ${line} ${sector} ${k}`).digest());
  const junk = Buffer.concat(blocks);
  if (junk[0] === 0) junk[0] = 0xa5;
  return junk;
}
