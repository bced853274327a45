import type { Logger } from "pino";
import type { BatchOp } from "../kv-batch.js";
import { crashpoint } from "../../harness/protocol/crashpoint.js";
import { defaultLogger } from "../default-logger.js";
import { errnoCode, errorCode } from "../errors.js";
import type { JsonValue } from "../../harness/protocol/stable-json.js";
import { Wal } from "../wal.js";
import type { WalOptions } from "../wal-options.js";
import { entryIntact, makeEntry, type EntryStatus, type OutboxEntry } from "./outbox-entry.js";
import { OutboxError } from "./outbox-error.js";
import type { OutboxCrashPoint } from "./outbox-crash-points.js";

// Layout in the WAL's key-value state:
//   entry/<id>   the entry JSON, written once, never edited
//   status/<id>  the latest StatusRecord JSON (each change is a new WAL record)
//   counter/n    the n of the last accepted entry
const ENTRY = "entry/";
const STATUS = "status/";
const COUNTER = "counter/n";

/** An entry's latest status, as stored under `status/<id>`. */
export interface StatusRecord {
  status: EntryStatus;
  /** Epoch ms of the change. */
  at: number;
  /** Failed apply attempts so far (entry errors only, never outages). */
  attempts?: number;
  /** The last apply error's message. */
  error?: string;
}

/** What `accept` did: a new durable entry, or the entry already accepted under the same idempotency key. */
export interface AcceptResult {
  entry: OutboxEntry;
  duplicate: boolean;
}

export interface OutboxStoreOptions {
  /** pino logger for alerts; default: JSON to stderr (reference-impl/default-logger). */
  logger?: Logger;
  /** Wall clock in epoch ms for createdAt and status times; default Date.now. */
  now?: () => number;
  /** Options passed to the underlying Wal (fault injection in tests: `io`, `onPoint`). Sync is always "batch". */
  wal?: Omit<WalOptions, "sync" | "logger">;
  /** Called at the store's crash point before the crash check (tests). */
  onPoint?: (point: OutboxCrashPoint) => void;
}

/** How many entries are in each status; corrupt entries are counted apart and in no status. */
export interface StoreCounts {
  pending: number;
  syncing: number;
  completed: number;
  failed: number;
  corruptSkipped: number;
}

/**
 * The outbox's durable half: entries and their status changes as batches in a reference
 * `Wal` (sync "batch": nothing resolves before its fdatasync). Every write is a new WAL
 * record; an entry is never edited. Fail-stop: once the WAL cannot be written the store
 * refuses every write with `OUTBOX_HALTED` until it is reopened.
 */
export class OutboxStore {
  readonly dir: string;
  private readonly wal: Wal;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly onPoint: ((p: OutboxCrashPoint) => void) | undefined;
  /** Every intact entry still in the WAL, in n order (accepts arrive in n order). */
  private readonly entries = new Map<string, OutboxEntry>();
  private readonly statuses = new Map<string, StatusRecord>();
  /** PENDING and SYNCING entries in n order: the sync queue. */
  private readonly active = new Map<string, OutboxEntry>();
  /** idempotency key → entry id, for intact entries not compacted away. */
  private readonly byKey = new Map<string, string>();
  /** Accepts written but not yet durable, by idempotency key, so a concurrent duplicate waits for the first. */
  private readonly accepting = new Map<string, Promise<AcceptResult>>();
  private readonly corrupt = new Set<string>();
  private lastN: number;
  private haltedBy: OutboxError | undefined;
  private closed = false;

  private constructor(dir: string, wal: Wal, options: OutboxStoreOptions, logger: Logger) {
    this.dir = dir;
    this.wal = wal;
    this.logger = logger;
    this.now = options.now ?? Date.now;
    this.onPoint = options.onPoint;
    this.lastN = Number(wal.get(COUNTER) ?? 0);
    this.load();
  }

  /** Open (creating if needed) the outbox WAL in `dir` and rebuild the queue and the key index from it. */
  static async open(dir: string, options: OutboxStoreOptions = {}): Promise<OutboxStore> {
    const logger = options.logger ?? defaultLogger();
    const wal = await Wal.open(dir, { ...options.wal, sync: "batch", logger });
    try {
      return new OutboxStore(wal.dir, wal, options, logger);
    } catch (error) {
      await wal.close();
      throw error;
    }
  }

