import { crashScenario } from "./crash-scenario.js";

export const crashMixed = crashScenario({
  name: "crash-mixed",
  summary: "random workloads with every crash kind anywhere: named points, fs calls, SIGKILL",
  description:
    "The general crash campaign. fast-check draws pipelined append bursts, checkpoints, reads, integrity checks and clean restarts, and puts crashes anywhere in them: a named crash point the adapter announces, its k-th mutating fs call (before, after or halfway through a write), or a SIGKILL a few milliseconds after a request. After every crash a fresh process recovers the directory and the recovered state is held to the prefix model.",
  needs: [],
  workload: "append bursts (1-6 batches of 1-20 ops), checkpoints, reads, checks, close and reopen",
  faults: "named crash points, fs-call crashes, SIGKILL",
  defaultCases: 8,
});
