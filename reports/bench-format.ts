// Number formats shared by the benchmark tables (walcheck bench's Markdown, HTML and terminal
// summary, and `npm run bench:wal`).

const intFmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** Operations per second: whole numbers from 100 up, a decimal or three below. */
export function fmtOps(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v >= 100) return intFmt.format(v);
  if (v >= 1) return v.toFixed(1);
  return v.toFixed(3);
}

/** Milliseconds, with as many decimals as the magnitude deserves. */
export function fmtMs(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v < 1) return v.toFixed(3);
  if (v < 10) return v.toFixed(2);
  if (v < 1000) return v.toFixed(1);
  return intFmt.format(v);
}

/** A relative margin of error: ±1.23. */
export function fmtRme(v: number): string {
  return Number.isFinite(v) ? `±${v.toFixed(2)}` : String(v);
}

/** A signed change in percent: +12.3%, -4.0%. */
export function fmtChange(v: number): string {
  return `${v >= 0 ? "+" : ""}${Math.abs(v) >= 1000 ? intFmt.format(v) : v.toFixed(1)}%`;
}

/** A ratio: 0.85×, 12.3×, 1,204×. */
export function fmtRatio(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return `${v >= 100 ? intFmt.format(v) : v >= 10 ? v.toFixed(1) : v.toFixed(2)}×`;
}

/** Bytes as B, KiB, MiB. */
export function fmtBytes(b: number): string {
  if (b < 1024) return `${b} B`;
  if (b < 1024 * 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${(b / 1024 / 1024).toFixed(1)} MiB`;
}
