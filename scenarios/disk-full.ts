import fc from "fast-check";
import { batchOf } from "../harness/engine/workload.js";
import { healthyFaultyHealthy } from "./fault-lives.js";
import type { Scenario } from "../harness/engine/scenario.js";

type Batch = { key: string; value: string | null }[];

interface Input {
  before: Batch[];
  during: Batch[];
  /** Bytes the disk takes before it is full. */
  spaceBytes: number;
  after: Batch[];
}

export const diskFull: Scenario<Input> = {
  name: "disk-full",
  summary:
    "ENOSPC after N bytes: the failing append is never acked, state stays consistent, the WAL works once space is back",
  description:
    "The disk fills up in the middle of an append: the write that crosses the limit is cut short and fails with ENOSPC, and every later write fails too. The adapter must answer that append with an error (never an ack), and, per the protocol's fail-stop rule, walcheck then recovers the directory in a fresh process on a disk with space again: every acknowledged batch must be there, the half-written record must be discarded, and the WAL must take and keep new appends. The classic bug catches the error and acknowledges anyway.",
  needs: [{ kind: "fs-faults" }],
  workload:
    "appends on a healthy disk, close; appends under the fault until one fails; recovery; appends with space back",
  faults: "ENOSPC after 0-4 KiB of writes (the crossing write writes the prefix that fits)",
  invariants: [
    { id: "durability", text: "an append whose write failed is never acknowledged (every ack survives recovery)" },
    { id: "clean-refusal", text: "open under a full disk answers with an error or succeeds; it never dies" },
    {
      id: "recovery",
      text: "after space is back, recovery keeps every acknowledged batch and new appends are acknowledged and survive",
    },
  ],
  defaultCases: 10,
  arbitrary: () =>
    fc.record({
      before: fc.array(batchOf(), { minLength: 1, maxLength: 4 }),
      during: fc.array(batchOf(), { minLength: 1, maxLength: 16 }),
      spaceBytes: fc.integer({ min: 0, max: 4096 }),
      after: fc.array(batchOf(), { minLength: 1, maxLength: 3 }),
    }),
  async execute(input, session) {
    // One append at a time: the first refused one ends the faulty life (fail-stop), and
    // the recovery after it runs without the fault: space is back.
    await healthyFaultyHealthy(session, {
      before: input.before,
      spec: `enospc:${input.spaceBytes}`,
      what: `disk full after ${input.spaceBytes} bytes`,
      after: input.after,
      during: async () => {
        const refused = () => session.stats.refused.append;
        const before = refused();
        for (const b of input.during) if (refused() === before) await session.appendBurst([b]);
        // Fill the disk for sure: 8 batches of 4 KiB values are more than the space there is.
        for (let i = 0; i < 8 && refused() === before; i++)
          await session.appendBurst([[{ key: "fill", value: "x".repeat(4096) }]]);
      },
    });
  },
};
