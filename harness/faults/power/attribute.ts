import type { PersistenceModel } from "../../protocol/messages.js";
import type { Recovered, PowerVerdict } from "./check-states.js";
import { lostByVariant, stateLanding, type CrashState, type PendingOp } from "./crash-states.js";
import type { Recording } from "./record-life.js";
import type { TraceOp } from "./trace.js";
import { whereOf, type OpWhere, parseJsCalls } from "./where.js";

// Attribution of a failing power-loss state (ALICE's question: which barrier is missing, and
// where): the pending op whose loss broke the invariant, the fsync that would have made it
// durable in time, and where the adapter issued the op.
//
// The culprit. A failing state is a cut plus the pending ops its variant left out (L). With one
// op in L, it is that op. With several, each is tested, a few recoveries of the failing state
// only (at most ATTRIBUTION_RECOVERIES): first "restored" (the state with that op alone landed
// as well passes: its loss is what broke it), then "alone" (the state with every pending op
// landed but that one fails: its loss alone breaks it); the first op in trace order that passes
// a test is the culprit. A state whose variant lost nothing (every pending op landed: a bug that
// is not about durability) gets no attribution, nor one where no single op passes either test.

/** Recoveries one attribution may spend (each a state built and recovered once). */
export const ATTRIBUTION_RECOVERIES = 8;
/** Ops drawn around the cut in the trace diagram (and at most this many around the culprit). */
const WINDOW_BEFORE = 14;
const WINDOW_AFTER = 3;
const AROUND_CULPRIT = 3;

/** One op drawn in the trace diagram. */
export interface DiagramOp {
  i: number;
  kind: TraceOp["op"];
  /** The lane: a file's name, or "dir <path>" for a directory's entries and its fsync. */
  lane: string;
  label: string;
  /**
   * done: before the cut and not pending (durable, or an fsync); landed / lost: pending at the
   * cut, and whether this state kept it; after: past the cut.
   */
  status: "done" | "landed" | "lost" | "after";
  culprit?: boolean;
}

/** The trace around the cut, for the HTML report's diagram. */
export interface TraceDiagram {
  cut: number;
  ops: DiagramOp[];
  /** Acknowledgments in the window: batch (1-based) and the trace line count when it arrived. */
  acks: { batch: number; at: number }[];
  /** The culprit's source location, for its label. */
  where?: string;
}

export interface PowerAttribution {
  /** The lost op: its trace line, kind and a person's label ("create of seg-000002.log (#9)"). */
  op: { i: number; kind: TraceOp["op"]; label: string };
  /** How it was found: the only op lost, restoring it made the state pass, or losing it alone fails. */
  test: "only-lost" | "restored" | "alone";
  /** Extra recoveries spent finding it. */
  recoveries: number;
  /** The barrier that would have prevented the loss: "fsync the directory after creating wal.log, before acknowledging batch 1". */
  barrier: string;
  where?: OpWhere;
  /** The whole sentence, as the violation's text carries it. */
  text: string;
  diagram: TraceDiagram;
}

/** The directory an entry op changed, relative to the recorded directory ("." for it). */
function dirOf(rel: string): string {
  const slash = rel.lastIndexOf("/");
  return slash < 0 ? "." : rel.slice(0, slash);
}

function relTo(root: string, p: string): string {
  return p === root ? "." : p.startsWith(`${root}/`) ? p.slice(root.length + 1) : p;
}

/** Each inode's name at each op, and each op's lane. */
function lanes(rec: Recording): string[] {
  const root = rec.initial.root;
  const names = new Map<number, string>();
  for (const f of rec.initial.files) names.set(f.ino, relTo(root, f.path));
  return rec.trace.map((op) => {
    switch (op.op) {
      case "create":
        names.set(op.ino, relTo(root, op.path));
        return `dir ${dirOf(relTo(root, op.path))}`;
      case "rename":
      case "link": {
        const to = relTo(root, op.to);
        if (op.op === "rename") names.set(op.ino, to);
        return `dir ${dirOf(to)}`;
      }
      case "unlink":
      case "mkdir":
      case "rmdir":
        return `dir ${dirOf(relTo(root, op.path))}`;
      case "dirsync":
        return `dir ${relTo(root, op.path)}`;
      case "write":
      case "truncate":
      case "fsync":
        return names.get(op.ino) ?? `inode ${op.ino}`;
      default:
        return "other";
    }
  });
}

/** What to fsync, after what: "fsync the directory after creating wal.log", "fsync seg-1.log after this write". */
function barrierOf(rec: Recording, p: PendingOp, file: string): string {
  const root = rec.initial.root;
  const op = p.op;
  const name = (q: string) => relTo(root, q);
  const dir = (q: string) => {
    const d = dirOf(name(q));
    return d === "." ? "the directory" : `the directory ${d}`;
  };
  switch (op.op) {
    case "create":
      return `fsync ${dir(op.path)} after creating ${name(op.path)}`;
    case "mkdir":
      return `fsync ${dir(op.path)} after creating the directory ${name(op.path)}`;
    case "unlink":
      return `fsync ${dir(op.path)} after unlinking ${name(op.path)}`;
    case "rmdir":
      return `fsync ${dir(op.path)} after removing the directory ${name(op.path)}`;
    case "rename":
      return `fsync ${dir(p.part === "old name" ? op.from : op.to)} after renaming ${name(op.from)} → ${name(op.to)}`;
    case "link":
      return `fsync ${dir(op.to)} after linking ${name(op.from)} → ${name(op.to)}`;
    case "write":
    case "truncate":
      return `fsync ${file} after the ${op.op} (#${op.i})`;
    default:
      return `make ${p.label} durable`;
  }
}

