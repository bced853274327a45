import fs from "node:fs";
import path from "node:path";
import { dir as tmpDir } from "tmp-promise";
import { AdapterClient, type Reply } from "../protocol/adapter-client.js";
import { AdapterError } from "../protocol/adapter-error.js";
import { PrefixModel, type KeyDiff } from "../checks/prefix-model.js";
import { Prng } from "./prng.js";
import type { AdapterLaunch } from "./adapter-launch.js";
import type { BatchOp, Op } from "../protocol/messages.js";

/** How to start the adapter under test (the program and its arguments of an AdapterLaunch). */
export type SmokeLaunch = Pick<AdapterLaunch, "file" | "args"> & { env?: Record<string, string> };

export interface SmokeOptions {
  seed: number;
  cycles: number;
  adapter: SmokeLaunch;
  /** Adapter config sent with every `open`, merged over the per-cycle choices. */
  config?: Record<string, unknown>;
  recoveryThresholdMs: number;
  /** Where a failing cycle's directory and stderr are kept. */
  reportDir: string;
  timeoutMs?: number;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export type CrashPlan =
  { kind: "named"; point: string; nth: number } | { kind: "signal"; afterAcks: number } | { kind: "clean-close" };

export interface Violation {
  invariant: "durability" | "sequence" | "atomicity" | "integrity" | "recovery" | "recovery-time";
  message: string;
  cycle: number;
  crash: CrashPlan | undefined;
  diff: KeyDiff[];
  keptDir?: string;
}

export interface SmokeStats {
  seed: number;
  cyclesRun: number;
  batchesSent: number;
  batchesAcked: number;
  checkpoints: number;
  crashes: { signal: number; named: Record<string, number>; cleanCloses: number; namedNotReached: number };
  recoveryMs: { n: number; p50: number; p95: number; max: number };
  bytesDiscarded: number;
  elapsedMs: number;
}

export type SmokeResult =
  | ({ status: "passed" } & SmokeStats)
  | ({ status: "failed"; violation: Violation } & SmokeStats)
  | ({ status: "error"; error: { code: string; message: string } } & SmokeStats)
  | ({ status: "interrupted" } & SmokeStats);

const KEYS = Array.from({ length: 16 }, (_, i) => `k${i}`);
// Multi-byte and astral characters too: adapters must not assume ASCII.
const VALUE_ALPHABET = ["a", "b", "z", "0", "9", "é", "ß", "日", "😀", " ", '"', "\\"];

function randomBatch(rng: Prng): BatchOp[] {
  return Array.from({ length: rng.int(1, 6) }, () => ({
    key: rng.pick(KEYS),
    value: rng.chance(0.2) ? null : Array.from({ length: rng.int(1, 24) }, () => rng.pick(VALUE_ALPHABET)).join(""),
  }));
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** Unwrap a reply that must be ok; an `ok:false` here is the adapter failing the run. */
function must<O extends Op>(op: O, reply: Reply<O>): Extract<Reply<O>, { ok: true }> {
  if (!reply.ok)
    throw Object.assign(new Error(`${op} answered ${reply.error.code}: ${reply.error.message}`), {
      code: reply.error.code,
    });
  return reply as Extract<Reply<O>, { ok: true }>;
}

/**
 * The crash smoke run: start the adapter, recover and verify, run a seeded pipelined
 * workload, crash it (a named crash point, or SIGKILL from outside after a seeded number
 * of acks), and start over on the same directory. Every acknowledged batch must come back.
 */
export async function runSmoke(opts: SmokeOptions): Promise<SmokeResult> {
  const rng = new Prng(opts.seed);
  const log = opts.log ?? (() => {});
  const started = performance.now();
  const model = new PrefixModel();
  const recoveries: number[] = [];
  const stats: SmokeStats = {
    seed: opts.seed,
    cyclesRun: 0,
    batchesSent: 0,
    batchesAcked: 0,
    checkpoints: 0,
    crashes: { signal: 0, named: {}, cleanCloses: 0, namedNotReached: 0 },
    recoveryMs: { n: 0, p50: 0, p95: 0, max: 0 },
    bytesDiscarded: 0,
    elapsedMs: 0,
  };
  const finish = <R extends SmokeResult>(result: R): R => {
    const sorted = [...recoveries].sort((a, b) => a - b);
    result.recoveryMs = {
      n: sorted.length,
      p50: percentile(sorted, 0.5),
      p95: percentile(sorted, 0.95),
      max: sorted.at(-1) ?? 0,
    };
    result.elapsedMs = performance.now() - started;
    return result;
  };

  const work = await tmpDir({ prefix: "walcheck-smoke-", unsafeCleanup: true });
  const walDir = path.join(work.path, "wal");
  let points: string[] = [];
  let currentCrash: CrashPlan | undefined;
  const keep = (violation: Omit<Violation, "keptDir">, stderr: string): Violation => {
    const kept = path.join(opts.reportDir, `cycle-${violation.cycle}`);
    fs.mkdirSync(kept, { recursive: true });
    if (fs.existsSync(walDir)) fs.cpSync(walDir, path.join(kept, "wal"), { recursive: true });
    fs.writeFileSync(path.join(kept, "adapter-stderr.log"), stderr);
    return { ...violation, keptDir: kept };
  };

  try {
    // The last cycle only recovers and verifies: every crash before it is checked.
    for (let cycle = 0; cycle <= opts.cycles; cycle++) {
      if (opts.signal?.aborted) return finish({ status: "interrupted", ...stats });
      const last = cycle === opts.cycles;
      const crash: CrashPlan | undefined = last ? undefined : planCrash(rng, points);
      currentCrash = crash;
      const env: Record<string, string> = { ...opts.adapter.env };
      if (crash?.kind === "named") env.WALCHECK_CRASH_AT = `${crash.point}:${crash.nth}`;
      const client = AdapterClient.start({
        file: opts.adapter.file,
        args: opts.adapter.args,
        env,
        timeoutMs: opts.timeoutMs ?? 10_000,
      });
      const onAbort = () => void client.kill();
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      try {
        const outcome = await runCycle({ client, rng, model, crash, cycle, last, walDir, opts, stats, recoveries });
        if (outcome.points) points = outcome.points;
        if (outcome.violation)
          return finish({ status: "failed", violation: keep(outcome.violation, client.stderrTail), ...stats });
      } catch (error) {
        const exit = await client.kill();
        const crashed = error instanceof AdapterError && error.code === "ADAPTER_EXITED" && exit.signal === "SIGKILL";
        if (opts.signal?.aborted) return finish({ status: "interrupted", ...stats });
        if (crashed && crash?.kind === "named") {
          stats.crashes.named[crash.point] = (stats.crashes.named[crash.point] ?? 0) + 1;
        } else if (crashed && crash?.kind === "signal") {
          stats.crashes.signal += 1;
        } else {
          const code = (error as { code?: string }).code ?? "EINTERNAL";
          return finish({ status: "error", error: { code, message: (error as Error).message }, ...stats });
        }
      } finally {
        opts.signal?.removeEventListener("abort", onAbort);
        await client.kill();
      }
      stats.cyclesRun = cycle + 1;
      log(
        `cycle ${cycle + 1}/${opts.cycles + 1}: ${describeCrash(crash)}; acked ${stats.batchesAcked}/${stats.batchesSent}`,
      );
    }
    return finish({ status: "passed", ...stats });
  } catch (error) {
    return finish({
      status: "error",
      error: { code: "EINTERNAL", message: `${(error as Error).message} (during ${describeCrash(currentCrash)})` },
      ...stats,
    });
  } finally {
    await work.cleanup();
  }
}

function describeCrash(crash: CrashPlan | undefined): string {
  if (!crash) return "final recovery check";
  if (crash.kind === "named") return `crash at ${crash.point}:${crash.nth}`;
  if (crash.kind === "signal") return `SIGKILL after ${crash.afterAcks} acks`;
  return "clean close";
}

function planCrash(rng: Prng, points: string[]): CrashPlan {
  const roll = rng.next();
  if (roll < 0.1) return { kind: "clean-close" };
  if (roll < 0.55 || points.length === 0) return { kind: "signal", afterAcks: rng.int(0, 40) };
  const point = rng.pick(points);
  return { kind: "named", point, nth: point.startsWith("append.") ? rng.int(1, 30) : rng.int(1, 2) };
}

interface CycleContext {
  client: AdapterClient;
  rng: Prng;
  model: PrefixModel;
  crash: CrashPlan | undefined;
  cycle: number;
  last: boolean;
  walDir: string;
  opts: SmokeOptions;
  stats: SmokeStats;
  recoveries: number[];
}

async function runCycle(ctx: CycleContext): Promise<{ points?: string[]; violation?: Omit<Violation, "keptDir"> }> {
  const { client, rng, model, crash, cycle, stats } = ctx;
  const violation = (invariant: Violation["invariant"], message: string, diff: KeyDiff[] = []) => ({
    violation: { invariant, message, cycle, crash, diff },
  });

  const hello = must("hello", await client.request("hello", {}));
  const config = {
    sync: rng.pick(["always", "batch"]),
    maxSegmentBytes: rng.pick([2048, 16384, 1 << 20]),
    ...ctx.opts.config,
  };
  const open = await client.request("open", { dir: ctx.walDir, config });
  if (!open.ok) return violation("recovery", `open failed after a crash: ${open.error.code}: ${open.error.message}`);
  const recoveryMs = open.recovery?.elapsedMs ?? 0;
  ctx.recoveries.push(recoveryMs);
  stats.bytesDiscarded += open.recovery?.bytesDiscarded ?? 0;
  if (recoveryMs > ctx.opts.recoveryThresholdMs) {
    return violation(
      "recovery-time",
      `recovery took ${recoveryMs.toFixed(1)} ms, over the ${ctx.opts.recoveryThresholdMs} ms threshold`,
    );
  }

  const read = must("read", await client.request("read", {}));
  if (read.lastSeq !== open.lastSeq)
    return violation("sequence", `open said lastSeq ${open.lastSeq}, read says ${read.lastSeq}`);
  const verdict = model.judge(read.lastSeq, read.state);
  if (verdict.status === "violation") return violation(verdict.invariant, verdict.message, verdict.diff);
  model.settle(verdict.k);
  if (hello.features.includes("check")) {
    const check = must("check", await client.request("check", {}));
    if (check.result.length !== 1 || check.result[0] !== "ok")
      return violation("integrity", `check answered ${JSON.stringify(check.result)}`);
  }
  const points = hello.points ?? [];
  if (ctx.last) {
    must("close", await client.request("close", {}));
    return { points };
  }

  // The workload: pipelined appends (up to 8 in flight) with checkpoints mixed in.
  const inFlight = new Set<Promise<unknown>>();
  let acks = 0;
  let failure: Omit<Violation, "keptDir"> | undefined;
  const steps = ctx.rng.int(10, 60);
  if (crash?.kind === "signal" && crash.afterAcks === 0) void client.kill();
  for (let i = 0; i < steps && !failure; i++) {
    const roll = rng.next();
    let task: Promise<unknown>;
    if (roll < 0.08 && hello.features.includes("checkpoint")) {
      const mode = rng.chance(0.5) && hello.features.includes("checkpoint.truncate") ? "truncate" : "passive";
      stats.checkpoints += 1;
      task = client.request("checkpoint", { mode }).then((r) => must("checkpoint", r));
    } else {
      const ops = randomBatch(rng);
      const seq = model.send(ops);
      stats.batchesSent += 1;
      task = client.request("append", { ops }).then((r) => {
        const ok = must("append", r);
        if (ok.seq !== seq)
          failure ??= violation("sequence", `append acknowledged seq ${ok.seq}, expected ${seq}`).violation;
        model.ack(seq);
        stats.batchesAcked += 1;
        acks += 1;
        if (crash?.kind === "signal" && acks === crash.afterAcks) void client.kill();
      });
    }
    inFlight.add(task);
    void task.then(
      () => inFlight.delete(task),
      () => inFlight.delete(task),
    );
    if (inFlight.size >= 8) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  if (failure) return { violation: failure };

  if (crash?.kind === "named") stats.crashes.namedNotReached += 1;
  if (crash?.kind === "clean-close" || crash?.kind === "named") {
    must("close", await client.request("close", {}));
    const exit = await client.exited;
    if (exit.exitCode !== 0) throw new Error(`the adapter exited with ${exit.signal ?? exit.exitCode} after close`);
    if (crash.kind === "clean-close") stats.crashes.cleanCloses += 1;
  } else {
    await client.kill();
    stats.crashes.signal += 1;
  }
  return { points };
}
