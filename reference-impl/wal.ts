import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import { AsyncMutex } from "./async-mutex.js";
import { binaryCodec } from "./binary-codec.js";
import { defaultLogger } from "./default-logger.js";
import { CheckpointLoop, logCheckpoint, type CheckpointStats } from "./checkpoint-loop.js";
import type { CrashPoint } from "./reference-crash-points.js";
import { crashpoint } from "../harness/protocol/crashpoint.js";
import { DirLock } from "./dir-lock.js";
import { ensureDir, fsyncDir, writeFully } from "./durable-fs.js";
import { errnoCode, WalError } from "./errors.js";
import { integrityCheck } from "./integrity-check.js";
import { jsonlCodec } from "./jsonl-codec.js";
import { applyBatch, validateBatch, type BatchOp } from "./kv-batch.js";
import { LatencyWindow, type LatencySummary } from "./latency-window.js";
import { RECORD_TYPE_BATCH, RECORD_TYPE_SYNC, type RecordCodec } from "./record.js";
import { recoverDir, type RecoveryReport } from "./recovery.js";
import { openSegment, segmentName, type Segment } from "./segment.js";
import { snapshotSeqOf, writeSnapshot } from "./snapshot-file.js";
import { Transaction } from "./transaction.js";
import { DEFAULTS, type SyncMode, type WalIo, type WalOptions } from "./wal-options.js";

/**
 * fs.fdatasync as a promise, looked up at each call rather than captured at load: a process
 * armed after its start (walcheck's spare, whose fs preload is installed before `open` but after
 * this module loaded) must reach the same fs function as one armed at start.
 */
const fdatasync = (fd: number): Promise<void> =>
  new Promise((resolve, reject) => fs.fdatasync(fd, (error) => (error ? reject(error) : resolve())));

export interface AppendOptions {
  /** A batch whose key was already committed is not written again; its original seq is returned. */
  idempotencyKey?: string;
}

export interface AppendResult {
  seq: number;
  /** True when the idempotency key had already been committed and nothing was written. */
  duplicate: boolean;
}

export interface WalMetrics {
  appends: LatencySummary & { count: number };
  fsyncs: LatencySummary & { count: number };
  checkpoints: LatencySummary & { count: number };
  recovery: RecoveryReport;
  bytesWritten: number;
  /** Batches per fdatasync, over the life of this handle. */
  batchesPerSync: number;
}

interface Pending {
  ops: BatchOp[];
  payload: Buffer;
  idempotencyKey: string | undefined;
  enqueuedAt: number;
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

/** A group being written: its batches, framing, and the sync marker that follows its fdatasync. */
interface Group {
  batches: Pending[];
  firstSeq: number;
  ts: number;
  /** The frames, for codecs that cannot frame into a buffer (undefined: framed at write time). */
  frames: Buffer[] | undefined;
  bytes: number;
  marker: Buffer | undefined;
}

type Resolved = Required<Omit<WalOptions, "logger" | "onPoint" | "io">>;

/**
 * The reference write-ahead log: a key-value state built from atomic batches, one framed
 * and checksummed record per batch, in rotating segments, with atomic snapshots.
 *
 * ```ts
 * const wal = await Wal.open(dir, { sync: "batch" });
 * const { seq } = await wal.append([{ key: "a", value: "1" }]);
 * await wal.checkpoint("truncate");
 * await wal.close();
 * ```
 */
export class Wal {
  readonly dir: string;
  readonly options: Readonly<Resolved>;
  /** What recovery found and did when this handle opened. */
  readonly recovery: RecoveryReport;

  private readonly codec: RecordCodec;
  private loggerValue: Logger | undefined;
  private readonly io: WalIo;
  private readonly onPoint: ((p: CrashPoint) => void) | undefined;
  private readonly state: Map<string, string>;
  private readonly idempotency: Map<string, number>;
  private readonly segments: Segment[];
  private readonly lock: DirLock;
  private activeFd: number;
  private lastSeqValue: number;
  private snapshotSeq: number;

