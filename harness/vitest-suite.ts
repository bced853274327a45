import path from "node:path";
import { dir as tmpDir } from "tmp-promise";
import { resolveAdapter } from "./engine/adapter-launch.js";
import { applicability, selectScenarios } from "../scenarios/index.js";
import { caseSeed, probeAdapter } from "./engine/campaign.js";
import { runCase } from "./engine/case-runner.js";
import { faultPath, type FaultPath } from "./engine/fault-path.js";
import { FS_PRELOAD } from "./faults/fs-preload-path.js";
import type { BatchOp } from "./protocol/messages.js";
import type { WalAdapter } from "./protocol/wal-adapter.js";
import type { CrashKinds } from "./engine/workload.js";

/** The parts of vitest (or any runner with the same shape) the suite needs: pass yours in. */
export interface SuiteTest {
  (name: string, fn: () => Promise<void>, timeoutMs?: number): void;
}

export interface ConformanceOptions {
  /** Your runner's `test` (vitest's `test` or `it`). */
  test: SuiteTest;
  /** Makes a fresh in-process adapter for the protocol-level tests. */
  factory?: () => WalAdapter | Promise<WalAdapter>;
  /** For the crash cases: `reference`, or the path of a module exporting a WalAdapter (run in a child process)... */
  adapter?: string;
  /** ...or any adapter, in any language, started as this command. */
  adapterCmd?: string;
  /** Cases per scenario (default 4), each its own test. */
  runs?: number;
  /** Scenario names or globs from the catalogue (default ["crash-mixed"]); one that does not apply to the adapter is skipped. */
  scenarios?: string[];
  seed?: number;
  crash?: CrashKinds;
  recoveryThresholdMs?: number;
  /** Adapter config sent with every open. */
  config?: Record<string, unknown>;
  /** Where failing cases are kept (default walcheck-reports/vitest). */
  reportDir?: string;
}

const batch = (i: number): BatchOp[] => [
  { key: `k${i % 3}`, value: `v${i}-é` },
  { key: `x${i}`, value: i % 4 === 3 ? null : `y${i}` },
];

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const d = await tmpDir({ prefix: "walcheck-conformance-", unsafeCleanup: true });
  try {
    return await fn(path.join(d.path, "wal"));
  } finally {
    await d.cleanup();
  }
}

