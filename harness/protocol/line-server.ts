import { performance } from "node:perf_hooks";
import type { Readable } from "node:stream";
import { readLines } from "./line-splitter.js";

// The serving side of a JSON-lines protocol (adapter protocol v1, the outbox protocol): read
// request lines, check each, answer what cannot run at once (unknown op, invalid fields, a
// request the protocol refuses here), run the rest as they arrive (pipelined) and answer each
// when it finishes. Stops after `close` was answered, or when the input ends, once every
// request in flight has been answered.

/** What a protocol's request check says of one parsed line. */
export type LineRequestCheck<R> =
  | { status: "ok"; request: R }
  | { status: "unknown-op"; id: number; op: string }
  | { status: "invalid"; id: number; message: string }
  | { status: "unanswerable"; message: string };

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * What every request check starts with: an object with a non-negative integer id and a string
 * op that the protocol knows. Returns the request as an object with its id and op, or the
 * check's answer when it is none of those.
 */
export function requestHead(
  line: unknown,
  ops: ReadonlySet<string>,
):
  | { json: Record<string, unknown>; id: number; op: string }
  | Extract<LineRequestCheck<never>, { status: "unknown-op" | "unanswerable" }> {
  if (!isObject(line) || !Number.isSafeInteger(line.id) || (line.id as number) < 0 || typeof line.op !== "string") {
    return { status: "unanswerable", message: "a request needs an integer id and a string op" };
  }
  const id = line.id as number;
  if (!ops.has(line.op)) return { status: "unknown-op", id, op: line.op };
  return { json: line, id, op: line.op };
}

export interface LineServer<R extends { id: number; op: string }> {
  /** How complaints name the server: "walcheck serve". */
  name: string;
  input: Readable;
  /** Where the server's own complaints go (stderr). */
  log: (line: string) => void;
  check(json: unknown): LineRequestCheck<R>;
  /** An error to answer instead of running the request (an op before open, say). */
  refuse?(request: R): { code: string; message: string } | undefined;
  handle(request: R): Promise<Record<string, unknown>>;
  /** The error code of anything `handle` threw. */
  codeOf(error: unknown): string;
  /** Write one answer; `parsedAt` is when its request line was parsed (performance.now()). */
  answer(message: Record<string, unknown>, parsedAt: number): void;
}

/**
 * Serve until `close` was answered or the input ends; resolves once every answer is handed to
 * `answer`. Lines are taken synchronously from the input's 'data' events (line-splitter.ts), so
 * requests start in arrival order with no promise per line.
 */
export function serveLines<R extends { id: number; op: string }>(s: LineServer<R>): Promise<void> {
  return new Promise<void>((resolve) => {
    const inFlight = new Set<Promise<void>>();
    let done = false;
    /** No more lines: resolve once every request in flight has been answered. */
    const finish = () => {
      if (done) return;
      done = true;
      void Promise.all(inFlight).then(() => resolve());
    };
    const fail = (id: number, code: string, message: string, parsedAt: number) =>
      s.answer({ id, ok: false, error: { code, message } }, parsedAt);
    const onLine = (line: string): boolean => {
      if (line.trim() === "") return true;
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        s.log(`${s.name}: ignoring a line that is not JSON: ${line.slice(0, 200)}`);
        return true;
      }
      const parsedAt = performance.now();
      const checked = s.check(json);
      if (checked.status === "unanswerable") {
        s.log(`${s.name}: ignoring a line with no id to answer: ${checked.message}: ${line.slice(0, 200)}`);
        return true;
      }
      if (checked.status === "unknown-op") {
        fail(checked.id, "EUNSUPPORTED", `unknown op ${JSON.stringify(checked.op)}`, parsedAt);
        return true;
      }
      if (checked.status === "invalid") {
        fail(checked.id, "EINVAL", checked.message, parsedAt);
        return true;
      }
      const { id, op } = checked.request;
      const refused = s.refuse?.(checked.request);
      if (refused) {
        fail(id, refused.code, refused.message, parsedAt);
        return true;
      }
      const task = s.handle(checked.request).then(
        (result) => s.answer({ id, ok: true, ...result }, parsedAt),
        (error: unknown) => fail(id, s.codeOf(error), error instanceof Error ? error.message : String(error), parsedAt),
      );
      inFlight.add(task);
      void task.finally(() => inFlight.delete(task));
      if (op !== "close") return true;
      // Nothing after close is read: its answer, and every other one still due, end the serving.
      finish();
      return false;
    };
    readLines(s.input, onLine, finish);
  });
}
