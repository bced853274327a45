import fs from "node:fs/promises";
import path from "node:path";
import { crashContent, type Chooser } from "./crash-content.js";
import { CrashStateError } from "./crash-state-error.js";
import { variantName, variantsOf, type Variant } from "./crash-variants.js";
import type { Track, Unit } from "./object-versions.js";
import { Replay, unsupportedError } from "./persistence-model.js";
import { junkSector, replaceSector, writeAt } from "./sector-bytes.js";
import type { InitialState, TraceOp } from "./trace.js";
import type { PersistenceModel } from "../../protocol/messages.js";

// The crash-state generator: from an initial state and a trace cut after line k, the
// directories a disk could hold after a power loss at that moment. The model is
// persistence-model.ts (durable versions, pending ops per file and directory); the ways the
// pending ops reach the disk are crash-variants.ts (all, none, prefix:j, omit:m and the torn
// writes); sectors (512 bytes) are the atomic unit.

export { CrashStateError, type CrashStateErrorCode } from "./crash-state-error.js";

/** An op pending at a cut (not yet made durable by an fsync of its file or its directory). */
export interface PendingOp {
  /** Its trace line. */
  i: number;
  op: TraceOp;
  /** A cross-directory rename is two pending ops: its new name and the removal of its old one. */
  part?: "new name" | "old name";
  /** For a person: "rename of snapshot.tmp → snapshot (#12)". */
  label: string;
}

/** The cut a state was built at, shared by the states of that cut. */
export interface CutContext {
  /** The op the cut came after, for a person: "fsync of seg-1.wal" ("" at cut 0). */
  label: string;
  pending: readonly PendingOp[];
}

/** A directory a power loss after trace line `cut` can leave. Its Buffers are shared between states: never change them. */
export interface CrashState {
  /** Trace lines done before the power loss (0: before the first). */
  cut: number;
  /** The first variant (in the order all, none, prefix, omit, torn) that gives these bytes. */
  variant: string;
  /** The other variants at this cut that give the same bytes. */
  alsoVariants: string[];
  /** Directories, relative to the recorded directory, parents first. */
  dirs: string[];
  /** Files by relative path. */
  files: Map<string, Buffer>;
  /** sha256 hex of the content: equal keys, equal directories. */
  key: string;
  /** allStates only: the first cut whose state had these bytes, when it was an earlier one (recover once, judge at each cut). */
  sameAs?: { cut: number; variant: string };
  context: CutContext;
}

/** The states of one replay at its current cut; torn contents are cached across cuts. */
class CutStates {
  private readonly torn = new WeakMap<Unit, Map<string, Buffer>>();

  constructor(
    private readonly replay: Replay,
    private readonly seed: number,
  ) {}

  context(): CutContext {
    const pending = this.replay.pending.map(({ i, op, part, label }): PendingOp =>
      part ? { i, op, part, label } : { i, op, label },
    );
    return { label: this.replay.lastLabel, pending };
  }

  build(v: Variant, context: CutContext): CrashState {
    return {
      cut: this.replay.cut,
      variant: variantName(v),
      alsoVariants: [],
      ...crashContent(this.replay, this.chooser(v)),
      context,
    };
  }

  /** Every variant at the current cut, one state per distinct content. */
  states(): CrashState[] {
    const context = this.context();
    const byKey = new Map<string, CrashState>();
    for (const v of variantsOf(this.replay.pending, this.replay.model)) {
      const state = this.build(v, context);
      const first = byKey.get(state.key);
      if (first) first.alsoVariants.push(state.variant);
      else byKey.set(state.key, state);
    }
    return [...byKey.values()];
  }

  private chooser(v: Variant): Chooser {
    switch (v.kind) {
      case "all":
        return (t) => t.latest;
      case "none":
        return (t) => t.durable;
      case "prefix":
        return prefixChooser(v.j);
      case "omit": {
        const unit = this.replay.pending[v.m - 1]!;
        return (t) => (t === unit.track ? t.omit(unit.pos) : t.latest);
      }
      default: {
        const unit = this.replay.pending[v.m - 1]!;
        const torn = this.tornData(unit, v.kind, v.at);
        const before = prefixChooser(v.m - 1);
        return <V>(t: Track<V>) => (t === unit.track ? (torn as V) : before(t));
      }
    }
  }