/** Before what the barrier was due: the first ack after the op (by the cut), else the first later pending op that landed. */
function dueBefore(rec: Recording, p: PendingOp, cut: number, landedAfter: PendingOp | undefined): string {
  let batch: number | undefined;
  rec.ackedAt.forEach((a, b) => {
    if (batch === undefined && a !== undefined && a >= p.i && a <= cut) batch = b + 1;
  });
  if (batch !== undefined) return `, before acknowledging batch ${batch}`;
  if (landedAfter) return `, before the ${landedAfter.label}, which landed without it`;
  return "";
}

function diagramOf(
  rec: Recording,
  state: CrashState,
  lost: Set<number>,
  culprit: PendingOp,
  where: string | undefined,
): TraceDiagram {
  const cut = state.cut;
  const laneOf = lanes(rec);
  const pendingStatus = new Map<number, "landed" | "lost">();
  state.context.pending.forEach((p, k) => {
    // A cross-directory rename's halves: lost if either half was.
    if (pendingStatus.get(p.i) !== "lost") pendingStatus.set(p.i, lost.has(k) ? "lost" : "landed");
  });
  const keep = new Set<number>();
  const add = (from: number, to: number) => {
    for (let i = Math.max(1, from); i <= Math.min(rec.trace.length, to); i++) keep.add(i);
  };
  add(cut - WINDOW_BEFORE + 1, cut + WINDOW_AFTER);
  add(culprit.i - AROUND_CULPRIT, culprit.i + AROUND_CULPRIT);
  const ops = [...keep]
    .sort((a, b) => a - b)
    .map((i): DiagramOp => {
      const op = rec.trace[i - 1]!;
      const status = i > cut ? "after" : (pendingStatus.get(i) ?? "done");
      return {
        i,
        kind: op.op,
        lane: laneOf[i - 1]!,
        label: state.context.pending.find((p) => p.i === i)?.label ?? `${op.op} (#${i})`,
        status,
        ...(i === culprit.i ? { culprit: true } : {}),
      };
    });
  const first = ops[0]?.i ?? 0;
  const last = ops[ops.length - 1]?.i ?? 0;
  const acks: { batch: number; at: number }[] = [];
  rec.ackedAt.forEach((a, b) => {
    if (a !== undefined && a >= first - 1 && a <= last) acks.push({ batch: b + 1, at: a });
  });
  return { cut, ops, acks, ...(where ? { where } : {}) };
}

/**
 * Attribute a failing state: find the lost op whose loss broke the invariant (with up to
 * ATTRIBUTION_RECOVERIES recoveries through `recover`, judged by `judge`), the barrier, and where
 * the adapter issued the op (`jsTrace`: the fs preload's call trace, when there is one).
 */
export async function attribute(o: {
  rec: Recording;
  state: CrashState;
  model: PersistenceModel;
  recover: (state: CrashState) => Promise<Recovered>;
  judge: (r: Recovered) => PowerVerdict;
  jsTrace?: string;
}): Promise<PowerAttribution | undefined> {
  const { rec, state } = o;
  const pending = state.context.pending;
  const lostList = lostByVariant(state.variant, pending.length);
  if (lostList.length === 0) return undefined;
  const lost = new Set(lostList);
  let recoveries = 0;
  let found: { index: number; test: PowerAttribution["test"] } | undefined;
  if (lostList.length === 1) found = { index: lostList[0]!, test: "only-lost" };
  const passes = async (landed: (k: number) => boolean) => {
    recoveries += 1;
    const s = stateLanding(rec.initial, rec.trace, state.cut, landed, o.model);
    return o.judge(await o.recover(s)).ok;
  };
  for (const x of lostList) {
    if (found || recoveries >= ATTRIBUTION_RECOVERIES) break;
    if (await passes((k) => !lost.has(k) || k === x)) found = { index: x, test: "restored" };
  }
  for (const x of lostList) {
    if (found || recoveries >= ATTRIBUTION_RECOVERIES) break;
    if (!(await passes((k) => k !== x))) found = { index: x, test: "alone" };
  }
  if (!found) return undefined;
  const culprit = pending[found.index]!;
  const landedAfter = pending.find((p, k) => k > found.index && !lost.has(k) && p.i !== culprit.i);
  const barrier = `${barrierOf(rec, culprit, lanes(rec)[rec.trace.findIndex((op) => op.i === culprit.i)]!)}${dueBefore(rec, culprit, state.cut, landedAfter)}`;
  const jsCalls = o.jsTrace !== undefined ? parseJsCalls(o.jsTrace) : undefined;
  const where = whereOf(culprit.op, jsCalls);
  const located = where?.text ? `, ${where.text}` : "";
  const note = where?.note ? ` (${where.note})` : "";
  const how =
    found.test === "only-lost"
      ? "the only op this state lost"
      : found.test === "restored"
        ? "with it landed the state passes"
        : "losing it alone fails too";
  const text = `lost op: the ${culprit.label} (${how}); missing barrier: ${barrier}${located}${note}`;
  return {
    op: { i: culprit.i, kind: culprit.op.op, label: culprit.label },
    test: found.test,
    recoveries,
    barrier,
    ...(where ? { where } : {}),
    text,
    diagram: diagramOf(rec, state, lost, culprit, where?.text || undefined),
  };
}
