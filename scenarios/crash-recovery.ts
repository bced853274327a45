import fc from "fast-check";
import type { AimedFsArm, CaseSession, CrashArm, RecoveryCrash } from "../harness/engine/case-session.js";
import { batchOf, modeFor } from "../harness/engine/workload.js";
import type { Scenario, ScenarioEnv } from "../harness/engine/scenario.js";
import type { BatchOp } from "../harness/protocol/messages.js";
import { PROTOCOL_INVARIANTS } from "./crash-scenario.js";

/** Named points inside recovery: where `open` cuts a torn tail, removes a half-written snapshot, replays. */
export const recoveryPoint = (p: string) => /recover|replay|repair/i.test(p);

/**
 * The first crash, which leaves recovery work: an arm (a write cut in half, a checkpoint stopped
 * half done), or a SIGKILL only. Only what a process crash leaves: junk after the last record
 * is a torn write, the business of torn-tail and power-loss (a page-structured engine, SQLite in
 * DELETE mode, has no "after the last record", and junk there is corruption, not a crash).
 */
type FirstCrash = { arm: CrashArm | AimedFsArm; batches: BatchOp[][] } | undefined;

const showFirst = (first: NonNullable<FirstCrash>) => `${showArm(first.arm)} then append(${short(first.batches)})`;

const short = (batches: BatchOp[][]) =>
  batches.map((b) => b.map((o) => `${o.key}${o.value === null ? "-" : "="}`).join(",")).join(" | ");

const showArm = (arm: CrashArm | AimedFsArm) =>
  arm.kind === "named"
    ? `crash-at(${arm.point}:${arm.nth})`
    : arm.kind === "fs"
      ? `crash-at(fs #${arm.call} ${arm.when})`
      : `crash-at(fs ${arm.when} the ${arm.writes ? "write-like " : ""}call ${Math.round(arm.share * 100)}% into a dry run)`;

const showRecoveryCrash = (c: RecoveryCrash) =>
  c.kind === "kill"
    ? `sigkill(${c.delayMs}ms into open)`
    : c.kind === "kill-aimed"
      ? `sigkill(${Math.round(c.share * 100)}% into open, timed by a dry run)`
      : `${showArm(c)} inside open`;

/** One case: a workload, a crash, up to three recoveries crashed inside `open`, a clean one, more appends. */
class Plan {
  constructor(
    readonly before: BatchOp[][],
    readonly checkpoint: boolean,
    readonly first: FirstCrash,
    readonly kill: { batches: BatchOp[][]; after: number; delayMs: number },
    readonly rounds: RecoveryCrash[],
    readonly after: BatchOp[][],
  ) {}

  toString(): string {
    const steps = [`append(${short(this.before)})`];
    if (this.checkpoint) steps.push("checkpoint(passive)");
    if (this.first) steps.push(showFirst(this.first));
    steps.push(
      `sigkill(${this.kill.delayMs}ms after the answer to request ${Math.min(this.kill.after, this.kill.batches.length - 1) + 1} of ${short(this.kill.batches)}), if no crash yet`,
    );
    steps.push(...this.rounds.map(showRecoveryCrash), "clean recovery", `append(${short(this.after)})`);
    return steps.join("; ");
  }
}

/** Where among a dry run's calls an aimed fs crash goes: thousandths, so that it shrinks to the first call. */
const shareArb = fc.integer({ min: 0, max: 999 }).map((n) => n / 1000);

/** The crashes a recovery may take inside `open`, among those the run allows. */
function recoveryCrashArb(env: ScenarioEnv): fc.Arbitrary<RecoveryCrash> | undefined {
  const options: fc.WeightedArbitrary<RecoveryCrash>[] = [];
  const points = (env.hello.points ?? []).filter(recoveryPoint);
  if (env.crash.includes("named") && points.length > 0)
    options.push({
      weight: 3,
      arbitrary: fc
        .record({ point: fc.constantFrom(...points), nth: fc.integer({ min: 1, max: 2 }) })
        .map(({ point, nth }): RecoveryCrash => ({ kind: "named", point, nth })),
    });
  if (env.crash.includes("fs") && env.fsCallsPerLife !== undefined)
    options.push({
      weight: 3,
      // Placed by a dry run of the recovery on a copy: anywhere among the calls it makes.
      arbitrary: fc
        .record({ share: shareArb, when: fc.constantFrom<"before" | "after" | "mid">("before", "after", "mid") })
        .map(({ share, when }): RecoveryCrash => ({ kind: "fs-aimed", share, when })),
    });
  if (env.crash.includes("signal"))
    options.push({
      weight: 1,
      // Any moment of the recovery, timed by a dry run of it on a copy: an adapter in any language.
      arbitrary: shareArb.map((share): RecoveryCrash => ({ kind: "kill-aimed", share })),
    });
  return options.length > 0 ? fc.oneof(...options) : undefined;
}

