import { PassThrough } from "node:stream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fastAnswer } from "../../harness/protocol/fast-answer.js";
import { readLines } from "../../harness/protocol/line-splitter.js";
import { readAnswer, readAnswerWithZod } from "../../harness/protocol/tolerant-reader.js";

// The fast path of the answer reader against zod (the definition): over generated answers,
// valid and invalid, as they come off the wire (JSON text, parsed), the fast path takes exactly
// the ok:true answers zod takes without a warning (short of a `__proto__` key, which it leaves
// to zod), with the same parsed value, and leaves everything else to zod.

type Pair = [string, unknown];
/** An object as JSON text makes it (so a `__proto__` key is an own key, as on the wire). */
const fromPairs = (pairs: Pair[]): Record<string, unknown> =>
  JSON.parse(`{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${wire(v)}`).join(",")}}`) as Record<string, unknown>;
/** JSON text of `v`, an infinity written as 1e400 (which JSON.parse reads as Infinity, as an adapter may send). */
const wire = (v: unknown): string =>
  (JSON.stringify(v, (_k, x: unknown) => (x === Infinity ? "<inf>" : x === -Infinity ? "<-inf>" : x)) ?? "null")
    .replaceAll('"<inf>"', "1e400")
    .replaceAll('"<-inf>"', "-1e400");

const edgeNumbers = fc.constantFrom(
  0,
  -0,
  1,
  2,
  -1,
  1.5,
  2 ** 53 - 1,
  2 ** 53,
  -(2 ** 53),
  1e308,
  0.001,
  Infinity,
  -Infinity,
);
const number = fc.oneof(edgeNumbers, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }));
const scalar = fc.oneof(number, fc.string(), fc.boolean(), fc.constant(null));
const anyJson = fc.oneof(
  { arbitrary: scalar, weight: 4 },
  { arbitrary: fc.array(scalar, { maxLength: 3 }), weight: 1 },
  { arbitrary: fc.dictionary(fc.string(), scalar, { maxKeys: 3 }), weight: 1 },
);
const key = fc.oneof(
  fc.constantFrom("id", "ok", "seq", "lastSeq", "state", "elapsedMs", "__proto__", "error"),
  fc.string(),
);
/** Mostly what the field should be, sometimes anything. */
const mostly = <T>(good: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: good, weight: 4 }, { arbitrary: anyJson, weight: 1 });
const stateKey = fc.oneof({ arbitrary: fc.string(), weight: 9 }, { arbitrary: fc.constant("__proto__"), weight: 1 });
const state = fc.oneof(
  { arbitrary: fc.array(fc.tuple(stateKey, fc.string()), { maxLength: 5 }).map(fromPairs), weight: 5 },
  { arbitrary: fc.array(fc.tuple(stateKey, scalar), { maxLength: 3 }).map(fromPairs), weight: 1 },
  { arbitrary: anyJson, weight: 1 },
);

/** An answer to append, transaction or read: each field usually right, present or not, plus extra fields. */
const answer = fc
  .record(
    {
      id: mostly(fc.oneof(fc.nat(), edgeNumbers)),
      ok: mostly(fc.constant(true)),
      seq: mostly(fc.oneof(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), edgeNumbers)),
      lastSeq: mostly(fc.oneof(fc.nat(), edgeNumbers)),
      state,
      elapsedMs: mostly(fc.oneof(fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }), edgeNumbers)),
      error: fc.record({ code: mostly(fc.string({ minLength: 1 })), message: mostly(fc.string()) }),
      extra: fc.array(fc.tuple(key, anyJson), { maxLength: 3 }),
    },
    { requiredKeys: [] },
  )
  .map(({ extra, ...fields }) => fromPairs([...Object.entries(fields), ...(extra ?? [])]));

const hasProtoKey = (v: unknown): boolean =>
  typeof v === "object" && v !== null && (Object.hasOwn(v, "__proto__") || Object.values(v).some(hasProtoKey));

describe("the fast path of the answer reader", () => {
  for (const op of ["append", "transaction", "read"] as const) {
    it(`agrees with zod on ${op} answers: accepted or not, and the value`, () => {
      fc.assert(
        fc.property(answer, (json) => {
          const fast = fastAnswer(op, json);
          const zod = readAnswerWithZod(op, structuredClone(json));
          const zodClean = zod.ok && zod.warnings.length === 0 && json.ok === true;
          if (fast) {
            expect(zodClean).toBe(true);
            expect(fast).toStrictEqual(zod.ok ? zod.value : undefined);
          } else {
            // Declined: zod rejects it, warns about it, it is an error answer, or it holds a __proto__ key.
            expect(zodClean && !hasProtoKey(json)).toBe(false);
          }
          // What readAnswer gives (fast or not) is what zod gives.
          const read = readAnswer(op, json);
          expect(read.ok).toBe(zod.ok);
          if (read.ok && zod.ok) {
            expect(read.value).toStrictEqual(zod.value);
            expect(read.warnings).toStrictEqual(zod.warnings);
          } else if (!read.ok && !zod.ok) expect(read.problem).toBe(zod.problem);
        }),
        { numRuns: 3000 },
      );
    });
  }

  it("takes the everyday answers, and leaves error answers and other ops to zod", () => {
    const append = { id: 3, ok: true, seq: 7, elapsedMs: 0.25 };
    expect(fastAnswer("append", append)).toStrictEqual(append);
    const read = { id: 4, ok: true, lastSeq: 7, state: { a: "1", "é\n": '"' }, elapsedMs: 1 };
    expect(fastAnswer("read", read)).toStrictEqual(read);
    expect(fastAnswer("append", { id: 3, ok: false, error: { code: "EIO", message: "x" } })).toBeUndefined();
    expect(fastAnswer("append", { id: 3, ok: true, seq: "7" })).toBeUndefined();
    expect(fastAnswer("read", { id: 3, ok: true, lastSeq: 0, state: { a: 1 } })).toBeUndefined();
    expect(fastAnswer("open", { id: 1, ok: true, lastSeq: 0 })).toBeUndefined();
    // A bad elapsedMs is a warning, not the fast path's to drop.
    expect(fastAnswer("append", { id: 3, ok: true, seq: 7, elapsedMs: "1" })).toBeUndefined();
  });
});

describe("readLines", () => {
  /** The lines `chunks` make, written to a real stream one after the other. */
  const linesOf = async (chunks: (string | Buffer)[]): Promise<string[]> => {
    const input = new PassThrough();
    const lines: string[] = [];
    const ended = new Promise<void>((resolve) => readLines(input, (l) => void lines.push(l), resolve));
    for (const c of chunks) input.write(c);
    input.end();
    await ended;
    return lines.filter((l) => l !== "");
  };

  it("splits on \\n, \\r\\n and a lone \\r, keeps a character split across chunks, and gives the unterminated tail at the end", async () => {
    const euro = Buffer.from('{"v":"€"}\n', "utf8");
    expect(await linesOf(["a\nb", "c\r\nd\re", "\n", euro.subarray(0, 7), euro.subarray(7), "\n\n", "tail"])).toEqual([
      "a",
      "bc",
      "d",
      "e",
      '{"v":"€"}',
      "tail",
    ]);
  });

  it("stops at the line its callback refuses: nothing after it is handed over", async () => {
    const input = new PassThrough();
    const lines: string[] = [];
    readLines(input, (l) => {
      lines.push(l);
      return l !== "close";
    });
    input.write("one\nclose\nafter\n");
    input.write("later\n");
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toEqual(["one", "close"]);
  });
});
