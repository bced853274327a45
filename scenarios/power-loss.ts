import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import fc from "fast-check";
import { attribute, type PowerAttribution } from "../harness/faults/power/attribute.js";
import {
  boundsAt,
  checkStates,
  judgeState,
  RecoveryPool,
  type CheckResult,
} from "../harness/faults/power/check-states.js";
import { allStates, materialize, stateFor, statesAt, type CrashState } from "../harness/faults/power/crash-states.js";
import { describeState } from "../harness/faults/power/describe-state.js";
import {
  OpenRefused,
  recordLife,
  whereInWorkload,
  type PowerStep,
  type Recording,
} from "../harness/faults/power/record-life.js";
import { recordEnv } from "../harness/faults/power/recorder-build.js";
import type { InitialState, TraceOp } from "../harness/faults/power/trace.js";
import { Prng } from "../harness/engine/prng.js";
import { batchOf } from "../harness/engine/workload.js";
import type { Scenario, ScenarioEnv } from "../harness/engine/scenario.js";
import type { PersistenceModel } from "../harness/protocol/messages.js";
import { addWarning } from "../harness/protocol/tolerant-reader.js";

// Power loss, simulated: one life of the WAL is recorded (every mutating fs operation, its
// data, its fsync barriers) with the LD_PRELOAD recorder; then the directories a power cut
// at any point of it could leave (unsynced writes lost, kept, reordered or torn; creates,
// renames and unlinks lost when their directory was not fsynced) are built and each is
// recovered (by a fresh adapter process, or through the `recover` op with fresh-process
// cross-checks) and held to the invariants of its moment.

interface Input {
  steps: PowerStep[];
  /** Picks the sampled states (not used by --exhaustive). */
  sampleSeed: number;
  /**
   * A pipelined life: runs of appends sent at once, up to the run's pipeline depth (absent in
   * the inputs of runs before pipelining, whose replay tokens carry no depth: sequential).
   */
  pipelined?: boolean;
}

/** The most appends `--power-pipeline` puts in flight at once. */
export const MAX_POWER_PIPELINE = 64;

/** States a case samples when the run is not exhaustive. */
export const SAMPLED_STATES = 40;
/**
 * Workload steps of an exhaustive case: short enough to check every crash state of the life,
 * and the life length `walcheck bench --suites power` measures by default, so the states/s of
 * the two compare.
 */
export const EXHAUSTIVE_STEPS = 20;

function stepOf(features: readonly string[]): fc.Arbitrary<PowerStep> {
  // Values up to 300 characters: records that cross 512-byte sectors, so torn writes have somewhere to tear.
  const append = batchOf(300, "large").map((ops): PowerStep => ({ kind: "append", ops }));
  const options: fc.WeightedArbitrary<PowerStep>[] = [{ arbitrary: append, weight: 6 }];
  if (features.includes("checkpoint"))
    options.push({ arbitrary: fc.constant<PowerStep>({ kind: "checkpoint", mode: "passive" }), weight: 1 });
  if (features.includes("checkpoint.truncate"))
    options.push({ arbitrary: fc.constant<PowerStep>({ kind: "checkpoint", mode: "truncate" }), weight: 1 });
  return fc.oneof(...options);
}

/** The bounded workload of a power-loss case or bench, from a seed: `steps` steps of what the adapter's features allow. */
export function powerWorkload(features: readonly string[], steps: number, seed: number): PowerStep[] {
  return fc.sample(fc.array(stepOf(features), { minLength: steps, maxLength: steps }), { seed, numRuns: 1 })[0]!;
}

/**
 * How many times a replay records its life again when the recording does not have the failing
 * run's shape (lifeShape) at the failing cut: a pipelined life's interleaving (which appends a
 * group commit took together) depends on timing, so one recording may not give it back.
 */
export const REPLAY_RECORDINGS = 40;

/**
 * The shape of a recorded life up to cut `cut`: its ops in order (inodes numbered by first use,
 * paths relative to the recorded directory `dir`, written bytes by length, not content), and the
 * batches sent and acknowledged by then. Two recordings of the same workload with the same shape
 * build the same crash states at that cut, owing the same batches.
 */
export function lifeShape(rec: Recording, dir: string, cut: number): string {
  const inos = new Map<number, number>();
  const ino = (n: unknown) => (typeof n === "number" ? (inos.get(n) ?? inos.set(n, inos.size).get(n)!) : n);
  const rel = (p: unknown) => (typeof p === "string" ? path.relative(dir, p) : p);
  const ops = rec.trace.slice(0, cut).map((op) => {
    const { i: _i, stack: _stack, jsAt: _jsAt, ...rest } = op as TraceOp & Record<string, unknown>;
    const o: Record<string, unknown> = { ...rest };
    if (typeof o.data === "string") o.data = Buffer.byteLength(o.data, "base64");
    for (const k of ["ino", "replaced"]) if (k in o) o[k] = ino(o[k]);
    for (const k of ["path", "from", "to"]) if (k in o) o[k] = rel(o[k]);
    return o;
  });
  return createHash("sha256")
    .update(JSON.stringify([ops, boundsAt(rec, cut)]))
    .digest("base64url")
    .slice(0, 16);
}

