import type { ChaosContext, ScenarioRecord } from "../../harness/outbox/chaos-kit.js";
import { crashMidSync } from "./crash-mid-sync.js";
import { sinkOutage } from "./sink-outage.js";
import { walFull } from "./wal-full.js";

// The outbox chaos scenarios (`walcheck outbox chaos`), in the order they run.

export interface OutboxScenario {
  name: string;
  /** One line for --help and the README. */
  summary: string;
  run(ctx: ChaosContext, rec: ScenarioRecord): Promise<void>;
}

export const OUTBOX_SCENARIOS: readonly OutboxScenario[] = [
  {
    name: "sink-outage",
    summary:
      "the database goes away while writes go on (all must be accepted), comes back, and the queue drains: exactly once, in order",
    run: sinkOutage,
  },
  {
    name: "crash-mid-sync",
    summary:
      "SIGKILL at every crash point of hello.points, then a fresh outbox syncs: nothing acknowledged lost, nothing applied twice",
    run: crashMidSync,
  },
  {
    name: "wal-full",
    summary:
      "the WAL's disk fills (ENOSPC): every later write refused with OUTBOX_HALTED, everything accepted synced exactly once",
    run: walFull,
  },
];

export { crashMidSync, sinkOutage, walFull };
