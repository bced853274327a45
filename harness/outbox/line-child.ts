import { spawn, type ChildProcess } from "node:child_process";
import readline from "node:readline";

// A child process spoken to in JSON lines: `{id, op, ...}` out, answers matched by id, each
// checked by the caller's `check`, each request with a timeout, the last 16 KiB of stderr
// kept for messages. Any fault (a line that is not JSON or fails its check, an answer to no
// request, no answer in time, the child gone, the child never started) rejects every waiting
// request with a LineChildError and stops the child. Protocol-agnostic: the outbox client
// (outbox-client.ts) gives it the outbox protocol's schemas.

const STDERR_TAIL = 16 * 1024;

export type LineChildFault = "PROTOCOL" | "TIMEOUT" | "EXITED" | "START";

export interface ChildExit {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

/** A fault of the child or of what it wrote: `code` is `<prefix>_<fault>`, e.g. OUTBOX_TIMEOUT. */
export class LineChildError extends Error {
  override readonly name = "LineChildError";
  readonly code: string;
  constructor(
    readonly fault: LineChildFault,
    prefix: string,
    message: string,
    readonly details: { op?: string; line?: string; exit?: ChildExit; stderrTail: string },
  ) {
    const tail = details.stderrTail.trim();
    super(tail ? `${message}\n--- stderr (tail) ---\n${tail}` : message);
    this.code = `${prefix}_${fault}`;
  }
}

export type LineCheck = { ok: true; value: Record<string, unknown> } | { ok: false; problem: string };

export interface LineChildOptions {
  file: string;
  args?: string[];
  /** Added to this process's environment; an undefined value removes the variable. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
  /** How messages name the child: "the outbox". */
  who: string;
  /** Prefix of the fault codes: "OUTBOX". */
  codePrefix: string;
  /** Checks an answer (`ok` true or false) to a request of `op`. */
  check: (op: string, json: Record<string, unknown>) => LineCheck;
}

interface Waiter {
  op: string;
  timer: NodeJS.Timeout;
  settle: (outcome: { value: Record<string, unknown> } | { error: LineChildError }) => void;
}

// Children still running when walcheck exits (an uncaught error, process.exit) are killed.
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  live.add(child);
  child.once("exit", () => live.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const c of live) c.kill("SIGKILL");
  });
}

export class LineChild {
  /** Resolves once the child is gone (its stdio closed), with how it ended. */
  readonly exited: Promise<ChildExit>;
  private readonly proc: ChildProcess;
  private readonly opts: LineChildOptions;
  private readonly waiters = new Map<number, Waiter>();
  private lastId = 0;
  private tail = "";
  private fault: LineChildError | undefined;
  private exit: ChildExit | undefined;

