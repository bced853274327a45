// The corruption sweep's verdicts (scenarios/corruption-sweep.ts): what one recovery of a
// damaged copy of the WAL directory is, and the matrix the report draws.
//
// Verifies: for one damaged copy (one fault in one block of one file), what recovery made of
// it: refused (open or read failed, or check reported a problem), intact (every acked batch,
// exactly), changed (a value differs from what was acked, or a key was never written), missing
// (acked batches absent, nothing changed). Which acked batches lie outside the damaged bytes
// (`Located`: the bytes each batch appended, still in place in the swept directory): one of
// those missing while recovery did not refuse is a violation for every adapter (PAR, FAST'18:
// damage in the middle of the log taken for a torn tail), except after a bit flip in an adapter
// without checksums, which cannot tell a flipped length or seq from the truth (a finding). A
// changed value is a violation for adapters that declare `checksums`, a finding otherwise.
//
// Does not verify: batches whose bytes were rewritten later (a snapshot, a compaction): their
// place is unknown, and their loss is counted, never a violation; that the adapter's answer is
// well formed beyond the protocol (the transport checks that).

import type { Invariant } from "./violation.js";

export const SWEEP_FAULTS = ["zeros", "junk", "bitflip", "eio-read", "swap"] as const;
export type SweepFault = (typeof SWEEP_FAULTS)[number];
export const SWEEP_OUTCOMES = ["intact", "refused", "changed", "missing"] as const;
export type SweepOutcome = (typeof SWEEP_OUTCOMES)[number];
export type SweepEnding = "clean" | "crash";

/** One acked batch: its seq (1-based), its puts (keys unique to it), and where its bytes lie. */
export interface SweptBatch {
  seq: number;
  puts: Record<string, string>;
  /** The ranges of the swept directory's files it appended; undefined: unknown (rewritten since). */
  at: { file: string; start: number; end: number }[] | undefined;
}

/** The damaged bytes of one copy: one block, or two for a swap. */
export interface Damage {
  file: string;
  ranges: [number, number][];
}

/** What a recovery answered (RecoveryAnswer of case-checker.ts). */
export type SweepAnswer =
  | { open: "failed"; code: string; message: string }
  | { open: "ok"; lastSeq: number; state: Record<string, string>; check?: string[] };

export interface SweepVerdict {
  outcome: SweepOutcome;
  /** Seqs of acked batches absent from the recovered state. */
  missing: number[];
  /** Of those, the ones whose bytes lie wholly outside the damage: after it in the same file, and elsewhere. */
  missingAfter: number[];
  missingElsewhere: number[];
  /** Keys whose value differs from the acked one, or that were never written. */
  changedKeys: string[];
  /** The invariant broken, if any, and why; else a counted finding (changed, or missing outside damage) or nothing. */
  violation?: { invariant: Invariant; message: string };
  finding?: string;
}

const overlaps = (a: [number, number], b: { start: number; end: number }) => a[0] < b.end && b.start < a[1];

/** Judge one recovery of a damaged copy: `checksums` is whether the adapter declares them. */
export function judgeSweep(
  batches: readonly SweptBatch[],
  damage: Damage,
  fault: SweepFault,
  answer: SweepAnswer,
  checksums: boolean,
): SweepVerdict {
  const none = { missing: [], missingAfter: [], missingElsewhere: [], changedKeys: [] };
  if (answer.open === "failed") return { outcome: "refused", ...none };
  if (answer.check && !(answer.check.length === 1 && answer.check[0] === "ok")) return { outcome: "refused", ...none };
  const expected: Record<string, string> = {};
  for (const b of batches) Object.assign(expected, b.puts);
  const changedKeys = Object.keys(answer.state).filter((k) => expected[k] !== answer.state[k] && k in expected);
  changedKeys.push(...Object.keys(answer.state).filter((k) => !(k in expected)));
  const missing: number[] = [];
  const missingAfter: number[] = [];
  const missingElsewhere: number[] = [];
  // "After the damage": past the end of its first damaged range (a swap damages two).
  const end = Math.min(...damage.ranges.map(([, e]) => e));
  for (const b of batches) {
    const keys = Object.keys(b.puts);
    const absent = keys.filter((k) => !(k in answer.state));
    if (absent.length < keys.length) {
      changedKeys.push(...absent); // half a batch: changed, not missing
      continue;
    }
    missing.push(b.seq);
    if (!b.at || b.at.length === 0) continue;
    if (b.at.some((r) => r.file === damage.file && damage.ranges.some((d) => overlaps(d, r)))) continue;
    const inFile = b.at.filter((r) => r.file === damage.file);
    if (inFile.length > 0 && inFile.every((r) => r.start >= end)) missingAfter.push(b.seq);
    else missingElsewhere.push(b.seq);
  }
  const outcome: SweepOutcome = changedKeys.length > 0 ? "changed" : missing.length > 0 ? "missing" : "intact";
  const verdict: SweepVerdict = { outcome, missing, missingAfter, missingElsewhere, changedKeys };
  const lostOutside = missingAfter.length + missingElsewhere.length > 0;
  const excused = fault === "bitflip" && !checksums;
  if (lostOutside && !excused) {
    const after = missingAfter.length > 0;
    verdict.violation = {
      invariant: after ? "no-loss-after-damage" : "no-loss-outside-damage",
      message: after
        ? `recovery did not refuse, and acked batches whose bytes lie wholly after the damaged bytes of ${damage.file} are missing (seq ${list(missingAfter)}): the damage was taken for a torn tail and valid records after it were cut off (PAR, FAST'18)`
        : `recovery did not refuse, and acked batches whose bytes lie outside the damaged bytes are missing (seq ${list(missingElsewhere)})`,
    };
  } else if (changedKeys.length > 0 && checksums) {
    verdict.violation = {
      invariant: "no-silent-change",
      message: `the adapter declares checksums, yet recovery did not refuse and served ${changedKeys.length} value(s) that differ from the acked ones (${changedKeys.slice(0, 5).join(", ")})`,
    };
  } else if (changedKeys.length > 0) {
    verdict.finding = `${changedKeys.length} value(s) silently changed (no checksums declared: counted, not a violation)`;
  } else if (lostOutside) {
    verdict.finding = `acked batches outside the damage missing after a bit flip (no checksums declared: a flipped length or seq cannot be told from the truth)`;
  }
  return verdict;
}

