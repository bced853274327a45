import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { dir as tmpDir } from "tmp-promise";
import {
  ErrorResponse,
  FEATURES,
  responseSchemas,
  type BatchOp,
  type Hello,
  type Op,
  type TransactionStep,
} from "../protocol/messages.js";
import { spawnGrouped, type GroupedChild } from "../protocol/json-lines-child.js";
import { netOps } from "../protocol/transaction-steps.js";
import { readAnswer } from "../protocol/tolerant-reader.js";
import { FS_PRELOAD } from "../faults/fs-preload-path.js";
import { ensureRecorder, recordEnv } from "../faults/power/recorder-build.js";
import { parseTrace } from "../faults/power/trace.js";
import { MIN_FS_CALLS, type AdapterLaunch } from "./adapter-launch.js";

// walcheck doctor: a pre-flight for any adapter. It drives the adapter through every op it
// claims (and one it cannot know) at the raw line level, so that a line that is not JSON, an
// answer with the wrong id or a mistyped field is one deviation among others instead of the
// one fatal ADAPTER_PROTOCOL error AdapterClient makes of it, and lists every deviation from
// docs/protocol.md at once, each with what was sent, what came back, what the protocol says
// and how to fix it. It also says whether fs faults and the power-loss recorder can reach the
// adapter's I/O: capabilities, not deviations. `walcheck doctor` prints the result, and
// `walcheck run` runs it before the campaign and stops on an adapter that is not usable.

const LINE_SHOWN = 300;

export type DeviationKind =
  /** The command could not be started. */
  | "start"
  /** A line on stdout that is not a JSON object. */
  | "stdout-not-json"
  /** An answer whose id no request is waiting for. */
  | "wrong-id"
  /** A field of an answer missing or mistyped (the zod schema of its op). */
  | "schema"
  /** An ok:false answer to a request a working adapter must accept. */
  | "error-answer"
  /** No answer within the timeout. */
  | "timeout"
  /** The process ended while requests waited. */
  | "exited"
  /** A name in hello.features walcheck does not know. */
  | "unknown-feature"
  /** An append or transaction acknowledged with the wrong seq. */
  | "seq"
  /** open of a fresh directory answered a lastSeq other than 0. */
  | "open-last-seq"
  /** read does not answer what was acknowledged. */
  | "read-mismatch"
  /** check did not answer exactly ["ok"] on a healthy WAL. */
  | "check-not-ok"
  /** An unknown op not answered ok:false with EUNSUPPORTED. */
  | "unknown-op"
  /** After answering close the process did not exit with code 0 within the timeout. */
  | "close-exit"
  /** A fresh process recovered something other than what was acknowledged. */
  | "reopen-mismatch"
  /** An informational field (elapsedMs, checkpoint stats, recovery, an error's message) missing or mistyped: tolerated. */
  | "informational";

/**
 * Every kind, with its severity. An `error` makes the adapter unusable: walcheck cannot drive
 * it (exit 2, and `walcheck run` stops before any case). A `violation` is wrong data (a seq,
 * a state, a check): walcheck can drive the adapter, and `walcheck run` judges the same thing
 * with its invariants (exit 1, with shrinking and a replay), so it does not stop the run. A
 * `warning` breaks a rule walcheck does not rely on.
 */
export type Severity = "error" | "violation" | "warning";
export const DEVIATION_KINDS: Record<DeviationKind, Severity> = {
  start: "error",
  "stdout-not-json": "error",
  "wrong-id": "error",
  schema: "error",
  "error-answer": "error",
  timeout: "error",
  exited: "error",
  "unknown-feature": "warning",
  seq: "violation",
  "open-last-seq": "violation",
  "read-mismatch": "violation",
  "check-not-ok": "violation",
  "unknown-op": "warning",
  "close-exit": "error",
  "reopen-mismatch": "violation",
  informational: "warning",
};

export interface Deviation {
  kind: DeviationKind;
  severity: Severity;
  /** The op of the request concerned, if any. */
  op?: string;
  /** The field path zod named (`seq`, `features.0`, `error.code`), for `schema`. */
  field?: string;
  /** What went wrong, one line. */
  message: string;
  /** The request line sent (if any). */
  sent?: string;
  /** The line that came back (if any). */
  received?: string;
  /** What the protocol says. */
  rule: string;
  /** Where it says it: docs/protocol.md#section. */
  section: string;
  /** How to fix it. */
  fix: string;
  /** How many times it was seen (the same deviation in several answers is listed once). */
  count: number;
}

export interface Capability {
  available: boolean;
  /** Whether doctor looked (false: not asked to, or it does not apply; `why` says which). */
  checked: boolean;
  /** Why (or why not), one sentence. */
  why: string;
}

