import readline from "node:readline";
import { performance } from "node:perf_hooks";
import { execa, type ResultPromise } from "execa";
import type { ChildFault, FaultDetails } from "./errors.js";

// A child process spoken to in JSON lines, the transport of adapter protocol v1 and of the
// outbox protocol: `{id, op, ...}` out, answers matched by id (pipelined, in any order), each
// checked by the protocol's `check`, each request with a timeout, the last 16 KiB of stderr
// kept. The first fault (a line that is not JSON or fails its check, an answer to no request,
// no answer in time, the child gone, the child never started) rejects every waiting and every
// later request with the protocol's error for it, and stops the child. Started with execa
// (cleanup: a child still running when walcheck exits is killed).

const STDERR_TAIL_BYTES = 16 * 1024;

export type { ChildFault, FaultDetails } from "./errors.js";

export interface ExitInfo {
  exitCode: number | undefined;
  signal: string | undefined;
}

export interface StartOptions {
  file: string;
  args?: string[];
  /** Added to walcheck's environment; an undefined value removes the variable. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
}

export type AnswerCheck = { ok: true; value: Record<string, unknown> } | { ok: false; problem: string };

/** What differs between the protocols spoken over this transport. */
export interface LineProtocol {
  /** How messages name the child: "the adapter", "the outbox". */
  who: string;
  /** Check an answer (ok true or false) to a request of `op`. */
  check(op: string, json: Record<string, unknown>): AnswerCheck;
  /** The protocol's own error for a fault (AdapterError, OutboxFault). */
  fault(kind: ChildFault, message: string, details: FaultDetails): Error;
}

interface Waiting {
  op: string;
  sentAt: number;
  timer: NodeJS.Timeout;
  resolve: (answer: Record<string, unknown>) => void;
  reject: (error: Error) => void;
}

export class JsonLinesChild {
  /** Resolves once the child is gone, with how it ended. */
  readonly exited: Promise<ExitInfo>;
  private readonly child: ResultPromise;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private stderr = "";
  private failure: Error | undefined;
  private exit: ExitInfo | undefined;
  readonly timeoutMs: number;

  constructor(
    opts: StartOptions,
    private readonly protocol: LineProtocol,
  ) {
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
    // A write to a dead child fails with EPIPE; the exit handler reports it.
    this.child.stdin?.on("error", () => {});
    const lines = readline.createInterface({ input: this.child.stdout!, crlfDelay: Infinity });
    lines.on("line", (line) => this.onLine(line));
    this.exited = this.child.then((result) => {
      const spawnFailed = result.failed && result.exitCode === undefined && result.signal === undefined;
      this.exit = { exitCode: result.exitCode, signal: result.signal };
      if (spawnFailed) {
        this.failAll(this.fault("START", `cannot start ${protocol.who}: ${result.shortMessage ?? result.message}`));
      } else {
        const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${String(result.exitCode)}`;
        this.failAll(this.fault("EXITED", `${protocol.who} ${how}`, { ...this.exit }));
      }
      return this.exit;
    });
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

  /** How the child ended, once it has (undefined while it runs). */
  get exitInfo(): ExitInfo | undefined {
    return this.exit;
  }

  /** Send one request; resolves with the checked answer without its id (ok true or false), rejects with the protocol's fault. */
  request(op: string, fields: Record<string, unknown>, timeoutMs = this.timeoutMs): Promise<Record<string, unknown>> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        const error = this.fault("TIMEOUT", `no answer to ${op} (id ${id}) within ${timeoutMs} ms`, {
          op,
          id,
          timeoutMs,
        });
        reject(error);
        this.failAll(error);
        this.child.kill("SIGKILL");
      }, timeoutMs);
      this.waiting.set(id, { op, sentAt: performance.now(), timer, resolve, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, op, ...fields })}\n`);
    });
  }

  /** Close the child's stdin: no more requests. */
  endInput(): void {
    this.child.stdin?.end();
  }

  /** Wait for the child to exit on its own; past `timeoutMs` it is killed and that is a TIMEOUT fault. */
  async waitExit(timeoutMs = this.timeoutMs, after = "answering close"): Promise<ExitInfo> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
    const result = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (result !== "timeout") return result;
    await this.kill("SIGKILL");
    throw this.fault("TIMEOUT", `${this.protocol.who} did not exit within ${timeoutMs} ms of ${after}`, {
      op: "close",
      timeoutMs,
    });
  }

  /** Kill the child (SIGKILL by default) and wait for it to be gone. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<ExitInfo> {
    if (!this.exit) this.child.kill(signal);
    return this.exited;
  }

  private fault(kind: ChildFault, message: string, details: Omit<FaultDetails, "stderrTail"> = {}): Error {
    return this.protocol.fault(kind, message, { ...details, stderrTail: this.stderr });
  }

  private onLine(line: string): void {
    if (line.trim() === "") return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      return this.protocolFault(`${this.protocol.who} wrote a line that is not JSON: ${line.slice(0, 300)}`, line);
    }
    const id = (json as { id?: unknown } | null)?.id;
    const entry = typeof id === "number" ? this.waiting.get(id) : undefined;
    if (!entry)
      return this.protocolFault(
        `${this.protocol.who} answered an id nobody is waiting for (${JSON.stringify(id)}): ${line.slice(0, 300)}`,
        line,
      );
    const checked = this.protocol.check(entry.op, json as Record<string, unknown>);
    if (!checked.ok)
      return this.protocolFault(`invalid ${entry.op} response: ${checked.problem}`, line, entry.op, id as number);
    this.waiting.delete(id as number);
    clearTimeout(entry.timer);
    const { id: _id, ...answer } = checked.value;
    entry.resolve(answer);
  }

  private protocolFault(message: string, line: string, op?: string, id?: number): void {
    this.failAll(
      this.fault("PROTOCOL", message, {
        line: line.slice(0, 2000),
        ...(op ? { op } : {}),
        ...(id !== undefined ? { id } : {}),
      }),
    );
    this.child.kill("SIGKILL");
  }

  /** The first fault sticks: every waiting request and every later one fails with it. */
  private failAll(error: Error): void {
    this.failure ??= error;
    for (const [id, w] of this.waiting) {
      clearTimeout(w.timer);
      this.waiting.delete(id);
      w.reject(error);
    }
  }
}

/** A zod-style check: the schema's parse of an answer, or its issues as one line. */
export function schemaCheck(
  parse: (
    json: unknown,
  ) =>
    | { success: true; data: unknown }
    | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } },
  json: unknown,
): AnswerCheck {
  const parsed = parse(json);
  if (parsed.success) return { ok: true, value: parsed.data as Record<string, unknown> };
  return {
    ok: false,
    problem: parsed.error.issues.map((i) => `${i.path.map(String).join(".") || "(message)"}: ${i.message}`).join("; "),
  };
}
