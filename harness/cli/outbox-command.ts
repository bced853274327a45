import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { WalError } from "../../reference-impl/errors.js";
import type { OutboxEntry } from "../../reference-impl/outbox/outbox-entry.js";
import { Outbox, OUTBOX_DEFAULTS } from "../../reference-impl/outbox/outbox.js";
import { SinkUnavailableError, type OutboxSink } from "../../reference-impl/outbox/sink.js";
import { listSegments } from "../../reference-impl/segment.js";
import { snapshotSeqOf } from "../../reference-impl/snapshot-file.js";
import { createLogger } from "./logger.js";
import { parseDuration } from "./duration.js";
import { UsageError } from "../protocol/errors.js";
import { EXIT } from "./exit.js";
import { openReferenceSink, serveOutboxStdio } from "../outbox/outbox-serve.js";
import { parseSinkSpec, redactUrl, type SinkSpec } from "../outbox/sink-spec.js";

// `walcheck outbox status | sync | compact | serve`: the operator's side of the reference
// outbox (reference-impl/outbox) on a directory, in this process. status and compact never
// contact the database; sync does, and exits 1 while entries remain.

export type OutboxSubcommand = "status" | "sync" | "compact" | "serve";

export interface OutboxFlags {
  /** The outbox directory (its WAL). */
  dir?: string;
  /** sqlite:<path> (default <dir>/outbox.sqlite) or postgres://… */
  sink?: string;
  json?: boolean;
  /** compact: how long COMPLETED entries are kept, e.g. 168h (the default), 30m, 0s. */
  retention?: string;
}

const FLAGS: Record<OutboxSubcommand, readonly (keyof OutboxFlags)[]> = {
  status: ["dir", "sink", "json"],
  sync: ["dir", "sink", "json"],
  compact: ["dir", "sink", "json", "retention"],
  serve: [],
};

const flagName = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

interface Out {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processOut: Out = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) };

/** A duration like 168h, 30m, 90s, 500ms or 7d, in ms. */
export function parseRetention(raw: string): number {
  return parseDuration(raw, "--retention", "168h, 30m, 90s, 500ms or 7d");
}

/**
 * `walcheck outbox <sub>`: its exit code (0 done, 1 entries remain after a sync, 2 a usage
 * error or an outbox that cannot be opened). Messages go to stdout (results) and stderr.
 */
export async function outboxCommand(sub: OutboxSubcommand, flags: OutboxFlags, out: Out = processOut): Promise<number> {
  try {
    if (!(sub in FLAGS))
      throw new UsageError(`unknown outbox subcommand ${JSON.stringify(sub)}: status, sync, compact or serve`);
    for (const [key, value] of Object.entries(flags)) {
      if (value !== undefined && !FLAGS[sub].includes(key as keyof OutboxFlags))
        throw new UsageError(`walcheck outbox ${sub} has no ${flagName(key)} flag`);
    }
    if (sub === "serve") {
      await serveOutboxStdio();
      return EXIT.pass;
    }
    return await operate(sub, flags, out);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    out.stderr(`walcheck outbox ${sub}: ${error.message}\n`);
    return EXIT.usage;
  }
}

interface Target {
  dir: string;
  spec: SinkSpec;
  /** The sink as printed (password redacted). */
  label: string;
}

/** The directory and sink of the flags, checked before anything is opened: usage errors only. */
function target(sub: OutboxSubcommand, flags: OutboxFlags): Target {
  if (!flags.dir) throw new UsageError("--dir <dir> is required: the outbox directory");
  const dir = path.resolve(flags.dir);
  if (!fs.existsSync(dir)) throw new UsageError(`--dir ${flags.dir}: no such directory`);
  if (!fs.statSync(dir).isDirectory()) throw new UsageError(`--dir ${flags.dir}: not a directory`);
  const names = fs.readdirSync(dir);
  if (listSegments(dir, names).length === 0 && !names.some((n) => snapshotSeqOf(n) !== undefined)) {
    throw new UsageError(
      `--dir ${flags.dir}: no outbox WAL there (no seg-* or snapshot files); walcheck outbox ${sub} never creates one`,
    );
  }
  let spec: SinkSpec;
  try {
    spec = parseSinkSpec(flags.sink ?? `sqlite:${path.join(dir, "outbox.sqlite")}`, { relativeTo: process.cwd() });
  } catch (error) {
    throw new UsageError(`--sink: ${(error as Error).message}`);
  }
  if (spec.kind === "sqlite" && !fs.existsSync(path.dirname(spec.file)))
    throw new UsageError(`--sink ${flags.sink}: directory ${path.dirname(spec.file)} does not exist`);
  return { dir, spec, label: spec.kind === "sqlite" ? `sqlite ${spec.file}` : redactUrl(spec.url) };
}