  /** The file a torn write leaves (the pending ops of the file before it applied). */
  private tornData(unit: Unit, kind: Exclude<Variant["kind"], "all" | "none" | "prefix" | "omit">, at: number): Buffer {
    let cache = this.torn.get(unit);
    if (!cache) this.torn.set(unit, (cache = new Map()));
    const name = `${kind}:${at}`;
    let data = cache.get(name);
    if (!data) {
      const { offset, bytes } = unit.write!;
      const before = unit.track.prefixes[unit.pos] as Buffer;
      const written = unit.track.prefixes[unit.pos + 1] as Buffer;
      if (kind === "torn-prefix") data = writeAt(before, offset, bytes.subarray(0, at - offset));
      else
        data = replaceSector(
          written,
          at,
          kind === "torn-zero" ? "zeros" : junkSector(this.seed, unit.i, at),
          offset,
          bytes.length,
        );
      cache.set(name, data);
    }
    return data;
  }
}

/** The versions with the first j pending ops (of the whole cut, in trace order) applied. */
function prefixChooser(j: number): Chooser {
  return (t) => {
    // An object's pending units are in trace order: count those among the first j.
    const units = t.units;
    let lo = 0;
    let hi = units.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (units[mid]!.at < j) lo = mid + 1;
      else hi = mid;
    }
    return t.prefixes[lo]!;
  };
}

function replayTo(initial: InitialState, trace: readonly TraceOp[], cut: number, model: PersistenceModel): Replay {
  if (!Number.isInteger(cut) || cut < 0 || cut > trace.length)
    throw new TypeError(`cut must be an integer from 0 to ${trace.length}, got ${cut}`);
  refuseUnsupported(trace, cut);
  const replay = new Replay(initial, model);
  for (let k = 0; k < cut; k++) replay.step(trace[k]!);
  return replay;
}

function refuseUnsupported(trace: readonly TraceOp[], upTo: number): void {
  for (let k = 0; k < upTo; k++) {
    const op = trace[k]!;
    if (op.op === "unsupported") throw unsupportedError(op);
  }
}

/** What is pending at a cut, as trace ops (a cross-directory rename twice: its two halves) and for a person, and the variant names there. */
export function pendingAt(
  initial: InitialState,
  trace: readonly TraceOp[],
  cut: number,
  model: PersistenceModel = "posix-pessimistic",
): { pending: TraceOp[]; ops: PendingOp[]; variants: string[] } {
  const replay = replayTo(initial, trace, cut, model);
  const ops = [...new CutStates(replay, 0).context().pending];
  return { pending: ops.map((o) => o.op), ops, variants: variantsOf(replay.pending, model).map(variantName) };
}

/** Every variant the model admits at one cut, one state per distinct content (in variant order). */
export function statesAt(
  initial: InitialState,
  trace: readonly TraceOp[],
  cut: number,
  seed: number,
  model: PersistenceModel = "posix-pessimistic",
): CrashState[] {
  return new CutStates(replayTo(initial, trace, cut, model), seed).states();
}

/** One named variant at one cut (a replay); `alsoVariants` is left empty. */
export function stateFor(
  initial: InitialState,
  trace: readonly TraceOp[],
  cut: number,
  variant: string,
  seed: number,
  model: PersistenceModel = "posix-pessimistic",
): CrashState {
  const replay = replayTo(initial, trace, cut, model);
  const variants = variantsOf(replay.pending, model);
  const v = variants.find((x) => variantName(x) === variant);
  if (!v) {
    const names = variants.map(variantName);
    const shown = names.length > 12 ? `${names.slice(0, 12).join(", ")}, … (${names.length} in all)` : names.join(", ");
    throw new CrashStateError(
      "POWER_VARIANT_UNKNOWN",
      `no crash-state variant ${JSON.stringify(variant)} at cut ${cut} (${replay.pending.length} pending ops)${model === "posix-pessimistic" ? "" : ` under persistence model ${model}`}; the variants there: ${shown}`,
    );
  }
  const states = new CutStates(replay, seed);
  return states.build(v, states.context());
}

