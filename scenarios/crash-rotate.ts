import { crashScenario } from "./crash-scenario.js";

const ROTATE = /rotat|segment|compact/i;
const rotatePoint = (p: string) => ROTATE.test(p);

export const crashRotate = crashScenario({
  name: "crash-rotate",
  summary: "crash while the log rotates to a new segment and compacts old ones",
  description:
    'Aims crashes at segment rotation: a new segment created but its directory entry not synced, the first record of a new segment torn, compaction halfway through removing covered segments. Values are large so that segments fill fast; the reference WAL is opened with 4 KiB segments (set scenarioOptions["crash-rotate"].adapterConfig for an adapter of yours).',
  needs: [{ kind: "points", match: ROTATE, what: "rotation" }],
  workload: "append bursts of large values, checkpoints, close and reopen",
  faults: "rotation and compaction named points, fs-call crashes, SIGKILL",
  defaultCases: 6,
  adapterConfig: (hello) => (hello.name === "walcheck-reference" ? { maxSegmentBytes: 4096 } : {}),
  aim: { points: rotatePoint, largeValues: true },
});