/**
 * The sink as the CLI uses it: opened on first use only (status and compact never use it), and
 * remembering the last outage, so that sync can say why it stopped.
 */
class CliSink implements OutboxSink {
  readonly kind: string;
  lastOutage: SinkUnavailableError | undefined;
  private inner: Promise<OutboxSink> | undefined;

  constructor(private readonly spec: SinkSpec) {
    this.kind = spec.kind;
  }

  private use<T>(fn: (sink: OutboxSink) => Promise<T>): Promise<T> {
    this.inner ??= openReferenceSink(this.spec).catch((error: unknown) => {
      this.inner = undefined;
      throw error;
    });
    return this.inner.then(fn).catch((error: unknown) => {
      if (error instanceof SinkUnavailableError) this.lastOutage = error;
      throw error;
    });
  }

  apply(entry: OutboxEntry) {
    return this.use((s) => s.apply(entry));
  }
  writeDirect(type: string, args: Record<string, unknown>) {
    return this.use((s) => s.writeDirect(type, args));
  }
  snapshot() {
    return this.use((s) => s.snapshot());
  }
  async close(): Promise<void> {
    const inner = this.inner;
    this.inner = undefined;
    await (await inner?.catch(() => undefined))?.close();
  }
}

async function operate(sub: Exclude<OutboxSubcommand, "serve">, flags: OutboxFlags, out: Out): Promise<number> {
  const t = target(sub, flags);
  const retentionMs =
    sub === "compact" && flags.retention !== undefined ? parseRetention(flags.retention) : OUTBOX_DEFAULTS.retentionMs;
  const sink = new CliSink(t.spec);
  let outbox: Outbox;
  try {
    outbox = await Outbox.open(t.dir, {
      sink,
      ownsSink: true,
      retentionMs,
      logger: createLogger(process.env.WALCHECK_LOG_LEVEL ?? "error"),
    });
  } catch (error) {
    if (!(error instanceof WalError)) throw error;
    const what =
      error.code === "WAL_CORRUPT"
        ? `the outbox WAL is corrupt: ${error.message}; nothing was changed (a person must look at ${String(error.details.file ?? t.dir)})`
        : `cannot open the outbox in ${t.dir}: ${error.code}: ${error.message}`;
    throw new UsageError(what);
  }
  try {
    if (sub === "status") return status(outbox, t, flags, out);
    if (sub === "compact") return await compact(outbox, t, flags, out, retentionMs);
    return await sync(outbox, sink, t, flags, out);
  } finally {
    await outbox.close();
  }
}

