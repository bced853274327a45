// Recovery time against WAL size, summarised for the reports.
//
// Verifies: nothing. It buckets recoveries by the WAL directory's size, keeps a bounded set of
// points (spread over the sizes, plus the slowest) and fits a line, so a person can see
// whether recovery grows with the WAL.
//
// Does not verify: that any recovery was fast enough (the recovery-time threshold is checked
// per open by CaseSession; recovery's p95 against its levels by latency-stats' judgeLatency),
// or that recovery succeeded (recovery invariant: CaseChecker).

import { latencyStats } from "./latency-stats.js";

/** One recovery: the bytes of the WAL directory it started from, and how long `open` took. */
export interface RecoverySample {
  walBytes: number;
  ms: number;
}

/** Recovery time against WAL size, as the report keeps it. */
export interface RecoveryBySize {
  /** Recoveries measured (opens that succeeded). */
  n: number;
  /** At most MAX_POINTS of them for a chart: evenly spread over the sizes, and the slowest ones. */
  points: RecoverySample[];
  /** Sizes in ranges growing by 4× from 1 KiB: [0, 1 KiB), [1, 4 KiB), [4, 16 KiB), ... */
  buckets: { fromBytes: number; toBytes: number; n: number; p50: number; p95: number; max: number }[];
  /** Least squares `ms = interceptMs + msPerMiB × MiB`, when there are 5 or more recoveries at 2 or more sizes. */
  fit?: { msPerMiB: number; interceptMs: number };
}

export const MAX_POINTS = 200;
const SLOWEST_KEPT = 10;
const KIB = 1024;

const bucketOf = (bytes: number) => (bytes < KIB ? 0 : Math.floor(Math.log(bytes / KIB) / Math.log(4)) + 1);
const bucketStart = (i: number) => (i === 0 ? 0 : KIB * 4 ** (i - 1));

function leastSquares(samples: readonly RecoverySample[]): RecoveryBySize["fit"] {
  if (samples.length < 5) return undefined;
  const xs = samples.map((s) => s.walBytes / (KIB * KIB));
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = samples.reduce((a, s) => a + s.ms, 0) / samples.length;
  let sxx = 0;
  let sxy = 0;
  samples.forEach((s, i) => {
    sxx += (xs[i]! - mx) ** 2;
    sxy += (xs[i]! - mx) * (s.ms - my);
  });
  if (sxx === 0) return undefined;
  const msPerMiB = sxy / sxx;
  return { msPerMiB, interceptMs: my - msPerMiB * mx };
}

/** Summarise recoveries by WAL size: a bounded set of points, size buckets, and a linear fit. */
export function recoveryBySize(samples: readonly RecoverySample[]): RecoveryBySize {
  const bySize = [...samples].sort((a, b) => a.walBytes - b.walBytes || a.ms - b.ms);
  let points = bySize;
  if (bySize.length > MAX_POINTS) {
    const slowest = new Set([...bySize].sort((a, b) => b.ms - a.ms).slice(0, SLOWEST_KEPT));
    const spread = MAX_POINTS - SLOWEST_KEPT;
    const picked = new Set(slowest);
    for (let i = 0; i < spread; i++) picked.add(bySize[Math.round((i * (bySize.length - 1)) / (spread - 1))]!);
    points = bySize.filter((s) => picked.has(s));
  }
  const groups = new Map<number, number[]>();
  for (const s of bySize) {
    const i = bucketOf(s.walBytes);
    (groups.get(i) ?? groups.set(i, []).get(i)!).push(s.ms);
  }
  const buckets = [...groups.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([i, ms]) => {
      const st = latencyStats(ms);
      return { fromBytes: bucketStart(i), toBytes: bucketStart(i + 1), n: st.n, p50: st.p50, p95: st.p95, max: st.max };
    });
  const fit = leastSquares(bySize);
  return {
    n: bySize.length,
    points: points.map((s) => ({ walBytes: s.walBytes, ms: s.ms })),
    buckets,
    ...(fit ? { fit } : {}),
  };
}
