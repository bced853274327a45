import type { Readable, Writable } from "node:stream";
import { Outbox, type OutboxOptions } from "../../reference-impl/outbox/outbox.js";
import type { OutboxSink } from "../../reference-impl/outbox/sink.js";
import { SqliteSink } from "../../reference-impl/outbox/sqlite-sink.js";
import { OUTBOX_CRASH_POINTS } from "../../reference-impl/outbox/sync-worker.js";
import type { JsonValue } from "../protocol/stable-json.js";
import { errorCode, WalcheckError } from "../protocol/errors.js";
import type { OpenConfig } from "../protocol/outbox-messages.js";
import { serveLines } from "../protocol/line-server.js";
import { checkOutboxRequest, type CheckedOutboxRequest } from "../protocol/outbox-request-check.js";
import { parseSinkSpec, type SinkSpec } from "./sink-spec.js";

// The serving side of the outbox protocol (harness/protocol/outbox-messages.ts) for the reference outbox
// (reference-impl/outbox), or for the reference outbox over another sink (openSink): the
// fixture outbox without idempotency keys is the reference outbox over a sink that does not
// check them.

export interface OutboxServeStreams {
  input: Readable;
  output: Writable;
  /** Where the server's own complaints go (stderr). */
  log: (line: string) => void;
}

export interface OutboxServeOptions {
  /** hello.name (default "walcheck-reference-outbox"). */
  name?: string;
  /** Opens the database an `open` names (default: the reference SQLite and PostgreSQL sinks). */
  openSink?: (spec: SinkSpec, config: OpenConfig) => Promise<OutboxSink>;
}

/** The reference sinks: SQLite (better-sqlite3) or PostgreSQL (pg, loaded only when asked for). */
export async function openReferenceSink(spec: SinkSpec, config: OpenConfig = {}): Promise<OutboxSink> {
  if (spec.kind === "sqlite") return SqliteSink.open(spec.file, { busyTimeoutMs: config.busyTimeoutMs });
  const { createPostgresSink } = await import("../../reference-impl/outbox/postgres-sink.js");
  return createPostgresSink(spec.url, { connectTimeoutMs: config.connectTimeoutMs, schema: config.schema });
}

/** The reference outbox's options for an open config (undefined fields take the outbox's defaults). */
export function outboxOptionsOf(sink: OutboxSink, config: OpenConfig): OutboxOptions {
  return {
    sink,
    ownsSink: true,
    maxRetries: config.maxRetries,
    retentionMs: config.retentionMs,
    pendingAlertThreshold: config.pendingAlertThreshold,
    syncIntervalMs: config.syncIntervalMs,
    backoff: { baseMs: config.backoffBaseMs, capMs: config.backoffCapMs },
    breaker: { failureThreshold: config.failureThreshold, resetMs: config.breakerResetMs },
  };
}

interface Opened {
  outbox: Outbox;
  sink: OutboxSink;
}

function coded(code: string, message: string): WalcheckError {
  return new WalcheckError(code, message);
}

/** The protocol's error code of anything a handler threw. */
function codeOf(error: unknown): string {
  if (error instanceof TypeError) return "EINVAL";
  return errorCode(error);
}

/**
 * Speak outbox protocol v1 over line-delimited JSON. Requests are handled as they arrive
 * (writes are pipelined into the WAL's group commit) and each answer is written when its op
 * finishes. Resolves after `close` was answered, or when the input ends (closing the outbox).
 */
export async function serveOutbox(streams: OutboxServeStreams, options: OutboxServeOptions = {}): Promise<void> {
  const openSink = options.openSink ?? openReferenceSink;
  let opening: Promise<Opened> | undefined;
  let closed = false;

  const send = (message: Record<string, unknown>): void => {
    streams.output.write(`${JSON.stringify(message)}\n`);
  };

  const open = async (req: Extract<CheckedOutboxRequest, { op: "open" }>): Promise<Opened> => {
    let spec: SinkSpec;
    try {
      spec = parseSinkSpec(req.sink);
    } catch (error) {
      throw coded("EINVAL", `open: ${(error as Error).message}`);
    }
    const sink = await openSink(spec, req.config);
    try {
      return { outbox: await Outbox.open(req.dir, outboxOptionsOf(sink, req.config)), sink };
    } catch (error) {
      await sink.close().catch(() => {});
      throw error;
    }
  };

  const opened = (): Promise<Opened> => {
    if (!opening) throw coded("EPROTO", "open must come first");
    return opening;
  };

  const handle = async (req: CheckedOutboxRequest): Promise<Record<string, unknown>> => {
    switch (req.op) {
      case "hello":
        return {
          name: options.name ?? "walcheck-reference-outbox",
          protocol: 1,
          kind: "outbox",
          features: ["direct", "worker", "compact"],
          points: [...OUTBOX_CRASH_POINTS],
        };
      case "open": {
        if (opening) throw coded("EPROTO", "open was already sent: one outbox per process");
        const attempt = open(req);
        opening = attempt;
        // A failed open may be tried again (another dir, the lock released).
        attempt.catch(() => {
          if (opening === attempt) opening = undefined;
        });
        return { ...(await attempt).outbox.stats() };
      }
      case "write": {
        const result = await (
          await opened()
        ).outbox.write(req.type, req.args as Record<string, JsonValue>, { critical: req.critical });
        if (result.status === "direct") return { status: "direct" };
        const { entry, duplicate } = result;
        return { status: "accepted", entryId: entry.id, n: entry.n, idempotencyKey: entry.idempotencyKey, duplicate };
      }
      case "sync":
        return { ...(await (await opened()).outbox.forceSync()) };
      case "start":
        (await opened()).outbox.start();
        return {};
      case "stop":
        await (await opened()).outbox.stop();
        return {};
      case "stats":
        return { ...(await opened()).outbox.stats() };
      case "snapshot":
        return { ...(await (await opened()).sink.snapshot()) };
      case "compact":
        return { removed: await (await opened()).outbox.compact() };
      case "close":
        closed = true;
        if (opening) await (await opening.catch(() => undefined))?.outbox.close();
        return {};
    }
  };

  await serveLines<CheckedOutboxRequest>({
    name: "walcheck outbox serve",
    input: streams.input,
    log: streams.log,
    check: checkOutboxRequest,
    handle,
    codeOf,
    answer: send,
  });
  if (!closed && opening) {
    const left = await opening.catch(() => undefined);
    await left?.outbox
      .close()
      .catch((error: unknown) => streams.log(`walcheck outbox serve: close at end of input failed: ${String(error)}`));
  }
}

/** `walcheck outbox serve` on this process's stdin and stdout. */
export function serveOutboxStdio(options: OutboxServeOptions = {}): Promise<void> {
  return serveOutbox(
    { input: process.stdin, output: process.stdout, log: (line) => process.stderr.write(`${line}\n`) },
    options,
  );
}
