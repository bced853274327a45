import { crashScenario } from "./crash-scenario.js";

const checkpointPoint = (p: string) => /checkpoint|snapshot|compact/i.test(p) && !/truncate/i.test(p);

export const crashCheckpoint = crashScenario({
  name: "crash-checkpoint",
  summary: "crash while a checkpoint writes, syncs and renames its snapshot",
  description:
    "Aims crashes at passive checkpoints: the snapshot half written, written but not synced, synced but not renamed, renamed but the directory not synced, and compaction of covered segments. A checkpoint must never lose acknowledged state: after any of these, recovery finds either the old snapshot and the whole log, or the new snapshot and the log after it.",
  needs: [{ kind: "feature", feature: "checkpoint", why: "nothing to crash in" }],
  workload: "append bursts, passive checkpoints, reads, close and reopen",
  faults: "checkpoint named points, fs-call crashes during checkpoints, SIGKILL during checkpoints",
  defaultCases: 6,
  aim: { points: checkpointPoint, checkpoints: ["passive"], fsThen: ["passive"], killDuring: ["passive"] },
});
