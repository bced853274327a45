import fc from "fast-check";
import type { CaseSession, CrashArm } from "./case-session.js";
import type { BatchOp, Hello, TransactionStep } from "../protocol/messages.js";

/** Which crash kinds a run injects. */
export type CrashKinds = readonly ("named" | "fs" | "signal")[];

export interface WorkloadOptions {
  hello: Hello;
  crash: CrashKinds;
  maxCommands: number;
  /** For `fs` crashes: how many mutating fs calls one process makes in a typical life (k is drawn below it). */
  fsCallsPerLife?: number;
  /** fast-check's replay path of a shrunk command list (from a replay token). */
  replayPath?: string | undefined;
  /** Where a scenario aims its crashes (default: everywhere). */
  aim?: Aim;
}

type Mode = "passive" | "truncate";

/** How a scenario narrows the workload onto one path (appends, checkpoints, truncation, rotation). */
export interface Aim {
  /** The named points it arms (default all the adapter announces). */
  points?: (point: string) => boolean;
  /** The checkpoint modes its workload issues (default every mode the adapter has). */
  checkpoints?: readonly Mode[];
  /** What follows an fs-call arm: appends only (undefined) or a checkpoint of that mode. */
  fsThen?: readonly (Mode | undefined)[];
  /** SIGKILL during checkpoints of these modes too, not only during appends. */
  killDuring?: readonly Mode[];
  /** Larger batches, so segments fill and rotate. */
  largeValues?: boolean;
  /** Transactions with nested savepoints and rollbacks (protocol extension `transaction`). */
  transactions?: boolean;
}

type Model = Record<string, never>;
type WalCommand = fc.AsyncCommand<Model, CaseSession>;

// A small key space so that batches collide on keys, and values that are not ASCII-only.
const KEYS = ["a", "b", "c", "d", "e", "f", "g", "h"];
const unit = fc.constantFrom("x", "y", "z", "0", "9", "é", "日", "😀", " ", '"', "\\", "\n");
const valueOf = (maxLength: number, size?: fc.SizeForArbitrary) =>
  fc.string({ unit, minLength: 0, maxLength, ...(size ? { size } : {}) });
const opOf = (maxLength: number, size?: fc.SizeForArbitrary): fc.Arbitrary<BatchOp> =>
  fc.record({ key: fc.constantFrom(...KEYS), value: fc.option(valueOf(maxLength, size), { freq: 5, nil: null }) });
/**
 * A batch of 1 to 20 ops on a small key space (values up to `maxLength` characters). `size`
 * is fast-check's length bias (default "small": most values short; "large": often near the maximum).
 */
export const batchOf = (maxLength = 24, size?: fc.SizeForArbitrary) =>
  fc.array(opOf(maxLength, size), { minLength: 1, maxLength: 20 });

/** The prefix of every value written inside a scope that is rolled back: it must never be seen again. */
export const ROLLED_BACK = "rb:";

type Scope = ({ put: BatchOp } | { nested: Scope; end: "rollback" | "release" })[];

function flatten(scope: Scope, doomed: boolean, out: TransactionStep[]): TransactionStep[] {
  for (const item of scope) {
    if ("put" in item) {
      const { key, value } = item.put;
      out.push({ put: { key, value: doomed && value !== null ? `${ROLLED_BACK}${value}` : value } });
    } else {
      out.push({ savepoint: true });
      flatten(item.nested, doomed || item.end === "rollback", out);
      out.push(item.end === "rollback" ? { rollback: true } : { release: true });
    }
  }
  return out;
}

const scopeArb: fc.Arbitrary<Scope> = fc.letrec<{ scope: Scope }>((tie) => ({
  scope: fc.array(
    fc.oneof(
      { maxDepth: 3, depthIdentifier: "txn" },
      opOf(24).map((put) => ({ put })),
      fc.record({ nested: tie("scope"), end: fc.constantFrom<"rollback" | "release">("rollback", "release") }),
    ),
    { maxLength: 5, depthIdentifier: "txn" },
  ),
})).scope;

