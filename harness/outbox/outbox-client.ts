import { LineChild, type ChildExit, type LineCheck, type LineChildOptions } from "./line-child.js";
import { outboxAnswerSchemas, OutboxErrorAnswer, type OutboxOp, type OutboxRequestFields, type OutboxResultOf } from "./outbox-protocol.js";

/** An answer as the caller sees it: a result, or the outbox's own `ok:false`. */
export type OutboxReply<O extends OutboxOp> = ({ ok: true } & OutboxResultOf<O>) | { ok: false; error: { code: string; message: string } };

/** The outbox answered `ok:false` to a request that had to succeed. */
export class OutboxRefusal extends Error {
  override readonly name = "OutboxRefusal";
  constructor(
    readonly op: OutboxOp,
    readonly code: string,
    message: string,
  ) {
    super(`the outbox refused ${op}: ${code}: ${message}`);
  }
}

/** The program to start, its arguments, extra environment, working directory and per-request timeout. */
export type OutboxStartOptions = Pick<LineChildOptions, "file" | "args" | "env" | "cwd" | "timeoutMs">;

function checkAnswer(op: string, json: Record<string, unknown>): LineCheck {
  const schema = json.ok === false ? OutboxErrorAnswer : outboxAnswerSchemas[op as OutboxOp];
  const parsed = schema.safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data as Record<string, unknown> };
  return { ok: false, problem: parsed.error.issues.map((i) => `${i.path.join(".") || "(answer)"}: ${i.message}`).join("; ") };
}

/**
 * An outbox process spoken to over outbox protocol v1 (outbox-protocol.ts): every answer is
 * checked with its op's zod schema; a malformed answer, a hang past the timeout, or the
 * process dying rejects with a LineChildError (OUTBOX_PROTOCOL, OUTBOX_TIMEOUT,
 * OUTBOX_EXITED, OUTBOX_START) carrying the stderr tail.
 */
export class OutboxClient {
  private readonly child: LineChild;

  private constructor(opts: OutboxStartOptions) {
    this.child = new LineChild({ ...opts, who: "the outbox", codePrefix: "OUTBOX", check: checkAnswer });
  }

  static start(opts: OutboxStartOptions): OutboxClient {
    return new OutboxClient(opts);
  }

  get exited(): Promise<ChildExit> {
    return this.child.exited;
  }

  get exitInfo(): ChildExit | undefined {
    return this.child.exitInfo;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get stderrTail(): string {
    return this.child.stderrTail;
  }

  /** One request; its answer, `ok:false` included. */
  async request<O extends OutboxOp>(op: O, fields: OutboxRequestFields<O>, opts: { timeoutMs?: number } = {}): Promise<OutboxReply<O>> {
    const { id: _id, ...reply } = await this.child.request(op, fields as Record<string, unknown>, opts.timeoutMs);
    return reply as OutboxReply<O>;
  }

  /** One request that must succeed: its result, or an OutboxRefusal. */
  async call<O extends OutboxOp>(op: O, fields: OutboxRequestFields<O>, opts: { timeoutMs?: number } = {}): Promise<OutboxResultOf<O>> {
    const reply = await this.request(op, fields, opts);
    if (!reply.ok) throw new OutboxRefusal(op, reply.error.code, reply.error.message);
    const { ok: _ok, ...result } = reply;
    return result as unknown as OutboxResultOf<O>;
  }

  /** `close`, then wait for the process to exit (killed, and a timeout error, if it lingers). */
  async close(opts: { timeoutMs?: number } = {}): Promise<ChildExit> {
    await this.call("close", {}, opts);
    return this.child.endAndWait(opts.timeoutMs);
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): Promise<ChildExit> {
    return this.child.kill(signal);
  }
}
