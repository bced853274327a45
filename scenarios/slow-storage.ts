import fc from "fast-check";
import { batchOf } from "../harness/engine/workload.js";
import { openUnderFault } from "./fault-lives.js";
import type { Scenario } from "../harness/engine/scenario.js";

type Batch = { key: string; value: string | null }[];

interface Input {
  bursts: Batch[][];
  checkpoint: boolean;
}

/** How long every fsync takes on the slow disk. */
export const SLOW_FSYNC_MS = 40;

export const slowStorage: Scenario<Input> = {
  name: "slow-storage",
  summary: "every fsync takes 40 ms: latency thresholds fire, and every ack waits for an fsync",
  description:
    "A cheap cloud disk, a busy RAID rebuild: fsync takes tens of milliseconds. walcheck delays every fsync by 40 ms, runs appends and a checkpoint, and reports the latencies against their levels (here going over them is expected: a warning, not a failure). It also turns the delay into a proof: an adapter that promises power-loss durability cannot acknowledge a batch sooner than one fsync after receiving it, so an ack faster than half the delay is an ack before fsync. Truncating checkpoints are held to the same bound: a snapshot that was never synced is not durable.",
  needs: [{ kind: "fs-faults" }],
  workload: "2-5 pipelined append bursts and a checkpoint on the slow disk, then a clean restart",
  faults: `every fsync/fdatasync delayed by ${SLOW_FSYNC_MS} ms`,
  invariants: [
    {
      id: "ack-after-fsync",
      text: `an adapter with durability "power" acknowledges no batch, and finishes no truncating checkpoint, in under ${SLOW_FSYNC_MS / 2} ms (it waits for an fsync; its snapshot is synced)`,
    },
    { id: "recovery", text: "open succeeds on a slow but working disk" },
    {
      id: "latency",
      text: "latencies over their target and critical levels show in the report (expected here, so they do not fail the run)",
    },
    { id: "durability", text: "every acknowledged batch survives the restart" },
  ],
  defaultCases: 3,
  latencyExpected: true,
  arbitrary: () =>
    fc.record({
      bursts: fc.array(fc.array(batchOf(), { minLength: 1, maxLength: 4 }), { minLength: 2, maxLength: 5 }),
      checkpoint: fc.boolean(),
    }),
  async execute(input, session) {
    if (!(await openUnderFault(session, `slow-fsync:${SLOW_FSYNC_MS}`, `fsyncs slowed to ${SLOW_FSYNC_MS} ms`))) {
      session.fail(
        "recovery",
        `open was refused on a slow (but working) disk: ${session.lastOpen && !session.lastOpen.ok ? session.lastOpen.error.message : ""}`,
      );
    }
    const power = session.hello?.durability === "power";
    const floor = SLOW_FSYNC_MS / 2;
    const latency = session.stats.latency;
    const appendsBefore = latency.append?.length ?? 0;
    for (const burst of input.bursts) await session.appendBurst(burst);
    const fast = (latency.append ?? []).slice(appendsBefore).filter((ms) => ms < floor);
    if (power && fast.length > 0) {
      session.fail(
        "ack-after-fsync",
        `${fast.length} batch(es) acknowledged in ${Math.min(...fast).toFixed(2)} ms while every fsync takes ${SLOW_FSYNC_MS} ms: the ack did not wait for an fsync (durability "power" promised)`,
      );
    }
    const truncate = session.features.includes("checkpoint.truncate");
    if (input.checkpoint && session.features.includes("checkpoint")) {
      const before = latency.truncate?.length ?? 0;
      await session.appendBurst([[{ key: "slow", value: "checkpointed" }]]);
      await session.checkpoint(truncate ? "truncate" : "passive");
      const took = (latency.truncate ?? []).slice(before);
      if (power && truncate && took.length > 0 && took[0]! < floor) {
        session.fail(
          "ack-after-fsync",
          `a truncating checkpoint finished in ${took[0]!.toFixed(2)} ms while every fsync takes ${SLOW_FSYNC_MS} ms: its snapshot was not synced before the log was truncated`,
        );
      }
    }
    await session.finish();
  },
};
