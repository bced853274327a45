import { crashScenario } from "./crash-scenario.js";

/** Named points on the append path: writing, syncing, committing a batch (not checkpoints or rotation). */
export const appendPoint = (p: string) =>
  /append|commit|write|sync|flush/i.test(p) && !/checkpoint|snapshot|truncate|compact|rotat|segment/i.test(p);

export const crashAppend = crashScenario({
  name: "crash-append",
  summary: "crash while a batch is written and synced: before the write, mid-write, before and after fsync",
  description:
    "Aims every crash at the append path: the adapter's named append points (before the write, after it, after the fsync), fs-call crashes in the middle of appends (a write cut in half, an fsync never made), and SIGKILLs while pipelined bursts are in flight. This is where an ack before fsync, a batch written as several records, or a torn last record that makes recovery throw shows up.",
  needs: [],
  workload: "pipelined append bursts, reads, close and reopen; no checkpoints",
  faults: "append-path named points, fs-call crashes while appending, SIGKILL during bursts",
  defaultCases: 6,
  aim: { points: appendPoint, checkpoints: [], fsThen: [undefined] },
});
