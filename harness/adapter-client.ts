import readline from "node:readline";
import { performance } from "node:perf_hooks";
import { execa, type ResultPromise } from "execa";
import { AdapterError } from "./adapter-error.js";
import { ErrorResponse, responseSchemas, type Op, type RequestFields, type ResultOf } from "./protocol.js";

const STDERR_TAIL_BYTES = 16 * 1024;

/** A response as the caller sees it: a result, or the adapter's own `ok:false` answer. */
export type Reply<O extends Op> = ({ ok: true } & ResultOf<O>) | { ok: false; error: { code: string; message: string } };

export interface ExitInfo {
  exitCode: number | undefined;
  signal: string | undefined;
}

export interface StartOptions {
  file: string;
  args?: string[];
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
}

interface Waiting {
  op: Op;
  sentAt: number;
  timer: NodeJS.Timeout;
  resolve: (reply: Reply<Op>) => void;
  reject: (error: AdapterError) => void;
}

/**
 * A running adapter process spoken to over protocol v1: requests are pipelined, responses
 * matched by id and checked with the op's zod schema, each request has a timeout, and
 * stderr is kept. Every protocol fault rejects with an AdapterError carrying the
 * offending line and the stderr tail, and stops the process.
 */
export class AdapterClient {
  readonly exited: Promise<ExitInfo>;
  private readonly child: ResultPromise;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private stderr = "";
  private fault: AdapterError | undefined;
  private exit: ExitInfo | undefined;
  private readonly timeoutMs: number;

  private constructor(opts: StartOptions) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.child = execa(opts.file, opts.args ?? [], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      buffer: false,
      reject: false,
      cleanup: true,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      env: opts.env ?? {},
    });
    this.child.stderr?.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString("utf8")).slice(-STDERR_TAIL_BYTES);
    });
    // A write to a dead adapter fails with EPIPE; the exit handler reports it.
    this.child.stdin?.on("error", () => {});
    const lines = readline.createInterface({ input: this.child.stdout!, crlfDelay: Infinity });
    lines.on("line", (line) => this.onLine(line));
    this.exited = this.child.then((result) => {
      const spawnFailed = result.failed && result.exitCode === undefined && result.signal === undefined;
      this.exit = { exitCode: result.exitCode, signal: result.signal };
      if (spawnFailed) {
        this.failAll(new AdapterError("ADAPTER_START", `cannot start the adapter: ${result.shortMessage ?? result.message}`, { stderrTail: this.stderr }));
      } else {
        const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${String(result.exitCode)}`;
        this.failAll(new AdapterError("ADAPTER_EXITED", `the adapter ${how}`, { ...this.exit, stderrTail: this.stderr }));
      }
      return this.exit;
    });
  }

  static start(opts: StartOptions): AdapterClient {
    return new AdapterClient(opts);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get stderrTail(): string {
    return this.stderr;
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.waiting.size;
  }

  /** Send one request; resolves with the reply, rejects with an AdapterError on a protocol fault. */
  request<O extends Op>(op: O, fields: RequestFields<O>, opts: { timeoutMs?: number } = {}): Promise<Reply<O>> {
    if (this.fault) return Promise.reject(this.fault);
    const id = this.nextId++;
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    return new Promise<Reply<O>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        const error = new AdapterError("ADAPTER_TIMEOUT", `no answer to ${op} (id ${id}) within ${timeoutMs} ms`, {
          op,
          id,
          timeoutMs,
          stderrTail: this.stderr,
        });
        reject(error);
        this.failAll(error);
        this.child.kill("SIGKILL");
      }, timeoutMs);
      this.waiting.set(id, { op, sentAt: performance.now(), timer, resolve: resolve as (r: Reply<Op>) => void, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, op, ...fields })}\n`);
    });
  }

  /** Wait for the adapter to exit on its own; past `timeoutMs` it is killed and that is an ADAPTER_TIMEOUT. */
  async waitExit(timeoutMs = this.timeoutMs): Promise<ExitInfo> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
    const result = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (result !== "timeout") return result;
    await this.kill("SIGKILL");
    throw new AdapterError("ADAPTER_TIMEOUT", `the adapter did not exit within ${timeoutMs} ms of answering close`, { op: "close", timeoutMs, stderrTail: this.stderr });
  }

  /** Kill the adapter (SIGKILL by default) and wait for it to be gone. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<ExitInfo> {
    if (!this.exit) this.child.kill(signal);
    return this.exited;
  }

  private onLine(line: string): void {
    if (line.trim() === "") return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      return this.protocolFault(`the adapter wrote a line that is not JSON`, line);
    }
    const id = (json as { id?: unknown } | null)?.id;
    const entry = typeof id === "number" ? this.waiting.get(id) : undefined;
    if (!entry) return this.protocolFault(`the adapter answered an id nobody is waiting for (${JSON.stringify(id)})`, line);
    const isError = (json as { ok?: unknown }).ok === false;
    const parsed = isError ? ErrorResponse.safeParse(json) : responseSchemas[entry.op].safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(message)"}: ${i.message}`).join("; ");
      return this.protocolFault(`invalid ${entry.op} response: ${issues}`, line, entry.op, id as number);
    }
    this.waiting.delete(id as number);
    clearTimeout(entry.timer);
    const { id: _id, ...reply } = parsed.data as Record<string, unknown>;
    entry.resolve(reply as Reply<Op>);
  }

  private protocolFault(message: string, line: string, op?: string, id?: number): void {
    const error = new AdapterError("ADAPTER_PROTOCOL", message, {
      line: line.slice(0, 2000),
      stderrTail: this.stderr,
      ...(op ? { op } : {}),
      ...(id !== undefined ? { id } : {}),
    });
    this.failAll(error);
    this.child.kill("SIGKILL");
  }

  private failAll(error: AdapterError): void {
    this.fault ??= error;
    for (const [id, w] of this.waiting) {
      clearTimeout(w.timer);
      this.waiting.delete(id);
      w.reject(error);
    }
  }
}
