import type { PersistenceModel } from "../../protocol/messages.js";
import type { Unit } from "./object-versions.js";
import { edgeSectors, tearPoints } from "./sector-bytes.js";

export type TornKind = "torn-prefix" | "torn-zero" | "torn-junk";

/**
 * How the pending ops at a cut (P, in trace order, counted from 1) reached the disk:
 * - `all`: every one (what a process kill leaves); `none`: none, only what was made durable;
 * - `prefix:j` (1 ≤ j < |P|): the first j, the disk wrote in order and stopped;
 * - `omit:m` (|P| ≥ 2): all but the m-th, a later op landed and an earlier one did not;
 * - for the m-th op when it is a write, with the ops before it and none after: `torn-prefix:m:at`
 *   (its bytes before file offset `at`, a sector boundary inside it, landed), `torn-zero:m:at`
 *   and `torn-junk:m:at` (it landed but the sector at `at`, its first or last, reads as zeros,
 *   or as junk). A write inside one sector never tears: sectors (512 bytes) are atomic.
 */
export type Variant =
  | { kind: "all" }
  | { kind: "none" }
  | { kind: "prefix"; j: number }
  | { kind: "omit"; m: number }
  | { kind: TornKind; m: number; at: number };

/** Its stable name, as replay tokens carry it: all, none, prefix:2, omit:1, torn-prefix:3:4096. */
export function variantName(v: Variant): string {
  switch (v.kind) {
    case "all":
    case "none":
      return v.kind;
    case "prefix":
      return `prefix:${v.j}`;
    case "omit":
      return `omit:${v.m}`;
    default:
      return `${v.kind}:${v.m}:${v.at}`;
  }
}

/**
 * The variants a persistence model admits at a cut with these pending ops (docs/power-loss.md),
 * in the order deduplication prefers names; a variant keeps its name under every model, so
 * posix-pessimistic's are exactly the ones it always had:
 * - `posix-pessimistic`: every variant;
 * - `sector-atomic`: no torn-zero, no torn-junk (a sector is old or new, never garbage);
 * - `ext4-ordered`: no garbage either, and a file's data reaches the disk before a later
 *   size change or rename of it: `omit:m` of a write or truncate of file F is out when a
 *   later pending unit changes F's size or renames F (the other variants keep every unit
 *   before the last one that landed); and directory operations (create, rename, unlink, link,
 *   mkdir, rmdir) reach the disk in the order they were made, as the journal commits them:
 *   `omit:m` of one is out when a later pending directory operation, in any directory, landed;
 * - `process-only`: `all` alone (what the process handed the kernel is kept).
 */
export function variantsOf(pending: readonly Unit[], model: PersistenceModel = "posix-pessimistic"): Variant[] {
  if (model === "process-only") return [{ kind: "all" }];
  const every = allVariants(pending);
  if (model === "posix-pessimistic") return every;
  const pinned = model === "ext4-ordered" ? ext4Pinned(pending) : undefined;
  return every.filter((v) => {
    if (v.kind === "torn-zero" || v.kind === "torn-junk") return false;
    if (pinned && v.kind === "omit") return !pinned[v.m - 1];
    return true;
  });
}

const ENTRY_OPS = new Set(["create", "rename", "unlink", "link", "mkdir", "rmdir"]);

/**
 * ext4-ordered: which pending units cannot be the one left out while later ones landed, in one
 * pass from the end: a file's write or truncate followed by a pending unit that changes that
 * file's size or renames it (data before metadata), and a directory operation followed by
 * another directory operation (one journal, committed in order).
 */
function ext4Pinned(pending: readonly Unit[]): boolean[] {
  const pinned = new Array<boolean>(pending.length).fill(false);
  const resizedOrMovedLater = new Set<unknown>();
  let entryLater = false;
  for (let k = pending.length - 1; k >= 0; k--) {
    const u = pending[k]!;
    const isData = u.op.op === "write" || u.op.op === "truncate";
    const isEntry = ENTRY_OPS.has(u.op.op);
    pinned[k] = (isData && resizedOrMovedLater.has(u.track)) || (isEntry && entryLater);
    if (u.moves) resizedOrMovedLater.add(u.moves);
    if (isData && (u.track.prefixes[u.pos] as Buffer).length !== (u.track.prefixes[u.pos + 1] as Buffer).length)
      resizedOrMovedLater.add(u.track);
    entryLater ||= isEntry;
  }
  return pinned;
}

function allVariants(pending: readonly Unit[]): Variant[] {
  const n = pending.length;
  const out: Variant[] = [{ kind: "all" }, { kind: "none" }];
  for (let j = 1; j < n; j++) out.push({ kind: "prefix", j });
  if (n >= 2) for (let m = 1; m <= n; m++) out.push({ kind: "omit", m });
  pending.forEach((unit, k) => {
    if (!unit.write) return;
    const m = k + 1;
    const { offset, bytes } = unit.write;
    for (const at of tearPoints(offset, bytes.length)) out.push({ kind: "torn-prefix", m, at });
    const sectors = edgeSectors(offset, bytes.length);
    for (const at of sectors) out.push({ kind: "torn-zero", m, at });
    for (const at of sectors) out.push({ kind: "torn-junk", m, at });
  });
  return out;
}
