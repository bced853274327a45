import type { RunReport, SweepMatrixReport } from "./report-schema.js";

// The corruption sweep's matrix as the Markdown and HTML reports draw it: rows (file and region
// after one ending) by fault kind, each cell its outcome counts and the worst outcome for colour.
// A directory with many files is drawn one row per file (regions summed), so the table stays short.

export const SWEEP_FAULT_COLUMNS = ["zeros", "junk", "bitflip", "eio-read", "swap"] as const;
export const SWEEP_OUTCOME_ORDER = ["intact", "refused", "changed", "missing"] as const;
export type SweepOutcomeName = (typeof SWEEP_OUTCOME_ORDER)[number];

/** What each outcome means, for the legend. */
export const SWEEP_OUTCOME_TEXT: Record<SweepOutcomeName, string> = {
  intact: "recovered every acked batch",
  refused: "refused with an error (or check reported the damage)",
  changed: "recovered with a silently changed value",
  missing: "recovered with acked batches silently missing",
};

/** More rows than this: one row per file. */
export const MAX_SWEEP_ROWS = 48;

type Counts = Record<SweepOutcomeName, number>;
export interface SweepViewRow {
  scenario: string;
  ending: "clean" | "crash";
  file: string;
  /** "bytes 0-511 (1 block of 512 B)" or "whole file (12 blocks of 4 KiB)". */
  region: string;
  cells: (Counts | undefined)[];
  violations: number;
}

const zero = (): Counts => ({ intact: 0, refused: 0, changed: 0, missing: 0 });
const blockLabel = (n: number) => (n >= 1024 ? `${n / 1024} KiB` : `${n} B`);

/** The sweep matrices of a report, by scenario (a run has at most one corruption-sweep). */
export function sweepsOf(r: RunReport): { scenario: string; sweep: SweepMatrixReport }[] {
  return r.scenarios.flatMap((s) => (s.sweep ? [{ scenario: s.name, sweep: s.sweep }] : []));
}

export function sweepRows(scenario: string, m: SweepMatrixReport): SweepViewRow[] {
  const perFile = m.rows.length > MAX_SWEEP_ROWS;
  const rows: SweepViewRow[] = [];
  for (const row of m.rows) {
    const blocks = `${row.blocks} block${row.blocks === 1 ? "" : "s"} of ${blockLabel(row.blockSize)}`;
    const prev = perFile ? rows.find((x) => x.ending === row.ending && x.file === row.file) : undefined;
    const target: SweepViewRow = prev ?? {
      scenario,
      ending: row.ending,
      file: row.file,
      region: perFile ? "whole file" : `bytes ${row.fromByte}-${Math.max(row.fromByte, row.toByte - 1)} (${blocks})`,
      cells: SWEEP_FAULT_COLUMNS.map(() => undefined),
      violations: 0,
    };
    target.violations += row.violations;
    SWEEP_FAULT_COLUMNS.forEach((fault, i) => {
      const c = row.counts[fault];
      if (!c) return;
      const cell = (target.cells[i] ??= zero());
      for (const o of SWEEP_OUTCOME_ORDER) cell[o] += c[o];
    });
    if (!prev) rows.push(target);
  }
  return rows;
}

/** The colour of a cell: its worst outcome (missing, then changed, then refused, then intact). */
export function worstOutcome(c: Counts): SweepOutcomeName {
  return c.missing > 0 ? "missing" : c.changed > 0 ? "changed" : c.refused > 0 ? "refused" : "intact";
}

/** "3 refused, 1 missing". */
export function cellText(c: Counts): string {
  return SWEEP_OUTCOME_ORDER.filter((o) => c[o] > 0)
    .map((o) => `${c[o]} ${o}`)
    .join(", ");
}

/** One line under the matrix: recoveries, rate, violations, findings, what was left out. */
export function sweepSummary(m: SweepMatrixReport): string {
  const rate = m.ms > 0 ? ` (${((m.recoveries * 1000) / m.ms).toFixed(1)} recoveries/s)` : "";
  const parts = [
    `${m.recoveries} damaged copies recovered${rate}`,
    `${m.violations} violation${m.violations === 1 ? "" : "s"}`,
    `findings (no checksums declared, not violations): ${m.findings.changed} silently changed, ${m.findings.missing} lost after a bit flip`,
  ];
  if (m.blocksLeftOut > 0) parts.push(`${m.blocksLeftOut} blocks left out to stay within the recovery budget`);
  return `${parts.join("; ")}.`;
}

/** The sweeps of shards of one run, summed (rows with the same ending, file and bytes added up). */
export function mergeSweeps(parts: readonly SweepMatrixReport[]): SweepMatrixReport {
  const out: SweepMatrixReport = structuredClone(parts[0]!);
  for (const m of parts.slice(1)) {
    for (const row of m.rows) {
      const same = out.rows.find(
        (r) => r.ending === row.ending && r.file === row.file && r.fromByte === row.fromByte && r.toByte === row.toByte,
      );
      if (!same) {
        out.rows.push(structuredClone(row));
        continue;
      }
      same.violations += row.violations;
      for (const fault of SWEEP_FAULT_COLUMNS) {
        const c = row.counts[fault];
        if (!c) continue;
        const target = (same.counts[fault] ??= zero());
        for (const o of SWEEP_OUTCOME_ORDER) target[o] += c[o];
      }
    }
    out.recoveries += m.recoveries;
    out.ms += m.ms;
    out.violations += m.violations;
    out.findings.changed += m.findings.changed;
    out.findings.missing += m.findings.missing;
    out.blocksLeftOut += m.blocksLeftOut;
    for (const x of m.skipped) if (!out.skipped.some((y) => y.fault === x.fault)) out.skipped.push(x);
  }
  return out;
}
