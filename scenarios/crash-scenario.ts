import fc from "fast-check";
import type { CaseSession } from "../harness/engine/case-session.js";
import { workloadCommands, type Aim } from "../harness/engine/workload.js";
import type { InvariantSpec, Scenario, ScenarioEnv } from "../harness/engine/scenario.js";

type Commands = Iterable<fc.AsyncCommand<Record<string, never>, CaseSession>>;

/** The body every crash scenario shares: a fast-check command list with crashes, ending in a clean close and reopen. */
export async function runCommands(commands: Commands, session: CaseSession): Promise<void> {
  await session.start();
  await fc.asyncModelRun(() => ({ model: {}, real: session }), commands);
  session.step = "final close and reopen";
  await session.finish();
}

/** The protocol's invariants, checked after every crash by every crash scenario. */
export const PROTOCOL_INVARIANTS: readonly InvariantSpec[] = [
  {
    id: "durability",
    text: "every acknowledged batch survives (the recovered state is the state after some prefix k >= the last ack)",
  },
  { id: "atomicity", text: "no batch is partly applied" },
  { id: "sequence", text: "lastSeq is the seq of batch k; seqs never repeat" },
  { id: "integrity", text: 'check answers ["ok"] (where the adapter has check)' },
  { id: "recovery", text: "open succeeds on every directory a crash leaves, within the recovery threshold" },
];

/** A crash scenario: the command workload, aimed at one path by `aim`. */
export function crashScenario(
  spec: Omit<Scenario<Commands>, "arbitrary" | "execute" | "invariants"> & {
    aim?: Aim;
    invariants?: readonly InvariantSpec[];
  },
): Scenario<Commands> {
  const { aim, invariants, ...rest } = spec;
  return {
    ...rest,
    invariants: invariants ?? PROTOCOL_INVARIANTS,
    arbitrary: (env: ScenarioEnv) =>
      workloadCommands({
        hello: env.hello,
        crash: spec.crashKinds ? env.crash.filter((k) => spec.crashKinds!.includes(k)) : env.crash,
        maxCommands: env.maxCommands,
        fsCallsPerLife: env.fsCallsPerLife ?? 40,
        replayPath: env.replayPath,
        ...(aim ? { aim } : {}),
      }),
    execute: (commands, session) => runCommands(commands, session),
  };
}