/** The first crash's arm: a write cut in half (fs), or a named point on the append or checkpoint path. */
function firstCrashArb(env: ScenarioEnv): fc.Arbitrary<FirstCrash> {
  const batches = fc.array(batchOf(), { minLength: 4, maxLength: 8 });
  const options: fc.WeightedArbitrary<FirstCrash>[] = [{ weight: 1, arbitrary: fc.constant(undefined) }];
  if (env.crash.includes("fs") && env.fsCallsPerLife !== undefined)
    options.push({
      // The likeliest way a process crash gives recovery a torn tail to repair: a write cut in half.
      weight: 6,
      // One of the life's writes, found by a dry run of it on a copy of the directory.
      arbitrary: fc.record({ share: shareArb, batches }).map(({ share, batches }): FirstCrash => ({
        arm: { kind: "fs-aimed", share, when: "mid", writes: true },
        batches,
      })),
    });
  const points = (env.hello.points ?? []).filter((p) => !recoveryPoint(p));
  if (env.crash.includes("named") && points.length > 0)
    options.push({
      weight: 2,
      arbitrary: fc
        .record({ point: fc.constantFrom(...points), nth: fc.integer({ min: 1, max: 3 }), batches })
        .map(({ point, nth, batches }): FirstCrash => ({ arm: { kind: "named", point, nth }, batches })),
    });
  return fc.oneof(...options);
}

export const crashRecovery: Scenario<Plan> = {
  name: "crash-recovery",
  summary: "crash inside recovery, up to three times in a row, then a clean recovery that must lose nothing",
  description:
    "A crash leaves recovery work: a write cut in half by an fs-call crash (one of the life's writes, found by a dry run on a copy), a checkpoint stopped at a named point, or a SIGKILL during appends (only what a process crash leaves: torn writes are torn-tail's and power-loss's). Then up to three processes in a row are crashed inside `open`: at a named recovery point the adapter lists (`recover`, `replay` or `repair` in its name), at an fs call of the recovering process (through the Node fs preload or the C preload; placed anywhere among the calls a dry run of that recovery made on a copy of the directory), or by SIGKILL at a moment of `open` (a share of the time a dry run of that recovery took on a copy; for an adapter in any language). The clean recovery after them is held to the same invariants as a single recovery. This is where recovery must be idempotent: one that repairs the log by rewriting it in place (emptied, then written back) or renumbers records survives one run, and loses acknowledged batches when it is itself cut short.",
  needs: [],
  workload:
    "append bursts and a passive checkpoint (where offered); a crash; 1-3 recoveries crashed inside open; a clean one; appends",
  faults:
    "an fs-call crash mid-write, a named point, or a SIGKILL during appends; then 1-3 crashes inside open: recovery named points, any fs call of the recovery (aimed by a dry run on a copy), SIGKILL at any moment of open (timed by a dry run)",
  invariants: PROTOCOL_INVARIANTS,
  defaultCases: 6,
  arbitrary(env) {
    const rounds = recoveryCrashArb(env);
    const hasCheckpoint = env.hello.features.includes("checkpoint");
    return fc
      .record({
        before: fc.array(batchOf(), { minLength: 1, maxLength: 8 }),
        checkpoint: hasCheckpoint ? fc.boolean() : fc.constant(false),
        first: firstCrashArb(env),
        kill: fc.record({
          batches: fc.array(batchOf(), { minLength: 1, maxLength: 6 }),
          after: fc.nat({ max: 5 }),
          delayMs: fc.integer({ min: 0, max: 3 }),
        }),
        rounds: rounds
          ? fc.array(rounds, { minLength: 1, maxLength: 3, size: "max" })
          : fc.constant<RecoveryCrash[]>([]),
        after: fc.array(batchOf(), { minLength: 1, maxLength: 3 }),
      })
      .map((r) => new Plan(r.before, r.checkpoint, r.first, r.kill, r.rounds, r.after));
  },
  async execute(plan, session) {
    await runPlan(plan, session);
  },
};

async function runPlan(plan: Plan, session: CaseSession): Promise<void> {
  session.step = "start";
  await session.start();
  session.step = `append(${short(plan.before)})`;
  await session.appendBurst(plan.before);
  if (plan.checkpoint) {
    session.step = "checkpoint(passive)";
    await session.checkpoint("passive");
  }
  // The recovery after the next crash takes these crashes inside open, then recovers cleanly.
  session.recoveryCrashes = [...plan.rounds];
  const planned = plan.rounds.length;
  if (plan.first) {
    const { arm, batches } = plan.first;
    session.step = showFirst(plan.first);
    await session.arm(arm, batches, arm.kind === "named" ? modeFor(arm.point) : undefined);
  }
  if (planned === 0 || session.recoveryCrashes.length === planned) {
    // The arm was not reached (or there was none): a SIGKILL during a burst is the crash.
    session.step = `sigkill during append(${short(plan.kill.batches)})`;
    const after = Math.min(plan.kill.after, plan.kill.batches.length - 1);
    await session.appendBurst(plan.kill.batches, { after, delayMs: plan.kill.delayMs });
  }
  session.recoveryCrashes = [];
  session.step = `append(${short(plan.after)})`;
  await session.appendBurst(plan.after);
  await session.readCompare();
  session.step = "final close and reopen";
  await session.finish();
}