  private load(): void {
    const { state } = this.wal.read();
    const loaded: OutboxEntry[] = [];
    for (const [key, raw] of Object.entries(state)) {
      if (!key.startsWith(ENTRY)) continue;
      const id = key.slice(ENTRY.length);
      const entry = parseEntry(raw);
      // The WAL's record checksums rule out torn or rotted bytes; what fails here was
      // written wrong. Skip it (never guess), count it, and tell a person.
      if (!entry || entry.id !== id || !entryIntact(entry)) {
        this.corrupt.add(id);
        this.logger.error(
          { alert: "outbox.corrupt-entry", id, dir: this.dir },
          "outbox entry fails its checksum: skipped, never synced",
        );
        continue;
      }
      loaded.push(entry);
    }
    loaded.sort((a, b) => a.n - b.n);
    for (const entry of loaded) {
      let status = parseStatus(state[STATUS + entry.id]);
      if (!status) {
        // An accepted entry is synced rather than lost: the sink's key makes a repeat harmless.
        this.logger.error(
          { alert: "outbox.bad-status", id: entry.id, dir: this.dir },
          "outbox status record missing or unreadable: treated as PENDING",
        );
        status = { status: "PENDING", at: entry.createdAt };
      }
      this.remember(entry, status);
      this.lastN = Math.max(this.lastN, entry.n);
    }
  }

  private remember(entry: OutboxEntry, status: StatusRecord): void {
    this.entries.set(entry.id, entry);
    this.byKey.set(entry.idempotencyKey, entry.id);
    this.track(entry, status);
  }

  private track(entry: OutboxEntry, status: StatusRecord): void {
    this.statuses.set(entry.id, status);
    if (status.status === "PENDING" || status.status === "SYNCING") this.active.set(entry.id, entry);
    else this.active.delete(entry.id);
  }

  /** True once the WAL could not be written: nothing more is accepted. */
  get halted(): boolean {
    return this.haltedBy !== undefined;
  }

  /** The error every write rejects with once halted. */
  get haltError(): OutboxError | undefined {
    return this.haltedBy;
  }

  /** Seq of the WAL's last durable record: grows by one per accept, status change or compaction. */
  get lastSeq(): number {
    return this.wal.lastSeq;
  }

  /**
   * Append a PENDING entry and its status in one batch; resolves once both are durable.
   * An operation already accepted under the same idempotency key (and not compacted away)
   * writes nothing and resolves with that entry and `duplicate: true`.
   *
   * A rejection halts the store (OUTBOX_HALTED). When the write itself failed the entry is
   * not in the WAL; when the fdatasync after it failed, its bytes may survive, and a reopen
   * may find the entry: its outcome is unknown, and a retry of the same operation after the
   * reopen is recognised by its idempotency key.
   */
  accept(type: string, args: Record<string, JsonValue>): Promise<AcceptResult> {
    if (typeof type !== "string" || type.length === 0)
      throw new TypeError(`type must be a non-empty string, got ${JSON.stringify(type)}`);
    if (args === null || typeof args !== "object" || Array.isArray(args))
      throw new TypeError(`args must be a plain object, got ${JSON.stringify(args)}`);
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    const entry = makeEntry(this.lastN + 1, type, args, this.now());
    const existing = this.byKey.get(entry.idempotencyKey);
    if (existing !== undefined) return Promise.resolve({ entry: this.entries.get(existing)!, duplicate: true });
    const inFlight = this.accepting.get(entry.idempotencyKey);
    if (inFlight) return inFlight.then((r) => ({ entry: r.entry, duplicate: true }));

    this.lastN = entry.n;
    const status: StatusRecord = { status: "PENDING", at: entry.createdAt };
    const ops: BatchOp[] = [
      { key: ENTRY + entry.id, value: JSON.stringify(entry) },
      { key: STATUS + entry.id, value: JSON.stringify(status) },
      { key: COUNTER, value: String(entry.n) },
    ];
    const accepted = this.write(ops).then(() => {
      this.remember(entry, status);
      this.point("outbox.after-accept");
      return { entry, duplicate: false };
    });
    this.accepting.set(entry.idempotencyKey, accepted);
    const forget = () => this.accepting.delete(entry.idempotencyKey);
    accepted.then(forget, forget);
    return accepted;
  }

  /** Append a status change for entry `id` (a new record; the entry is never edited). Resolves once durable. */
  async setStatus(
    id: string,
    status: EntryStatus,
    extra: { attempts?: number; error?: string } = {},
  ): Promise<StatusRecord> {
    const entry = this.entries.get(id);
    if (!entry) throw new TypeError(`no entry with id ${JSON.stringify(id)}, got a status change to ${status}`);
    const refused = this.refusal();
    if (refused) throw refused;
    // Attempts carry over so that a restarted worker still counts toward maxRetries.
    const attempts = extra.attempts ?? this.statuses.get(id)?.attempts;
    const record: StatusRecord = { status, at: this.now() };
    if (attempts !== undefined) record.attempts = attempts;
    if (extra.error !== undefined) record.error = extra.error;
    await this.write([{ key: STATUS + id, value: JSON.stringify(record) }]);
    this.track(entry, record);
    return record;
  }