/** The state a replay token names, if this trace has the same op at its cut (and the variant exists there). */
function exactState(
  initial: InitialState,
  trace: TraceOp[],
  ref: { cut: number; variant: string; op: string },
  seed: number,
  model: PersistenceModel,
): CrashState | undefined {
  if (ref.cut > trace.length) return undefined;
  try {
    const state = stateFor(initial, trace, ref.cut, ref.variant, seed, model);
    return state.context.label === ref.op ? state : undefined;
  } catch {
    return undefined;
  }
}

/** `count` states spread over the cuts of the trace by `seed`: a cut uniformly, then one of its variants. */
function* sampled(
  initial: InitialState,
  trace: TraceOp[],
  seed: number,
  count: number,
  model: PersistenceModel,
): Generator<CrashState> {
  const rng = new Prng(seed);
  const seen = new Set<string>();
  for (let tries = 0; seen.size < count && tries < count * 4; tries++) {
    const cut = rng.int(0, trace.length);
    const states = statesAt(initial, trace, cut, seed, model);
    const state = rng.pick(states);
    const id = `${cut}/${state.variant}`;
    if (seen.has(id)) continue;
    seen.add(id);
    yield state;
  }
}

export const powerLoss: Scenario<Input> = {
  name: "power-loss",
  summary:
    "power cut at every point of a recorded life: unsynced writes lost, reordered or torn, unsynced directory entries lost",
  description:
    'A process kill keeps everything the process handed the kernel; a power loss keeps only what was fsynced. walcheck records one life of the WAL with an LD_PRELOAD recorder (every write with its data, every truncate, create, rename and unlink, every fsync of a file and of a directory), then builds the directories a disk could hold after a power cut after any recorded operation: the unsynced writes all lost, all kept, kept in order up to some point, all kept but one (reordering), or one torn at a 512-byte sector (a prefix, a zeroed sector, a sector of junk); a create, rename or unlink lost while its directory was not fsynced. That is the posix-pessimistic persistence model, the default; --persistence (or hello.persistence) picks a stronger one: sector-atomic (no garbage sectors), ext4-ordered (no garbage, the data of a file lands before a rename or size change of it, an fsync of a new file keeps its entry) or process-only (nothing handed to the kernel is lost). Each distinct directory is recovered by a fresh adapter process (or, when the adapter offers the recover op, by a long-lived one that must answer as a fresh process would: one directory in 16 and every failing state are recovered again by a fresh process, and any difference is an error) and held to the invariants as of that moment: every batch acknowledged before the cut is there (two lives in three are pipelined: runs of up to 4 appends, --power-pipeline n, are in flight at once, so that a group commit shares an fsync among them, and an acknowledgment is placed where the adapter wrote its answer line to stdout, which the recorder sees), whole and in order, and nothing that was not yet written. An adapter whose hello promises durability "process" is run too, without the durability invariant: acknowledged batches a state loses are counted in the report (the loss its promise allows), while every state must still recover to a whole prefix.',
  needs: [{ kind: "power-recorder" }],
  workload:
    "one recorded life: open an empty directory, appends and checkpoints, one at a time in one life in three and in runs of up to 4 appends at once in the others (--power-pipeline n sets the depth, 1 makes every life sequential), close",
  faults:
    "power loss after any recorded fs operation: unsynced writes dropped, kept, reordered or torn; unsynced directory entries lost",
  invariants: [
    {
      id: "durability",
      text: 'every batch acknowledged before the cut is in the recovered state (durability "power" adapters; a "process" adapter\'s losses are counted)',
    },
    { id: "atomicity", text: "no batch is partly applied" },
    {
      id: "sequence",
      text: "lastSeq is the seq of the last batch recovered; nothing that was not yet written appears",
    },
    { id: "integrity", text: 'check answers ["ok"] (where the adapter has check)' },
    { id: "recovery", text: "open succeeds on every state a power cut can leave" },
  ],
  defaultCases: 4,
  // Every state of a 20-step workload is hundreds to thousands of directories (SQLite's: about 1,100),
  // each a fresh process when the adapter lacks the recover op (or with --fresh-recovery).
  caseTimeoutMs: (env) => (env.power?.exhaustive ? 30 * 60_000 : 120_000),
  arbitrary: (env) => {
    const fields = {
      steps: fc.array(
        stepOf(env.hello.features),
        env.power?.exhaustive
          ? { minLength: EXHAUSTIVE_STEPS, maxLength: EXHAUSTIVE_STEPS }
          : { minLength: 3, maxLength: 12 },
      ),
      sampleSeed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    };
    // Without a pipeline depth (the default, and a replay of a token that has none) the same
    // arbitrary as before pipelining, so the same draws. With one, two lives in three are
    // pipelined (drawn last, so the steps and the sample seed are those the same seed draws
    // without it; a shrink tries sequential first).
    if (!env.power?.pipeline) return fc.record(fields);
    return fc.record({
      ...fields,
      pipelined: fc.oneof({ arbitrary: fc.constant(false), weight: 1 }, { arbitrary: fc.constant(true), weight: 2 }),
    });
  },
  async execute(input, session, env: ScenarioEnv) {
    const power = env.power;
    if (!power) throw new Error("power-loss needs the recorder (the run checks it before scheduling this scenario)");
    session.step = "recorded life";
    const work = path.dirname(session.dirPath);
    const traceFile = path.join(work, "power.trace");
    // Where each op was issued (native frames, and a Node adapter's JavaScript stacks), for the
    // attribution of a failure; WALCHECK_POWER_STACKS=0 in walcheck's environment turns it off.
    const jsTrace = process.env.WALCHECK_POWER_STACKS === "0" ? undefined : path.join(work, "power.js-trace");
    fs.mkdirSync(session.dirPath, { recursive: true });
    const dir = fs.realpathSync(session.dirPath);
    const record = async (): Promise<Recording> => {
      const recordingStarted = performance.now();
      try {
        const depth = input.pipelined && power.pipeline ? power.pipeline : undefined;
        const env = recordEnv(traceFile, dir, power.recorder, {
          answers: depth !== undefined,
          ...(jsTrace ? { where: { jsTrace } } : {}),
        });
        return await recordLife(session.spawnExtra(env), {
          dir,
          traceFile,
          openConfig: session.openConfig,
          steps: input.steps,
          ...(depth !== undefined ? { pipeline: depth } : {}),
        });
      } catch (error) {
        if (error instanceof OpenRefused)
          session.fail("recovery", `open of an empty directory was refused: ${error.message}`);
        throw error;
      } finally {
        session.stats.timeMs.workload += performance.now() - recordingStarted;
      }
    };
    let rec = await record();
    // A replay of a failing state: the life recorded again (from an empty directory) until it has
    // the failing run's shape at the failing cut, as a pipelined life may need (REPLAY_RECORDINGS).
    const wanted = power.only?.shape;
    if (power.only && wanted !== undefined) {
      let recordings = 1;
      let matched = lifeShape(rec, dir, power.only.cut) === wanted;
      while (!matched && recordings < REPLAY_RECORDINGS) {
        fs.rmSync(dir, { recursive: true, force: true });
        fs.mkdirSync(dir);
        for (const f of [traceFile, jsTrace]) if (f) fs.rmSync(f, { force: true });
        rec = await record();
        recordings += 1;
        matched = lifeShape(rec, dir, power.only.cut) === wanted;
      }
      session.stats.powerStates.replay = { recordings, matched };
    }
    const unsupported = rec.trace.find((op) => op.op === "unsupported");
    if (unsupported)
      throw new Error(
        `power-loss: the recorded life did something the model cannot replay: ${"what" in unsupported ? unsupported.what : "?"} (trace line ${unsupported.i})`,
      );
    session.stats.batchesSent += rec.batches.length;
    session.stats.batchesAcked += rec.ackedAt.filter((a) => a !== undefined).length;
    session.step = "power-loss states";
    // A replay names the failing state: check it alone when a recording had the failing run's
    // shape at that cut (or, for a token from before shapes, has the same op there); otherwise
    // (a different life) check the case's states as the run did.
    const model = power.model ?? "posix-pessimistic";
    const only =
      power.only && session.stats.powerStates.replay?.matched !== false
        ? exactState(rec.initial, rec.trace, power.only, input.sampleSeed, model)
        : undefined;
    const states = only
      ? [only]
      : power.exhaustive
        ? allStates(rec.initial, rec.trace, input.sampleSeed, model)
        : sampled(rec.initial, rec.trace, input.sampleSeed, power.states, model);
    // With the recover op, a few long-lived processes recover the states (one in
    // CROSS_CHECK_EVERY, and every failure, again in a fresh process); without it, or with
    // --fresh-recovery, every directory gets a process of its own.
    // (The hello of the run: this session never starts its own main process.)
    const features = env.hello.features;
    const reuse = features.includes("recover") && power.freshRecovery !== true;
    // The case's share of the cores: that many directories recovered at once (and as many fresh
    // processes started ahead); the run's long-lived processes, and fresh ones started and not
    // used, are kept for its next case.
    const recoverers = Math.max(1, power.recoverers ?? 2);
    const pool = new RecoveryPool(() => session.spawnExtra(), {
      mode: reuse ? "reuse" : "fresh",
      ahead: recoverers,
      size: recoverers,
      openConfig: session.openConfig,
      check: features.includes("check"),
      ...(power.keeper
        ? {
            keeper: {
              keeper: power.keeper,
              borrower: {
                adopt: (client) => session.adopt(client),
                onWarning: (w) => addWarning(session.stats.warnings, w),
              },
            },
          }
        : {}),
    });
    const stateDir = path.join(work, "states");
    let result: CheckResult;
    let attribution: PowerAttribution | undefined;
    const durable = env.hello.durability === "power";
    try {
      result = await checkStates({
        states,
        rec,
        pool,
        workDir: stateDir,
        workers: recoverers,
        durable,
        ...(power.onProgress ? { onProgress: power.onProgress } : {}),
      });
      // A torn write that breaks recovery or atomicity is a bug of the reader, not a missing
      // barrier: only a lost acknowledged batch, or ops lost whole, are attributed to a barrier.
      const failed = result.failure;
      if (failed && (failed.verdict.invariant === "durability" || !failed.state.variant.startsWith("torn-"))) {
        session.step = "power-loss attribution";
        attribution = await attributed(rec, failed.state, model, pool, stateDir, durable, jsTrace);
      }
    } finally {
      await pool.close();
    }
    session.stats.powerStates.checked += result.checked;
    session.stats.powerStates.enumerated = (session.stats.powerStates.enumerated ?? 0) + result.enumerated;
    session.stats.powerStates.duplicates = (session.stats.powerStates.duplicates ?? 0) + result.duplicates;
    session.stats.powerStates.recovered += result.recovered;
    session.stats.powerStates.crossChecked += result.crossChecked;
    session.stats.powerStates.ms += result.elapsedMs;
    if (result.lostAcked.states > 0) {
      const p = session.stats.powerStates;
      p.lostStates = (p.lostStates ?? 0) + result.lostAcked.states;
      p.lostMax = Math.max(p.lostMax ?? 0, result.lostAcked.batches);
    }
    // Building, recovering and judging the states: the recovery share of the run's time line.
    session.stats.timeMs.recovery += result.elapsedMs;
    session.stats.recoveryMs.push(...result.recoveryMs);
    (session.stats.latency.recovery ??= []).push(...result.recoveryMs);
    const failure = result.failure;
    if (!failure) return;
    // The kept directory (keepFailure copies the session's) is the state that failed, beside the trace.
    fs.rmSync(session.dirPath, { recursive: true, force: true });
    fs.cpSync(failure.dir, session.dirPath, { recursive: true });
    const pipelined = rec.pipelined ? `; a pipelined life (up to ${rec.pipelined.depth} appends in flight)` : "";
    const at = `${describeState(failure.state, rec.trace)}; ${whereInWorkload(rec, input.steps, failure.state.cut)}${pipelined}`;
    session.simulatedCrash(`power loss: ${at}`);
    session.powerState = {
      cut: failure.state.cut,
      variant: failure.state.variant,
      op: failure.state.context.label,
      shape: lifeShape(rec, dir, failure.state.cut),
    };
    if (attribution) session.powerAttribution = attribution;
    // The state's name goes on the message's first line (the lines after it: a dead process's
    // stderr), the attribution on the last.
    const [first, ...more] = failure.verdict.message.split("\n");
    session.fail(
      failure.verdict.invariant,
      [
        `${first} (power-loss state cut ${failure.state.cut} variant ${failure.state.variant} under persistence model ${model}; ${result.checked} ${result.checked === 1 ? "state" : "states"} checked)`,
        ...more,
        ...(attribution ? [attribution.text] : []),
      ].join("\n"),
      failure.verdict.diff,
    );
  },
};

/**
 * The attribution of a failing state (attribute.ts): a few more states built at its cut, each
 * recovered by a fresh process and judged as the state was. An attribution that cannot be made
 * (an adapter error while making it) is left out: the violation stands without it.
 */
async function attributed(
  rec: Recording,
  state: CrashState,
  model: PersistenceModel,
  pool: RecoveryPool,
  stateDir: string,
  durable: boolean,
  jsTrace: string | undefined,
): Promise<PowerAttribution | undefined> {
  let n = 0;
  try {
    return await attribute({
      rec,
      state,
      model,
      judge: (r) => judgeState(rec, state.cut, r, durable),
      recover: async (s) => {
        const dir = path.join(stateDir, `attribution-${n++}`);
        fs.mkdirSync(dir, { recursive: true });
        try {
          await materialize(s, dir);
          return await pool.fresh(dir);
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      },
      ...(jsTrace && fs.existsSync(jsTrace) ? { jsTrace: fs.readFileSync(jsTrace, "utf8") } : {}),
    });
  } catch {
    return undefined;
  }
}
