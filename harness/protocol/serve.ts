import { performance } from "node:perf_hooks";
import type { Readable, Writable } from "node:stream";
import { errorCode, WalcheckError } from "./errors.js";
import { isObject, serveLines } from "./line-server.js";
import { checkRequest, type CheckedRequest } from "./request-check.js";
import { SERVE_ARM_OP, type ServeArm } from "./serve-arm.js";
import type { WalAdapter } from "./wal-adapter.js";

export { SERVE_ARM_OP, type ServeArm } from "./serve-arm.js";

interface ServeStreams {
  input: Readable;
  output: Writable;
  /** Where the server's own complaints go (the adapter's stderr). */
  log: (line: string) => void;
}

export interface ServeOptions {
  /**
   * Makes a new adapter that shares nothing with the others (a built-in, or a module that
   * exports a factory). With it, and with "recover" in the adapter's hello.features, the
   * `recover` op is served: each one opens, reads and checks a new adapter, then closes it.
   */
  fresh?: () => Promise<WalAdapter>;
  /**
   * Serve walcheck's private request SERVE_ARM_OP (`walcheck serve` only): it arms this process
   * with what the fields say (a named crash point, an fs crash, fault or trace), as the
   * environment would have at start, so walcheck can keep a spare process warm for armed lives.
   * Accepted before `open`/`recover` only, at most once. Not part of protocol v1: walcheck
   * sends it to its own `walcheck serve` processes hosting a built-in adapter, never to others.
   */
  arm?: (arm: ServeArm) => Promise<void>;
}

type ArmRequest = { id: number; op: typeof SERVE_ARM_OP; arm: ServeArm };

/** A SERVE_ARM_OP line's fields, or a message saying what is wrong with them. */
function checkArm(json: Record<string, unknown>): ServeArm | string {
  const arm: ServeArm = {};
  for (const key of ["crashAt", "fsCrash", "fsFault", "fsTrace"] as const) {
    const value = json[key];
    if (value === undefined) continue;
    if (typeof value !== "string" || value === "") return `${key} must be a non-empty string`;
    arm[key] = value;
  }
  return arm;
}

/**
 * Speak adapter protocol v1 for `adapter` over line-delimited JSON. Requests are handled
 * as they arrive (pipelined: appends reach the WAL in arrival order and may share one
 * group commit); each response is written when its op finishes. Resolves after `close`
 * was answered, or when the input ends.
 */