  /** PENDING and SYNCING entries in n order (the sync order). Corrupt entries are never here. */
  pending(): OutboxEntry[] {
    return [...this.active.values()];
  }

  /** How many entries are PENDING or SYNCING. */
  get pendingCount(): number {
    return this.active.size;
  }

  /** The first entry of the sync queue, if any. */
  oldestPending(): OutboxEntry | undefined {
    return this.active.values().next().value;
  }

  /** The entry and its latest status, or undefined (unknown, corrupt or compacted away). */
  get(id: string): { entry: OutboxEntry; status: StatusRecord } | undefined {
    const entry = this.entries.get(id);
    return entry && { entry, status: this.statuses.get(id)! };
  }

  counts(): StoreCounts {
    const counts: StoreCounts = { pending: 0, syncing: 0, completed: 0, failed: 0, corruptSkipped: this.corrupt.size };
    for (const { status } of this.statuses.values()) {
      if (status === "PENDING") counts.pending += 1;
      else if (status === "SYNCING") counts.syncing += 1;
      else if (status === "COMPLETED") counts.completed += 1;
      else counts.failed += 1;
    }
    return counts;
  }

  /**
   * Delete COMPLETED entries whose completion is older than `retentionMs` in one batch, then
   * fold the log with a truncate checkpoint. FAILED entries are kept: they are the only
   * record of an operation that never reached the database, for a person to resolve.
   * Corrupt entries are kept too. Returns how many entries were removed.
   */
  async compact(options: { retentionMs: number; now?: number }): Promise<number> {
    const { retentionMs } = options;
    if (!Number.isFinite(retentionMs) || retentionMs < 0)
      throw new TypeError(`retentionMs must be a finite number >= 0, got ${retentionMs}`);
    const refused = this.refusal();
    if (refused) throw refused;
    const cutoff = (options.now ?? this.now()) - retentionMs;
    const old: string[] = [];
    for (const [id, s] of this.statuses) if (s.status === "COMPLETED" && s.at < cutoff) old.push(id);
    if (old.length > 0) {
      await this.write(
        old.flatMap((id) => [
          { key: ENTRY + id, value: null },
          { key: STATUS + id, value: null },
        ]),
      );
      for (const id of old) {
        this.byKey.delete(this.entries.get(id)!.idempotencyKey);
        this.entries.delete(id);
        this.statuses.delete(id);
      }
    }
    try {
      await this.wal.checkpoint("truncate");
    } catch (error) {
      throw this.halt(error);
    }
    return old.length;
  }

  /** Wait for writes in flight, then close the WAL (no final checkpoint: `compact` is the one that folds). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.accepting.values()]);
    await this.wal.close();
  }

  private refusal(): OutboxError | undefined {
    if (this.haltedBy) return this.haltedBy;
    if (this.closed) return new OutboxError("OUTBOX_CLOSED", `the outbox in ${this.dir} is closed`);
    return undefined;
  }

  private async write(ops: BatchOp[]): Promise<void> {
    try {
      await this.wal.append(ops);
    } catch (error) {
      throw this.halt(error);
    }
  }

  // No operation without durability: the first failed write (ENOSPC, EIO, anything) stops
  // the store for good; a reopen, after a person has freed space or fixed the disk, recovers.
  private halt(error: unknown): OutboxError {
    if (!this.haltedBy) {
      const cause = error instanceof Error ? error.cause : undefined;
      const code = errnoCode(cause) ?? errorCode(error);
      this.haltedBy = new OutboxError(
        "OUTBOX_HALTED",
        `outbox halted: the WAL in ${this.dir} cannot be written (${code}: ${(error as Error).message}); no critical operation is accepted until the outbox is reopened`,
        { cause: error },
      );
      this.logger.error({ alert: "outbox.halted", err: error, code, dir: this.dir }, "outbox halted: WAL write failed");
    }
    return this.haltedBy;
  }

  private point(name: OutboxCrashPoint): void {
    this.onPoint?.(name);
    crashpoint(name);
  }
}

function parseEntry(raw: string): OutboxEntry | undefined {
  try {
    const v = JSON.parse(raw) as OutboxEntry;
    return v !== null && typeof v === "object" && typeof v.id === "string" && typeof v.n === "number" ? v : undefined;
  } catch {
    return undefined;
  }
}

const STATUSES: readonly string[] = ["PENDING", "SYNCING", "COMPLETED", "FAILED"];

function parseStatus(raw: string | undefined): StatusRecord | undefined {
  if (raw === undefined) return undefined;
  try {
    const v = JSON.parse(raw) as StatusRecord;
    return v !== null && typeof v === "object" && STATUSES.includes(v.status) && typeof v.at === "number"
      ? v
      : undefined;
  } catch {
    return undefined;
  }
}
