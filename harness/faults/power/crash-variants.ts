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

/** Every variant at a cut with these pending ops, in the order deduplication prefers names. */
export function variantsOf(pending: readonly Unit[]): Variant[] {
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
