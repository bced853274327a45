import fc from "fast-check";
import type { CaseSession, CrashArm } from "./case-session.js";
import type { BatchOp, Hello } from "./protocol.js";

/** Which crash kinds a run injects. */
export type CrashKinds = readonly ("named" | "fs" | "signal")[];

export interface WorkloadOptions {
  hello: Hello;
  crash: CrashKinds;
  maxCommands: number;
  /** For `fs` crashes: how many mutating fs calls one process makes in a typical life (k is drawn below it). */
  fsCallsPerLife?: number;
  /** fast-check's replay path of a shrunk command list (from a replay token). */
  replayPath?: string;
}

type Model = Record<string, never>;
type WalCommand = fc.AsyncCommand<Model, CaseSession>;

// A small key space so that batches collide on keys, and values that are not ASCII-only.
const KEYS = ["a", "b", "c", "d", "e", "f", "g", "h"];
const value = fc.string({ unit: fc.constantFrom("x", "y", "z", "0", "9", "é", "日", "😀", " ", '"', "\\", "\n"), minLength: 0, maxLength: 24 });
const op: fc.Arbitrary<BatchOp> = fc.record({ key: fc.constantFrom(...KEYS), value: fc.option(value, { freq: 5, nil: null }) });
const batch = fc.array(op, { minLength: 1, maxLength: 20 });

const short = (batches: BatchOp[][]) => batches.map((b) => b.map((o) => `${o.key}${o.value === null ? "-" : "="}`).join(",")).join(" | ");

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
  run = (_m: Model, s: CaseSession) => ((s.step = this.toString()), s.appendBurst(this.batches, { after: Math.min(this.after, this.batches.length - 1), delayMs: this.delayMs }));
  toString = () => `sigkill(${this.delayMs}ms after request ${this.after + 1} of ${short(this.batches)})`;
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
function modeFor(point: string): "passive" | "truncate" | undefined {
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
  const arbs: fc.Arbitrary<WalCommand>[] = [
    fc.array(batch, { minLength: 1, maxLength: 6 }).map((b) => new AppendBurst(b)),
    fc.array(batch, { minLength: 1, maxLength: 6 }).map((b) => new AppendBurst(b)),
    fc.constant(new ReadCompare()),
    fc.constant(new CloseReopen()),
  ];
  if (features.has("check")) arbs.push(fc.constant(new Check()));
  if (features.has("checkpoint")) {
    arbs.push(fc.constantFrom<"passive" | "truncate">(...(features.has("checkpoint.truncate") ? (["passive", "truncate"] as const) : (["passive"] as const))).map((m) => new Checkpoint(m)));
  }
  if (opts.crash.includes("signal")) {
    arbs.push(
      fc
        .tuple(fc.array(batch, { minLength: 1, maxLength: 8 }), fc.nat({ max: 7 }), fc.integer({ min: 0, max: 5 }))
        .map(([b, after, delay]) => new SignalCrash(b, after, delay)),
    );
  }
  const points = opts.hello.points ?? [];
  if (opts.crash.includes("named") && points.length > 0) {
    arbs.push(
      fc
        .tuple(fc.constantFrom(...points), fc.integer({ min: 1, max: 4 }), fc.array(batch, { minLength: 1, maxLength: 6 }))
        .map(([point, nth, batches]) => new Arm({ kind: "named", point, nth }, batches, modeFor(point))),
    );
  }
  if (opts.crash.includes("fs")) {
    const max = Math.max(1, opts.fsCallsPerLife ?? 40);
    arbs.push(
      fc
        .tuple(
          fc.integer({ min: 1, max }),
          fc.constantFrom<"before" | "after" | "mid">("before", "after", "mid"),
          fc.array(batch, { minLength: 1, maxLength: 6 }),
          fc.constantFrom<"passive" | "truncate" | undefined>(undefined, "passive", "truncate"),
        )
        .map(([call, when, batches, mode]) => new Arm({ kind: "fs", call, when }, batches, mode)),
    );
  }
  return fc.commands(arbs, { maxCommands: opts.maxCommands, size: "max", ...(opts.replayPath ? { replayPath: opts.replayPath } : {}) });
}
