/** One operation of a batch: set `key` to `value`, or delete it when `value` is null. */
export interface BatchOp {
  key: string;
  value: string | null;
}

export interface DecodedBatch {
  ops: BatchOp[];
  idempotencyKey?: string;
}

// Payload of a kv.batch record, canonical JSON (keys in sorted order, no spaces):
//   {"idempotencyKey":"k1","ops":[["a","1"],["b",null]]}
export function encodeBatch(ops: readonly BatchOp[], idempotencyKey?: string): Buffer {
  const pairs = ops.map((op) => [op.key, op.value]);
  const body = idempotencyKey === undefined ? { ops: pairs } : { idempotencyKey, ops: pairs };
  return Buffer.from(JSON.stringify(body), "utf8");
}

export function decodeBatch(payload: Buffer): DecodedBatch {
  const parsed = JSON.parse(payload.toString("utf8")) as { idempotencyKey?: string; ops: [string, string | null][] };
  const ops = parsed.ops.map(([key, value]) => ({ key, value }));
  return parsed.idempotencyKey === undefined ? { ops } : { ops, idempotencyKey: parsed.idempotencyKey };
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
  if (!Array.isArray(ops) || ops.length === 0) throw new TypeError(`a batch is a non-empty array of ops, got ${JSON.stringify(ops)}`);
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