export interface DoctorResult {
  adapter: string;
  /** hello.name, when hello gave one. */
  name?: string;
  usable: boolean;
  deviations: Deviation[];
  capabilities: {
    /** fs faults and fs-call crash points (the Node fs preload). */
    fsFaults: Capability & { fsCalls?: number };
    /** The power-loss recorder (LD_PRELOAD) seeing the adapter's writes. */
    powerRecorder: Capability;
    /**
     * How injected fs faults (disk-full, read-only, fsync-error, slow-storage) reach the adapter:
     * the Node fs preload, or the C preload (the recorder's library, LD_PRELOAD), judged from the
     * power-loss recorder's life.
     */
    faultPath: Capability & { via?: "node" | "native" };
  };
  elapsedMs: number;
  /** Stopped by `signal` before the checks were done: the findings are partial. */
  interrupted?: boolean;
}

export interface DoctorOptions {
  timeoutMs?: number;
  openConfig?: Record<string, unknown>;
  /** Check whether the fs preload reaches the adapter (default true). */
  fsFaults?: boolean;
  /** Check whether the power-loss recorder sees its writes (default true). */
  power?: boolean;
  /** Aborted (Ctrl-C): every adapter process is killed, the temp directory removed, and the result says `interrupted`. */
  signal?: AbortSignal;
}

const DOC = "docs/protocol.md";
const SECTION = {
  transport: `${DOC}#transport`,
  data: `${DOC}#the-data-model`,
  requests: `${DOC}#requests`,
  features: `${DOC}#features`,
  errors: `${DOC}#errors`,
  acked: `${DOC}#what-acknowledged-means-and-what-walcheck-checks`,
} as const;

/** What each answer field must be, for the fix of a schema deviation. */
const FIELD_RULES: Record<string, string> = {
  id: "id: the request's id, a JSON number",
  ok: "ok: true, or false with an error",
  elapsedMs: "elapsedMs: a number >= 0, or leave it out",
  "error.code": "error.code: a short non-empty string (EUNSUPPORTED, ENOSPC, ...)",
  "error.message": "error.message: a string for people",
  error: 'error: {"code": "...", "message": "..."}',
  "hello.name": "name: a non-empty string",
  "hello.protocol": "protocol: the number 1",
  "hello.durability": 'durability: "process" or "power"',
  "hello.features": "features: an array of strings ([] is fine)",
  "hello.points": "points: an array of strings, or leave it out",
  "open.lastSeq": "lastSeq: an integer >= 0 (a JSON number)",
  "open.recovery": "recovery: {elapsedMs, recordsReplayed, bytesDiscarded}, or leave it out",
  "append.seq": "seq: the batch's seq, an integer >= 1 (a JSON number, not a string)",
  "transaction.seq": "seq: the transaction's seq, an integer >= 1 (a JSON number, not a string)",
  "checkpoint.stats": "stats: {logFrames, checkpointedFrames, elapsedMs}, or leave it out",
  "read.lastSeq": "lastSeq: an integer >= 0 (a JSON number)",
  "read.state": "state: an object of string keys to string values",
  "check.result": 'result: a non-empty array of strings, ["ok"] when healthy',
};

function fieldRule(op: string, field: string): string | undefined {
  const top = field.split(".")[0] ?? field;
  return FIELD_RULES[`${op}.${field}`] ?? FIELD_RULES[`${op}.${top}`] ?? FIELD_RULES[field] ?? FIELD_RULES[top];
}

const shown = (line: string | undefined) =>
  line === undefined ? undefined : line.length > LINE_SHOWN ? `${line.slice(0, LINE_SHOWN)}...` : line;

interface ExitInfo {
  exitCode: number | undefined;
  signal: string | undefined;
  startError?: string;
}

type Answer =
  | { kind: "answer"; line: string; json: Record<string, unknown>; wrongId: boolean }
  | { kind: "timeout" }
  | { kind: "exited"; exit: ExitInfo };

interface Pending {
  op: string;
  sent: string;
  timer: NodeJS.Timeout;
  resolve: (a: Answer) => void;
}

/**
 * The adapter at the raw line level: requests out, every stdout line seen. Lines that are
 * not JSON objects and answers to ids nobody waits for go to `onStray` (an answer with the
 * wrong id is handed to the one request waiting, when exactly one is, so the checks go on).
 */
class RawAdapter {
  readonly exited: Promise<ExitInfo>;
  private readonly grouped: GroupedChild;
  private readonly child: GroupedChild["child"];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  exit: ExitInfo | undefined;
  stderr = "";

