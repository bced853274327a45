import type { TraceOp } from "./trace.js";

// The answers of a pipelined life. With several appends in flight, the moment walcheck reads
// an acknowledgment says little about where it falls among the adapter's fs operations (the
// other appends' I/O goes on meanwhile). The recorder therefore records the adapter's writes
// to its stdout ("stdout" ops, under the same lock as the fs operations), and an append's ack
// is pinned to the write that completed its answer line: the fs operations before that write
// are before the ack, those after it are after. Crash states are built from the fs operations
// alone, so a pin is a count of fs operations, like the pins of a sequential life.

export interface Answers {
  /** The trace without its "stdout" ops, numbered again from 1 (`i` is an op's place among the fs ops, as in a sequential life's trace). */
  fsOps: TraceOp[];
  /** fs ops among the first `n` trace lines, for n = 0..trace.length (to turn a line count into a cut). */
  fsOpsIn: number[];
  /** seq → fs ops before the stdout write that ended the line acknowledging it (`{"ok":true,"seq":n}`), the first such line. */
  ackedSeqAt: Map<number, number>;
}

/** Split a recorded trace into its fs operations and its answer lines' positions. */
export function answersOf(trace: readonly TraceOp[]): Answers {
  const fsOps: TraceOp[] = [];
  const fsOpsIn = [0];
  const ackedSeqAt = new Map<number, number>();
  let partial: Buffer[] = [];
  for (const op of trace) {
    if (op.op !== "stdout") {
      fsOps.push({ ...op, i: fsOps.length + 1 });
      fsOpsIn.push(fsOps.length);
      continue;
    }
    fsOpsIn.push(fsOps.length);
    const data = Buffer.from(op.data, "base64");
    let from = 0;
    for (let nl = data.indexOf(10); nl !== -1; nl = data.indexOf(10, from)) {
      partial.push(data.subarray(from, nl));
      const line = Buffer.concat(partial).toString("utf8");
      partial = [];
      from = nl + 1;
      const seq = ackedSeq(line);
      if (seq !== undefined && !ackedSeqAt.has(seq)) ackedSeqAt.set(seq, fsOps.length);
    }
    if (from < data.length) partial.push(data.subarray(from));
  }
  return { fsOps, fsOpsIn, ackedSeqAt };
}

/** The seq an answer line acknowledges (an append's `{"id":n,"ok":true,"seq":s}`), if it is one. */
function ackedSeq(line: string): number | undefined {
  if (line.trim() === "") return undefined;
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof json !== "object" || json === null) return undefined;
  const { ok, seq } = json as { ok?: unknown; seq?: unknown };
  return ok === true && Number.isSafeInteger(seq) && (seq as number) > 0 ? (seq as number) : undefined;
}