/**
 * Every cut's states, cut 0 first, replaying the trace once. A state whose bytes an earlier
 * cut already gave has `sameAs`: recover it once, but judge it at each cut (what was
 * acknowledged differs). Throws at once for a trace with an unsupported op.
 */
export function allStates(
  initial: InitialState,
  trace: readonly TraceOp[],
  seed: number,
  model: PersistenceModel = "posix-pessimistic",
): Iterable<CrashState> {
  refuseUnsupported(trace, trace.length);
  return everyCut(new Replay(initial, model), trace, seed);
}

function* everyCut(replay: Replay, trace: readonly TraceOp[], seed: number): Generator<CrashState> {
  const states = new CutStates(replay, seed);
  const seen = new Map<string, { cut: number; variant: string }>();
  for (;;) {
    for (const state of states.states()) {
      const first = seen.get(state.key);
      if (first) state.sameAs = first;
      else seen.set(state.key, { cut: state.cut, variant: state.variant });
      yield state;
    }
    if (replay.cut === trace.length) return;
    replay.step(trace[replay.cut]!);
  }
}

/**
 * The exhaustive size: `cuts` (trace lines + 1), `variants` (every cut's variants),
 * `states` (distinct contents within each cut, summed: the states allStates yields and a
 * runner judges) and `distinct` (distinct contents over the whole trace: the directories to recover).
 */
export function countStates(
  initial: InitialState,
  trace: readonly TraceOp[],
  seed: number,
  model: PersistenceModel = "posix-pessimistic",
): { cuts: number; variants: number; states: number; distinct: number } {
  let variants = 0;
  let states = 0;
  let distinct = 0;
  for (const state of allStates(initial, trace, seed, model)) {
    states += 1;
    variants += 1 + state.alsoVariants.length;
    if (!state.sameAs) distinct += 1;
  }
  return { cuts: trace.length + 1, variants, states, distinct };
}

/** Create the state's directories and files (mode 0644) under `dir`, an empty directory that exists. */
export async function materialize(state: CrashState, dir: string): Promise<void> {
  for (const d of state.dirs) await fs.mkdir(path.join(dir, d));
  await Promise.all(
    [...state.files].map(async ([rel, data]) => {
      const file = path.join(dir, rel);
      await fs.writeFile(file, data, { flag: "wx", mode: 0o644 });
      await fs.chmod(file, 0o644);
    }),
  );
}

/**
 * The pending ops (0-based indices into the cut's pending list) a variant leaves out: none for
 * `all`, every one for `none`, the tail after `prefix:j`, the m-th for `omit:m`, and for a torn
 * write the write itself (it did not land whole) and every pending op after it.
 */
export function lostByVariant(variant: string, pending: number): number[] {
  const [kind, a] = variant.split(":");
  const m = Number(a);
  const range = (from: number) => Array.from({ length: Math.max(0, pending - from) }, (_, k) => from + k);
  switch (kind) {
    case "all":
      return [];
    case "none":
      return range(0);
    case "prefix":
      return range(m);
    case "omit":
      return [m - 1];
    default:
      return range(m - 1);
  }
}

/**
 * The state at `cut` in which exactly the pending ops `landed` picks (by 0-based index in the
 * cut's pending list) reached the disk, each whole: attribution's "what if this op had landed"
 * (power-loss attribution), not a variant a model necessarily admits. Its variant is `custom`.
 */
export function stateLanding(
  initial: InitialState,
  trace: readonly TraceOp[],
  cut: number,
  landed: (index: number) => boolean,
  model: PersistenceModel = "posix-pessimistic",
): CrashState {
  const replay = replayTo(initial, trace, cut, model);
  const context = new CutStates(replay, 0).context();
  const choose: Chooser = <V>(t: Track<V>): V => {
    let v = t.durable;
    for (const u of t.units) if (landed(u.at)) v = u.apply(v);
    return v;
  };
  return { cut, variant: "custom", alsoVariants: [], ...crashContent(replay, choose), context };
}