  constructor(
    launch: AdapterLaunch,
    env: Record<string, string>,
    private readonly timeoutMs: number,
    private readonly onStray: (kind: "stdout-not-json" | "wrong-id", line: string, waiting?: Pending) => void,
  ) {
    // In a process group of its own, killed whole, as every adapter walcheck starts.
    this.grouped = spawnGrouped(launch.file, launch.args, { env: { ...launch.env, ...env } });
    this.child = this.grouped.child;
    this.child.stderr?.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString("utf8")).slice(-4096);
    });
    this.child.stdin?.on("error", () => {});
    readline.createInterface({ input: this.child.stdout!, crlfDelay: Infinity }).on("line", (l) => this.onLine(l));
    this.exited = this.grouped.done.then((r) => {
      const spawnFailed = r.failed && r.exitCode === undefined && r.signal === undefined;
      this.exit = {
        exitCode: r.exitCode,
        signal: r.signal,
        ...(spawnFailed ? { startError: r.shortMessage ?? r.message } : {}),
      };
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        this.pending.delete(id);
        p.resolve({ kind: "exited", exit: this.exit });
      }
      return this.exit;
    });
  }

  /** Send one request (its line is returned at once); the answer resolves, never rejects. */
  send(op: string, fields: Record<string, unknown> = {}): { sent: string; answer: Promise<Answer> } {
    const id = this.nextId++;
    const sent = JSON.stringify({ id, op, ...fields });
    if (this.exit) return { sent, answer: Promise.resolve({ kind: "exited", exit: this.exit }) };
    const answer = new Promise<Answer>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ kind: "timeout" });
      }, this.timeoutMs);
      this.pending.set(id, { op, sent, timer, resolve });
    });
    this.child.stdin!.write(`${sent}\n`);
    return { sent, answer };
  }

  /** Wait for the process to exit on its own within the timeout (undefined: it did not). */
  async waitExit(): Promise<ExitInfo | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), this.timeoutMs)));
    const result = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    return result;
  }

  async kill(): Promise<void> {
    if (!this.exit) this.grouped.kill("SIGKILL");
    await this.exited;
  }

  private onLine(line: string): void {
    if (line.trim() === "") return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      json = undefined;
    }
    if (json === null || typeof json !== "object" || Array.isArray(json)) return this.onStray("stdout-not-json", line);
    const id = (json as { id?: unknown }).id;
    const entry = typeof id === "number" ? this.pending.get(id) : undefined;
    if (entry) return this.deliver(id as number, entry, line, json as Record<string, unknown>, false);
    const only = this.pending.size === 1 ? [...this.pending][0] : undefined;
    this.onStray("wrong-id", line, only?.[1]);
    if (only) this.deliver(only[0], only[1], line, json as Record<string, unknown>, true);
  }

  private deliver(id: number, entry: Pending, line: string, json: Record<string, unknown>, wrongId: boolean): void {
    this.pending.delete(id);
    clearTimeout(entry.timer);
    entry.resolve({ kind: "answer", line, json, wrongId });
  }
}

/** The batches the life appends (pipelined): non-ASCII, quotes, backslashes, a newline, a delete. */
const BATCHES: BatchOp[][] = [
  [
    { key: "a", value: "1" },
    { key: 'k\u00e9y "q" \\', value: "line\nbreak \u2713" },
  ],
  [
    { key: "a", value: null },
    { key: "b", value: "2" },
  ],
  [{ key: "b", value: "3" }],
];
const TRANSACTION: TransactionStep[] = [
  { put: { key: "t", value: "kept" } },
  { savepoint: true },
  { put: { key: "u", value: "rolled back" } },
  { rollback: true },
];

function applyOps(state: Record<string, string>, ops: BatchOp[]): void {
  for (const op of ops) {
    if (op.value === null) delete state[op.key];
    else state[op.key] = op.value;
  }
}

function sameState(a: unknown, b: Record<string, string>): boolean {
  if (a === null || typeof a !== "object" || Array.isArray(a)) return false;
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && (a as Record<string, unknown>)[k] === b[k]);
}

/**
 * An answer without its informational fields (see tolerant-reader.ts), for naming what is wrong
 * with the strict rest: a bad elapsedMs beside a bad seq is a warning, not a second error.
 */
function strictPart(op: Op, json: Record<string, unknown>, claims: readonly string[]): Record<string, unknown> {
  const { elapsedMs: _elapsed, ...rest } = json;
  if (op === "checkpoint") delete rest.stats;
  if ((op === "open" || op === "recover") && !claims.includes("recovery-stats")) delete rest.recovery;
  if (rest.ok === false && rest.error && typeof rest.error === "object")
    rest.error = { message: "(no message)", ...(rest.error as Record<string, unknown>) };
  return rest;
}

/** The deviations found so far, the same one seen twice counted once. */
class Findings {
  readonly list: Deviation[] = [];

  add(d: Omit<Deviation, "severity" | "count"> & { severity?: Severity }): void {
    const same = this.list.find(
      (x) => x.kind === d.kind && x.op === d.op && x.field === d.field && x.message === d.message,
    );
    if (same) {
      same.count += 1;
      return;
    }
    const clean = Object.fromEntries(Object.entries(d).filter(([, v]) => v !== undefined)) as typeof d;
    this.list.push({ ...clean, severity: d.severity ?? DEVIATION_KINDS[d.kind], count: 1 });
  }
}

