import { UsageError } from "../protocol/errors.js";
import { PERSISTENCE_MODELS, type PersistenceModel } from "../protocol/messages.js";

/** Everything needed to run one case again exactly: fast-check's seed and path, and the generation settings. */
export interface ReplayToken {
  v: 1;
  /** The case's fast-check seed. */
  seed: number;
  /** fast-check's counterexample path (the shrink steps). */
  path: string;
  /** The commands arbitrary's own replay path. */
  replayPath?: string;
  crash: ("named" | "fs" | "signal")[];
  maxCommands: number;
  /** The scenario of the case (absent in tokens from before the catalogue: crash-mixed). */
  scenario?: string;
  /** For an exhaustive run: the one fs crash point to run again (with the workload of `seed`). */
  exhaustive?: { call: number; when: "before" | "after" | "mid" };
  /** A power-loss case of an exhaustive run (`--crash power --exhaustive`): every state of its workload, not a sample. */
  power?: "exhaustive";
  /** The power-loss state that failed: its cut, its variant, and the op the cut falls after (to know the replayed life's trace is the same). */
  powerState?: PowerStateRef;
  /** corruption-sweep: the damaged copy that failed (with the case's seed, its life is the same). */
  sweepCell?: SweepCellRef;
  /** The persistence model the failing power-loss state was built under (absent in older tokens: posix-pessimistic). */
  persistence?: PersistenceModel;
  /** The power-loss pipeline depth the run drew its cases with (absent in older tokens: every life sequential). */
  pipeline?: number;
}

/** One damaged copy of corruption-sweep: the ending of the life, the file, the block (0-based), the fault. */
export interface SweepCellRef {
  ending: "clean" | "crash";
  file: string;
  block: number;
  fault: "zeros" | "junk" | "bitflip" | "eio-read" | "swap";
}
const SWEEP_FAULT_NAMES: readonly unknown[] = [
  "zeros",
  "junk",
  "bitflip",
  "eio-read",
  "swap",
] satisfies SweepCellRef["fault"][];

/** One crash state of a recorded life, by name. */
export interface PowerStateRef {
  cut: number;
  variant: string;
  op: string;
  /** The recorded life's shape up to the cut (power-loss.ts lifeShape; absent in older tokens): a replay records the life until it matches. */
  shape?: string;
}

export function encodeReplayToken(token: Omit<ReplayToken, "v">): string {
  return Buffer.from(JSON.stringify({ v: 1, ...token }), "utf8").toString("base64url");
}

const CRASH_KINDS: readonly unknown[] = ["named", "fs", "signal"] satisfies ReplayToken["crash"];
const WHENS: readonly unknown[] = ["before", "after", "mid"] satisfies NonNullable<ReplayToken["exhaustive"]>["when"][];

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const absentOr = (x: unknown, ok: (x: unknown) => boolean): boolean => x === undefined || ok(x);

/** Every field of a token checked, so a damaged one is refused rather than replaying some other case. */
function isReplayToken(t: unknown): t is ReplayToken {
  return (
    isRecord(t) &&
    t.v === 1 &&
    Number.isInteger(t.seed) &&
    typeof t.path === "string" &&
    absentOr(t.replayPath, (x) => typeof x === "string") &&
    Array.isArray(t.crash) &&
    t.crash.every((k) => CRASH_KINDS.includes(k)) &&
    Number.isInteger(t.maxCommands) &&
    absentOr(t.scenario, (x) => typeof x === "string") &&
    absentOr(t.exhaustive, (x) => isRecord(x) && Number.isInteger(x.call) && WHENS.includes(x.when)) &&
    absentOr(t.power, (x) => x === "exhaustive") &&
    absentOr(
      t.powerState,
      (x) =>
        isRecord(x) &&
        Number.isInteger(x.cut) &&
        (x.cut as number) >= 0 &&
        typeof x.variant === "string" &&
        typeof x.op === "string" &&
        absentOr(x.shape, (y) => typeof y === "string"),
    ) &&
    absentOr(t.persistence, (x) => (PERSISTENCE_MODELS as readonly unknown[]).includes(x)) &&
    absentOr(t.pipeline, (x) => Number.isInteger(x) && (x as number) >= 1) &&
    absentOr(
      t.sweepCell,
      (x) =>
        isRecord(x) &&
        (x.ending === "clean" || x.ending === "crash") &&
        typeof x.file === "string" &&
        Number.isInteger(x.block) &&
        (x.block as number) >= 0 &&
        SWEEP_FAULT_NAMES.includes(x.fault),
    )
  );
}

/** The case a token names; a UsageError naming the token (its first 40 characters) if it is not one walcheck made. */
export function decodeReplayToken(raw: string): ReplayToken {
  const named = raw.slice(0, 40);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
  } catch {
    throw new UsageError(`--replay: not a walcheck replay token: ${named}`);
  }
  if (!isReplayToken(parsed))
    throw new UsageError(`--replay: the token is damaged or from another walcheck version: ${named}`);
  return parsed;
}