function list(seqs: number[]): string {
  return seqs.length > 6 ? `${seqs.slice(0, 6).join(", ")}, ... (${seqs.length})` : seqs.join(", ");
}

// --- the matrix -------------------------------------------------------------------------

/** Outcome counts of one (ending, file, region) row under one fault. */
export type OutcomeCounts = Record<SweepOutcome, number>;

/** One row of the matrix: a region (consecutive blocks) of one file after one ending. */
export interface SweepRow {
  ending: SweepEnding;
  file: string;
  /** Bytes [fromByte, toByte) of the file, in blocks of blockSize. */
  fromByte: number;
  toByte: number;
  blockSize: number;
  blocks: number;
  /** By fault kind; a fault not swept (skipped) is absent. */
  counts: Partial<Record<SweepFault, OutcomeCounts>>;
  /** Violations among this row's recoveries. */
  violations: number;
}

/** What the sweep found, as report.json keeps it. */
export interface SweepMatrix {
  rows: SweepRow[];
  /** Recoveries of damaged copies, and the time they took (ms, summed). */
  recoveries: number;
  ms: number;
  violations: number;
  /** Counted, not violations: silently changed values (no checksums), losses after a bit flip (no checksums). */
  findings: { changed: number; missing: number };
  /** Faults not swept, and why (e.g. EIO on read cannot reach the adapter). */
  skipped: { fault: SweepFault; reason: string }[];
  /** Blocks left out to keep a case within its budget of recoveries. */
  blocksLeftOut: number;
}

export function emptySweep(): SweepMatrix {
  return {
    rows: [],
    recoveries: 0,
    ms: 0,
    violations: 0,
    findings: { changed: 0, missing: 0 },
    skipped: [],
    blocksLeftOut: 0,
  };
}

export function emptyCounts(): OutcomeCounts {
  return { intact: 0, refused: 0, changed: 0, missing: 0 };
}

/** Adds `from` into `into` (rows with the same ending, file and byte range are summed). */
export function mergeSweep(into: SweepMatrix, from: SweepMatrix): void {
  for (const row of from.rows) {
    const same = into.rows.find(
      (r) => r.ending === row.ending && r.file === row.file && r.fromByte === row.fromByte && r.toByte === row.toByte,
    );
    if (!same) {
      into.rows.push(structuredClone(row));
      continue;
    }
    same.violations += row.violations;
    for (const [fault, counts] of Object.entries(row.counts) as [SweepFault, OutcomeCounts][]) {
      const target = (same.counts[fault] ??= emptyCounts());
      for (const o of SWEEP_OUTCOMES) target[o] += counts[o];
    }
  }
  into.recoveries += from.recoveries;
  into.ms += from.ms;
  into.violations += from.violations;
  into.findings.changed += from.findings.changed;
  into.findings.missing += from.findings.missing;
  into.blocksLeftOut += from.blocksLeftOut;
  for (const s of from.skipped) if (!into.skipped.some((x) => x.fault === s.fault)) into.skipped.push(s);
}
