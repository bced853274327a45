import { AdapterError } from "./adapter-error.js";
import { JsonLinesChild, type ExitInfo, type StartOptions } from "./json-lines-child.js";
import { SERVE_ARM_OP, type ServeArm } from "./serve-arm.js";
import type { CheckpointStatsInfo, Op, RecoveryStatsInfo, RequestFields, ResultOf } from "./messages.js";
import { addWarning, readAnswer, type ProtocolWarning } from "./tolerant-reader.js";

export type { ExitInfo, StartOptions } from "./json-lines-child.js";
export type { ProtocolWarning } from "./tolerant-reader.js";

/**
 * A result as walcheck reads it: the informational objects (checkpoint `stats`, `recovery`) may
 * lack a sub-field the adapter got wrong (tolerant-reader.ts dropped it, with a warning).
 */
export type AnswerOf<O extends Op> = O extends "checkpoint"
  ? { stats?: Partial<CheckpointStatsInfo> }
  : O extends "open" | "recover"
    ? Omit<ResultOf<O>, "recovery"> & { recovery?: Partial<RecoveryStatsInfo> }
    : ResultOf<O>;

/** A response as the caller sees it: a result, or the adapter's own `ok:false` answer. */
export type Reply<O extends Op> =
  ({ ok: true } & AnswerOf<O>) | { ok: false; error: { code: string; message: string } };

export interface ClientOptions extends StartOptions {
  /** Called with every deviation in an informational field (each occurrence; `warnings` keeps them counted). */
  onWarning?: (warning: Omit<ProtocolWarning, "count">) => void;
}

/**
 * A running adapter process spoken to over protocol v1: requests are pipelined, responses
 * matched by id and checked with the op's zod schema (tolerant-reader.ts: a deviation in an
 * informational field is a warning, not a fault), each request has a timeout, and
 * stderr is kept. Every protocol fault rejects with an AdapterError (ADAPTER_PROTOCOL,
 * ADAPTER_TIMEOUT, ADAPTER_EXITED, ADAPTER_START) carrying the offending line and the stderr
 * tail, and stops the process.
 */
export class AdapterClient {
  private readonly child: JsonLinesChild;
  /** The features this process's hello listed (some make an informational field strict). */
  private features: readonly string[] = [];
  /** The informational-field deviations this process's answers had, one entry per (op, field, kind). */
  readonly warnings: ProtocolWarning[] = [];

  private constructor(opts: ClientOptions) {
    const { onWarning, ...start } = opts;
    this.child = new JsonLinesChild(start, {
      who: "the adapter",
      check: (op, json) => {
        if (op === SERVE_ARM_OP)
          return typeof json.ok === "boolean"
            ? { ok: true, value: json }
            : { ok: false, problem: `${SERVE_ARM_OP} answer: ok must be true or false` };
        const read = readAnswer(op as Op, json, this.features);
        if (!read.ok) return read;
        if (op === "hello" && read.value.ok === true) this.features = read.value.features as string[];
        for (const w of read.warnings) {
          addWarning(this.warnings, w);
          onWarning?.(w);
        }
        return read;
      },
      fault: (kind, message, details) => new AdapterError(`ADAPTER_${kind}`, message, details),
    });
  }

  static start(opts: ClientOptions): AdapterClient {
    return new AdapterClient(opts);
  }

  /** Resolves once the process is gone, with how it ended. */
  get exited(): Promise<ExitInfo> {
    return this.child.exited;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get stderrTail(): string {
    return this.child.stderrTail;
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.child.inFlight;
  }

  /** Send one request; resolves with the reply, rejects with an AdapterError on a protocol fault. */
  async request<O extends Op>(op: O, fields: RequestFields<O>, opts: { timeoutMs?: number } = {}): Promise<Reply<O>> {
    return (await this.child.request(op, fields, opts.timeoutMs)) as Reply<O>;
  }

  /**
   * walcheck's private arm request (serve-arm.ts), for its own `walcheck serve` processes only:
   * arm this process, not yet opened, as its environment would have at start. An error answer
   * is ADAPTER_PROTOCOL.
   */
  async arm(arm: ServeArm): Promise<void> {
    const answer = await this.child.request(SERVE_ARM_OP, { ...arm });
    if (answer.ok !== true) {
      const error = answer.error as { code?: unknown; message?: unknown } | undefined;
      throw new AdapterError(
        "ADAPTER_PROTOCOL",
        `${SERVE_ARM_OP} answered ${String(error?.code)}: ${String(error?.message)}`,
        { op: SERVE_ARM_OP, stderrTail: this.stderrTail },
      );
    }
  }

  /** Send hello; an adapter that answers it with an error is ADAPTER_PROTOCOL. */
  async hello(): Promise<ResultOf<"hello">> {
    const hello = await this.request("hello", {});
    if (!hello.ok)
      throw new AdapterError("ADAPTER_PROTOCOL", `hello answered ${hello.error.code}: ${hello.error.message}`, {
        op: "hello",
        stderrTail: this.stderrTail,
      });
    const { ok: _ok, ...rest } = hello;
    return rest;
  }

  /** Wait for the adapter to exit on its own; past `timeoutMs` it is killed and that is an ADAPTER_TIMEOUT. */
  waitExit(timeoutMs?: number): Promise<ExitInfo> {
    return this.child.waitExit(timeoutMs);
  }

  /** Kill the adapter (SIGKILL by default) and wait for it to be gone. */
  kill(signal: NodeJS.Signals = "SIGKILL"): Promise<ExitInfo> {
    this.killedHere = true;
    return this.child.kill(signal);
  }

  private killedHere = false;

  /** Whether walcheck killed it (a crash, a timeout, the end of a case): a death that is not the adapter's doing. */
  get killedByWalcheck(): boolean {
    return this.killedHere;
  }
}
