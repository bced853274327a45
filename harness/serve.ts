import readline from "node:readline";
import { performance } from "node:perf_hooks";
import type { Readable, Writable } from "node:stream";
import { errorCode } from "../reference-impl/errors.js";
import { checkRequest, type CheckedRequest } from "./request-check.js";
import type { WalAdapter } from "./wal-adapter.js";

interface ServeStreams {
  input: Readable;
  output: Writable;
  /** Where the server's own complaints go (the adapter's stderr). */
  log: (line: string) => void;
}

/**
 * Speak adapter protocol v1 for `adapter` over line-delimited JSON. Requests are handled
 * as they arrive (pipelined: appends reach the WAL in arrival order and may share one
 * group commit); each response is written when its op finishes. Resolves after `close`
 * was answered, or when the input ends.
 */
export async function serveAdapter(adapter: WalAdapter, streams: ServeStreams): Promise<void> {
  const hello = await adapter.hello();
  const features = new Set(hello.features);
  let opened = false;
  let closed = false;
  const inFlight = new Set<Promise<void>>();

  // Every response carries elapsedMs: from the moment its request line was parsed to the
  // moment the answer is written (protocol extension; rounded to the microsecond).
  const send = (message: Record<string, unknown>, parsedAt: number) => {
    const elapsedMs = Math.round((performance.now() - parsedAt) * 1000) / 1000;
    streams.output.write(`${JSON.stringify({ ...message, elapsedMs })}\n`);
  };
  const fail = (id: number, code: string, message: string, parsedAt: number) => send({ id, ok: false, error: { code, message } }, parsedAt);

  const handle = async (req: CheckedRequest): Promise<Record<string, unknown>> => {
    switch (req.op) {
      case "hello":
        return { ...hello };
      case "open":
        opened = true;
        return { ...(await adapter.open(req.dir, req.config)) };
      case "append":
        return { ...(await adapter.append(req.ops)) };
      case "checkpoint":
        if (!adapter.checkpoint || !features.has("checkpoint")) throw unsupported(req.op);
        if (req.mode === "truncate" && !features.has("checkpoint.truncate")) throw unsupported("checkpoint truncate");
        return { ...(await adapter.checkpoint(req.mode)) };
      case "transaction":
        if (!adapter.transaction || !features.has("transaction")) throw unsupported(req.op);
        return { ...(await adapter.transaction(req.steps)) };
      case "read":
        return { ...(await adapter.read()) };
      case "check":
        if (!adapter.check || !features.has("check")) throw unsupported(req.op);
        return { result: await adapter.check() };
      case "close":
        closed = true;
        await adapter.close();
        return {};
    }
  };

  const lines = readline.createInterface({ input: streams.input, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === "") continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      streams.log(`walcheck serve: ignoring a line that is not JSON: ${line.slice(0, 200)}`);
      continue;
    }
    const parsedAt = performance.now();
    const checked = checkRequest(json);
    if (checked.status === "unanswerable") {
      streams.log(`walcheck serve: ignoring a line with no id to answer: ${checked.message}: ${line.slice(0, 200)}`);
      continue;
    }
    if (checked.status === "unknown-op") {
      fail(checked.id, "EUNSUPPORTED", `unknown op ${JSON.stringify(checked.op)}`, parsedAt);
      continue;
    }
    if (checked.status === "invalid") {
      fail(checked.id, "EINVAL", checked.message, parsedAt);
      continue;
    }
    const { id, op } = checked.request;
    if (!opened && op !== "hello" && op !== "open") {
      fail(id, "EPROTO", `open must come before ${op}`, parsedAt);
      continue;
    }
    const task = handle(checked.request).then(
      (result) => send({ id, ok: true, ...result }, parsedAt),
      (error: unknown) => fail(id, errorCode(error), error instanceof Error ? error.message : String(error), parsedAt),
    );
    inFlight.add(task);
    void task.finally(() => inFlight.delete(task));
    if (op === "close") {
      await task;
      break;
    }
  }
  lines.close();
  await Promise.all(inFlight);
  if (!closed && opened) await adapter.close().catch((error: unknown) => streams.log(`walcheck serve: close at end of input failed: ${String(error)}`));
}

function unsupported(what: string): Error & { code: string } {
  return Object.assign(new Error(`${what} is not supported by this adapter`), { code: "EUNSUPPORTED" });
}
