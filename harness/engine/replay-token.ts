import { UsageError } from "../protocol/errors.js";

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
}

/** One crash state of a recorded life, by name. */
export interface PowerStateRef {
  cut: number;
  variant: string;
  op: string;
}

export function encodeReplayToken(token: Omit<ReplayToken, "v">): string {
  return Buffer.from(JSON.stringify({ v: 1, ...token }), "utf8").toString("base64url");
}

export function decodeReplayToken(raw: string): ReplayToken {
  let parsed: Partial<ReplayToken>;
  try {
    parsed = JSON.parse(Buffer.from(raw, "base64url").toString("utf8")) as Partial<ReplayToken>;
  } catch {
    throw new UsageError(`--replay: not a walcheck replay token: ${raw.slice(0, 40)}`);
  }
  const exhaustiveOk =
    parsed.exhaustive === undefined ||
    (Number.isInteger(parsed.exhaustive.call) && ["before", "after", "mid"].includes(parsed.exhaustive.when));
  const p = parsed.powerState;
  const powerOk =
    p === undefined ||
    (Number.isInteger(p.cut) && p.cut >= 0 && typeof p.variant === "string" && typeof p.op === "string");
  if (
    parsed.v !== 1 ||
    !Number.isInteger(parsed.seed) ||
    typeof parsed.path !== "string" ||
    !Array.isArray(parsed.crash) ||
    !Number.isInteger(parsed.maxCommands) ||
    !exhaustiveOk ||
    !powerOk
  ) {
    throw new UsageError(`--replay: the token is damaged or from another walcheck version`);
  }
  return parsed as ReplayToken;
}