/** One process's life as doctor drives it: answers checked against their op's schema. */
class Life {
  readonly adapter: RawAdapter;
  /** hello.features of this adapter, once known: `recovery-stats` makes recovery.bytesDiscarded strict. */
  claims: readonly string[] = [];
  /** The process hung (killed after a timeout) or ended: later requests are not sent, and not reported again. */
  dead = false;

  constructor(
    launch: AdapterLaunch,
    env: Record<string, string>,
    timeoutMs: number,
    private readonly found: Findings,
    readonly what: string,
  ) {
    this.adapter = new RawAdapter(launch, env, timeoutMs, (kind, line, waiting) => {
      if (kind === "stdout-not-json")
        found.add({
          kind,
          message: "a line on stdout that is not a JSON object",
          received: shown(line),
          rule: "stdout carries only protocol lines: one JSON object per line; anything else is a protocol error",
          section: SECTION.transport,
          fix: "write logs and debug output to stderr, never stdout (print(..., file=sys.stderr), console.error)",
        });
      else
        found.add({
          kind,
          ...(waiting ? { op: waiting.op, sent: waiting.sent } : {}),
          message: `an answer whose id no request is waiting for${waiting ? ` (the one request waiting was ${waiting.op}, taken as its answer)` : ""}`,
          received: shown(line),
          rule: "every answer carries the id of the request it answers",
          section: SECTION.transport,
          fix: 'copy the request\'s "id" into its answer unchanged (a JSON number)',
        });
    });
  }

  /**
   * Send `op` and check its answer: the zod schema of the op (or of an error answer), a
   * timeout, an exit. `mustSucceed`: an ok:false answer is a deviation too. Returns the
   * answer's JSON when there was one.
   */
  async call(
    op: Op,
    fields: Record<string, unknown> = {},
    mustSucceed = true,
  ): Promise<{ json: Record<string, unknown>; line: string } | undefined> {
    if (this.dead) return undefined;
    const { sent, answer } = this.adapter.send(op, fields);
    return this.judge(op, sent, await answer, mustSucceed);
  }