  private readonly queue: Pending[] = [];
  private readonly inFlightKeys = new Map<string, Promise<AppendResult>>();
  private flushing = false;
  private readonly writer = new AsyncMutex();
  private checkpointChain: Promise<unknown> = Promise.resolve();
  private failure: WalError | undefined;
  private closing: Promise<void> | undefined;
  private loop: CheckpointLoop | undefined;

  private readonly appendLatency = new LatencyWindow(4096);
  private readonly syncLatency = new LatencyWindow(4096);
  private readonly checkpointLatency = new LatencyWindow(512);
  private bytesWritten = 0;
  private batchesSynced = 0;
  /**
   * The sync marker of the last completed fdatasync of the active segment, while it is not
   * written: between that fdatasync and its acks, or after its write failed (the next group's
   * write then carries it; see writeAndSync).
   */
  private pendingMarker: Buffer | undefined;
  private segmentClosed = false;
  /** sync=always with the built-in I/O: fdatasync in line, no promise to await. */
  private readonly fdatasyncNow: ((fd: number) => void) | undefined;

  private constructor(dir: string, options: Resolved, lock: DirLock, hooks: WalOptions) {
    this.dir = dir;
    this.options = options;
    this.lock = lock;
    this.loggerValue = hooks.logger;
    this.onPoint = hooks.onPoint;
    this.io = {
      write: hooks.io?.write ?? ((fd, buf) => writeFully(fd, buf)),
      // sync=always acks nothing before its fdatasync completes, so it may as well block:
      // the thread-pool round trip of the async call costs ~60-90 us per append on a small
      // VM, a third of a fast disk's flush. Group commit keeps the async call, so that
      // appends arriving meanwhile join the next group.
      fdatasync:
        hooks.io?.fdatasync ??
        (options.sync === "always"
          ? async (fd) => {
              fs.fdatasyncSync(fd);
            }
          : (fd) => fdatasync(fd)),
    };
    this.fdatasyncNow = options.sync === "always" && !hooks.io?.fdatasync ? fs.fdatasyncSync : undefined;
    this.codec = options.codec === "jsonl" ? jsonlCodec : binaryCodec;
    const t0 = options.now();
    try {
      const recovered = recoverDir(dir, {
        codec: this.codec,
        maxRecordBytes: options.maxRecordBytes,
        idempotencyWindow: options.idempotencyWindow,
        salvage: options.salvage,
        point: (p) => this.point(p),
      });
      this.state = recovered.state;
      this.idempotency = recovered.idempotency;
      this.segments = recovered.segments;
      this.lastSeqValue = recovered.lastSeq;
      this.snapshotSeq = recovered.snapshotSeq;
      if (this.segments.length === 0) {
        const file = path.join(dir, segmentName(1, this.codec));
        this.activeFd = openSegment(file, true);
        fsyncDir(dir);
        this.segments.push({ id: 1, file, size: 0, frames: 0 });
      } else {
        this.activeFd = openSegment(this.segments[this.segments.length - 1]!.file, false);
      }
      this.recovery = { ...recovered.report, elapsedMs: options.now() - t0 };
    } catch (error) {
      lock.release();
      throw error;
    }
    if (this.recovery.salvage)
      this.logger().error({ salvage: this.recovery.salvage }, "wal salvaged a damaged log: data was lost");
  }

  /**
   * Open (creating if needed) the WAL in `dir`: take the directory lock, then recover.
   * Throws WalError `WAL_LOCKED` if another process has it open, `WAL_CORRUPT` (with file
   * and offset) if acknowledged data is damaged.
   */
  static async open(dir: string, options: WalOptions = {}): Promise<Wal> {
    const resolved = resolveOptions(options);
    const abs = path.resolve(dir);
    try {
      ensureDir(abs);
    } catch (error) {
      throw new WalError("WAL_IO", `cannot create ${abs}: ${(error as Error).message}`, {
        cause: error,
        details: { file: abs },
      });
    }
    const lock = DirLock.acquire(abs);
    return new Wal(abs, resolved, lock, options);
  }

