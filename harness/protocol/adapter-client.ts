import { AdapterError } from "./adapter-error.js";
import { JsonLinesChild, schemaCheck, type ExitInfo, type StartOptions } from "./json-lines-child.js";
import { ErrorResponse, responseSchemas, type Op, type RequestFields, type ResultOf } from "./messages.js";

export type { ExitInfo, StartOptions } from "./json-lines-child.js";

/** A response as the caller sees it: a result, or the adapter's own `ok:false` answer. */
export type Reply<O extends Op> =
  ({ ok: true } & ResultOf<O>) | { ok: false; error: { code: string; message: string } };

/**
 * A running adapter process spoken to over protocol v1: requests are pipelined, responses
 * matched by id and checked with the op's zod schema, each request has a timeout, and
 * stderr is kept. Every protocol fault rejects with an AdapterError (ADAPTER_PROTOCOL,
 * ADAPTER_TIMEOUT, ADAPTER_EXITED, ADAPTER_START) carrying the offending line and the stderr
 * tail, and stops the process.
 */
export class AdapterClient {
  private readonly child: JsonLinesChild;

  private constructor(opts: StartOptions) {
    this.child = new JsonLinesChild(opts, {
      who: "the adapter",
      check: (op, json) =>
        schemaCheck((j) => (json.ok === false ? ErrorResponse : responseSchemas[op as Op]).safeParse(j), json),
      fault: (kind, message, details) => new AdapterError(`ADAPTER_${kind}`, message, details),
    });
  }

  static start(opts: StartOptions): AdapterClient {
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
    return this.child.kill(signal);
  }
}