  judge(
    op: Op,
    sent: string,
    a: Answer,
    mustSucceed = true,
  ): { json: Record<string, unknown>; line: string } | undefined {
    if (a.kind === "timeout") {
      // A hung adapter would make every later request wait out the timeout too: stop this life.
      this.dead = true;
      void this.adapter.kill();
      this.found.add({
        kind: "timeout",
        op,
        message: `no answer to ${op} within the timeout`,
        sent: shown(sent),
        rule: "each request is answered within the timeout (10 s; --timeout ms)",
        section: SECTION.transport,
        fix: `answer every ${op} request with a line carrying its id (check that the adapter flushes stdout after each answer)`,
      });
      return undefined;
    }
    if (a.kind === "exited") {
      if (!this.dead) this.exitedDeviation(op, sent, a.exit);
      this.dead = true;
      return undefined;
    }
    const isError = a.json.ok === false;
    // As walcheck run reads it: informational fields tolerated (a warning each), the rest strict.
    const tolerated = readAnswer(op, a.json, this.claims);
    for (const w of tolerated.ok ? tolerated.warnings : [])
      this.found.add({
        kind: "informational",
        op,
        field: w.field,
        message: w.message,
        sent: shown(sent),
        received: shown(a.line),
        rule: "informational fields may be left out; walcheck drops a bad one and warns (docs/protocol.md, strict and informational fields)",
        section: SECTION.requests,
        fix: `send ${w.field} as the table lists it, or leave it out`,
      });
    const schema = isError ? ErrorResponse : responseSchemas[op];
    const parsed = tolerated.ok ? { success: true as const } : schema.safeParse(strictPart(op, a.json, this.claims));
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const field = issue.path.map(String).join(".") || "(message)";
        const rule = fieldRule(isError ? "error" : op, field);
        this.found.add({
          kind: "schema",
          op,
          field,
          message: `${op} ${isError ? "error answer" : "answer"}: ${field}: ${issue.message}`,
          sent: shown(sent),
          received: shown(a.line),
          rule: `every answer matches the schema of its op (docs/schema/); ${isError ? "an error answer is {id, ok:false, error:{code, message}}" : `the ${op} answer carries ${rule ?? "the fields the table lists"}`}`,
          section: isError ? SECTION.errors : SECTION.requests,
          fix: rule ? `send ${rule}` : `send the ${op} answer's fields as the table in ${SECTION.requests} lists them`,
        });
      }
    }
    if (isError && mustSucceed) {
      const error = (a.json.error ?? {}) as { code?: unknown; message?: unknown };
      this.found.add({
        kind: "error-answer",
        op,
        message: `${this.what}: ${op} was refused: ${String(error.code)}: ${String(error.message)}`,
        sent: shown(sent),
        received: shown(a.line),
        rule: `a working adapter answers ${op} with success on a fresh directory (doctor sends only ops hello.features claims)`,
        section: SECTION.requests,
        fix: `make ${op} succeed, or take its feature out of hello.features; the adapter's stderr may say why${this.adapter.stderr.trim() ? `:\n${this.adapter.stderr.trim().split("\n").slice(-5).join("\n")}` : ""}`,
      });
    }
    return { json: a.json, line: a.line };
  }

  exitedDeviation(op: string, sent: string | undefined, exit: ExitInfo): void {
    if (exit.startError) {
      this.found.add({
        kind: "start",
        message: `the adapter cannot be started (ADAPTER_START): ${exit.startError}`,
        rule: "walcheck starts the adapter command directly (split like a shell would, no shell)",
        section: SECTION.transport,
        fix: "check the command: the program must exist and be executable (a wrapper script should end with exec)",
      });
      return;
    }
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${String(exit.exitCode)}`;
    const tail = this.adapter.stderr.trim().split("\n").slice(-5).join("\n");
    this.found.add({
      kind: "exited",
      op,
      message: `${this.what}: the adapter ${how} while ${op} waited for its answer`,
      ...(sent ? { sent: shown(sent) } : {}),
      ...(tail ? { received: `(stderr) ${tail}` } : {}),
      rule: "the adapter runs until it has answered close (or its stdin ends)",
      section: SECTION.transport,
      fix: "answer the request instead of exiting; its stderr tail may say why it died",
    });
  }

  /** close, then the process must exit 0 within the timeout (else it is killed); false when close was not answered. */
  async close(): Promise<boolean> {
    if (this.dead) return false;
    const { sent, answer } = this.adapter.send("close");
    const closed = this.judge("close", sent, await answer);
    if (!closed) {
      await this.adapter.kill();
      return false;
    }
    const exit = await this.adapter.waitExit();
    if (!exit) {
      await this.adapter.kill();
      this.found.add({
        kind: "close-exit",
        op: "close",
        message: "the adapter did not exit within the timeout after answering close",
        sent: shown(sent),
        received: shown(closed.line),
        rule: "after answering close the process exits, with code 0, within the timeout",
        section: SECTION.transport,
        fix: "exit after writing the close answer (break out of the read loop; stop timers and threads that keep it alive)",
      });
    } else if (exit.exitCode !== 0) {
      this.found.add({
        kind: "close-exit",
        op: "close",
        message: `after answering close the adapter ${exit.signal ? `was killed by ${exit.signal}` : `exited with code ${String(exit.exitCode)}`}`,
        sent: shown(sent),
        received: shown(closed.line),
        rule: "after answering close the process exits with code 0",
        section: SECTION.transport,
        fix: "exit with code 0 after a clean close",
      });
    }
    return closed.json.ok !== false;
  }
}

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/** Drive the adapter through every op it claims and report every deviation from the protocol. */
export async function runDoctor(launch: AdapterLaunch, opts: DoctorOptions = {}): Promise<DoctorResult> {
  const started = performance.now();
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const config = opts.openConfig ?? {};
  const found = new Findings();
  const work = await tmpDir({ prefix: "walcheck-doctor-", unsafeCleanup: true });
  const fsTrace = path.join(work.path, "fs-trace.jsonl");
  const checkFs = (opts.fsFaults ?? true) && launch.node;
  const preloadEnv: Record<string, string> = checkFs
    ? {
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${FS_PRELOAD}`.trim(),
        WALCHECK_FS_TRACE: fsTrace,
      }
    : {};
  let hello: Partial<Hello> | undefined;
  const lives: Life[] = [];
  /** hello.features, shared by every life (filled in once hello has answered). */
  const claims: string[] = [];
  const extra: RawAdapter[] = [];
  const stop = () => {
    for (const l of lives) l.dead = true;
    for (const a of [...lives.map((l) => l.adapter), ...extra]) void a.kill();
  };
  opts.signal?.addEventListener("abort", stop, { once: true });
  const life = (env: Record<string, string>, what: string) => {
    const l = new Life(launch, env, timeoutMs, found, what);
    l.claims = claims;
    lives.push(l);
    if (opts.signal?.aborted) stop();
    return l;
  };
  let power: Capability & { writes?: number } = { available: false, checked: false, why: "not checked" };
  let fsCalls = 0;
  /** Whether the first life got through to an answered close (else the fs count says nothing). */
  let completed = false;
  try {
    const dir = path.join(work.path, "wal");
    const main = life(preloadEnv, "first process");
    const h = await main.call("hello");
    if (!h || h.json.ok === false) {
      await main.adapter.kill();
    } else {
      hello = h.json as Partial<Hello>;
      const features = Array.isArray(hello.features)
        ? hello.features.filter((f): f is string => typeof f === "string")
        : [];
      claims.push(...features);
      for (const f of features)
        if (!(FEATURES as readonly string[]).includes(f))
          found.add({
            kind: "unknown-feature",
            op: "hello",
            field: "features",
            message: `hello.features lists "${f}", a feature walcheck does not know`,
            received: shown(h.line),
            rule: `features are names from the list in ${SECTION.features}: ${FEATURES.join(", ")}`,
            section: SECTION.features,
            fix: `remove "${f}" (walcheck ignores it), or check its spelling`,
          });
      // The power-loss recorder's life runs beside this one: they share nothing.
      const powerCheck =
        // Power loss applies to both promises: a "process" adapter's lost acknowledged batches are counted, not failed.
        (opts.power ?? true) && (hello.durability === "power" || hello.durability === "process")
          ? checkPower(launch, timeoutMs, config, work.path, (a) => {
              extra.push(a);
              if (opts.signal?.aborted) void a.kill();
            }).catch((error: unknown): Capability => ({
              available: false,
              checked: true,
              why: `the recorded life failed: ${(error as Error).message}`,
            }))
          : Promise.resolve<Capability>({
              available: false,
              checked: false,
              why:
                hello.durability === "power" || hello.durability === "process"
                  ? "not checked"
                  : "not applicable: hello gives no valid durability",
            });
      const acked = await firstLife(main, dir, config, features, found);
      completed = acked !== undefined;
      if (acked) await reopenLife(life({}, "fresh process"), dir, config, features, acked, found);
      power = await powerCheck;
    }
    fsCalls =
      checkFs && fs.existsSync(fsTrace) ? fs.readFileSync(fsTrace, "utf8").split("\n").filter(Boolean).length : 0;
  } finally {
    opts.signal?.removeEventListener("abort", stop);
    await Promise.all([...lives.map((l) => l.adapter.kill()), ...extra.map((a) => a.kill())]);
    await work.cleanup();
  }
  const fsFaults: DoctorResult["capabilities"]["fsFaults"] = !launch.node
    ? {
        available: false,
        checked: true,
        why: `the adapter is not a Node.js process (started as ${path.basename(launch.file)}): the Node fs preload cannot reach it; walcheck run takes fs-call crash points and faults through the C preload (LD_PRELOAD) instead when that sees its calls (see the fault path); named crash points and SIGKILL apply in any case`,
      }
    : !(opts.fsFaults ?? true)
      ? { available: false, checked: false, why: "not checked" }
      : !completed
        ? { available: false, checked: false, why: "not checked: the first life did not get through to close" }
        : fsCalls >= MIN_FS_CALLS
          ? {
              available: true,
              checked: true,
              why: `the fs preload saw ${fsCalls} mutating fs calls in one life`,
              fsCalls,
            }
          : {
              available: false,
              checked: true,
              why: `the fs preload saw ${fsCalls} fs calls in one life (its I/O is not Node's fs, as for SQLite's own VFS, or it is not started directly by node)`,
              fsCalls,
            };
  const faultPath: DoctorResult["capabilities"]["faultPath"] = fsFaults.available
    ? { available: true, checked: true, via: "node", why: "injected through the Node fs preload" }
    : power.writes === undefined
      ? {
          available: false,
          checked: false,
          why: `not checked (the C preload's reach is judged from the power-loss recorder's life${power.checked ? `, which failed: ${power.why}` : ""}); walcheck run probes it itself`,
        }
      : power.writes > 0
        ? {
            available: true,
            checked: true,
            via: "native",
            why: `injected through the C preload (LD_PRELOAD), which saw ${power.writes} writes in one life`,
          }
        : { available: false, checked: true, why: power.why };
  const { writes: _writes, ...powerRecorder } = power;
  const deviations = found.list;
  return {
    adapter: launch.label,
    ...(typeof hello?.name === "string" ? { name: hello.name } : {}),
    usable: !deviations.some((d) => d.severity === "error"),
    deviations,
    capabilities: { fsFaults, powerRecorder, faultPath },
    elapsedMs: performance.now() - started,
    ...(opts.signal?.aborted ? { interrupted: true } : {}),
  };
}

