import { createHash } from "node:crypto";
import fc from "fast-check";
import type { BatchOp } from "../harness/protocol/messages.js";
import type { Scenario } from "../harness/engine/scenario.js";

const FIELDS = ["a", "b", "c", "d", "e", "f"] as const;
const SUM = "doc/sha256";

/** The checksum a whole document carries: sha256 over its fields in order. */
export function docSum(values: readonly string[]): string {
  return createHash("sha256").update(JSON.stringify(values)).digest("hex");
}

/** One state-file write: every field of the document replaced at once, with its checksum. */
function documentBatch(values: readonly string[]): BatchOp[] {
  return [...FIELDS.map((f, i) => ({ key: `doc/${f}`, value: values[i]! })), { key: SUM, value: docSum(values) }];
}

interface Input {
  docs: string[][];
  /** Which hit of each named point crashes. */
  nth: number;
  fsArms: { call: number; when: "before" | "after" | "mid" }[];
}

const doc = fc.array(fc.string({ maxLength: 40 }), { minLength: FIELDS.length, maxLength: FIELDS.length });

export const stateFile: Scenario<Input> = {
  name: "state-file",
  summary: "a JSON state file protected by a WAL: a crash at every step recovers the old or the new file whole",
  description:
    "Design B: a checklist tool's state file (YAML or JSON) rewritten whole on every change, protected by a WAL: write the intent and the new data to the WAL, sync it, write the file, sync it, delete the WAL. walcheck writes whole documents (every field replaced, plus a sha256 of the document) and crashes the adapter at each of its named points in turn and at seeded fs calls (a write cut in half, a rename not made). After every crash the recovered document must be the old one or the new one, whole: its fields must hash to the checksum it carries. Writing the file in place, without the WAL, fails here.",
  needs: [],
  workload:
    "whole-document writes (6 fields and a checksum); each named crash point armed in turn; fs-call crashes; close and reopen",
  faults:
    "every named crash point (the steps of the write protocol), fs-call crashes before, after and halfway through writes",
  invariants: [
    {
      id: "whole-file",
      text: "the recovered document hashes to the checksum it carries (never a mix of two versions, never a torn file)",
    },
    {
      id: "durability",
      text: "it is the last acknowledged document or the one being written (durability, atomicity, sequence)",
    },
    { id: "recovery", text: "open succeeds after a crash at any step" },
  ],
  defaultCases: 4,
  arbitrary: (env) =>
    fc.record({
      docs: fc.array(doc, { minLength: 2, maxLength: 4 }),
      nth: fc.integer({ min: 1, max: 2 }),
      fsArms: env.crash.includes("fs")
        ? fc.array(
            fc.record({
              call: fc.integer({ min: 1, max: Math.max(1, env.fsCallsPerLife ?? 20) }),
              when: fc.constantFrom<"before" | "after" | "mid">("before", "after", "mid"),
            }),
            { maxLength: 4 },
          )
        : fc.constant([]),
    }),
  async execute(input, session, env) {
    session.onRecovered = (read) => {
      const values = FIELDS.map((f) => read.state[`doc/${f}`]);
      const sum = read.state[SUM];
      if (sum === undefined && values.every((v) => v === undefined)) return; // nothing written yet
      if (values.some((v) => v === undefined) || sum !== docSum(values as string[])) {
        session.fail(
          "whole-file",
          `the recovered document does not match its checksum: a mix of versions or a torn file (fields ${JSON.stringify(values)}, sha256 ${sum})`,
        );
      }
    };
    const batches = input.docs.map(documentBatch);
    await session.start();
    await session.appendBurst([batches[0]!]);
    const points = env.crash.includes("named") ? (env.hello.points ?? []) : [];
    for (const [i, point] of points.entries()) {
      session.step = `crash at ${point}:${input.nth}`;
      await session.arm(
        { kind: "named", point, nth: input.nth },
        [batches[(i + 1) % batches.length]!, batches[(i + 2) % batches.length]!],
        undefined,
      );
    }
    for (const [i, arm] of input.fsArms.entries()) {
      session.step = `crash at fs call #${arm.call} ${arm.when}`;
      await session.arm(
        { kind: "fs", ...arm },
        [batches[i % batches.length]!, batches[(i + 1) % batches.length]!],
        undefined,
      );
    }
    session.step = "final close and reopen";
    await session.finish();
  },
};