export async function serveAdapter(
  adapter: WalAdapter,
  streams: ServeStreams,
  options: ServeOptions = {},
): Promise<void> {
  let hello = await adapter.hello();
  if (hello.features.includes("recover") && !options.fresh) {
    // One adapter object cannot promise a clean start per recover: do not offer it.
    streams.log(
      'walcheck serve: the adapter lists "recover" but its module exports an object, not a factory; "recover" is not offered',
    );
    hello = { ...hello, features: hello.features.filter((f) => f !== "recover") };
  }
  const features = new Set(hello.features);
  let opened = false;
  let recovering = false;
  let recoveries: Promise<Record<string, unknown>> = Promise.resolve({});
  let closed = false;
  let armed = false;

  // Every response carries elapsedMs: from the moment its request line was parsed to the
  // moment the answer is written (protocol extension; rounded to the microsecond). `message`
  // is serveLines' own object, made for this answer. The answers of one tick (pipelined
  // appends that one group commit acknowledged) go out in one write: the output is corked at
  // the first and uncorked on the next tick, and at the end, before serving resolves.
  const output = streams.output;
  let corked = false;
  const flush = () => {
    if (!corked) return;
    corked = false;
    output.uncork();
  };
  const send = (message: Record<string, unknown>, parsedAt: number) => {
    message.elapsedMs = Math.round((performance.now() - parsedAt) * 1000) / 1000;
    if (!corked) {
      corked = true;
      output.cork();
      process.nextTick(flush);
    }
    output.write(`${JSON.stringify(message)}\n`);
  };

  // An open still under way: the requests pipelined behind it (an append in the same chunk of
  // input) wait for it, whatever the adapter's open awaits. Cleared once it is settled, so the
  // requests after it start at once, in arrival order.
  let opening: Promise<void> | undefined;
  const handle = async (request: CheckedRequest | ArmRequest): Promise<Record<string, unknown>> => {
    if (request.op === SERVE_ARM_OP) {
      if (opened || recovering || armed) throw protocolError(`${SERVE_ARM_OP} comes once, before open`);
      armed = true;
      await options.arm!(request.arm);
      return {};
    }
    const req = request;
    if (opening && req.op !== "hello" && req.op !== "open" && req.op !== "recover") await opening;
    switch (req.op) {
      case "hello":
        return { ...hello };
      case "open":
        if (recovering)
          throw protocolError("open after recover: a process that recovers states never opens a WAL itself");
        opened = true;
        {
          // A promise even from a module whose open returns a plain object (or throws).
          const attempt = (async () => adapter.open(req.dir, req.config))();
          const settled = attempt.then(
            () => undefined,
            () => undefined,
          );
          opening = settled;
          void settled.then(() => {
            if (opening === settled) opening = undefined;
          });
          return { ...(await attempt) };
        }
      case "recover":
        if (!features.has("recover") || !options.fresh) throw unsupported(req.op);
        if (opened) throw protocolError("recover after open: recover is for a process that has not opened a WAL");
        recovering = true;
        // One at a time: two recoveries of one directory in one process would meet each other's lock.
        return (recoveries = recoveries
          .catch(() => undefined)
          .then(async () => recoverWith(await options.fresh!(), req.dir, req.config, features.has("check"))));
      case "append":
        // serveLines copies the result into the answer: no copy here.
        return adapter.append(req.ops) as Promise<Record<string, unknown>>;
      case "checkpoint":
        if (!adapter.checkpoint || !features.has("checkpoint")) throw unsupported(req.op);
        if (req.mode === "truncate" && !features.has("checkpoint.truncate")) throw unsupported("checkpoint truncate");
        return { ...(await adapter.checkpoint(req.mode)) };
      case "transaction":
        if (!adapter.transaction || !features.has("transaction")) throw unsupported(req.op);
        return { ...(await adapter.transaction(req.steps)) };
      case "read":
        return adapter.read() as Promise<Record<string, unknown>>;
      case "check":
        if (!adapter.check || !features.has("check")) throw unsupported(req.op);
        return { result: await adapter.check() };
      case "close":
        closed = true;
        await adapter.close();
        return {};
    }
  };

  await serveLines<CheckedRequest | ArmRequest>({
    name: "walcheck serve",
    input: streams.input,
    log: streams.log,
    check: (json) => {
      if (!options.arm || !isObject(json) || json.op !== SERVE_ARM_OP) return checkRequest(json);
      const id = json.id;
      if (!Number.isSafeInteger(id) || (id as number) < 0)
        return { status: "unanswerable", message: "a request needs an integer id and a string op" };
      const arm = checkArm(json);
      return typeof arm === "string"
        ? { status: "invalid", id: id as number, message: arm }
        : { status: "ok", request: { id: id as number, op: SERVE_ARM_OP, arm } };
    },
    refuse: ({ op }) =>
      !opened &&
      op !== "hello" &&
      op !== "open" &&
      op !== "recover" &&
      op !== SERVE_ARM_OP &&
      !(op === "close" && recovering)
        ? { code: "EPROTO", message: `open must come before ${op}` }
        : undefined,
    handle,
    codeOf: errorCode,
    answer: send,
  });
  // The last answers (close's) out now: the caller may exit before the next tick.
  flush();
  if (!closed && opened)
    await adapter
      .close()
      .catch((error: unknown) => streams.log(`walcheck serve: close at end of input failed: ${String(error)}`));
}

/** `recover`: what a fresh process would answer to open, read and check, then close, so nothing of it stays. */
async function recoverWith(
  adapter: WalAdapter,
  dir: string,
  config: Record<string, unknown>,
  check: boolean,
): Promise<Record<string, unknown>> {
  try {
    const open = await adapter.open(dir, config);
    const { lastSeq, state } = await adapter.read();
    const lines = check && adapter.check ? await adapter.check() : undefined;
    return {
      lastSeq,
      state,
      ...(lines ? { check: lines } : {}),
      ...(open.recovery ? { recovery: open.recovery } : {}),
    };
  } finally {
    await adapter.close();
  }
}

function protocolError(message: string): WalcheckError {
  return new WalcheckError("EPROTO", message);
}

function unsupported(what: string): WalcheckError {
  return new WalcheckError("EUNSUPPORTED", `${what} is not supported by this adapter`);
}
