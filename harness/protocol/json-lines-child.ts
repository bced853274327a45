import fs from "node:fs";
import { performance } from "node:perf_hooks";
import { execa, type Result, type ResultPromise } from "execa";
import type { ChildFault, FaultDetails } from "./errors.js";
import { readLines } from "./line-splitter.js";

/** A request's default timeout (walcheck run --timeout). */
export const DEFAULT_TIMEOUT_MS = 10_000;

// A child process spoken to in JSON lines, the transport of adapter protocol v1 and of the
// outbox protocol: `{id, op, ...}` out, answers matched by id (pipelined, in any order), each
// checked by the protocol's `check`, each request with a timeout, the last 16 KiB of stderr
// kept. The first fault (a line that is not JSON or fails its check, an answer to no request,
// no answer in time, the child gone, the child never started) rejects every waiting and every
// later request with the protocol's error for it, and stops the child.
//
// Every child is started in a process group of its own (detached: setsid), and every kill is
// sent to that whole group: a wrapper (`npx tsx`, `cargo run`, `uv run`, a shell script) dies
// with the process it started, which would otherwise outlive a "crash" with its files open and
// its lock held. When the child exits by itself (a crash point's SIGKILL to its own pid, a
// clean exit, a wrapper whose adapter died) the group is killed too, at once: what is left of
// it is a wrapper's other children. `exited` resolves once no process of the group lives. The
// group is killed by the id recorded at spawn (a leader that exited leaves the id in use while
// members live), and never again after the exit-time kill: the group is then empty and its id
// free for reuse. A group left when walcheck exits (normally or not) is killed on `exit`
// (execa's `cleanup` does not apply to detached children). Ctrl-C in a terminal no longer
// reaches the child (it is not in the foreground process group): the commands kill the groups
// themselves when interrupted. The children stay referenced: walcheck waits for each one it
// started, and kills every one before it ends.

const STDERR_TAIL_BYTES = 16 * 1024;

/** Process groups of children still to be killed, for the `exit` hook. */
const liveGroups = new Set<number>();
let exitHook = false;

/**
 * SIGKILL (or `signal`) to the whole process group `pgid`. A group already gone (ESRCH) is fine;
 * so is one none of whose processes walcheck may signal (EPERM: a setuid program), which no
 * retry would change.
 */
function killGroup(pgid: number, signal: NodeJS.Signals = "SIGKILL"): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ESRCH" && code !== "EPERM") throw error;
  }
}

/**
 * Whether a process of group `pgid` still lives. A zombie holds nothing (its files are closed,
 * its locks released) and is not counted on Linux, where a member orphaned by its leader may
 * stay a zombie until an init that reaps gets to it (or forever, under one that does not).
 */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return false;
  }
  if (process.platform !== "linux") return true;
  for (const pid of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      // pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(pgrp) === pgid && state !== "Z" && state !== "X") return true;
    } catch {
      // gone, or not ours to read
    }
  }
  return false;
}

/**
 * Wait until no process of the killed group `pgid` lives (SIGKILL is delivered at once, but a
 * process dies when it next runs, later if it sits in the kernel, say in fsync): the next
 * process must not meet one still holding the WAL's files and lock. Gives up after about 2 s.
 */
async function groupGone(pgid: number): Promise<void> {
  for (let i = 0; i < 400 && groupAlive(pgid); i++) await new Promise((resolve) => setTimeout(resolve, i < 10 ? 1 : 5));
}

/**
 * SIGKILL every group still live, then wait (synchronously: this runs in the `exit` hook and just
 * before a signal ends walcheck) until none of their processes lives, for at most about 2 s. A
 * killed process dies when it next runs, so without the wait walcheck could end a moment before
 * its children do, and whatever looks next (a CI step, a test) would still see them.
 */
function killAllGroups(): void {
  const groups = [...liveGroups];
  for (const group of groups) {
    try {
      process.kill(-group, "SIGKILL");
    } catch {
      // gone already
    }
  }
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 400 && groups.some((g) => groupAlive(g)); i++) Atomics.wait(nap, 0, 0, i < 10 ? 1 : 5);
}

