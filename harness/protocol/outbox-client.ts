import { ProtocolFault, WalcheckError, type ChildFault, type FaultDetails } from "./errors.js";
import { JsonLinesChild, schemaCheck, type ExitInfo, type StartOptions } from "./json-lines-child.js";
import {
  outboxAnswerSchemas,
  OutboxErrorAnswer,
  type OutboxOp,
  type OutboxRequestFields,
  type OutboxResultOf,
} from "./outbox-messages.js";

/** An answer as the caller sees it: a result, or the outbox's own `ok:false`. */
export type OutboxReply<O extends OutboxOp> =
  ({ ok: true } & OutboxResultOf<O>) | { ok: false; error: { code: string; message: string } };

/** The outbox answered `ok:false` to a request that had to succeed: code OUTBOX_REFUSED_<the outbox's code>. */
export class OutboxRefusal extends WalcheckError {
  override readonly name = "OutboxRefusal";
  constructor(
    readonly op: OutboxOp,
    /** The code the outbox answered. */
    readonly refusedWith: string,
    message: string,
  ) {
    super(`OUTBOX_REFUSED_${refusedWith}`, `the outbox refused ${op}: ${refusedWith}: ${message}`, {
      details: { op, refusedWith },
    });
  }
}

/** The program to start, its arguments, extra environment, working directory and per-request timeout. */
export type OutboxStartOptions = StartOptions;

/** A fault of an outbox process or of what it wrote: code OUTBOX_PROTOCOL, OUTBOX_TIMEOUT, OUTBOX_EXITED or OUTBOX_START. */
export class OutboxFault extends ProtocolFault {
  override readonly name = "OutboxFault";
  declare readonly code: `OUTBOX_${ChildFault}`;
  constructor(fault: ChildFault, message: string, details: FaultDetails) {
    super(`OUTBOX_${fault}`, message, details);
  }
}

/**
 * An outbox process spoken to over outbox protocol v1 (outbox-messages.ts): every answer is
 * checked with its op's zod schema; a malformed answer, a hang past the timeout, or the
 * process dying rejects with an OutboxFault (OUTBOX_PROTOCOL, OUTBOX_TIMEOUT,
 * OUTBOX_EXITED, OUTBOX_START) carrying the stderr tail.
 */
export class OutboxClient {
  private readonly child: JsonLinesChild;

  private constructor(opts: OutboxStartOptions) {
    this.child = new JsonLinesChild(opts, {
      who: "the outbox",
      check: (op, json) =>
        schemaCheck(
          (j) => (json.ok === false ? OutboxErrorAnswer : outboxAnswerSchemas[op as OutboxOp]).safeParse(j),
          json,
        ),
      fault: (kind, message, details) => new OutboxFault(kind, message, details),
    });
  }

  static start(opts: OutboxStartOptions): OutboxClient {
    return new OutboxClient(opts);
  }

  get exited(): Promise<ExitInfo> {
    return this.child.exited;
  }

  get exitInfo(): ExitInfo | undefined {
    return this.child.exitInfo;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get stderrTail(): string {
    return this.child.stderrTail;
  }

  /** One request; its answer, `ok:false` included. */
  async request<O extends OutboxOp>(
    op: O,
    fields: OutboxRequestFields<O>,
    opts: { timeoutMs?: number } = {},
  ): Promise<OutboxReply<O>> {
    return (await this.child.request(op, fields as Record<string, unknown>, opts.timeoutMs)) as OutboxReply<O>;
  }

  /** One request that must succeed: its result, or an OutboxRefusal. */
  async call<O extends OutboxOp>(
    op: O,
    fields: OutboxRequestFields<O>,
    opts: { timeoutMs?: number } = {},
  ): Promise<OutboxResultOf<O>> {
    const reply = await this.request(op, fields, opts);
    if (!reply.ok) throw new OutboxRefusal(op, reply.error.code, reply.error.message);
    const { ok: _ok, ...result } = reply;
    return result as unknown as OutboxResultOf<O>;
  }

  /** `close`, then wait for the process to exit (killed, and a timeout error, if it lingers). */
  async close(opts: { timeoutMs?: number } = {}): Promise<ExitInfo> {
    await this.call("close", {}, opts);
    this.child.endInput();
    return this.child.waitExit(opts.timeoutMs, "the end of its requests");
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): Promise<ExitInfo> {
    return this.child.kill(signal);
  }
}
