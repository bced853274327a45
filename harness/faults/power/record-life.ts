import fs from "node:fs";
import type { AdapterClient } from "../../protocol/adapter-client.js";
import { AdapterError } from "../../protocol/adapter-error.js";
import { WalcheckError } from "../../protocol/errors.js";
import type { BatchOp } from "../../protocol/messages.js";
import { answersOf } from "./answers.js";
import { parseTrace, type InitialState, type TraceOp } from "./trace.js";

// One recorded life of a WAL for power-loss simulation: a fresh adapter process, with the
// recorder preloaded, opens an empty directory and runs a bounded workload one request at
// a time. Every request's send and every acknowledgment is pinned to the trace: the number
// of trace lines the adapter had written at that moment. One request at a time makes the
// pins exact: when walcheck sends, the adapter's I/O for that request has not started; when
// an ack arrives, every operation before it is in the trace (the recorder writes each line
// synchronously after the operation, before the adapter can answer).
//
// A pipelined life (`pipeline` > 1) sends runs of consecutive appends together, up to that
// many in flight at once, and waits for every answer before the next run or checkpoint (as
// the protocol's bursts do), so that a group commit shares one fsync among them. An ack is
// then pinned where the adapter wrote its answer line (answers.ts: the recorder records the
// adapter's writes to its stdout), not where walcheck read it; an adapter whose answers the
// recorder cannot see (stdio's stdout, raw system calls) has them pinned where they arrived,
// which is later than they were written (never earlier), so it can only miss a violation.

/** One step of a power-loss workload. */
export type PowerStep = { kind: "append"; ops: BatchOp[] } | { kind: "checkpoint"; mode: "passive" | "truncate" };

export interface Recording {
  initial: InitialState;
  trace: TraceOp[];
  /** The batches sent, in order: batch b (0-based) must get seq b + 1. */
  batches: BatchOp[][];
  /** Trace lines written when batch b was sent: its I/O is at lines > sentAt[b]. */
  sentAt: number[];
  /** Trace lines written when batch b's ack arrived (undefined: refused, never acked). */
  ackedAt: (number | undefined)[];
  /** Trace lines written when each step was sent (for a person: which step a cut fell in). */
  stepAt: number[];
  /**
   * A pipelined life: its depth, for each step the index of the first step of its run (the
   * appends sent together), and how many acks were pinned where the adapter wrote them
   * (`fromAnswers`) or, the recorder having seen no answer line for them, where they arrived.
   */
  pipelined?: { depth: number; runOf: number[]; fromAnswers: number; atArrival: number };
}

/** The recorded life's `open` of an empty directory was refused: a recovery violation, not a crash state. */
export class OpenRefused extends WalcheckError {
  override readonly name = "OpenRefused";
  declare readonly code: "POWER_OPEN_REFUSED";

  constructor(message: string) {
    super("POWER_OPEN_REFUSED", message);
  }
}

/** The trace's byte size now (0 before the recorder made it). */
function traceBytes(file: string): number {
  return fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0;
}

/** Line counts for byte sizes: how many whole lines the first `bytes` bytes of `text` hold. */
function linesAt(text: string, bytes: number[]): number[] {
  const ends: number[] = [];
  const buf = Buffer.from(text, "utf8");
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) ends.push(i + 1);
  return bytes.map((b) => {
    let lo = 0;
    let hi = ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ends[mid]! <= b) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  });
}

/**
 * Run `steps` in `client` (started with the recorder's environment, writing `traceFile`)
 * on the empty directory `dir`, then close it. A refused open throws OpenRefused. An adapter that refuses an append or a
 * checkpoint stops the workload there (fail-stop); the recording holds what happened.
 */
export async function recordLife(
  client: AdapterClient,
  o: {
    dir: string;
    traceFile: string;
    openConfig: Record<string, unknown>;
    steps: PowerStep[];
    /** Appends in flight at once (a pipelined life, started with recordEnv's `answers`); absent or 1: one request at a time. */
    pipeline?: number;
  },
): Promise<Recording> {
  if (o.pipeline !== undefined && o.pipeline > 1) return recordPipelined(client, { ...o, pipeline: o.pipeline });
  const initial = await openRecorded(client, o);
  const batches: BatchOp[][] = [];
  const sentBytes: number[] = [];
  const ackedBytes: (number | undefined)[] = [];
  const stepBytes: number[] = [];
  for (const step of o.steps) {
    stepBytes.push(traceBytes(o.traceFile));
    if (step.kind === "checkpoint") {
      const reply = await client.request("checkpoint", { mode: step.mode });
      if (!reply.ok) break;
      continue;
    }
    batches.push(step.ops);
    sentBytes.push(traceBytes(o.traceFile));
    const reply = await client.request("append", { ops: step.ops });
    if (!reply.ok) {
      ackedBytes.push(undefined);
      break;
    }
    if (reply.seq !== batches.length)
      throw new AdapterError(
        "ADAPTER_PROTOCOL",
        `append acknowledged seq ${reply.seq}, expected ${batches.length}, in the recorded life`,
        { op: "append", stderrTail: client.stderrTail },
      );
    ackedBytes.push(traceBytes(o.traceFile));
  }
  await client.request("close", {}).catch(() => undefined);
  await client.kill("SIGKILL");
  const text = fs.existsSync(o.traceFile) ? fs.readFileSync(o.traceFile, "utf8") : "";
  const trace = parseTrace(text);
  const [sentAt, stepAt, acked] = [
    linesAt(text, sentBytes),
    linesAt(text, stepBytes),
    linesAt(
      text,
      ackedBytes.map((b) => b ?? 0),
    ),
  ];
  return {
    initial,
    trace,
    batches,
    sentAt,
    stepAt,
    ackedAt: ackedBytes.map((b, i) => (b === undefined ? undefined : acked[i])),
  };
}

