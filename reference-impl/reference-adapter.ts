import type { TransactionStep } from "../harness/protocol/messages.js";
import { netOps } from "../harness/protocol/transaction-steps.js";
import type { WalAdapter } from "../harness/protocol/wal-adapter.js";
import { CRASH_POINTS } from "./reference-crash-points.js";
import { configParser, OpenStore, type FieldCheck } from "./locked-adapter.js";
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

const oneOf =
  (...allowed: string[]): FieldCheck =>
  (v) =>
    allowed.includes(v as string)
      ? undefined
      : `expected one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, got ${JSON.stringify(v)}`;
const positiveInt: FieldCheck = (v) =>
  Number.isSafeInteger(v) && (v as number) > 0 ? undefined : `expected a positive integer, got ${JSON.stringify(v)}`;
const finite: FieldCheck = (v) =>
  typeof v === "number" && Number.isFinite(v) ? undefined : `expected a number, got ${JSON.stringify(v)}`;
const boolean: FieldCheck = (v) =>
  typeof v === "boolean" ? undefined : `expected a boolean, got ${JSON.stringify(v)}`;

/** Check a config, failing with WAL_CONFIG naming every bad field. */
export const parseReferenceConfig = configParser<ReferenceConfig>("reference WAL", {
  sync: oneOf("always", "batch", "none"),
  codec: oneOf("binary", "jsonl"),
  maxSegmentBytes: positiveInt,
  maxRecordBytes: positiveInt,
  salvage: boolean,
  checkpointIntervalMs: finite,
  slowCheckpointMs: (v) => finite(v) ?? ((v as number) < 0 ? `expected a number >= 0, got ${v}` : undefined),
});

/** The reference WAL behind the WalAdapter interface (what `walcheck serve --adapter reference` speaks). */
export function createReferenceAdapter(defaults: ReferenceConfig = {}): WalAdapter {
  const base = parseReferenceConfig(defaults);
  const wal = new OpenStore<Wal>("the WAL");
  return {
    hello: () => ({
      name: "walcheck-reference",
      protocol: 1,
      // sync=none acks before fdatasync: it survives a process kill, not a power loss.
      durability: (base.sync ?? "batch") === "none" ? "process" : "power",
      features: ["checkpoint", "checkpoint.truncate", "check", "transaction", "checksums", "recovery-stats", "recover"],
      points: [...CRASH_POINTS],
    }),
    async open(dir, config) {
      wal.assertClosed();
      const cfg = parseReferenceConfig({ ...defaults, ...config });
      const opened = (wal.current = await Wal.open(dir, {
        ...(cfg.sync === undefined ? {} : { sync: cfg.sync }),
        ...(cfg.codec === undefined ? {} : { codec: cfg.codec }),
        ...(cfg.salvage === undefined ? {} : { salvage: cfg.salvage }),
        ...(cfg.maxSegmentBytes === undefined ? {} : { maxSegmentBytes: cfg.maxSegmentBytes }),
        ...(cfg.maxRecordBytes === undefined ? {} : { maxRecordBytes: cfg.maxRecordBytes }),
        ...(cfg.slowCheckpointMs === undefined ? {} : { slowCheckpointMs: cfg.slowCheckpointMs }),
      }));
      opened.startCheckpointLoop(cfg.checkpointIntervalMs ?? 0);
      const r = opened.recovery;
      return {
        lastSeq: opened.lastSeq,
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
      const { seq } = await wal.get().append(ops);
      return { seq };
    },
    async transaction(steps) {
      return { seq: await runTransaction(wal.get(), steps) };
    },
    async checkpoint(mode) {
      const { logFrames, checkpointedFrames, elapsedMs, busy } = await wal.get().checkpoint(mode);
      return { stats: { logFrames, checkpointedFrames, elapsedMs, busy } };
    },
    read: async () => wal.get().read(),
    check: async () => wal.get().check(),
    async close() {
      await wal.current?.close();
      wal.current = undefined;
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
