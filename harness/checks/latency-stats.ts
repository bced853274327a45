// Latency statistics and the latency gate.
//
// Verifies: that an op's p95 latency is under its target level (else a warning) and its
// critical level (else the run fails, with at least MIN_SAMPLES_TO_FAIL samples; with fewer it
// is a warning). Percentiles are nearest-rank over the samples as given.
//
// Does not verify: the other percentiles or the maximum (computed for reports, never judged);
// how the samples were taken (CaseSession.sample: the adapter's own elapsedMs, else the round
// trip) or which levels apply to a scenario (the campaign's plan, from config and flags); the
// recovery-time threshold on a single open (CaseChecker). latencyHistogram only bins samples
// for the reports.

/** A latency level: over `targetMs` is a warning in the report, over `criticalMs` fails the run. */
export interface Level {
  targetMs: number;
  criticalMs: number;
}

/** The ops whose latency is held to levels (p95 of the samples of a scenario: judgeLatency). */
export type LatencyOp = "append" | "recovery" | "truncate";
export type Thresholds = Record<LatencyOp, Level>;

export const DEFAULT_THRESHOLDS: Thresholds = {
  append: { targetMs: 10, criticalMs: 20 },
  recovery: { targetMs: 100, criticalMs: 200 },
  truncate: { targetMs: 5, criticalMs: 10 },
};

/** Latency statistics of one op, in tinybench's names. */
export interface LatencyStats {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
}

/** Nearest-rank percentile of sorted samples. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export function latencyStats(samples: readonly number[]): LatencyStats {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    p99: percentile(sorted, 0.99),
    p999: percentile(sorted, 0.999),
    max: sorted.at(-1) ?? 0,
  };
}

/** One op's latency against its levels. */
export type ThresholdVerdict = {
  op: LatencyOp;
  stat: "p95";
  valueMs: number;
  n: number;
  targetMs: number;
  criticalMs: number;
} & ({ status: "ok" } | { status: "warning"; reason: string } | { status: "critical"; reason: string });

/** Fewer samples than this make a latency over its critical level a warning, not a failure. */
export const MIN_SAMPLES_TO_FAIL = 20;

/** Hold p95 of each op to its levels; over critical fails only with enough samples to mean it. */
export function judgeLatency(op: LatencyOp, samples: readonly number[], level: Level): ThresholdVerdict | undefined {
  if (samples.length === 0) return undefined;
  const s = latencyStats(samples);
  const base = {
    op,
    stat: "p95" as const,
    valueMs: s.p95,
    n: s.n,
    targetMs: level.targetMs,
    criticalMs: level.criticalMs,
  };
  if (s.p95 > level.criticalMs && s.n >= MIN_SAMPLES_TO_FAIL)
    return {
      ...base,
      status: "critical",
      reason: `${op} p95 ${s.p95.toFixed(2)} ms is over the critical level ${level.criticalMs} ms (${s.n} samples)`,
    };
  if (s.p95 > level.targetMs) {
    const few =
      s.p95 > level.criticalMs
        ? ` and over the critical ${level.criticalMs} ms, but ${s.n} samples are too few to fail the run`
        : "";
    return {
      ...base,
      status: "warning",
      reason: `${op} p95 ${s.p95.toFixed(2)} ms is over the target ${level.targetMs} ms${few}`,
    };
  }
  return { ...base, status: "ok" };
}

/** Samples counted in bins whose edges double: [edgesMs[i], edgesMs[i+1]) holds counts[i]. */
export interface LatencyHistogram {
  edgesMs: number[];
  counts: number[];
}

/** Bin b ≥ 1 holds [FIRST_EDGE_MS·2^b, FIRST_EDGE_MS·2^(b+1)); bin 0 everything under 1/8 ms. */
const FIRST_EDGE_MS = 1 / 16;

/**
 * A histogram of latency samples in bins of doubling width (1/8–1/4 ms, 1/4–1/2 ms, ...: 1 ms
 * and 1 s are drawn with the same relative resolution), trimmed to the bins from the first
 * sample to the last. No samples, no bins.
 */
export function latencyHistogram(samples: readonly number[]): LatencyHistogram {
  if (samples.length === 0) return { edgesMs: [], counts: [] };
  const binOf = (v: number) => (v < FIRST_EDGE_MS * 2 ? 0 : Math.floor(Math.log2(v / FIRST_EDGE_MS)));
  let lo = Infinity;
  let hi = 0;
  const byBin = new Map<number, number>();
  for (const v of samples) {
    const b = binOf(v);
    lo = Math.min(lo, b);
    hi = Math.max(hi, b);
    byBin.set(b, (byBin.get(b) ?? 0) + 1);
  }
  const counts: number[] = [];
  const edgesMs: number[] = [];
  for (let b = lo; b <= hi; b++) {
    counts.push(byBin.get(b) ?? 0);
    edgesMs.push(b === 0 ? 0 : FIRST_EDGE_MS * 2 ** b);
  }
  edgesMs.push(FIRST_EDGE_MS * 2 ** (hi + 1));
  return { edgesMs, counts };
}
