import fc from "fast-check";
import { batchOf } from "../harness/workload.js";
import type { Scenario } from "./scenario.js";

interface Input {
  batches: { key: string; value: string | null }[][];
}

const ROUNDS = 20;
const APPENDS_PER_ROUND = 10;

export const latency: Scenario<Input> = {
  name: "latency",
  summary: "append, truncate and recovery latency measured alone, held to their target and critical levels",
  description:
    "The latency gate. Every other scenario reports the latency it sees, but measures it while walcheck starts and kills processes on every core, so those figures only warn. This one runs before the others, alone, in one adapter process at a time: 20 rounds of 10 sequential appends, a truncating checkpoint and a clean restart, giving 200 append, 20 truncate and 20 recovery samples, timed by the adapter itself where it sends elapsedMs. Their p95 is held to the levels (append 10 ms, critical 20; truncate 5, critical 10; recovery 100, critical 200, configurable): over the target is a warning, over the critical level fails the run.",
  needs: [],
  workload: `${ROUNDS} rounds of ${APPENDS_PER_ROUND} sequential single-batch appends, a truncating checkpoint (where the adapter has one) and a close and reopen`,
  faults: "none: a calm run, alone on the machine",
  invariants: ["p95 of append, truncate and recovery latency under the critical levels (over the target: a warning)", "every acknowledged batch survives each reopen"],
  defaultCases: 1,
  solo: true,
  gatesLatency: true,
  arbitrary: () => fc.record({ batches: fc.array(batchOf(), { minLength: APPENDS_PER_ROUND, maxLength: APPENDS_PER_ROUND }) }),
  async execute(input, session) {
    await session.start();
    const truncate = session.features.includes("checkpoint.truncate");
    for (let round = 0; round < ROUNDS; round++) {
      session.step = `latency round ${round + 1}`;
      for (const b of input.batches) await session.appendBurst([b]);
      if (truncate) await session.checkpoint("truncate");
      await session.closeReopen();
    }
    await session.finish();
  },
};
