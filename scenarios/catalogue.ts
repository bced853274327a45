import { UsageError } from "../harness/protocol/errors.js";
import { bitFlip } from "./bit-flip.js";
import { crashAppend } from "./crash-append.js";
import { crashCheckpoint } from "./crash-checkpoint.js";
import { crashMixed } from "./crash-mixed.js";
import { crashRecovery } from "./crash-recovery.js";
import { crashRotate } from "./crash-rotate.js";
import { powerLoss } from "./power-loss.js";
import { crashTruncate } from "./crash-truncate.js";
import { corruptionSweep } from "./corruption-sweep.js";
import { diskFull } from "./disk-full.js";
import { eventLog } from "./event-log.js";
import { fsyncError } from "./fsync-error.js";
import { latency } from "./latency.js";
import { readOnly } from "./read-only.js";
import type { Scenario } from "../harness/engine/scenario.js";
import { secondOpener } from "./second-opener.js";
import { slowStorage } from "./slow-storage.js";
import { stateFile } from "./state-file.js";
import { tornTail } from "./torn-tail.js";
import { transactions } from "./transactions.js";

/** Every scenario, in the order a run takes them. */
export const SCENARIOS: readonly Scenario[] = [
  latency,
  crashMixed,
  crashAppend,
  crashCheckpoint,
  crashTruncate,
  crashRotate,
  crashRecovery,
  powerLoss,
  tornTail,
  bitFlip,
  corruptionSweep,
  diskFull,
  readOnly,
  fsyncError,
  slowStorage,
  secondOpener,
  transactions,
  eventLog,
  stateFile,
] as Scenario[];

/** `crash-*` → a RegExp matching whole names. */
function globToRegExp(glob: string): RegExp {
  return new RegExp(
    `^${glob
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
  );
}

/** The scenarios `--scenarios a,b,crash-*` names, in catalogue order; a pattern matching nothing is a usage error. */
export function selectScenarios(
  patterns: string | readonly string[] | undefined,
  catalogue: readonly Scenario[] = SCENARIOS,
): Scenario[] {
  const list = (typeof patterns === "string" ? patterns.split(",") : (patterns ?? ["*"]))
    .map((p) => p.trim())
    .filter(Boolean);
  // The default selection leaves out the opt-in scenarios (corruption-sweep: --sweep adds it).
  if (patterns === undefined || list.length === 0) return catalogue.filter((s) => !s.optIn);
  const picked = new Set<Scenario>();
  for (const pattern of list) {
    const re = globToRegExp(pattern);
    const matches = catalogue.filter((s) => re.test(s.name));
    if (matches.length === 0)
      throw new UsageError(
        `--scenarios: ${JSON.stringify(pattern)} matches no scenario (walcheck list shows them: ${catalogue.map((s) => s.name).join(", ")})`,
      );
    for (const m of matches) picked.add(m);
  }
  return catalogue.filter((s) => picked.has(s));
}

export function scenarioByName(name: string): Scenario {
  const found = SCENARIOS.find((s) => s.name === name);
  if (!found) throw new UsageError(`no scenario named ${JSON.stringify(name)}`);
  return found;
}
