import type { Logger } from "pino";
import { LatencyWindow, type LatencySummary } from "./latency-window.js";

/** Stats of one checkpoint, as logged and returned. */
export interface CheckpointStats {
  mode: "passive" | "truncate";
  /** 1 when the checkpoint could not finish its work (it failed part way). */
  busy: 0 | 1;
  /** Log frames present when the checkpoint started. */
  logFrames: number;
  /** Frames the checkpoint folded into the snapshot. */
  checkpointedFrames: number;
  elapsedMs: number;
  /** The seq the new snapshot covers. */
  seq: number;
}

interface LoopOptions {
  intervalMs: number;
  slowMs: number;
  logger: Logger;
  checkpoint: () => Promise<CheckpointStats>;
}

/**
 * The periodic passive checkpoint: one timer that re-arms only after the previous
 * checkpoint finished, so checkpoints never overlap. A failed checkpoint is logged with
 * its cause and the loop goes on; it never throws into the process.
 */
export class CheckpointLoop {
  readonly samples = new LatencyWindow(512);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly opts: LoopOptions) {
    this.arm();
  }

  private arm(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = undefined;
        this.arm();
      });
    }, this.opts.intervalMs);
    // The loop alone never keeps a process alive.
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      const stats = await this.opts.checkpoint();
      logCheckpoint(this.opts.logger, stats, this.opts.slowMs);
      this.samples.record(stats.elapsedMs);
    } catch (error) {
      this.opts.logger.error({ err: error, mode: "passive" }, "wal checkpoint failed");
    }
  }

  /** Stop arming, wait for a checkpoint in progress, and return the aggregate of the window. */
  async stop(): Promise<LatencySummary> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    return this.samples.summary();
  }
}

/** One info line per checkpoint, and a warning as well when it was slow. */
export function logCheckpoint(logger: Logger, stats: CheckpointStats, slowMs: number): void {
  const fields = {
    mode: stats.mode,
    busy: stats.busy,
    logFrames: stats.logFrames,
    checkpointedFrames: stats.checkpointedFrames,
    elapsedMs: Number(stats.elapsedMs.toFixed(3)),
  };
  logger.info(fields, "wal checkpoint");
  if (stats.elapsedMs > slowMs) logger.warn({ ...fields, thresholdMs: slowMs }, "wal checkpoint slow");
}
