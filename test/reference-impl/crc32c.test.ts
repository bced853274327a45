import { crc32c as nativeCrc32c } from "@node-rs/crc32";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { crc32c, crc32cContinue } from "../../reference-impl/crc32c.js";

describe("crc32c", () => {
  it("gives the CRC-32C check value for '123456789'", () => {
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
  });

  it("agrees with @node-rs/crc32 on any range of any buffer, small (JS table) or large (native)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 3000 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const buf = Buffer.from(bytes);
        const start = buf.length === 0 ? 0 : a % (buf.length + 1);
        const end = start + (buf.length - start === 0 ? 0 : b % (buf.length - start + 1));
        expect(crc32c(buf, start, end)).toBe(nativeCrc32c(buf.subarray(start, end)));
      }),
      { numRuns: 500, seed: 20261121 },
    );
  });

  it("continues a CRC across two buffers as if they were one", () => {
    const a = Buffer.from("walcheck ");
    const b = Buffer.alloc(5000, 0xab);
    expect(crc32cContinue(crc32c(a), b)).toBe(crc32c(Buffer.concat([a, b])));
    expect(crc32cContinue(crc32c(a), b, 0, 100)).toBe(crc32c(Buffer.concat([a, b.subarray(0, 100)])));
  });
});