/** Transaction steps: nested savepoints released or rolled back (their values marked), ending in a write that survives. */
export const transactionSteps: fc.Arbitrary<TransactionStep[]> = fc
  .tuple(scopeArb, opOf(24))
  .map(([scope, last]) => flatten([...scope, { put: last }], false, []));

const showSteps = (steps: TransactionStep[]) =>
  steps
    .map((s) =>
      "put" in s
        ? `${s.put.key}${s.put.value === null ? "-" : s.put.value.startsWith(ROLLED_BACK) ? "=rb" : "="}`
        : "savepoint" in s
          ? "sp{"
          : "rollback" in s
            ? "}rb"
            : "}rel",
    )
    .join(" ");

class Transaction implements WalCommand {
  constructor(
    readonly steps: TransactionStep[],
    readonly killMs: number | undefined,
  ) {}
  check = () => true;
  run = (_m: Model, s: CaseSession) => (
    (s.step = this.toString()),
    s.transaction(this.steps, this.killMs === undefined ? undefined : { delayMs: this.killMs })
  );
  toString = () =>
    `${this.killMs === undefined ? "" : `sigkill(${this.killMs}ms into) `}transaction(${showSteps(this.steps)})`;
}

const short = (batches: BatchOp[][]) =>
  batches.map((b) => b.map((o) => `${o.key}${o.value === null ? "-" : "="}`).join(",")).join(" | ");

class AppendBurst implements WalCommand {
  constructor(readonly batches: BatchOp[][]) {}
  check = () => true;
  run = (_m: Model, s: CaseSession) => ((s.step = this.toString()), s.appendBurst(this.batches));
  toString = () => `append(${short(this.batches)})`;
}

class SignalCrash implements WalCommand {
  constructor(
    readonly batches: BatchOp[][],
    readonly after: number,
    readonly delayMs: number,
  ) {}
  check = () => true;
  run = (_m: Model, s: CaseSession) => (
    (s.step = this.toString()),
    s.appendBurst(this.batches, { after: Math.min(this.after, this.batches.length - 1), delayMs: this.delayMs })
  );
  toString = () =>
    `sigkill(${this.delayMs}ms after the answer to request ${Math.min(this.after, this.batches.length - 1) + 1} of ${short(this.batches)})`;
}

class CheckpointKill implements WalCommand {
  constructor(
    readonly mode: Mode,
    readonly delayMs: number,
  ) {}
  check = () => true;
  run = (_m: Model, s: CaseSession) => ((s.step = this.toString()), s.checkpointKill(this.mode, this.delayMs));
  toString = () => `sigkill(${this.delayMs}ms into checkpoint(${this.mode}))`;
}

class Checkpoint implements WalCommand {
  constructor(readonly mode: "passive" | "truncate") {}
  check = () => true;
  run = (_m: Model, s: CaseSession) => ((s.step = this.toString()), s.checkpoint(this.mode));
  toString = () => `checkpoint(${this.mode})`;
}

class ReadCompare implements WalCommand {
  check = () => true;
  run = (_m: Model, s: CaseSession) => ((s.step = this.toString()), s.readCompare());
  toString = () => "read()";
}

class Check implements WalCommand {
  check = () => true;
  run = (_m: Model, s: CaseSession) => ((s.step = this.toString()), s.check());
  toString = () => "check()";
}

class CloseReopen implements WalCommand {
  check = () => true;
  run = (_m: Model, s: CaseSession) => ((s.step = this.toString()), s.closeReopen());
  toString = () => "close+reopen()";
}