  private logger(): Logger {
    return (this.loggerValue ??= defaultLogger());
  }

  /** Seq of the last acknowledged batch (0 for an empty WAL). */
  get lastSeq(): number {
    return this.lastSeqValue;
  }

  get(key: string): string | undefined {
    return this.state.get(key);
  }

  /** The whole acknowledged state, as a plain object. */
  read(): { lastSeq: number; state: Record<string, string> } {
    return { lastSeq: this.lastSeqValue, state: Object.fromEntries(this.state) };
  }

  get size(): number {
    return this.state.size;
  }

  set(key: string, value: string): Promise<AppendResult> {
    return this.append([{ key, value }]);
  }

  delete(key: string): Promise<AppendResult> {
    return this.append([{ key, value: null }]);
  }

  /** A transaction: buffered writes with nested savepoints, committed as one atomic batch. */
  begin(): Transaction {
    return new Transaction(this);
  }

  /** Run `fn` in a transaction: commit when it resolves, roll back when it throws. */
  async transaction<T>(fn: (tx: Transaction) => Promise<T> | T): Promise<T> {
    const tx = this.begin();
    try {
      const result = await fn(tx);
      await tx.commit();
      return result;
    } catch (error) {
      if (tx.isOpen) tx.rollback();
      throw error;
    }
  }

  /**
   * Append one atomic batch. Resolves once the batch is durable to the `sync` level and
   * every earlier batch is too; rejects (never acked) on any I/O error.
   */
  append(ops: BatchOp[], options?: AppendOptions): Promise<AppendResult> {
    validateBatch(ops);
    const unavailable = this.unavailable();
    if (unavailable) return Promise.reject(unavailable);
    const key = options?.idempotencyKey;
    if (key !== undefined) {
      const seq = this.idempotency.get(key);
      if (seq !== undefined) return Promise.resolve({ seq, duplicate: true });
      const inFlight = this.inFlightKeys.get(key);
      if (inFlight) return inFlight.then((r) => ({ seq: r.seq, duplicate: true }));
    }
    const payload = this.codec.encodeBatch(ops, key);
    if (payload.length > this.options.maxRecordBytes) {
      return Promise.reject(
        new WalError(
          "WAL_INVALID",
          `batch of ${payload.length} bytes is over maxRecordBytes (${this.options.maxRecordBytes})`,
        ),
      );
    }
    const promise = new Promise<AppendResult>((resolve, reject) => {
      this.queue.push({ ops, payload, idempotencyKey: key, enqueuedAt: this.options.now(), resolve, reject });
    });
    if (key !== undefined) {
      this.inFlightKeys.set(key, promise);
      const forget = () => this.inFlightKeys.delete(key);
      promise.then(forget, forget);
    }
    void this.flush();
    return promise;
  }

  private unavailable(): WalError | undefined {
    if (this.closing) return new WalError("WAL_CLOSED", `the WAL in ${this.dir} is closed`);
    return this.failure;
  }

  private point(name: CrashPoint): void {
    this.onPoint?.(name);
    crashpoint(name);
  }

  private flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    if (this.options.sync === "always") this.drain();
    else void this.drainAsync();
  }

  /**
   * sync=always: write the queued batches in line, one group each, while the writer is free
   * and no group has to wait (the built-in fdatasync is synchronous here), so that an append
   * costs no promise hops of its own. Once one has to wait (a checkpoint holds the writer, a
   * rotation, an injected asynchronous fdatasync) the rest goes on in drainAsync. Group commit
   * never comes here: it must wait a tick, so that appends made together are written together.
   */
  private drain(): void {
    while (this.queue.length > 0) {
      const release = this.writer.tryLock();
      if (!release) break;
      let waiting: Promise<void> | undefined;
      try {
        waiting = this.writeGroup();
      } catch (error) {
        release();
        this.flushing = false;
        throw error;
      }
      if (waiting) {
        void this.drainAsync(waiting, release);
        return;
      }
      release();
    }
    if (this.queue.length > 0) void this.drainAsync();
    else this.flushing = false;
  }