/**
 * The hooks that kill every group left when walcheck ends: on `exit`, and on a SIGINT, SIGTERM
 * or SIGHUP that nothing else handles (a Ctrl-C while a command starts its adapter, before it
 * listens for one), which then ends walcheck as it would have (the signal raised again). A
 * command that handles the signal (onInterrupt) stops its children itself. Installed before the
 * first child is spawned: a signal that came between the spawn and the hook would take its
 * default action, ending walcheck with the new group alive. A hook runs on the event loop, so
 * never between a spawn and the `liveGroups.add` that follows it in the same tick.
 */
function installExitHooks(): void {
  if (exitHook) return;
  exitHook = true;
  process.on("exit", killAllGroups);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = () => {
      if (process.listeners(signal).length > 1) return;
      killAllGroups();
      process.off(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/** A child in a process group of its own (see the top of this file). */
export interface GroupedChild {
  readonly child: ResultPromise<{ stdin: "pipe"; stdout: "pipe"; stderr: "pipe"; buffer: false; reject: false }>;
  /** Resolves with execa's result once the child has exited and no process of its group lives. */
  readonly done: Promise<Result>;
  /** Send `signal` (SIGKILL by default) to the whole group, unless it was already killed at the child's exit. */
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Start `file` with piped stdio in a process group of its own, watched so that the group is
 * killed when walcheck ends, and killed whole at once when the child exits by itself.
 */
export function spawnGrouped(
  file: string,
  args: readonly string[],
  opts: { env: Record<string, string | undefined>; cwd?: string | undefined },
): GroupedChild {
  installExitHooks();
  const child = execa(file, args, {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    buffer: false,
    reject: false,
    // A process group of its own (setsid), killed whole; see the top of the file.
    detached: true,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    env: opts.env,
  });
  let group = child.pid;
  if (group !== undefined) liveGroups.add(group);
  const kill = (signal: NodeJS.Signals = "SIGKILL", last = false) => {
    const pgid = group;
    if (pgid === undefined) return;
    if (last) {
      group = undefined;
      liveGroups.delete(pgid);
    }
    killGroup(pgid, signal);
  };
  // The child gone (killed, or exited by itself): whatever is left of its group goes too,
  // before anything waits for its stdio (which a wrapper's orphan would hold open).
  child.once("exit", () => kill("SIGKILL", true));
  const pgid = child.pid;
  const done = child.then(async (result) => {
    // Killed at the child's exit (above): the group is gone once its last member is.
    if (pgid !== undefined) await groupGone(pgid);
    return result;
  });
  return { child, done, kill: (signal) => kill(signal) };
}

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
  private readonly child: GroupedChild["child"];
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private stderr = "";
  private failure: Error | undefined;
  private exit: ExitInfo | undefined;
  /** The child and its process group. */
  private readonly grouped: GroupedChild;
  readonly timeoutMs: number;

  constructor(
    opts: StartOptions,
    private readonly protocol: LineProtocol,
  ) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.grouped = spawnGrouped(opts.file, opts.args ?? [], { env: opts.env ?? {}, cwd: opts.cwd });
    this.child = this.grouped.child;
    this.child.stderr?.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString("utf8")).slice(-STDERR_TAIL_BYTES);
    });
    // A write to a dead child fails with EPIPE; the exit handler reports it.
    this.child.stdin?.on("error", () => {});
    // Lines straight from stdout's 'data' events (line-splitter.ts), one call per answer.
    readLines(this.child.stdout!, (line) => this.onLine(line));
    this.exited = this.grouped.done.then((result) => {
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
        this.stop("SIGKILL");
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

  /** Kill the child's whole process group (SIGKILL by default) and wait for the child to be gone. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<ExitInfo> {
    this.stop(signal);
    return this.exited;
  }

  /** Send `signal` to the child's process group. */
  private stop(signal: NodeJS.Signals): void {
    this.grouped.kill(signal);
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
    this.stop("SIGKILL");
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
