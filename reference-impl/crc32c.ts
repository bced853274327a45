// CRC32C (Castagnoli) from @node-rs/crc32: SIMD/SSE4.2 native code with prebuilt
// binaries per platform, ~20x a table-driven JS loop, which matters when recovery
// checksums a million frames.
export { crc32c } from "@node-rs/crc32";
