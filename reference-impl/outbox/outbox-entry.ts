import { createHash, randomUUID } from "node:crypto";
import { crc32c } from "../crc32c.js";
import { stableStringify, type JsonValue } from "../../harness/protocol/stable-json.js";

/** The lifecycle of an entry. Each change is a new WAL record, never an edit. */
export type EntryStatus = "PENDING" | "SYNCING" | "COMPLETED" | "FAILED";

/** A critical operation as the outbox stores it. */
export interface OutboxEntry {
  /** A UUID (crypto.randomUUID). */
  id: string;
  /** Order of acceptance: 1, 2, 3 ... within one outbox directory; the sync order. */
  n: number;
  /** Operation type, e.g. "balance.update". */
  type: string;
  args: Record<string, JsonValue>;
  /** sha256 (hex) of the stable JSON of {type, args}: the same operation always has the same key. */
  idempotencyKey: string;
  /** Epoch ms when the entry was accepted. */
  createdAt: number;
  /** CRC32C (hex, 8 digits) of the stable JSON of every field above. */
  checksum: string;
}

export function idempotencyKeyOf(type: string, args: Record<string, JsonValue>): string {
  return createHash("sha256").update(stableStringify({ type, args })).digest("hex");
}

export function entryChecksum(e: Omit<OutboxEntry, "checksum">): string {
  const body = stableStringify({
    id: e.id,
    n: e.n,
    type: e.type,
    args: e.args,
    idempotencyKey: e.idempotencyKey,
    createdAt: e.createdAt,
  });
  return (crc32c(Buffer.from(body)) >>> 0).toString(16).padStart(8, "0");
}

export function makeEntry(
  n: number,
  type: string,
  args: Record<string, JsonValue>,
  createdAt: number,
  id: string = randomUUID(),
): OutboxEntry {
  const base = { id, n, type, args, idempotencyKey: idempotencyKeyOf(type, args), createdAt };
  return { ...base, checksum: entryChecksum(base) };
}

/** True when the entry's checksum matches its fields. */
export function entryIntact(e: OutboxEntry): boolean {
  return typeof e.checksum === "string" && entryChecksum(e) === e.checksum;
}