  /** Write groups until the queue is empty, taking the writer in turn; `current` is a group under way. */
  private async drainAsync(current?: Promise<void>, holding?: () => void): Promise<void> {
    try {
      if (current) {
        try {
          await current;
        } finally {
          holding?.();
        }
      }
      while (this.queue.length > 0) {
        const release = await this.writer.lock();
        try {
          await this.writeGroup();
        } finally {
          release();
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Take the next group off the queue: one batch for sync=always, as many as fit otherwise. */
  private takeGroup(): Pending[] {
    if (this.options.sync === "always") return this.queue.splice(0, 1);
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length && (n === 0 || bytes + this.queue[n]!.payload.length <= this.options.maxGroupBytes)) {
      bytes += this.queue[n]!.payload.length;
      n += 1;
    }
    return this.queue.splice(0, n);
  }

  /**
   * Write the next group and, unless sync=none, fdatasync it, then ack it. Returns a promise
   * only when it has to wait (a rotation, an asynchronous fdatasync); otherwise the group is
   * settled (acked or rejected) when it returns.
   */
  private writeGroup(): Promise<void> | undefined {
    const group = this.takeGroup();
    if (this.failure) {
      for (const p of group) p.reject(this.failure);
      return undefined;
    }
    const ts = this.options.clock();
    const firstSeq = this.lastSeqValue + 1;
    const lastSeq = firstSeq + group.length - 1;
    const { encodeInto, frameBytes } = this.codec;
    // Binary frames are written straight into the one buffer of the write; other codecs frame first.
    const frames =
      encodeInto && frameBytes
        ? undefined
        : group.map((p, i) =>
            this.codec.encode({ seq: firstSeq + i, ts, type: RECORD_TYPE_BATCH, payload: p.payload }),
          );
    let groupBytes = 0;
    if (frames) for (const f of frames) groupBytes += f.length;
    else for (const p of group) groupBytes += frameBytes!(p.payload.length);

    const active = this.segments[this.segments.length - 1]!;
    const pendingBytes = this.pendingMarker?.length ?? 0;
    // The sync marker that will follow this group's fdatasync (it states the segment length
    // after this write), encoded now: the segment needs room for it too.
    const marker =
      this.options.sync === "none" ? undefined : this.syncMarker(active.size + pendingBytes + groupBytes, lastSeq, ts);
    const g: Group = { batches: group, firstSeq, ts, frames, bytes: groupBytes, marker };
    if (
      active.size > 0 &&
      active.size + pendingBytes + groupBytes + (marker?.length ?? 0) > this.options.maxSegmentBytes
    )
      return this.rotateAndWrite(g);
    return this.writeAndSync(g);
  }

  private async rotateAndWrite(g: Group): Promise<void> {
    try {
      await this.rotate();
    } catch (error) {
      this.fail(error, "segment rotation failed");
      for (const p of g.batches) p.reject(this.failure);
      return;
    }
    // The group opens the new segment: its marker states that segment's length.
    if (g.marker) g.marker = this.syncMarker(g.bytes, g.firstSeq + g.batches.length - 1, g.ts);
    await this.writeAndSync(g);
  }

  private writeAndSync(g: Group): Promise<void> | undefined {
    const active = this.segments[this.segments.length - 1]!;
    const { batches: group, firstSeq, ts, frames } = g;
    // One write: the previous fdatasync's sync marker, if its own write failed, then the group.
    const prefix = this.pendingMarker;
    const total = (prefix?.length ?? 0) + g.bytes;
    let buf: Buffer;
    if (frames) {
      buf = prefix
        ? Buffer.concat([prefix, ...frames], total)
        : frames.length === 1
          ? frames[0]!
          : Buffer.concat(frames, total);
    } else {
      buf = Buffer.allocUnsafe(total);
      let at = prefix ? prefix.copy(buf, 0) : 0;
      for (let i = 0; i < group.length; i++)
        at = this.codec.encodeInto!(
          { seq: firstSeq + i, ts, type: RECORD_TYPE_BATCH, payload: group[i]!.payload },
          buf,
          at,
        );
    }

    this.point("append.before-write");
    try {
      this.io.write(this.activeFd, buf);
    } catch (error) {
      // Cut a partial write back off so the log stays a clean sequence of frames (the
      // pending marker stays pending); if that fails too, the WAL stops taking appends until
      // it is reopened and recovered.
      try {
        fs.ftruncateSync(this.activeFd, active.size);
      } catch {
        this.fail(error, "write failed and the partial frame could not be removed");
      }
      const failure = new WalError("WAL_IO", `write to ${active.file} failed: ${(error as Error).message}`, {
        cause: error,
      });
      for (const p of group) p.reject(failure);
      return undefined;
    }
    this.pendingMarker = undefined;
    active.size += buf.length;
    this.bytesWritten += buf.length;
    this.point("append.after-write");

    if (!g.marker) {
      this.point("append.after-fsync");
      this.ack(g, this.options.now());
      return undefined;
    }
    const t0 = this.options.now();
    if (this.fdatasyncNow) {
      try {
        this.fdatasyncNow(this.activeFd);
      } catch (error) {
        this.syncFailed(g, error);
        return undefined;
      }
      this.synced(g, t0);
      return undefined;
    }
    return this.io.fdatasync(this.activeFd).then(
      () => this.synced(g, t0),
      (error: unknown) => this.syncFailed(g, error),
    );
  }

  private synced(g: Group, t0: number): void {
    const now = this.options.now();
    this.syncLatency.record(now - t0);
    this.point("append.after-fsync");
    // The sync marker: the segment's first active.size bytes are now durable. It is written
    // before these acks, so that once a batch is acknowledged a process crash can no longer
    // leave its group without a marker (bit rot in it is then refused, never cut as a torn
    // tail). It becomes durable with a later fdatasync (docs/reference-wal.md#sync-markers).
    // Should its write fail, it stays pending and the next group's write carries it.
    this.pendingMarker = g.marker;
    this.writePendingMarker();
    this.ack(g, now);
  }

  private syncFailed(g: Group, error: unknown): void {
    // The pages may be gone while the file looks written: never retry over them
    // (PostgreSQL's fsync lesson). Refuse appends until a reopen recovers from disk.
    this.fail(error, "fdatasync failed");
    for (const p of g.batches) p.reject(this.failure);
  }

  private ack(g: Group, now: number): void {
    const group = g.batches;
    const active = this.segments[this.segments.length - 1]!;
    this.batchesSynced += group.length;
    active.frames += group.length;
    active.firstSeq ??= g.firstSeq;
    active.lastSeq = g.firstSeq + group.length - 1;
    for (let i = 0; i < group.length; i++) {
      const p = group[i]!;
      const seq = g.firstSeq + i;
      applyBatch(this.state, p.ops);
      if (p.idempotencyKey !== undefined) this.rememberKey(p.idempotencyKey, seq);
      this.lastSeqValue = seq;
      this.appendLatency.record(now - p.enqueuedAt);
      p.resolve({ seq, duplicate: false });
    }
  }

  /**
   * Write the pending sync marker on its own: stating that the active segment is durable up
   * to the length it names. On a failed write the partial marker is cut back off and the
   * marker stays pending (a torn marker followed by later frames would read as damage); the
   * acks it covers stand, their records are durable. If the cut fails too, the WAL stops
   * taking appends until it is reopened and recovered.
   */
  private writePendingMarker(): void {
    const marker = this.pendingMarker;
    if (!marker || this.failure || this.segmentClosed) return;
    const segment = this.segments[this.segments.length - 1]!;
    try {
      this.io.write(this.activeFd, marker);
    } catch (error) {
      try {
        fs.ftruncateSync(this.activeFd, segment.size);
        this.logger().warn({ err: error, dir: this.dir }, "wal sync marker write failed; cut back off");
      } catch {
        this.fail(error, "sync marker write failed and the partial marker could not be removed");
      }
      return;
    }
    this.pendingMarker = undefined;
    segment.size += marker.length;
    this.bytesWritten += marker.length;
  }

  private syncMarker(durable: number, lastSeq: number, ts: number): Buffer {
    return this.codec.encode({ seq: lastSeq, ts, type: RECORD_TYPE_SYNC, payload: this.codec.encodeSync(durable) });
  }

  private rememberKey(key: string, seq: number): void {
    this.idempotency.set(key, seq);
    if (this.idempotency.size > this.options.idempotencyWindow)
      this.idempotency.delete(this.idempotency.keys().next().value as string);
  }

  private fail(error: unknown, what: string): void {
    if (this.failure) return;
    this.failure = new WalError(
      "WAL_FAILED",
      `${what}: ${(error as Error).message}; appends are refused until the WAL is reopened`,
      {
        cause: error,
        details: { errno: errnoCode(error) },
      },
    );
    this.logger().error({ err: error, dir: this.dir }, `wal ${what}`);
    for (const p of this.queue.splice(0)) p.reject(this.failure);
  }

  /** Start a new segment. Called with the writer lock held, after the old one is durable. */
  private async rotate(): Promise<void> {
    const old = this.segments[this.segments.length - 1]!;
    // A closed segment must be complete on disk: recovery only forgives a torn tail in the
    // last one. With sync=none nothing in it is synced yet; otherwise its last sync marker is
    // not, and may not even be written: it is written now (it belongs to this segment, never
    // the next) and made durable with the rest.
    this.writePendingMarker();
    this.pendingMarker = undefined;
    if (this.failure) throw this.failure;
    await this.io.fdatasync(this.activeFd);
    const id = old.id + 1;
    const file = path.join(this.dir, segmentName(id, this.codec));
    const fd = openSegment(file, true);
    this.point("rotate.after-create");
    fsyncDir(this.dir);
    fs.closeSync(this.activeFd);
    this.activeFd = fd;
    this.segments.push({ id, file, size: 0, frames: 0 });
  }

  /**
   * Fold the log into a new snapshot. `passive` writes the snapshot and removes closed
   * segments it fully covers; `truncate` also starts a fresh segment so that the whole log
   * up to the snapshot is removed. Checkpoints run one at a time; appends go on meanwhile.
   */
  checkpoint(mode: "passive" | "truncate" = "passive"): Promise<CheckpointStats> {
    const unavailable = this.closing ? new WalError("WAL_CLOSED", `the WAL in ${this.dir} is closed`) : this.failure;
    if (unavailable) return Promise.reject(unavailable);
    return this.runCheckpoint(mode);
  }

  private runCheckpoint(mode: "passive" | "truncate"): Promise<CheckpointStats> {
    const run = this.checkpointChain.then(() => this.doCheckpoint(mode));
    this.checkpointChain = run.catch(() => {});
    return run;
  }

  private async doCheckpoint(mode: "passive" | "truncate"): Promise<CheckpointStats> {
    if (this.failure) throw this.failure;
    const t0 = this.options.now();
    // Capture a consistent cut with the writer paused: every record up to `seq` is durable
    // and applied, and (truncate) nothing after it shares a segment with what will be dropped.
    const cutPoint = await this.writer.run(async () => {
      if (mode === "truncate" && this.segments[this.segments.length - 1]!.size > 0) await this.rotate();
      const logFrames = this.segments.reduce((n, s) => n + s.frames, 0);
      const covered = this.segments.slice(0, -1);
      const needsSnapshot = this.lastSeqValue > this.snapshotSeq;
      return {
        seq: this.lastSeqValue,
        logFrames,
        covered,
        state: needsSnapshot ? new Map(this.state) : undefined,
        idempotency: needsSnapshot ? new Map(this.idempotency) : undefined,
      };
    });

    this.point("checkpoint.before-snapshot");
    if (cutPoint.state && cutPoint.idempotency) {
      writeSnapshot(
        this.dir,
        { seq: cutPoint.seq, ts: this.options.clock(), state: cutPoint.state, idempotency: cutPoint.idempotency },
        (step) =>
          this.point(
            step === "half-written"
              ? "checkpoint.snapshot-half-written"
              : step === "synced"
                ? "checkpoint.snapshot-synced"
                : "checkpoint.after-rename",
          ),
      );
      this.snapshotSeq = cutPoint.seq;
      // The new snapshot is durable (renamed, directory synced): older ones are garbage.
      for (const name of fs.readdirSync(this.dir)) {
        const seq = snapshotSeqOf(name);
        if (seq !== undefined && seq < cutPoint.seq) fs.unlinkSync(path.join(this.dir, name));
      }
    }

    // Closed segments whose every record is in the snapshot can go, oldest first, so a
    // crash part way leaves a contiguous suffix of the log.
    const drop = cutPoint.covered.filter((s) => s.lastSeq === undefined || s.lastSeq <= cutPoint.seq);
    const midPoint = mode === "truncate" ? "checkpoint.mid-truncate" : "compact.mid";
    if (mode === "truncate") this.point("checkpoint.before-truncate");
    drop.forEach((segment, i) => {
      fs.unlinkSync(segment.file);
      this.segments.splice(this.segments.indexOf(segment), 1);
      if (i === 0) this.point(midPoint);
    });
    fsyncDir(this.dir);

    const elapsedMs = this.options.now() - t0;
    this.checkpointLatency.record(elapsedMs);
    // Every frame in the log at the cut is folded into the snapshot (the writer was paused).
    return {
      mode,
      busy: 0,
      logFrames: cutPoint.logFrames,
      checkpointedFrames: cutPoint.logFrames,
      elapsedMs,
      seq: cutPoint.seq,
    };
  }

  /**
   * Integrity check in the manner of `PRAGMA quick_check`: `["ok"]`, or one line per
   * problem (checksums, seq continuity, snapshot validity, leftover temp files).
   */
  async check(): Promise<string[]> {
    if (this.closing) throw new WalError("WAL_CLOSED", `the WAL in ${this.dir} is closed`);
    return this.writer.run(() =>
      integrityCheck(this.dir, {
        codec: this.codec,
        maxRecordBytes: this.options.maxRecordBytes,
        lastSeq: this.lastSeqValue,
      }),
    );
  }

  /**
   * Start the periodic passive checkpoint (explicit opt-in; never started by `open`).
   * `intervalMs <= 0` disables it. One timer: checkpoints never overlap.
   */
  startCheckpointLoop(intervalMs: number): void {
    if (!Number.isFinite(intervalMs)) throw new TypeError(`intervalMs must be a number, got ${intervalMs}`);
    if (this.loop) throw new TypeError("the checkpoint loop is already running");
    if (this.closing) throw new WalError("WAL_CLOSED", `the WAL in ${this.dir} is closed`);
    if (intervalMs <= 0) return;
    this.loop = new CheckpointLoop({
      intervalMs,
      slowMs: this.options.slowCheckpointMs,
      logger: this.logger(),
      checkpoint: () => this.checkpoint("passive"),
    });
  }

  metrics(): WalMetrics {
    const withCount = (w: LatencyWindow) => ({ ...w.summary(), count: w.count });
    return {
      appends: withCount(this.appendLatency),
      fsyncs: withCount(this.syncLatency),
      checkpoints: withCount(this.checkpointLatency),
      recovery: this.recovery,
      bytesWritten: this.bytesWritten,
      batchesPerSync: this.syncLatency.count === 0 ? 0 : this.batchesSynced / this.syncLatency.count,
    };
  }

  /**
   * Clean shutdown: stop the checkpoint loop and wait for a checkpoint in progress, let
   * queued appends finish, then (when the loop ran, or `checkpoint: "truncate"` is asked)
   * log the loop's aggregate and run a final truncate checkpoint. A failed final checkpoint
   * is logged, never thrown: close always completes and releases the lock.
   */
  close(options: { checkpoint?: "truncate" | "none" } = {}): Promise<void> {
    this.closing ??= this.doClose(options);
    return this.closing;
  }

  private async doClose(options: { checkpoint?: "truncate" | "none" }): Promise<void> {
    const loop = this.loop;
    this.loop = undefined;
    const aggregate = loop ? await loop.stop() : undefined;
    await this.writer.run(() => {}); // queued groups drain first (FIFO)
    while (this.flushing || this.queue.length > 0) await this.writer.run(() => {});
    await this.checkpointChain;
    const finalCheckpoint = options.checkpoint ?? (loop ? "truncate" : "none");
    if (aggregate)
      this.logger().info(
        { n: aggregate.n, p50: aggregate.p50, p95: aggregate.p95, max: aggregate.max },
        "wal checkpoint aggregate",
      );
    if (finalCheckpoint === "truncate" && !this.failure) {
      try {
        logCheckpoint(this.logger(), await this.runCheckpoint("truncate"), this.options.slowCheckpointMs);
      } catch (error) {
        this.logger().error({ err: error, mode: "truncate", dir: this.dir }, "wal final truncate checkpoint failed");
      }
    }
    try {
      // The last sync marker is made durable (and written first, if its own write failed).
      if (this.options.sync !== "none" && !this.failure) {
        this.writePendingMarker();
        try {
          if (!this.failure) await this.io.fdatasync(this.activeFd);
        } catch (error) {
          this.logger().error({ err: error, dir: this.dir }, "wal final fdatasync failed");
        }
      }
      this.segmentClosed = true;
      fs.closeSync(this.activeFd);
    } finally {
      this.lock.release();
    }
  }
}

function resolveOptions(options: WalOptions): Resolved {
  const sync: SyncMode = options.sync ?? DEFAULTS.sync;
  if (!["always", "batch", "none"].includes(sync))
    throw new TypeError(`sync must be "always", "batch" or "none", got ${JSON.stringify(sync)}`);
  const codec = options.codec ?? DEFAULTS.codec;
  if (codec !== "binary" && codec !== "jsonl")
    throw new TypeError(`codec must be "binary" or "jsonl", got ${JSON.stringify(codec)}`);
  const positive = (name: string, v: number) => {
    if (!Number.isSafeInteger(v) || v <= 0) throw new TypeError(`${name} must be a positive integer, got ${v}`);
    return v;
  };
  return {
    sync,
    codec,
    maxSegmentBytes: positive("maxSegmentBytes", options.maxSegmentBytes ?? DEFAULTS.maxSegmentBytes),
    maxRecordBytes: positive("maxRecordBytes", options.maxRecordBytes ?? DEFAULTS.maxRecordBytes),
    maxGroupBytes: positive("maxGroupBytes", options.maxGroupBytes ?? DEFAULTS.maxGroupBytes),
    salvage: options.salvage ?? DEFAULTS.salvage,
    idempotencyWindow: positive("idempotencyWindow", options.idempotencyWindow ?? DEFAULTS.idempotencyWindow),
    slowCheckpointMs: options.slowCheckpointMs ?? DEFAULTS.slowCheckpointMs,
    now: options.now ?? (() => performance.now()),
    clock: options.clock ?? Date.now,
  };
}