  constructor(opts: LineChildOptions) {
    this.opts = opts;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, ...opts.env })) if (v !== undefined) env[k] = v;
    this.proc = spawn(opts.file, opts.args ?? [], { stdio: ["pipe", "pipe", "pipe"], env, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    track(this.proc);
    this.proc.stderr!.on("data", (chunk: Buffer) => {
      this.tail = (this.tail + chunk.toString("utf8")).slice(-STDERR_TAIL);
    });
    // Writing to a child that died fails with EPIPE; its exit is what gets reported.
    this.proc.stdin!.on("error", () => {});
    readline.createInterface({ input: this.proc.stdout!, crlfDelay: Infinity }).on("line", (line) => this.onLine(line));
    this.exited = new Promise<ChildExit>((resolve) => {
      this.proc.once("error", (error) => {
        // Only a spawn failure leaves no pid; a later 'error' (a failed kill) changes nothing.
        if (this.proc.pid !== undefined) return;
        this.exit = { exitCode: null, signal: null };
        this.failWith(this.error("START", `cannot start ${opts.who} (${[opts.file, ...(opts.args ?? [])].join(" ")}): ${error.message}`));
        resolve(this.exit);
      });
      this.proc.once("exit", (exitCode, signal) => (this.exit = { exitCode, signal }));
      // 'close' comes after the last stdout line was read: answers written before dying count.
      this.proc.once("close", (exitCode: number | null, signal: NodeJS.Signals | null) => {
        this.exit ??= { exitCode, signal };
        const how = this.exit.signal ? `was killed by ${this.exit.signal}` : `exited with code ${String(this.exit.exitCode)}`;
        this.failWith(this.error("EXITED", `${opts.who} ${how}`));
        resolve(this.exit);
      });
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get stderrTail(): string {
    return this.tail;
  }

  /** How the child ended, once it has (undefined while it runs). */
  get exitInfo(): ChildExit | undefined {
    return this.exit;
  }

  /** Send `{id, op, ...fields}`; resolves with the checked answer (ok true or false), rejects with a LineChildError. */
  request(op: string, fields: Record<string, unknown>, timeoutMs = this.opts.timeoutMs ?? 10_000): Promise<Record<string, unknown>> {
    if (this.fault) return Promise.reject(this.fault);
    const id = ++this.lastId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.failWith(this.error("TIMEOUT", `${this.opts.who} did not answer ${op} (id ${id}) within ${timeoutMs} ms`, { op })), timeoutMs);
      this.waiters.set(id, { op, timer, settle: (o) => ("error" in o ? reject(o.error) : resolve(o.value)) });
      this.proc.stdin!.write(`${JSON.stringify({ id, op, ...fields })}\n`);
    });
  }

  /** Stop the child (SIGKILL by default) and wait until it is gone. */
  kill(signal: NodeJS.Signals = "SIGKILL"): Promise<ChildExit> {
    if (!this.exit) this.proc.kill(signal);
    return this.exited;
  }

  /** Close its stdin (the end of requests) and wait for it to exit; past `timeoutMs` it is killed and that is a TIMEOUT. */
  async endAndWait(timeoutMs = this.opts.timeoutMs ?? 10_000): Promise<ChildExit> {
    this.proc.stdin!.end();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), timeoutMs)));
    const outcome = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (outcome !== "late") return outcome;
    await this.kill();
    throw this.error("TIMEOUT", `${this.opts.who} did not exit within ${timeoutMs} ms of the end of its requests`);
  }

  private onLine(line: string): void {
    if (line.trim() === "") return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      return this.failWith(this.error("PROTOCOL", `${this.opts.who} wrote a line that is not JSON: ${line.slice(0, 300)}`, { line }));
    }
    const id = (json as { id?: unknown } | null)?.id;
    const waiter = typeof id === "number" ? this.waiters.get(id) : undefined;
    if (!waiter) return this.failWith(this.error("PROTOCOL", `${this.opts.who} answered an id nobody is waiting for (${JSON.stringify(id)}): ${line.slice(0, 300)}`, { line }));
    const checked = this.opts.check(waiter.op, json as Record<string, unknown>);
    if (!checked.ok) return this.failWith(this.error("PROTOCOL", `${this.opts.who} sent an invalid ${waiter.op} answer: ${checked.problem}: ${line.slice(0, 300)}`, { op: waiter.op, line }));
    this.waiters.delete(id as number);
    clearTimeout(waiter.timer);
    waiter.settle({ value: checked.value });
  }

  private error(fault: LineChildFault, message: string, extra: { op?: string; line?: string } = {}): LineChildError {
    return new LineChildError(fault, this.opts.codePrefix, message, { ...extra, ...(this.exit ? { exit: this.exit } : {}), stderrTail: this.tail });
  }

  /** The first fault sticks: every waiting request and every later one fails with it, and the child is stopped. */
  private failWith(error: LineChildError): void {
    this.fault ??= error;
    for (const [id, w] of this.waiters) {
      clearTimeout(w.timer);
      this.waiters.delete(id);
      w.settle({ error: this.fault });
    }
    if (!this.exit) this.proc.kill("SIGKILL");
  }
}