function formatAge(ms: number): string {
  if (ms <= 0) return "-";
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)} s`;
  const parts = [
    Math.floor(s / 86_400) && `${Math.floor(s / 86_400)}d`,
    Math.floor((s % 86_400) / 3600) && `${Math.floor((s % 86_400) / 3600)}h`,
    `${Math.floor((s % 3600) / 60)}m`,
    `${String(s % 60).padStart(2, "0")}s`,
  ];
  return parts.filter(Boolean).join(" ");
}

function table(rows: [string, string | number][]): string {
  return rows.map(([k, v]) => `  ${k.padEnd(20)} ${v}\n`).join("");
}

function status(outbox: Outbox, t: Target, flags: OutboxFlags, out: Out): number {
  const s = outbox.stats();
  if (flags.json) {
    out.stdout(`${JSON.stringify({ dir: t.dir, sinkTarget: t.label, ...s }, null, 2)}\n`);
    return EXIT.pass;
  }
  out.stdout(`outbox ${t.dir}\n`);
  out.stdout(
    table([
      ["sink", `${t.label} (status does not contact it)`],
      ["pending", `${s.pending + s.syncing} (PENDING ${s.pending}, SYNCING ${s.syncing})`],
      ["oldest pending age", formatAge(s.oldestPendingAgeMs)],
      ["completed", s.completed],
      [
        "failed",
        `${s.failed}${s.failed > 0 ? " (refused by the database past their retries: a person must resolve them)" : ""}`,
      ],
      [
        "corrupt skipped",
        `${s.corruptSkipped}${s.corruptSkipped > 0 ? " (entries failing their checksum: never synced)" : ""}`,
      ],
      ["halted", s.halted ? "yes: the WAL cannot be written, no operation is accepted" : "no"],
      ["circuit", `${s.circuit} (this process)`],
      ["sink failures", `${s.totalFailures} (this process)`],
    ]),
  );
  return EXIT.pass;
}

async function compact(outbox: Outbox, t: Target, flags: OutboxFlags, out: Out, retentionMs: number): Promise<number> {
  const removed = await outbox.compact();
  const s = outbox.stats();
  if (flags.json) {
    out.stdout(`${JSON.stringify({ dir: t.dir, removed, retentionMs, ...s }, null, 2)}\n`);
    return EXIT.pass;
  }
  out.stdout(
    `outbox ${t.dir}: removed ${removed} COMPLETED entr${removed === 1 ? "y" : "ies"} older than ${flags.retention ?? "168h"} and folded the WAL\n`,
  );
  out.stdout(
    table([
      [
        "kept",
        `${s.completed} completed, ${s.pending + s.syncing} pending, ${s.failed} failed, ${s.corruptSkipped} corrupt`,
      ],
    ]),
  );
  return EXIT.pass;
}

async function sync(outbox: Outbox, sink: CliSink, t: Target, flags: OutboxFlags, out: Out): Promise<number> {
  const started = performance.now();
  const totals = { passes: 0, applied: 0, duplicates: 0, failed: 0 };
  let why: string | undefined;
  // Each pass runs to an empty queue unless the sink is down or refuses the head entry: then
  // the operator hears why, and the worker (or the next sync) retries with backoff.
  for (;;) {
    const r = await outbox.forceSync();
    totals.passes += 1;
    totals.applied += r.applied;
    totals.duplicates += r.duplicates;
    totals.failed += r.failed;
    if (r.remaining === 0) break;
    if (r.stopped === "sink-unavailable" || r.stopped === "circuit-open") {
      why = `the sink is unavailable: ${sink.lastOutage?.message ?? r.stopped}`;
      break;
    }
    if (r.stopped === "entry-error") {
      const head = outbox.store.oldestPending();
      const st = head && outbox.store.get(head.id)?.status;
      why = `the database refused entry n=${head?.n} (${head?.type}, id ${head?.id}), attempt ${st?.attempts ?? "?"}: ${st?.error ?? "unknown error"}`;
      break;
    }
    // Entries accepted while the pass ran would have joined it: another pass, bounded.
    if (totals.passes >= 100) {
      why = `${r.remaining} entries still queued after ${totals.passes} passes`;
      break;
    }
  }
  const s = outbox.stats();
  const remaining = s.pending + s.syncing;
  if (!why && totals.failed > 0)
    why = `${totals.failed} entr${totals.failed === 1 ? "y was" : "ies were"} refused by the database past their retries and marked FAILED (walcheck outbox status counts them)`;
  const seconds = (performance.now() - started) / 1000;
  if (flags.json) {
    out.stdout(
      `${JSON.stringify({ dir: t.dir, sinkTarget: t.label, ...totals, remaining, reason: why ?? null, seconds, stats: s }, null, 2)}\n`,
    );
  } else {
    out.stdout(`outbox ${t.dir} → ${t.label}\n`);
    out.stdout(
      table([
        ["applied", totals.applied],
        ["duplicates", `${totals.duplicates} (already in the database: marked COMPLETED, not applied again)`],
        ["failed now", totals.failed],
        ["remaining", remaining],
        ["passes", `${totals.passes} in ${seconds.toFixed(2)} s`],
      ]),
    );
    if (remaining > 0)
      out.stdout(`walcheck outbox sync: ${remaining} entr${remaining === 1 ? "y remains" : "ies remain"}: ${why}\n`);
    else if (why) out.stdout(`walcheck outbox sync: the queue is empty, but ${why}\n`);
    else out.stdout("the queue is empty\n");
  }
  return why ? EXIT.violation : EXIT.pass;
}
