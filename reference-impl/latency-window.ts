/** Percentile summary of a window of latency samples, in milliseconds. */
export interface LatencySummary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/**
 * A bounded window of the most recent samples (a ring buffer, like a deque with maxlen)
 * plus a running count; percentiles use the nearest-rank method over the window.
 */
export class LatencyWindow {
  private readonly samples: Float64Array;
  private next = 0;
  private size = 0;
  private total = 0;

  constructor(readonly capacity = 512) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new TypeError(`capacity must be a positive integer, got ${capacity}`);
    this.samples = new Float64Array(capacity);
  }

  record(ms: number): void {
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.capacity;
    if (this.size < this.capacity) this.size += 1;
    this.total += 1;
  }

  /** Samples recorded since creation (the window keeps only the last `capacity`). */
  get count(): number {
    return this.total;
  }

  /** Samples currently in the window. */
  get windowSize(): number {
    return this.size;
  }

  summary(): LatencySummary {
    if (this.size === 0) return { n: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 };
    const sorted = Array.from(this.samples.subarray(0, this.size)).sort((a, b) => a - b);
    const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
    const sum = sorted.reduce((a, b) => a + b, 0);
    return {
      n: this.size,
      p50: rank(0.5),
      p95: rank(0.95),
      p99: rank(0.99),
      max: sorted[sorted.length - 1]!,
      mean: sum / sorted.length,
    };
  }
}