/** The start of a recorded life: hello, and open of the (empty) directory; its initial state. */
async function openRecorded(
  client: AdapterClient,
  o: { dir: string; openConfig: Record<string, unknown> },
): Promise<InitialState> {
  const root = fs.realpathSync(o.dir);
  await client.hello();
  const open = await client.request("open", { dir: root, config: o.openConfig });
  if (!open.ok) throw new OpenRefused(`${open.error.code}: ${open.error.message}`);
  return { root, dirs: [], files: [] };
}

/** recordLife for a pipelined life: runs of up to `pipeline` appends in flight at once. */
async function recordPipelined(
  client: AdapterClient,
  o: { dir: string; traceFile: string; openConfig: Record<string, unknown>; steps: PowerStep[]; pipeline: number },
): Promise<Recording> {
  const initial = await openRecorded(client, o);
  const batches: BatchOp[][] = [];
  const sentBytes: number[] = [];
  const arrivedBytes: (number | undefined)[] = [];
  const stepBytes: number[] = [];
  const runOf: number[] = [];
  let s = 0;
  life: while (s < o.steps.length) {
    const first = o.steps[s]!;
    const at = traceBytes(o.traceFile);
    if (first.kind === "checkpoint") {
      stepBytes.push(at);
      runOf.push(s);
      s += 1;
      const reply = await client.request("checkpoint", { mode: first.mode });
      if (!reply.ok) break;
      continue;
    }
    const run: BatchOp[][] = [];
    for (const start = s; s < o.steps.length && run.length < o.pipeline; s++) {
      const step = o.steps[s]!;
      if (step.kind !== "append") break;
      run.push(step.ops);
      stepBytes.push(at);
      runOf.push(start);
    }
    const base = batches.length;
    for (const ops of run) {
      batches.push(ops);
      sentBytes.push(at);
    }
    // Every append of the run is written to the adapter's stdin before any answer is awaited.
    const replies = await Promise.all(
      run.map((ops) => client.request("append", { ops }).then((reply) => ({ reply, at: traceBytes(o.traceFile) }))),
    );
    for (const [k, { reply, at: arrived }] of replies.entries()) {
      if (!reply.ok) {
        arrivedBytes.push(undefined);
        continue;
      }
      if (reply.seq !== base + k + 1)
        throw new AdapterError(
          "ADAPTER_PROTOCOL",
          `append acknowledged seq ${reply.seq}, expected ${base + k + 1}, in the recorded life (appends ${base + 1}-${base + run.length} pipelined)`,
          { op: "append", stderrTail: client.stderrTail },
        );
      arrivedBytes.push(arrived);
    }
    // Fail-stop, as in a sequential life: a refused append ends the workload after its run.
    if (replies.some(({ reply }) => !reply.ok)) break life;
  }
  await client.request("close", {}).catch(() => undefined);
  await client.kill("SIGKILL");
  const text = fs.existsSync(o.traceFile) ? fs.readFileSync(o.traceFile, "utf8") : "";
  const answers = answersOf(parseTrace(text));
  const fsAt = (lines: number[]) => lines.map((n) => answers.fsOpsIn[n]!);
  const [sentAt, stepAt, arrivedAt] = [
    fsAt(linesAt(text, sentBytes)),
    fsAt(linesAt(text, stepBytes)),
    fsAt(
      linesAt(
        text,
        arrivedBytes.map((b) => b ?? 0),
      ),
    ),
  ];
  let fromAnswers = 0;
  let atArrival = 0;
  const ackedAt = arrivedBytes.map((b, i): number | undefined => {
    if (b === undefined) return undefined;
    // Written before it arrived: a pin from the answers is never later than the arrival.
    const written = answers.ackedSeqAt.get(i + 1);
    if (written !== undefined && written <= arrivedAt[i]!) {
      fromAnswers += 1;
      return written;
    }
    atArrival += 1;
    return arrivedAt[i];
  });
  return {
    initial,
    trace: answers.fsOps,
    batches,
    sentAt,
    stepAt,
    ackedAt,
    pipelined: { depth: o.pipeline, runOf, fromAnswers, atArrival },
  };
}

/** A person's name for where cut `k` falls in the workload: "during step 7 (append of batch 5)". */
export function whereInWorkload(rec: Recording, steps: PowerStep[], k: number): string {
  let s = -1;
  for (let i = 0; i < rec.stepAt.length; i++) if (rec.stepAt[i]! < k) s = i;
  if (s < 0) return "during open (recovery of the empty directory)";
  const step = steps[s]!;
  let batch = 0;
  for (let i = 0; i <= s; i++) if (steps[i]!.kind === "append") batch += 1;
  const first = rec.pipelined?.runOf[s] ?? s;
  if (step.kind === "append" && first < s)
    return `during steps ${first + 1}-${s + 1} of ${steps.length} (appends of batches ${batch - (s - first)}-${batch}, pipelined)`;
  return step.kind === "append"
    ? `during step ${s + 1} of ${steps.length} (append of batch ${batch})`
    : `during step ${s + 1} of ${steps.length} (checkpoint ${step.mode})`;
}
