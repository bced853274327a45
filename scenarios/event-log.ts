import path from "node:path";
import fc from "fast-check";
import type { AdapterClient } from "../harness/protocol/adapter-client.js";
import type { BatchOp } from "../harness/protocol/messages.js";
import { stableStringify } from "../harness/protocol/stable-json.js";
import { snapshotDir, walChanges } from "./dir-files.js";
import type { Scenario } from "../harness/engine/scenario.js";

const LIFECYCLES = [
  ["task.accepted", "task.started", "result.applied", "task.completed"],
  ["task.accepted", "task.cancelled"],
  ["task.accepted", "task.started", "task.cancelled"],
] as const;

/** An orchestrator's lifecycle event, serialized with sorted keys. */
export interface LifecycleEvent {
  run_id: string;
  seq: number;
  ts: number;
  type: string;
  task_id: string;
  result?: string;
}

interface Input {
  runId: string;
  tasks: number[];
  schedule: number[];
  /** Events per burst, and whether the burst ends in a SIGKILL (delay in ms). */
  bursts: { size: number; killMs: number | undefined }[];
}

/** Interleave the tasks' lifecycles as the schedule says: seq is global, ts moves with it. */
export function lifecycleEvents(input: Pick<Input, "runId" | "tasks" | "schedule">): LifecycleEvent[] {
  const next = input.tasks.map(() => 0);
  const events: LifecycleEvent[] = [];
  const emit = (t: number) => {
    const path = LIFECYCLES[input.tasks[t]! % LIFECYCLES.length]!;
    const type = path[next[t]!]!;
    next[t]! += 1;
    const seq = events.length + 1;
    events.push({
      run_id: input.runId,
      seq,
      ts: 1_790_000_000_000 + seq * 5,
      type,
      task_id: `task-${t + 1}`,
      ...(type === "result.applied" ? { result: `ok é 日 ${seq}` } : {}),
    });
  };
  const pending = (t: number) => next[t]! < LIFECYCLES[input.tasks[t]! % LIFECYCLES.length]!.length;
  for (const pick of input.schedule) {
    const live = input.tasks.map((_, t) => t).filter(pending);
    if (live.length === 0) break;
    emit(live[pick % live.length]!);
  }
  for (let t = 0; t < input.tasks.length; t++) while (pending(t)) emit(t);
  return events;
}

/** The batch of one event: the event under its (run, seq) key and the task's projection, atomically. */
export function eventBatch(event: LifecycleEvent): BatchOp[] {
  return [
    { key: `events/${event.run_id}/${String(event.seq).padStart(8, "0")}`, value: stableStringify(event) },
    { key: `tasks/${event.run_id}/${event.task_id}`, value: event.type },
  ];
}

async function writeAll(
  client: AdapterClient,
  dir: string,
  config: Record<string, unknown>,
  batches: BatchOp[][],
): Promise<void> {
  await client.request("hello", {});
  const open = await client.request("open", { dir, config });
  if (!open.ok) throw new Error(`open ${dir}: ${open.error.code}: ${open.error.message}`);
  for (const ops of batches) await client.request("append", { ops });
  await client.request("close", {});
  await client.waitExit();
}

export const eventLog: Scenario<Input> = {
  name: "event-log",
  summary: "orchestrator lifecycle events: after a crash they replay ordered by (seq, ts), byte-identical across runs",
  description:
    "Design A: an orchestrator's per-run event log. Tasks go through task.accepted, task.started, result.applied, task.completed or task.cancelled, interleaved; each event (run_id, seq, ts, sorted-key JSON, non-ASCII payloads) is appended together with the task's projection, in pipelined bursts cut by SIGKILLs. After every recovery the events must be exactly the first k emitted, each byte for byte as sent, every task's projection must be its last event, and an adapter that returns its own replay (`read.log`) must return it ordered by (seq, ts). An adapter listing `deterministic` must also write byte-identical files when the same events are written twice.",
  needs: [],
  workload: "1-4 tasks' lifecycles interleaved by a seeded schedule, 1-6 events per burst, SIGKILL after some bursts",
  faults: "SIGKILL a few milliseconds into a burst of events",
  invariants: [
    {
      id: "durability",
      text: "the recovered events are a prefix of those emitted, each serialized byte for byte as sent, with the task projections matching",
    },
    { id: "event-order", text: "read.log (where the adapter returns it) lists the events in (seq, ts) order" },
    {
      id: "deterministic-bytes",
      text: "with `deterministic`: the same events give byte-identical files in two directories",
    },
  ],
  defaultCases: 6,
  arbitrary: () =>
    fc.record({
      runId: fc.constantFrom("run-0001", "run-é7", "run_2026-11-22"),
      tasks: fc.array(fc.nat({ max: LIFECYCLES.length - 1 }), { minLength: 1, maxLength: 4 }),
      schedule: fc.array(fc.nat(), { minLength: 2, maxLength: 16 }),
      bursts: fc.array(
        fc.record({
          size: fc.integer({ min: 1, max: 6 }),
          killMs: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined, freq: 2 }),
        }),
        { minLength: 1, maxLength: 6 },
      ),
    }),
  async execute(input, session) {
    const events = lifecycleEvents(input);
    const batches = events.map(eventBatch);
    session.onRecovered = (read) => {
      // The adapter's own replay, where it returns one: its records in the order recovery replays them.
      const log = (read as { log?: unknown }).log;
      if (!Array.isArray(log)) return;
      const records = log.map((l) => (typeof l === "string" ? JSON.parse(l) : l) as { seq?: unknown; ts?: unknown });
      for (let i = 1; i < records.length; i++) {
        const [p, c] = [records[i - 1]!, records[i]!];
        if (
          typeof p.seq !== "number" ||
          typeof c.seq !== "number" ||
          typeof p.ts !== "number" ||
          typeof c.ts !== "number"
        )
          continue;
        if (p.seq > c.seq || (p.seq === c.seq && p.ts > c.ts)) {
          session.fail(
            "event-order",
            `the adapter's replay (read.log) is not ordered by (seq, ts): record ${i} (seq ${p.seq}, ts ${p.ts}) comes before record ${i + 1} (seq ${c.seq}, ts ${c.ts})`,
          );
        }
      }
    };
    await session.start();
    let at = 0;
    for (const burst of input.bursts) {
      if (at >= batches.length) break;
      const chunk = batches.slice(at, at + burst.size);
      at += chunk.length;
      session.step = `events ${at - chunk.length + 1}-${at}${burst.killMs === undefined ? "" : ` then SIGKILL after ${burst.killMs} ms`}`;
      await session.appendBurst(
        chunk,
        burst.killMs === undefined ? undefined : { after: chunk.length - 1, delayMs: burst.killMs },
      );
      // Events lost in a crash are emitted again, as an orchestrator retries: same seq, same bytes.
      at = Math.min(at, session.model.lastAcked);
    }
    if (at < batches.length) await session.appendBurst(batches.slice(at));
    session.step = "final close and reopen";
    await session.finish();
    if (session.features.includes("deterministic")) {
      const work = path.dirname(session.dirPath);
      const [a, b] = [path.join(work, "twice-a"), path.join(work, "twice-b")];
      await writeAll(session.spawnExtra(), a, session.openConfig, batches);
      await writeAll(session.spawnExtra(), b, session.openConfig, batches);
      // A lock file holds its owner's pid: not part of the log's bytes.
      const diff = walChanges(snapshotDir(a), snapshotDir(b));
      if (diff.length > 0)
        session.fail(
          "deterministic-bytes",
          `the same ${batches.length} events written twice gave different files: ${diff.join("; ")}`,
        );
    }
  },
};
