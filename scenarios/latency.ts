import fc from "fast-check";
import { batchOf } from "../harness/engine/workload.js";
import type { Scenario } from "../harness/engine/scenario.js";

interface Input {
  batches: { key: string; value: string | null }[][];
}

const ROUNDS = 20;
const APPENDS_PER_ROUND = 10;

export const latency: Scenario<Input> = {
  name: "latency",
  summary: "append, truncate and recovery latency measured alone, held to their target and critical levels",
  description:
    "The latency gate. Every other scenario reports the latency it sees, but measures it while walcheck starts and kills processes on every core, so those figures only warn. This one runs before the others, alone, in one adapter process at a time: first one warm process takes 20 rounds of 10 sequential appends and a truncating checkpoint (200 append and 20 truncate samples), then 20 clean restarts, each after one more append, time recovery (22 samples with the first open and the last), all timed by the adapter itself where it sends elapsedMs. Their p95 is held to the levels (append 10 ms, critical 20; truncate 5, critical 10; recovery 100, critical 200, configurable): over the target is a warning, over the critical level fails the run.",
  needs: [],
  workload: `${ROUNDS} rounds of ${APPENDS_PER_ROUND} sequential single-batch appends and a truncating checkpoint (where the adapter has one) in one process; then ${ROUNDS} appends each followed by a close and reopen`,
  faults: "none: a calm run, alone on the machine",
  invariants: [
    {
      id: "latency",
      text: "p95 of append, truncate and recovery latency under the critical levels (over the target: a warning)",
    },
    { id: "durability", text: "every acknowledged batch survives each reopen" },
  ],
  defaultCases: 1,
  solo: true,
  gatesLatency: true,
  arbitrary: () =>
    fc.record({ batches: fc.array(batchOf(), { minLength: APPENDS_PER_ROUND, maxLength: APPENDS_PER_ROUND }) }),
  async execute(input, session) {
    await session.start();
    const truncate = session.features.includes("checkpoint.truncate");
    // Appends and truncates in one warm process: steady-state latency, not a cold start's.
    for (let round = 0; round < ROUNDS; round++) {
      session.step = `latency round ${round + 1}`;
      for (const b of input.batches) await session.appendBurst([b]);
      if (truncate) await session.checkpoint("truncate");
    }
    // Recovery: a fresh process each time, on a log with a little more in it.
    for (let round = 0; round < ROUNDS; round++) {
      session.step = `recovery ${round + 1}`;
      await session.appendBurst([input.batches[round % input.batches.length]!]);
      await session.closeReopen();
    }
    await session.finish();
  },
};