/** Expected state and seq after the first life: what was acknowledged. */
interface Acked {
  seq: number;
  state: Record<string, string>;
}

async function firstLife(
  main: Life,
  dir: string,
  config: Record<string, unknown>,
  features: string[],
  found: Findings,
): Promise<Acked | undefined> {
  const open = await main.call("open", { dir, config });
  if (!open || open.json.ok === false) return undefined;
  const openSeq = num(open.json.lastSeq);
  if (openSeq !== undefined && openSeq !== 0)
    found.add({
      kind: "open-last-seq",
      op: "open",
      message: `open of a new, empty directory answered lastSeq ${openSeq}`,
      received: shown(open.line),
      rule: "open answers lastSeq 0 for a new WAL; seqs start at 1",
      section: SECTION.data,
      fix: "count lastSeq from the batches recovered from the directory (none in a new one)",
    });
  const acked: Acked = { seq: 0, state: {} };
  // Pipelined, as walcheck sends bursts of appends: all three before any answer.
  const sends = BATCHES.map((ops) => ({ ops, ...main.adapter.send("append", { ops }) }));
  for (const [i, s] of sends.entries()) {
    const a = main.judge("append", s.sent, await s.answer);
    if (!a || a.json.ok === false) continue;
    const seq = a.json.seq;
    if (typeof seq === "number" && seq !== i + 1)
      found.add({
        kind: "seq",
        op: "append",
        message: `append number ${i + 1} of a new WAL (pipelined) was acknowledged with seq ${seq}, expected ${i + 1}`,
        sent: shown(s.sent),
        received: shown(a.line),
        rule: "every acknowledged batch gets seq = lastSeq + 1; pipelined appends take their seqs in the order the requests arrived",
        section: SECTION.data,
        fix: "answer each append with the seq the batch got, assigned in the order the requests were read",
      });
    if (acked.seq === i) {
      acked.seq = i + 1;
      applyOps(acked.state, s.ops);
    }
  }
  await readBack(main, acked, found, "after the appends");
  if (features.includes("transaction")) {
    const t = await main.call("transaction", { steps: TRANSACTION });
    if (t && t.json.ok !== false) {
      if (typeof t.json.seq === "number" && t.json.seq !== acked.seq + 1)
        found.add({
          kind: "seq",
          op: "transaction",
          message: `a transaction after ${acked.seq} acknowledged batches was acknowledged with seq ${t.json.seq}, expected ${acked.seq + 1}`,
          received: shown(t.line),
          rule: "a committed transaction takes the next seq, like an append",
          section: SECTION.requests,
          fix: "answer transaction with the seq of the one batch it committed",
        });
      acked.seq += 1;
      const net = netOps(TRANSACTION);
      if (Array.isArray(net)) applyOps(acked.state, net);
    }
  }
  if (features.includes("checkpoint")) {
    await main.call("checkpoint", { mode: "passive" });
    if (features.includes("checkpoint.truncate")) await main.call("checkpoint", { mode: "truncate" });
  }
  if (features.includes("transaction") || features.includes("checkpoint"))
    await readBack(main, acked, found, "after the transaction and checkpoints");
  if (features.includes("check")) await checkOk(main, found);
  if (main.dead) return undefined;
  // An op nobody knows: ok:false with EUNSUPPORTED, and the process lives on.
  const { sent, answer } = main.adapter.send("walcheck-doctor-probe");
  const probe = await answer;
  const unknown = (message: string, received?: string) =>
    found.add({
      kind: "unknown-op",
      op: "walcheck-doctor-probe",
      message,
      sent,
      ...(received ? { received: shown(received) } : {}),
      rule: 'an op the adapter does not know is answered {"id":N,"ok":false,"error":{"code":"EUNSUPPORTED",...}}, and the process goes on',
      section: SECTION.errors,
      fix: 'answer an unknown op with ok:false and error.code "EUNSUPPORTED" (walcheck sends only the optional ops hello.features lists, so this matters to people driving the adapter by hand and to later protocol versions)',
    });
  if (probe.kind === "timeout") {
    unknown("an unknown op was never answered");
    await main.adapter.kill();
  } else if (probe.kind === "exited")
    unknown(`the adapter died on an unknown op (${probe.exit.signal ?? `exit code ${String(probe.exit.exitCode)}`})`);
  else if (probe.json.ok !== false) unknown("an unknown op was answered ok:true", probe.line);
  else if ((probe.json.error as { code?: unknown } | undefined)?.code !== "EUNSUPPORTED")
    unknown(
      `an unknown op was answered with error code ${JSON.stringify((probe.json.error as { code?: unknown } | undefined)?.code)}, not EUNSUPPORTED`,
      probe.line,
    );
  if (probe.kind !== "answer") return undefined;
  // A fresh process must recover exactly what was acknowledged, after a clean close only.
  return (await main.close()) ? acked : undefined;
}

