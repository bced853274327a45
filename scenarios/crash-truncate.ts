import { crashScenario } from "./crash-scenario.js";

const truncatePoint = (p: string) => /truncate|checkpoint|snapshot/i.test(p);

export const crashTruncate = crashScenario({
  name: "crash-truncate",
  summary: "crash while a truncating checkpoint empties the log after its snapshot",
  description:
    "Aims crashes at truncating checkpoints (SQLite's wal_checkpoint(TRUNCATE), or a WAL's \"clear after commit\"): before the truncate, halfway through it, before the snapshot it relies on is durable. The classic bug is a log truncated before the snapshot that covers it reached the disk; a crash in between loses everything since the last snapshot.",
  needs: [{ kind: "feature", feature: "checkpoint.truncate", why: "no truncating checkpoint to crash in" }],
  workload: "append bursts, truncating checkpoints, reads, close and reopen",
  faults: "truncate and checkpoint named points, fs-call crashes during truncation, SIGKILL during truncation",
  defaultCases: 6,
  aim: { points: truncatePoint, checkpoints: ["truncate"], fsThen: ["truncate"], killDuring: ["truncate"] },
});
