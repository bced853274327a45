import type { LatencyOp, Level } from "../scenarios/scenario.js";

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
  return { n: sorted.length, p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), p99: percentile(sorted, 0.99), p999: percentile(sorted, 0.999), max: sorted.at(-1) ?? 0 };
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
  const base = { op, stat: "p95" as const, valueMs: s.p95, n: s.n, targetMs: level.targetMs, criticalMs: level.criticalMs };
  if (s.p95 > level.criticalMs && s.n >= MIN_SAMPLES_TO_FAIL) return { ...base, status: "critical", reason: `${op} p95 ${s.p95.toFixed(2)} ms is over the critical level ${level.criticalMs} ms (${s.n} samples)` };
  if (s.p95 > level.targetMs) {
    const few = s.p95 > level.criticalMs ? ` and over the critical ${level.criticalMs} ms, but ${s.n} samples are too few to fail the run` : "";
    return { ...base, status: "warning", reason: `${op} p95 ${s.p95.toFixed(2)} ms is over the target ${level.targetMs} ms${few}` };
  }
  return { ...base, status: "ok" };
}