async function readBack(l: Life, acked: Acked, found: Findings, when: string): Promise<void> {
  const r = await l.call("read");
  if (!r || r.json.ok === false) return;
  const lastSeq = num(r.json.lastSeq);
  if (lastSeq !== undefined && lastSeq !== acked.seq)
    found.add({
      kind: l.what === "fresh process" ? "reopen-mismatch" : "read-mismatch",
      op: "read",
      field: "lastSeq",
      message: `${l.what}: read ${when} answered lastSeq ${lastSeq}, but ${acked.seq} batches were acknowledged`,
      received: shown(r.line),
      rule: "a read sent when every request has been answered holds exactly the acknowledged batches, and its lastSeq is the last one's seq",
      section: SECTION.acked,
      fix: "answer read with the seq of the last acknowledged batch",
    });
  if (r.json.state !== undefined && !sameState(r.json.state, acked.state))
    found.add({
      kind: l.what === "fresh process" ? "reopen-mismatch" : "read-mismatch",
      op: "read",
      field: "state",
      message: `${l.what}: read ${when} answered a state other than the acknowledged batches make: expected ${JSON.stringify(acked.state)}`,
      received: shown(r.line),
      rule: "read returns the whole logical state: every acknowledged batch applied in order (a null value deletes the key; later ops on a key win; keys and values are any UTF-8, not just ASCII)",
      section: SECTION.acked,
      fix: "apply each batch's ops in order, deleting keys whose value is null, and keep keys and values byte for byte (quotes, backslashes, newlines, non-ASCII)",
    });
}