class Arm implements WalCommand {
  constructor(
    readonly target: CrashArm,
    readonly batches: BatchOp[][],
    readonly mode: "passive" | "truncate" | undefined,
  ) {}
  check = () => true;
  run = (_m: Model, s: CaseSession) => ((s.step = this.toString()), s.arm(this.target, this.batches, this.mode));
  toString = () =>
    `${this.target.kind === "named" ? `crash-at(${this.target.point}:${this.target.nth})` : `crash-at(fs #${this.target.call} ${this.target.when})`} then append(${short(this.batches)})${this.mode ? ` checkpoint(${this.mode})` : ""}`;
}

/** The checkpoint mode that reaches a named point, if it is a checkpoint-path point. */
export function modeFor(point: string): "passive" | "truncate" | undefined {
  if (/truncate/.test(point)) return "truncate";
  if (/^(checkpoint|compact|snapshot)/.test(point)) return point.startsWith("compact") ? "passive" : "truncate";
  return undefined;
}

/**
 * The command arbitrary of a case: pipelined append bursts, checkpoints (when the adapter
 * has them), reads compared with the model, checks, clean close and reopen, and crashes
 * of the chosen kinds. Crashes are commands, so fast-check shrinks them with the rest.
 */
export function workloadCommands(opts: WorkloadOptions): fc.Arbitrary<Iterable<WalCommand>> {
  const features = new Set(opts.hello.features);
  const aim = opts.aim ?? {};
  const batch = batchOf(aim.largeValues ? 400 : 24);
  const has = (mode: Mode) => features.has("checkpoint") && (mode === "passive" || features.has("checkpoint.truncate"));
  const modes = (aim.checkpoints ?? (["passive", "truncate"] as const)).filter(has);
  const arbs: fc.Arbitrary<WalCommand>[] = [
    fc.array(batch, { minLength: 1, maxLength: 6 }).map((b) => new AppendBurst(b)),
    fc.array(batch, { minLength: 1, maxLength: 6 }).map((b) => new AppendBurst(b)),
    fc.constant(new ReadCompare()),
    fc.constant(new CloseReopen()),
  ];
  if (features.has("check")) arbs.push(fc.constant(new Check()));
  if (aim.transactions && features.has("transaction")) {
    const kill = opts.crash.includes("signal")
      ? fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined, freq: 3 })
      : fc.constant(undefined);
    arbs.push(fc.tuple(transactionSteps, kill).map(([steps, ms]) => new Transaction(steps, ms)));
    arbs.push(fc.tuple(transactionSteps, kill).map(([steps, ms]) => new Transaction(steps, ms)));
  }
  if (modes.length > 0) arbs.push(fc.constantFrom(...modes).map((m) => new Checkpoint(m)));
  if (opts.crash.includes("signal")) {
    arbs.push(
      fc
        .tuple(fc.array(batch, { minLength: 1, maxLength: 8 }), fc.nat({ max: 7 }), fc.integer({ min: 0, max: 5 }))
        .map(([b, after, delay]) => new SignalCrash(b, after, delay)),
    );
    const killModes = (aim.killDuring ?? []).filter(has);
    if (killModes.length > 0)
      arbs.push(
        fc
          .tuple(fc.constantFrom(...killModes), fc.integer({ min: 0, max: 3 }))
          .map(([m, delay]) => new CheckpointKill(m, delay)),
      );
  }
  const points = (opts.hello.points ?? []).filter(aim.points ?? (() => true));
  if (opts.crash.includes("named") && points.length > 0) {
    arbs.push(
      fc
        .tuple(
          fc.constantFrom(...points),
          fc.integer({ min: 1, max: 4 }),
          fc.array(batch, { minLength: 1, maxLength: 6 }),
        )
        .map(([point, nth, batches]) => new Arm({ kind: "named", point, nth }, batches, modeFor(point))),
    );
  }
  if (opts.crash.includes("fs")) {
    const max = Math.max(1, opts.fsCallsPerLife ?? 40);
    const then = (aim.fsThen ?? [undefined, "passive", "truncate"]).filter((m) => m === undefined || has(m));
    arbs.push(
      fc
        .tuple(
          fc.integer({ min: 1, max }),
          fc.constantFrom<"before" | "after" | "mid">("before", "after", "mid"),
          fc.array(batch, { minLength: 1, maxLength: 6 }),
          fc.constantFrom<Mode | undefined>(...(then.length > 0 ? then : [undefined])),
        )
        .map(([call, when, batches, mode]) => new Arm({ kind: "fs", call, when }, batches, mode)),
    );
  }
  return fc.commands(arbs, {
    maxCommands: opts.maxCommands,
    size: "max",
    ...(opts.replayPath ? { replayPath: opts.replayPath } : {}),
  });
}
