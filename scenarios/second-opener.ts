import fc from "fast-check";
import { batchOf } from "../harness/engine/workload.js";
import type { Scenario } from "../harness/engine/scenario.js";

type Batch = { key: string; value: string | null }[];

interface Input {
  first: Batch[];
  burst: Batch[];
  /** For adapters listing `shared`: appends alternating between the two processes. */
  alternating: Batch[];
}

export const secondOpener: Scenario<Input> = {
  name: "second-opener",
  summary: "a second process opens the same directory while the first writes: it is refused, the two never both write",
  description:
    "A deploy starts the new version before the old one has exited; a cron job opens the same state directory. walcheck opens the WAL in one process, sends a pipelined burst, and while it is in flight opens the same directory from a second process. Without a lock both would write and interleave records or reuse seqs; the second open must be refused (WAL_LOCKED, EBUSY or any error). Adapters that list `shared` (SQLite: several processes share a database through its own locking) are instead held to exact sequencing: appends alternating between the two processes get strictly increasing seqs, and all of them survive.",
  needs: [],
  workload: "appends in process A; a burst in A while B opens; (shared) appends alternating A, B; close and reopen",
  faults: "a second adapter process on the same directory",
  invariants: [
    {
      id: "exclusive-open",
      text: "without `shared`: the second open is refused while the first process has the WAL open",
    },
    {
      id: "sequence",
      text: "with `shared`: every ack from either process has the next seq, and every acknowledged batch survives",
    },
  ],
  defaultCases: 6,
  arbitrary: () =>
    fc.record({
      first: fc.array(batchOf(), { minLength: 1, maxLength: 4 }),
      burst: fc.array(batchOf(), { minLength: 1, maxLength: 6 }),
      alternating: fc.array(batchOf(), { minLength: 2, maxLength: 6 }),
    }),
  async execute(input, session) {
    await session.start();
    for (const b of input.first) await session.appendBurst([b]);
    const second = session.spawnExtra();
    const openSecond = async () => {
      const hello = await second.request("hello", {});
      if (!hello.ok) return hello;
      return second.request("open", { dir: session.dirPath, config: session.openConfig });
    };
    const [, opened] = await Promise.all([session.appendBurst(input.burst), openSecond()]);
    const shared = session.features.includes("shared");
    if (opened.ok && !shared) {
      session.fail(
        "exclusive-open",
        `a second process opened the WAL (lastSeq ${"lastSeq" in opened ? opened.lastSeq : "?"}) while the first had it open and was writing; without the "shared" feature it must be refused`,
      );
    }
    if (opened.ok && shared) {
      for (const [i, ops] of input.alternating.entries()) {
        if (i % 2 === 0) {
          await session.appendBurst([ops]);
          continue;
        }
        const seq = session.model.send(ops);
        const reply = await second.request("append", { ops });
        if (!reply.ok)
          return session.fail(
            "exclusive-open",
            `the second (shared) process's append was refused: ${reply.error.code}: ${reply.error.message}`,
          );
        if (reply.seq !== seq)
          session.fail(
            "sequence",
            `the second process acknowledged seq ${reply.seq}, expected ${seq}: the two processes do not share one sequence`,
          );
        session.model.ack(seq);
      }
      await second.request("close", {});
    }
    await second.kill("SIGKILL");
    await session.finish();
  },
};