async function checkOk(l: Life, found: Findings): Promise<void> {
  const c = await l.call("check");
  if (!c || c.json.ok === false || !Array.isArray(c.json.result)) return;
  if (!(c.json.result.length === 1 && c.json.result[0] === "ok"))
    found.add({
      kind: "check-not-ok",
      op: "check",
      message: `${l.what}: check of a healthy WAL answered ${JSON.stringify(c.json.result)}`,
      received: shown(c.line),
      rule: 'check answers exactly ["ok"] when the WAL is healthy',
      section: SECTION.requests,
      fix: 'answer ["ok"] when nothing is wrong, and one line per problem otherwise',
    });
}

async function reopenLife(
  l: Life,
  dir: string,
  config: Record<string, unknown>,
  features: string[],
  acked: Acked,
  found: Findings,
): Promise<void> {
  const h = await l.call("hello");
  if (!h || h.json.ok === false) return;
  const open = await l.call("open", { dir, config });
  if (!open || open.json.ok === false) return;
  const lastSeq = num(open.json.lastSeq);
  if (lastSeq !== undefined && lastSeq !== acked.seq)
    found.add({
      kind: "reopen-mismatch",
      op: "open",
      field: "lastSeq",
      message: `fresh process: open after a clean close answered lastSeq ${lastSeq}, but ${acked.seq} batches were acknowledged`,
      received: shown(open.line),
      rule: "after a clean close a fresh process recovers exactly the acknowledged batches (durability, sequence)",
      section: SECTION.acked,
      fix: "make every acknowledged batch durable before its ack, and count lastSeq from what recovery finds",
    });
  await readBack(l, acked, found, "after reopening");
  if (features.includes("check")) await checkOk(l, found);
  await l.close();
}

/**
 * Whether the power-loss recorder sees the adapter's writes: one life under it (hello, open,
 * three appends, close) must leave writes in the trace. A statically linked program, or one
 * that makes raw syscalls (Go, io_uring), writes past it: power loss is then skipped for it
 * with this reason, never judged on an empty trace (which would look like lost data).
 */
async function checkPower(
  launch: AdapterLaunch,
  timeoutMs: number,
  config: Record<string, unknown>,
  work: string,
  started: (adapter: RawAdapter) => void,
): Promise<Capability & { writes?: number }> {
  let so: string;
  try {
    so = await ensureRecorder();
  } catch (error) {
    return { available: false, checked: true, why: (error as Error).message };
  }
  const dir = path.join(work, "power");
  fs.mkdirSync(dir, { recursive: true });
  const root = fs.realpathSync(dir);
  const trace = path.join(work, "power.trace");
  const adapter = new RawAdapter(launch, recordEnv(trace, root, so), timeoutMs, () => {});
  started(adapter);
  let acks = 0;
  try {
    const ok = async (op: string, fields: Record<string, unknown> = {}) => {
      const a = await adapter.send(op, fields).answer;
      return a.kind === "answer" && a.json.ok === true;
    };
    if (!(await ok("hello")) || !(await ok("open", { dir: root, config })))
      return { available: false, checked: true, why: "the adapter did not open a directory under the recorder" };
    for (const ops of BATCHES) if (await ok("append", { ops })) acks += 1;
    await ok("close");
    await adapter.waitExit();
  } finally {
    await adapter.kill();
  }
  let ops;
  try {
    ops = parseTrace(fs.existsSync(trace) ? fs.readFileSync(trace, "utf8") : "");
  } catch (error) {
    return { available: false, checked: true, why: `the recorder's trace cannot be read: ${(error as Error).message}` };
  }
  const writes = ops.filter((op) => op.op === "write").length;
  const unsupported = ops.find((op) => op.op === "unsupported");
  if (unsupported && "what" in unsupported)
    return {
      available: false,
      checked: true,
      why: `the recorded life did something the model cannot replay: ${unsupported.what}`,
      writes,
    };
  const syncs = ops.filter((op) => op.op === "fsync" || op.op === "dirsync").length;
  if (acks > 0 && writes === 0)
    return {
      available: false,
      checked: true,
      why: `the recorder saw none of its writes for ${acks} acknowledged appends (a statically linked program, or one making raw syscalls or using io_uring, writes past LD_PRELOAD)`,
      writes,
    };
  return {
    available: true,
    checked: true,
    why: `the recorder saw ${writes} writes and ${syncs} fsyncs in one life`,
    writes: acks > 0 ? writes : undefined,
  } as Capability & { writes?: number };
}
