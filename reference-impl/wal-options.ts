import type { Logger } from "pino";
import type { CrashPoint } from "./reference-crash-points.js";

/** When an append is acknowledged. */
export type SyncMode = "always" | "batch" | "none";

/** The I/O calls the writer makes, replaceable to inject faults (ENOSPC, EIO) in tests. */
export interface WalIo {
  write(fd: number, buf: Uint8Array): void;
  fdatasync(fd: number): Promise<void>;
}

export interface WalOptions {
  /**
   * `always`: fdatasync before each ack. `batch` (default): group commit, concurrent
   * appends share one fdatasync and none is acked before every earlier record is durable.
   * `none`: written to the OS only, acked at once; survives a process kill, NOT a power
   * loss or kernel crash.
   */
  sync?: SyncMode;
  /** `binary` (default) framed records, or `jsonl` human-readable lines with the same checksum and seq rules. */
  codec?: "binary" | "jsonl";
  /** Rotate to a new segment before one would grow past this size. Default 64 MiB. */
  maxSegmentBytes?: number;
  /** Largest record accepted (and believed during recovery). Default 16 MiB. */
  maxRecordBytes?: number;
  /** Largest group written with one fdatasync in `batch` mode. Default 4 MiB. */
  maxGroupBytes?: number;
  /** On mid-log corruption, keep a copy of the damage and recover the clean prefix instead of failing. */
  salvage?: boolean;
  /** How many idempotency keys are remembered (oldest forgotten first). Default 100,000. */
  idempotencyWindow?: number;
  /** A checkpoint slower than this logs a warning. Default 200 ms. */
  slowCheckpointMs?: number;
  /** pino logger for checkpoint and failure lines; default: JSON to stderr at info. */
  logger?: Logger;
  /** Monotonic clock in ms for latencies; default performance.now. */
  now?: () => number;
  /** Wall clock in epoch ms for record timestamps; default Date.now. */
  clock?: () => number;
  /** Called at every named crash point before the crash check (tests use it to observe or slow a phase). */
  onPoint?: (point: CrashPoint) => void;
  /** Replace the writer's I/O calls (fault injection). */
  io?: Partial<WalIo>;
}

export const DEFAULTS = {
  sync: "batch",
  codec: "binary",
  maxSegmentBytes: 64 * 1024 * 1024,
  maxRecordBytes: 16 * 1024 * 1024,
  maxGroupBytes: 4 * 1024 * 1024,
  salvage: false,
  idempotencyWindow: 100_000,
  slowCheckpointMs: 200,
} as const;
