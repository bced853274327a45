import { ROLLED_BACK } from "../harness/engine/workload.js";
import { crashScenario, PROTOCOL_INVARIANTS, runCommands } from "./crash-scenario.js";

const base = crashScenario({
  name: "transactions",
  summary: "nested savepoints with rollback: a rolled-back scope never appears, after a crash or not",
  description:
    "Design D: a key-value WAL with transactions. fast-check draws transactions of nested savepoints, each released or rolled back, mixed with plain appends, crashes (a SIGKILL a few milliseconds into a transaction's commit, named points, restarts) and reads. Every value written inside a scope that is rolled back is marked, and must never be seen in a read or after recovery; the writes that survive commit as one atomic batch with one seq. The classic bug logs each write as it happens and rolls back only the in-memory view, so the rolled-back writes come back at the next recovery.",
  needs: [{ kind: "feature", feature: "transaction", why: "the protocol extension op for savepoints and rollbacks" }],
  workload:
    "transactions (savepoints nested up to 3 deep, rolled back or released), append bursts, reads, close and reopen",
  faults: "SIGKILL during a transaction's commit, named crash points, SIGKILL during bursts",
  invariants: [
    { id: "rollback", text: "no value written in a rolled-back scope is ever read, live or after recovery" },
    { id: "one-batch", text: "a transaction's surviving writes are one atomic batch with one seq" },
    ...PROTOCOL_INVARIANTS,
  ],
  defaultCases: 8,
  crashKinds: ["named", "signal"],
  aim: { transactions: true, checkpoints: [] },
});

export const transactions: typeof base = {
  ...base,
  async execute(commands, session) {
    session.onRecovered = (read) => {
      const back = Object.entries(read.state).filter(([, v]) => v.startsWith(ROLLED_BACK));
      if (back.length > 0)
        session.fail(
          "rollback",
          `values written inside rolled-back savepoints are in the recovered state: ${back.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ")}`,
        );
    };
    await runCommands(commands, session);
  },
};
