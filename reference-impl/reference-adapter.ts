import type { TransactionStep } from "../harness/protocol.js";
import { netOps } from "../harness/transaction-steps.js";
import type { WalAdapter } from "../harness/wal-adapter.js";
import { CRASH_POINTS } from "./crash-points.js";
import { WalError } from "./errors.js";
import type { Savepoint } from "./transaction.js";
import { Wal } from "./wal.js";

/** The reference WAL's `open.config` (and `walcheck serve --config`). */
export interface ReferenceConfig {
  sync?: "always" | "batch" | "none";
  codec?: "binary" | "jsonl";
  maxSegmentBytes?: number;
  maxRecordBytes?: number;
  salvage?: boolean;
  /** Start the periodic passive checkpoint at open; <= 0 (the default) leaves it off. */
  checkpointIntervalMs?: number;
  slowCheckpointMs?: number;
}

type Check = (v: unknown) => string | undefined;
const oneOf = (...allowed: string[]): Check => (v) => (allowed.includes(v as string) ? undefined : `expected one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, got ${JSON.stringify(v)}`);
const positiveInt: Check = (v) => (Number.isSafeInteger(v) && (v as number) > 0 ? undefined : `expected a positive integer, got ${JSON.stringify(v)}`);
const finite: Check = (v) => (typeof v === "number" && Number.isFinite(v) ? undefined : `expected a number, got ${JSON.stringify(v)}`);
const boolean: Check = (v) => (typeof v === "boolean" ? undefined : `expected a boolean, got ${JSON.stringify(v)}`);
const FIELDS: Record<keyof ReferenceConfig, Check> = {
  sync: oneOf("always", "batch", "none"),
  codec: oneOf("binary", "jsonl"),
  maxSegmentBytes: positiveInt,
  maxRecordBytes: positiveInt,
  salvage: boolean,
  checkpointIntervalMs: finite,
  slowCheckpointMs: (v) => finite(v) ?? ((v as number) < 0 ? `expected a number >= 0, got ${v}` : undefined),
};

/**
 * Check a config, failing with WAL_CONFIG naming every bad field. (Plain checks, not zod:
 * this runs in every adapter child and zod's import costs ~100 ms of start-up.)
 */
export function parseReferenceConfig(raw: unknown): ReferenceConfig {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== "object" || Array.isArray(raw)) throw new WalError("WAL_CONFIG", `invalid reference WAL config: expected an object, got ${JSON.stringify(raw)}`);
  const problems: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    const check = FIELDS[key as keyof ReferenceConfig];
    const problem = check ? (value === undefined ? undefined : check(value)) : "unknown field";
    if (problem) problems.push(`${key}: ${problem}`);
  }
  if (problems.length > 0) throw new WalError("WAL_CONFIG", `invalid reference WAL config: ${problems.join("; ")}`);
  return raw as ReferenceConfig;
}

/** The reference WAL behind the WalAdapter interface (what `walcheck serve --adapter reference` speaks). */
export function createReferenceAdapter(defaults: ReferenceConfig = {}): WalAdapter {
  const base = parseReferenceConfig(defaults);
  let wal: Wal | undefined;
  const opened = (): Wal => {
    if (!wal) throw new WalError("WAL_CLOSED", "open must come first");
    return wal;
  };
  return {
    hello: () => ({
      name: "walcheck-reference",
      protocol: 1,
      // sync=none acks before fdatasync: it survives a process kill, not a power loss.
      durability: (base.sync ?? "batch") === "none" ? "process" : "power",
      features: ["checkpoint", "checkpoint.truncate", "check", "transaction", "checksums", "recovery-stats"],
      points: [...CRASH_POINTS],
    }),
    async open(dir, config) {
      if (wal) throw new WalError("WAL_INVALID", "the WAL is already open");
      const cfg = parseReferenceConfig({ ...defaults, ...config });
      wal = await Wal.open(dir, {
        ...(cfg.sync === undefined ? {} : { sync: cfg.sync }),
        ...(cfg.codec === undefined ? {} : { codec: cfg.codec }),
        ...(cfg.salvage === undefined ? {} : { salvage: cfg.salvage }),
        ...(cfg.maxSegmentBytes === undefined ? {} : { maxSegmentBytes: cfg.maxSegmentBytes }),
        ...(cfg.maxRecordBytes === undefined ? {} : { maxRecordBytes: cfg.maxRecordBytes }),
        ...(cfg.slowCheckpointMs === undefined ? {} : { slowCheckpointMs: cfg.slowCheckpointMs }),
      });
      wal.startCheckpointLoop(cfg.checkpointIntervalMs ?? 0);
      const r = wal.recovery;
      return {
        lastSeq: wal.lastSeq,
        recovery: {
          elapsedMs: r.elapsedMs,
          recordsReplayed: r.recordsReplayed,
          bytesDiscarded: r.bytesDiscarded,
          snapshotSeq: r.snapshotSeq,
          ...(r.tornTail ? { tornTail: r.tornTail } : {}),
          ...(r.salvage ? { salvage: r.salvage } : {}),
        },
      };
    },
    async append(ops) {
      const { seq } = await opened().append(ops);
      return { seq };
    },
    async transaction(steps) {
      return { seq: await runTransaction(opened(), steps) };
    },
    async checkpoint(mode) {
      const { logFrames, checkpointedFrames, elapsedMs, busy } = await opened().checkpoint(mode);
      return { stats: { logFrames, checkpointedFrames, elapsedMs, busy } };
    },
    read: async () => opened().read(),
    check: async () => opened().check(),
    async close() {
      await wal?.close();
      wal = undefined;
    },
  };
}

/** An error the protocol answers with code EINVAL (a request the WAL must refuse, nothing written). */
function invalidRequest(message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code: "EINVAL" });
}

/**
 * The `transaction` op on the WAL's own Transaction: each `savepoint` step opens a real
 * savepoint, `rollback` rolls back to the innermost one, `release` releases it, and the
 * commit appends what survives as one batch. The steps are checked first (netOps), so an
 * unbalanced or empty transaction is refused before anything is buffered.
 */
async function runTransaction(wal: Wal, steps: TransactionStep[]): Promise<number> {
  const net = netOps(steps);
  if (!Array.isArray(net)) throw invalidRequest(`transaction: ${net.error}`);
  if (net.length === 0) throw invalidRequest("empty transaction");
  const tx = wal.begin();
  const open: Savepoint[] = [];
  try {
    for (const step of steps) {
      if ("put" in step) {
        if (step.put.value === null) tx.delete(step.put.key);
        else tx.set(step.put.key, step.put.value);
      } else if ("savepoint" in step) {
        open.push(tx.savepoint());
      } else if ("rollback" in step) {
        tx.rollbackTo(open.pop()!);
      } else {
        tx.release(open.pop()!);
      }
    }
    // Savepoints still open at the end are released: releasing the outermost folds them all.
    if (open.length > 0) tx.release(open[0]!);
  } catch (error) {
    if (tx.isOpen) tx.rollback();
    throw error;
  }
  const { seq } = await tx.commit();
  if (seq === undefined) throw invalidRequest("empty transaction");
  return seq;
}