function expectEqual(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

function sortedState(state: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(state).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/**
 * walcheck's conformance suite, called from your own test file, the way abstract-level
 * ships its suite:
 *
 * ```ts
 * import { test } from "vitest";
 * import { walConformance } from "walcheck/vitest";
 * walConformance({ test, factory: () => createMyAdapter(), adapter: "./dist/my-adapter.js" });
 * ```
 *
 * With `factory`: protocol-level tests in process (seqs, reads, deletes, checkpoints,
 * reopen). With `adapter` or `adapterCmd`: crash cases in child processes, each a test
 * that fails with the invariant, the shrunk commands and the replay line.
 */
export function walConformance(opts: ConformanceOptions): void {
  const { test } = opts;
  if (opts.factory) {
    const factory = opts.factory;
    test("walcheck: append gives seqs 1, 2, 3 and read returns exactly the acknowledged state", async () => {
      await withDir(async (dir) => {
        const wal = await factory();
        const opened = await wal.open(dir, opts.config ?? {});
        expectEqual(opened.lastSeq, 0, "lastSeq of a new WAL");
        const expected: Record<string, string> = {};
        for (let i = 1; i <= 5; i++) {
          const { seq } = await wal.append(batch(i));
          expectEqual(seq, i, `seq of batch ${i}`);
          for (const op of batch(i)) {
            if (op.value === null) delete expected[op.key];
            else expected[op.key] = op.value;
          }
        }
        const read = await wal.read();
        expectEqual(read.lastSeq, 5, "lastSeq after 5 batches");
        expectEqual(sortedState(read.state), sortedState(expected), "state after 5 batches");
        await wal.close();
      });
    });

    test("walcheck: state and lastSeq survive a clean close and reopen", async () => {
      await withDir(async (dir) => {
        const first = await factory();
        await first.open(dir, opts.config ?? {});
        for (let i = 1; i <= 4; i++) await first.append(batch(i));
        const before = await first.read();
        await first.close();
        const second = await factory();
        const opened = await second.open(dir, opts.config ?? {});
        expectEqual(opened.lastSeq, 4, "lastSeq after reopen");
        expectEqual(sortedState((await second.read()).state), sortedState(before.state), "state after reopen");
        expectEqual((await second.append(batch(5))).seq, 5, "seq of the next batch after reopen");
        await second.close();
      });
    });

    test("walcheck: checkpoints keep every acknowledged batch, and check says ok", async () => {
      await withDir(async (dir) => {
        const wal = await factory();
        const hello = await wal.hello();
        await wal.open(dir, opts.config ?? {});
        for (let i = 1; i <= 6; i++) await wal.append(batch(i));
        const before = await wal.read();
        if (hello.features.includes("checkpoint") && wal.checkpoint) {
          await wal.checkpoint("passive");
          if (hello.features.includes("checkpoint.truncate")) await wal.checkpoint("truncate");
        }
        expectEqual(await wal.read(), before, "read after checkpoints");
        if (hello.features.includes("check") && wal.check) expectEqual(await wal.check(), ["ok"], "check");
        await wal.close();
        const again = await factory();
        expectEqual((await again.open(dir, opts.config ?? {})).lastSeq, 6, "lastSeq after checkpoint and reopen");
        expectEqual(
          sortedState((await again.read()).state),
          sortedState(before.state),
          "state after checkpoint and reopen",
        );
        await again.close();
      });
    });
  }

  if (opts.adapter || opts.adapterCmd) {
    const launch = resolveAdapter({
      adapter: opts.adapter,
      adapterCmd: opts.adapterCmd,
      ...(opts.config ? { config: opts.config } : {}),
    });
    const seed = opts.seed ?? 20261121;
    const runs = opts.runs ?? 4;
    let hello: Awaited<ReturnType<typeof probeAdapter>> | undefined;
    let faults: FaultPath | undefined;
    for (const scenario of selectScenarios(opts.scenarios ?? ["crash-mixed"])) {
      for (let index = 0; index < runs; index++) {
        const s = caseSeed(seed, index, scenario.name);
        test(`walcheck: ${scenario.name} case ${index + 1}/${runs} (seed ${s})`, async () => {
          hello ??= await probeAdapter(launch, 10_000);
          // Not Node: fs faults go through the C preload if a probe life shows it sees the writes.
          if (!launch.node && scenario.needs.some((n) => n.kind === "fs-faults"))
            faults ??= await faultPath(
              launch,
              { ok: false, why: "the adapter is not a Node.js process" },
              10_000,
              opts.config ?? {},
            );
          const verdict = applicability(
            scenario,
            hello,
            launch.node
              ? { ok: true, why: "" }
              : (faults ?? { ok: false, why: "the adapter is not a Node.js process" }),
          );
          if (!verdict.applies) return; // skipped for this adapter: nothing to hold it to
          const crash = opts.crash ?? (launch.node && hello.points?.length ? ["named", "signal"] : ["signal"]);
          const result = await runCase(index, s, {
            launch,
            scenario,
            env: { hello, crash, maxCommands: 20 },
            openConfig: { ...scenario.adapterConfig?.(hello), ...opts.config },
            recoveryThresholdMs: opts.recoveryThresholdMs ?? 200,
            timeoutMs: 10_000,
            fsPreload: FS_PRELOAD,
            ...(faults?.ok && faults.via === "native" ? { nativeFaults: faults.lib } : {}),
            reportDir: path.resolve(opts.reportDir ?? "walcheck-reports/vitest"),
          });
          if (result.status === "failed") {
            throw new Error(
              `${result.violation.description}\ncommands: ${result.commands}\nkept: ${result.keptDir}\nreplay: npx walcheck run ${launch.flags.join(" ")} --replay ${result.replayToken}`,
            );
          }
          if (result.status === "error") throw new Error(`adapter error ${result.error.code}: ${result.error.message}`);
        }, 120_000);
      }
    }
  }
}
