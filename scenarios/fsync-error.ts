import fc from "fast-check";
import { batchOf } from "../harness/engine/workload.js";
import { healthyFaultyHealthy } from "./fault-lives.js";
import type { Scenario } from "../harness/engine/scenario.js";

type Batch = { key: string; value: string | null }[];

interface Input {
  before: Batch[];
  bursts: Batch[][];
  /** Which fsync (counted from the faulty process's start) fails. */
  nth: number;
  after: Batch[];
}

export const fsyncError: Scenario<Input> = {
  name: "fsync-error",
  summary: "EIO from fsync: that batch is never acked, and no later batch is acked until recovery",
  description:
    "The lesson of PostgreSQL's fsync failure (2018): when fsync reports EIO, Linux has already dropped the dirty pages and marked them clean, so a retried fsync succeeds while the data is gone. walcheck makes the n-th fsync fail with EIO and cuts the file back to what its last successful fsync covered, as the kernel effectively did. The batch waiting on that fsync must be answered with an error, and every batch after it too, until the WAL is recovered from the disk: acknowledging after a retried fsync is acknowledging data that no longer exists.",
  needs: [{ kind: "fs-faults" }],
  workload: "appends, close; pipelined bursts under the fault; recovery; appends",
  faults: "the n-th fsync/fdatasync (n = 1-6) fails with EIO, with the file's unsynced bytes dropped",
  invariants: [
    {
      id: "no-ack-after-fsync-error",
      text: "the batch whose fsync failed is not acknowledged, nor any batch after it in that process",
    },
    { id: "durability", text: "every acknowledged batch survives recovery" },
    { id: "clean-refusal", text: "open under the fault answers or succeeds; it never dies" },
  ],
  defaultCases: 10,
  arbitrary: () =>
    fc.record({
      before: fc.array(batchOf(), { minLength: 1, maxLength: 3 }),
      bursts: fc.array(fc.array(batchOf(), { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 4 }),
      nth: fc.integer({ min: 1, max: 6 }),
      after: fc.array(batchOf(), { minLength: 1, maxLength: 3 }),
    }),
  async execute(input, session) {
    await healthyFaultyHealthy(session, {
      before: input.before,
      spec: `eio-fsync:${input.nth}`,
      what: `fsync #${input.nth} failing with EIO`,
      after: input.after,
      during: async () => {
        for (const burst of input.bursts)
          await session.appendBurst(burst, undefined, { noAckAfterFailure: "its fsync failed with EIO" });
      },
    });
  },
};
