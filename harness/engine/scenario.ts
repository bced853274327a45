import type fc from "fast-check";
import type { CaseSession } from "./case-session.js";
import type { Hello, PersistenceModel } from "../protocol/messages.js";
import type { PowerStateRef } from "./replay-token.js";
import type { CrashKinds } from "./workload.js";

import type { Thresholds } from "../checks/latency-stats.js";
export { DEFAULT_THRESHOLDS, type Level, type LatencyOp, type Thresholds } from "../checks/latency-stats.js";

/**
 * One invariant a scenario checks: `id` is what a violation of it names (InvariantViolation's
 * invariant, a JUnit test case), `text` says what holds, for `walcheck list` and the report.
 */
export interface InvariantSpec {
  id: string;
  text: string;
}

/** What a scenario needs of the adapter; an adapter without it has the scenario skipped, with the reason. */
export type Requirement =
  | { kind: "feature"; feature: string; why: string }
  | { kind: "points"; match: RegExp; what: string }
  | { kind: "fs-faults" }
  | { kind: "durability"; level: "power" }
  /** The power-loss recorder: a C compiler to build it, and an adapter that is a dynamically linked process. */
  | { kind: "power-recorder" };

/** What a scenario's cases know about the adapter and the run. */
export interface ScenarioEnv {
  hello: Hello;
  /** The crash kinds the run may use (`--crash`), after removing those the adapter cannot take. */
  crash: CrashKinds;
  maxCommands: number;
  /** Mutating fs calls the preload saw in a typical life (undefined: fs faults do not apply). */
  fsCallsPerLife?: number | undefined;
  /** How injected fs faults reach the adapter: why they cannot, or through which preload. */
  faults?: { ok: true; via: "node" | "native" } | { ok: false; why: string };
  /** Power-loss simulation: the recorder library, and whether to enumerate every state or sample. */
  power?:
    | {
        recorder: string;
        exhaustive: boolean;
        states: number;
        freshRecovery?: boolean;
        only?: PowerStateRef | undefined;
        /** The persistence model the crash states are built under (default posix-pessimistic). */
        model?: PersistenceModel;
        /** Appends in flight in a pipelined life (absent: every life sequential, as a replay of an older token). */
        pipeline?: number;
        onProgress?: (checked: number) => void;
        /** Crash-state directories a case recovers at once, each in a process of its own (default 2): the case's share of the cores. */
        recoverers?: number;
        /** Recovery processes kept between the run's power-loss cases (the run closes it at its end). */
        keeper?: import("../faults/power/recovery-keeper.js").RecoveryKeeper;
      }
    | undefined;
  /** corruption-sweep: run only this damaged copy (from a replay token). */
  sweepOnly?: import("./replay-token.js").SweepCellRef | undefined;
  /** fast-check's replay path of a shrunk command list (from a replay token). */
  replayPath?: string | undefined;
}

/**
 * One entry of the catalogue: a named, documented workload with its faults and the
 * invariants it checks. Each case draws an input from `arbitrary` (so it shrinks and
 * replays from a seed) and `execute` drives a session with it, throwing an
 * InvariantViolation when something does not hold.
 */
export interface Scenario<T = unknown> {
  name: string;
  /** One line, for `walcheck list`. */
  summary: string;
  /** One paragraph: what it models and why it matters. */
  description: string;
  needs: readonly Requirement[];
  workload: string;
  faults: string;
  /** What its cases hold the adapter to; a violation names one of these ids. */
  invariants: readonly InvariantSpec[];
  /** Cases a run makes when `--runs` does not say. */
  defaultCases: number;
  /** Latency levels that differ from the defaults. */
  thresholds?: Partial<Thresholds>;
  /** Latency over the levels is what this scenario provokes: reported, never failing the run. */
  latencyExpected?: boolean;
  /** Its latency is measured alone (not beside crash cycles on every core): over a critical level fails the run. Others only warn. */
  gatesLatency?: boolean;
  /** Left out of the default selection (no --scenarios): run only when named, or with `walcheck run --sweep` (corruption-sweep). */
  optIn?: boolean;
  /** Uses fs faults where they reach the adapter and skips only those parts elsewhere (the run counts fs calls for it). */
  usesFsFaults?: boolean;
  /** Run its cases before all others, one at a time, with no spare process started ahead. */
  solo?: boolean;
  /** Adapter config this scenario sends with `open` for the adapter `hello` names (merged under the user's). */
  adapterConfig?: (hello: Hello) => Record<string, unknown>;
  /** How long one case may run before it is stopped as stuck (default 2 minutes). */
  caseTimeoutMs?: (env: ScenarioEnv) => number;
  /** The crash kinds this scenario's cases may use (default all the run allows). */
  crashKinds?: CrashKinds;
  arbitrary(env: ScenarioEnv): fc.Arbitrary<T>;
  execute(input: T, session: CaseSession, env: ScenarioEnv): Promise<void>;
}

/** Whether a scenario applies to an adapter: the first unmet requirement is the reason it is skipped. */
export function applicability(
  scenario: Scenario,
  hello: Hello,
  fsFaults: { ok: boolean; why: string },
  recorder: { ok: boolean; why: string } = { ok: false, why: "its support was not checked" },
): { applies: true } | { applies: false; reason: string } {
  for (const need of scenario.needs) {
    switch (need.kind) {
      case "feature":
        if (!hello.features.includes(need.feature))
          return {
            applies: false,
            reason: `the adapter does not list "${need.feature}" in hello.features (${need.why})`,
          };
        break;
      case "points":
        if (!(hello.points ?? []).some((p) => need.match.test(p)))
          return { applies: false, reason: `the adapter announces no ${need.what} crash points in hello.points` };
        break;
      case "fs-faults":
        if (!fsFaults.ok)
          return { applies: false, reason: `file-system faults cannot reach the adapter: ${fsFaults.why}` };
        break;
      case "durability":
        if (hello.durability !== need.level)
          return {
            applies: false,
            reason: `the adapter promises durability "${hello.durability}", and this scenario holds adapters to "${need.level}"`,
          };
        break;
      case "power-recorder":
        if (!recorder.ok)
          return { applies: false, reason: `the power-loss recorder is not available: ${recorder.why}` };
        break;
    }
  }
  return { applies: true };
}

/** A human description of a requirement, for `walcheck list`. */
export function describeRequirement(need: Requirement): string {
  switch (need.kind) {
    case "feature":
      return `feature ${need.feature}`;
    case "points":
      return `${need.what} crash points`;
    case "fs-faults":
      return "fs faults (Node fs preload or C preload)";
    case "durability":
      return `durability ${need.level}`;
    case "power-recorder":
      return "power-loss recorder (cc, LD_PRELOAD)";
  }
}
