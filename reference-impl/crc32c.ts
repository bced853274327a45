import { createRequire } from "node:module";

// require, not import: ESM importing a CommonJS package runs cjs-module-lexer over it,
// a measurable share of an adapter process's start-up. And on first use, not at load: its
// loader probes the platform (reads /usr/bin/ldd) and dlopens the addon, ~4 ms of CPU that a
// crash-cycle process whose CRCs are all frame-sized never needs.
let native: typeof import("@node-rs/crc32").crc32c | undefined;
const nativeCrc32c = (buf: Buffer, previous: number): number =>
  (native ??= (createRequire(import.meta.url)("@node-rs/crc32") as typeof import("@node-rs/crc32")).crc32c)(
    buf,
    previous,
  );

// CRC32C (Castagnoli). Large buffers go to @node-rs/crc32 (SSE4.2/ARM CRC instructions,
// prebuilt binaries per platform, ~3 GB/s here). Its per-call cost, though, is ~450 ns
// (N-API crossing plus a subarray), which on a 173-byte frame is most of the work: for
// frame-sized ranges a slicing-by-8 table loop in JS is 2.3x faster (measured: 1M frames,
// 220 ms vs 500 ms), and recovery checks one CRC per frame.
const SMALL = 1024;
const T = new Int32Array(8 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  T[n] = c;
}
for (let n = 0; n < 256; n++)
  for (let k = 1; k < 8; k++) T[k * 256 + n] = (T[(k - 1) * 256 + n]! >>> 8) ^ T[T[(k - 1) * 256 + n]! & 0xff]!;

function tableCrc(buf: Uint8Array, start: number, end: number, previous: number): number {
  let c = ~previous;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    c ^= buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    c =
      T[1792 + (c & 0xff)]! ^
      T[1536 + ((c >>> 8) & 0xff)]! ^
      T[1280 + ((c >>> 16) & 0xff)]! ^
      T[1024 + (c >>> 24)]! ^
      T[768 + buf[i + 4]!]! ^
      T[512 + buf[i + 5]!]! ^
      T[256 + buf[i + 6]!]! ^
      T[buf[i + 7]!]!;
  }
  for (; i < end; i++) c = T[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** CRC32C of buf[start, end) (the whole buffer by default), as an unsigned 32-bit number. */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length): number {
  return crc32cContinue(0, buf, start, end);
}

/** Extend `previous` (the CRC32C of some bytes) over buf[start, end): the CRC32C of both together. */
export function crc32cContinue(previous: number, buf: Uint8Array, start = 0, end = buf.length): number {
  if (end - start <= SMALL) return tableCrc(buf, start, end, previous);
  return nativeCrc32c(Buffer.from(buf.buffer, buf.byteOffset + start, end - start), previous);
}
