import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { AdapterClient, type AnswerOf, type Reply } from "../harness/protocol/adapter-client.js";
import { AdapterError, type AdapterErrorCode } from "../harness/protocol/adapter-error.js";
import { WalcheckError } from "../harness/protocol/errors.js";
import type { AdapterLaunch } from "../harness/engine/adapter-launch.js";
import type { Hello, Op } from "../harness/protocol/messages.js";
import { dirBytes, makeBatch, runOne, timedPart, type RunOptions } from "./bench-util.js";
import { reportedElapsed, type BenchTarget } from "./tasks.js";

// The benchmark at the protocol level: any adapter, in any language, started as a child
// process and driven with AdapterClient. What is timed is the wall round trip as walcheck
// sees it (an adapter's own elapsedMs is not used), which is what a caller of that WAL pays.

/** Why a benchmark stopped: its own refusals, an adapter's fault passed through, or BENCH_FAILED for anything else. */
export type BenchErrorCode =
  "ADAPTER_REFUSED" | "RECOVERY_LOST" | "POWER_STATE_FAILED" | "BENCH_FAILED" | AdapterErrorCode;

/**
 * A benchmark that could not produce an honest figure: an adapter refused a request, or recovered
 * less than it acknowledged; and, from BenchError.inTask, the task that could not finish, naming
 * the subject, the task and what went wrong.
 */
export class BenchError extends WalcheckError {
  override readonly name = "BenchError";
  declare readonly code: BenchErrorCode;
  /** The subject and the task it stopped (BenchError.inTask). */
  readonly subject: string | undefined;
  readonly task: string | undefined;

  constructor(
    code: BenchErrorCode,
    message: string,
    options: { cause?: unknown; subject?: string; task?: string } = {},
  ) {
    const { subject, task, cause } = options;
    super(code, message, {
      cause,
      details: subject === undefined ? {} : { subject, task },
    });
    this.subject = subject;
    this.task = task;
  }

  /** A task that could not finish: an adapter's or a BenchError's code passes through, anything else is BENCH_FAILED. */
  static inTask(subject: string, task: string, cause: unknown): BenchError {
    return new BenchError(
      cause instanceof AdapterError || cause instanceof BenchError ? cause.code : "BENCH_FAILED",
      `subject ${subject}, task ${task}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause, subject, task },
    );
  }
}

/** The result of an ok:true reply; ok:false is a BenchError naming the request and the adapter's error. */
export function must<O extends Op>(reply: Reply<O>, what: string): AnswerOf<O> {
  if (!reply.ok)
    throw new BenchError(
      "ADAPTER_REFUSED",
      `the adapter answered ${what} with ok:false: ${reply.error.code}: ${reply.error.message}`,
    );
  return reply as AnswerOf<O>;
}

/** Every adapter process the benchmark started, so that an error or an interrupt ends them all. */
export class ClientPool {
  private readonly live = new Set<AdapterClient>();

  constructor(private readonly timeoutMs: number) {}

  start(launch: AdapterLaunch): AdapterClient {
    const client = AdapterClient.start({
      file: launch.file,
      args: launch.args,
      env: launch.env,
      timeoutMs: this.timeoutMs,
    });
    this.live.add(client);
    void client.exited.then(() => this.live.delete(client));
    return client;
  }

  /** hello, then open a fresh WAL in `dir`. */
  async open(launch: AdapterLaunch, dir: string): Promise<{ client: AdapterClient; hello: Hello }> {
    const client = this.start(launch);
    try {
      const hello = must(await client.request("hello", {}), "hello");
      must(await client.request("open", { dir, config: {} }), `open of ${dir}`);
      return { client, hello };
    } catch (error) {
      await client.kill();
      throw error;
    }
  }

  /** Start the adapter, ask hello, stop it. */
  async probe(launch: AdapterLaunch): Promise<Hello> {
    const client = this.start(launch);
    try {
      return must(await client.request("hello", {}), "hello");
    } finally {
      await client.kill();
    }
  }

  /** SIGKILL every process still running and wait for them to be gone. */
  async killAll(): Promise<void> {
    await Promise.all([...this.live].map((c) => c.kill()));
  }
}

/** An open adapter as a bench target: append and truncate checkpoint requests. */
export function clientTarget(client: AdapterClient): BenchTarget {
  return {
    append: async (ops) => must(await client.request("append", { ops }), "append"),
    checkpoint: async () =>
      must(await client.request("checkpoint", { mode: "truncate" }), "checkpoint (truncate)").stats?.elapsedMs,
  };
}

/** Appends kept in flight while a recovery log is built: packs group commits without flooding a serial adapter's pipe. */
const BUILD_IN_FLIGHT = 256;

export interface ProtocolRecovery {
  task: import("tinybench").Task;
  extra: Record<string, unknown>;
}

/**
 * Recovery of a WAL holding `batches` acknowledged one-op batches: append them (pipelined),
 * SIGKILL the adapter (a crash: nothing is tidied at close), then per iteration copy that
 * directory, start a fresh process, hello, and time `open` (the sample); the copy, start and
 * kill count against the time budget. The files are in the page cache: this is replay cost.
 */
export async function protocolRecovery(
  pool: ClientPool,
  launch: AdapterLaunch,
  root: string,
  batches: number,
  key: () => string,
  name: string,
  opts: RunOptions,
): Promise<ProtocolRecovery> {
  const built = path.join(root, `recovery-${batches}`);
  const work = path.join(root, `recovery-${batches}-open`);
  const t0 = performance.now();
  const { client } = await pool.open(launch, built);
  try {
    for (let done = 0; done < batches;) {
      const n = Math.min(BUILD_IN_FLIGHT, batches - done);
      await Promise.all(
        Array.from({ length: n }, async () =>
          must(await client.request("append", { ops: makeBatch(1, key) }), "append"),
        ),
      );
      done += n;
    }
  } finally {
    await client.kill();
  }
  const buildMs = performance.now() - t0;
  const onDisk = dirBytes(built);

  let phase: string | undefined;
  const reported: number[] = [];
  const task = await runOne(
    name,
    async () => {
      const start = performance.now();
      fs.rmSync(work, { recursive: true, force: true });
      fs.cpSync(built, work, { recursive: true });
      const fresh = pool.start(launch);
      try {
        must(await fresh.request("hello", {}), "hello");
        const before = performance.now();
        const opened = must(await fresh.request("open", { dir: work, config: {} }), "open (recovery)");
        const after = performance.now();
        if (opened.lastSeq !== batches) {
          throw new BenchError(
            "RECOVERY_LOST",
            `open after a crash recovered lastSeq ${opened.lastSeq}, but ${batches} batches were acknowledged before it`,
          );
        }
        if (phase === "run" && opened.recovery?.elapsedMs !== undefined) reported.push(opened.recovery.elapsedMs);
        await fresh.kill();
        return timedPart(after - before, performance.now() - start);
      } finally {
        await fresh.kill();
      }
    },
    {
      async: true,
      beforeAll: (mode) => {
        phase = mode;
        reported.length = 0;
      },
    },
    opts,
  );
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(built, { recursive: true, force: true });
  const adapterRecoveryMs = reportedElapsed(reported);
  return {
    task,
    extra: {
      batches,
      walBytes: onDisk.bytes,
      walFiles: Object.keys(onDisk.files).length,
      buildMs,
      measured: "open round trip in a fresh process, after SIGKILL",
      ...(adapterRecoveryMs ? { adapterRecoveryMs } : {}),
    },
  };
}
