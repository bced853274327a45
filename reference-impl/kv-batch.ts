/** One operation of a batch: set `key` to `value`, or delete it when `value` is null. */
export interface BatchOp {
  key: string;
  value: string | null;
}

export interface DecodedBatch {
  ops: BatchOp[];
  idempotencyKey?: string;
}

// JSON payload (the JSONL codec, readable): canonical, keys in sorted order, no spaces:
//   {"idempotencyKey":"k1","ops":[["a","1"],["b",null]]}
export function encodeBatchJson(ops: readonly BatchOp[], idempotencyKey?: string): Buffer {
  const pairs = ops.map((op) => [op.key, op.value]);
  const body = idempotencyKey === undefined ? { ops: pairs } : { idempotencyKey, ops: pairs };
  return Buffer.from(JSON.stringify(body), "utf8");
}

export function decodeBatchJson(buf: Buffer, start: number, end: number): DecodedBatch {
  const parsed = JSON.parse(buf.toString("utf8", start, end)) as {
    idempotencyKey?: string;
    ops: [string, string | null][];
  };
  const ops = parsed.ops.map(([key, value]) => ({ key, value }));
  return parsed.idempotencyKey === undefined ? { ops } : { ops, idempotencyKey: parsed.idempotencyKey };
}

// Binary payload (the binary codec, fast to replay), little-endian:
//   u8 flags (bit 0: has idempotency key) [u32 len, key bytes]  u32 op count
//   per op: u32 key length, key bytes, i32 value length (-1: delete), value bytes
export function encodeBatchBinary(ops: readonly BatchOp[], idempotencyKey?: string): Buffer {
  let size = 5 + (idempotencyKey === undefined ? 0 : 4 + Buffer.byteLength(idempotencyKey));
  for (const op of ops) size += 8 + Buffer.byteLength(op.key) + (op.value === null ? 0 : Buffer.byteLength(op.value));
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  buf[at++] = idempotencyKey === undefined ? 0 : 1;
  if (idempotencyKey !== undefined) at = writeString(buf, at, idempotencyKey);
  buf.writeUInt32LE(ops.length, at);
  at += 4;
  for (const op of ops) {
    at = writeString(buf, at, op.key);
    if (op.value === null) {
      buf.writeInt32LE(-1, at);
      at += 4;
    } else {
      at = writeString(buf, at, op.value);
    }
  }
  return buf;
}

function writeString(buf: Buffer, at: number, s: string): number {
  const n = buf.write(s, at + 4, "utf8");
  buf.writeUInt32LE(n, at);
  return at + 4 + n;
}

// Buffer#utf8Slice skips the argument checks and the subarray of toString("utf8", s, e):
// recovery decodes two strings per record, a million records in a row.
type FastSlice = Buffer & { utf8Slice(start: number, end: number): string };

/** Decode a binary batch from buf[start, end). Throws RangeError on a truncated or inconsistent payload. */
export function decodeBatchBinary(buf: Buffer, start: number, end: number): DecodedBatch {
  const b = buf as FastSlice;
  let at = start;
  if (at + 5 > end) throw new RangeError(`batch payload of ${end - start} bytes is too short`);
  const flags = b[at++]!;
  let idempotencyKey: string | undefined;
  if (flags & 1) {
    const n = b.readUInt32LE(at);
    if (at + 4 + n > end) throw new RangeError(`idempotency key runs past the payload (${n} bytes at ${at - start})`);
    idempotencyKey = b.utf8Slice(at + 4, at + 4 + n);
    at += 4 + n;
  }
  if (at + 4 > end) throw new RangeError("batch payload ends before its op count");
  const count = b.readUInt32LE(at);
  at += 4;
  const ops: BatchOp[] = new Array(count);
  for (let i = 0; i < count; i++) {
    if (at + 8 > end) throw new RangeError(`op ${i} runs past the payload`);
    const kn = b.readUInt32LE(at);
    const keyEnd = at + 4 + kn;
    if (keyEnd + 4 > end) throw new RangeError(`op ${i} key runs past the payload`);
    const key = b.utf8Slice(at + 4, keyEnd);
    const vn = b.readInt32LE(keyEnd);
    at = keyEnd + 4;
    if (vn === -1) {
      ops[i] = { key, value: null };
    } else {
      if (vn < 0 || at + vn > end) throw new RangeError(`op ${i} value runs past the payload`);
      ops[i] = { key, value: b.utf8Slice(at, at + vn) };
      at += vn;
    }
  }
  if (at !== end) throw new RangeError(`${end - at} bytes after the last op`);
  return idempotencyKey === undefined ? { ops } : { ops, idempotencyKey };
}

/** Apply a batch to a state map in place. */
export function applyBatch(state: Map<string, string>, ops: readonly BatchOp[]): void {
  for (const op of ops) {
    if (op.value === null) state.delete(op.key);
    else state.set(op.key, op.value);
  }
}

/** Programming mistakes in a batch are TypeErrors that say what they got. */
export function validateBatch(ops: unknown): asserts ops is BatchOp[] {
  if (!Array.isArray(ops) || ops.length === 0)
    throw new TypeError(`a batch is a non-empty array of ops, got ${JSON.stringify(ops)}`);
  for (const op of ops) {
    const ok =
      op !== null &&
      typeof op === "object" &&
      typeof op.key === "string" &&
      op.key.length > 0 &&
      (op.value === null || typeof op.value === "string");
    if (!ok) throw new TypeError(`an op is {key: non-empty string, value: string | null}, got ${JSON.stringify(op)}`);
  }
}
