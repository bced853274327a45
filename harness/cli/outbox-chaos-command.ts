import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { dir as tmpDir } from "tmp-promise";
import { writeJsonAtomic } from "../../reports/json-file.js";
import {
  OUTBOX_REPORT_VERSION,
  OutboxChaosReportSchema,
  type OutboxChaosReport,
} from "../../reports/outbox-report-schema.js";
import { OUTBOX_SCENARIOS, type OutboxScenario } from "../../scenarios/outbox/index.js";
import { CLI_JS, splitCommand } from "../engine/adapter-launch.js";
import { UsageError } from "../protocol/errors.js";
import { EXIT, exitCodeOf, onInterrupt } from "./exit.js";
import {
  ChaosOutboxError,
  ChaosViolation,
  newRecord,
  type ChaosContext,
  type OutboxLaunch,
  type ScenarioRecord,
} from "../outbox/chaos-kit.js";
import { postgresTarget, sqliteTarget, type SinkTarget } from "../outbox/chaos-sink.js";
import { OutboxClient, OutboxFault, OutboxRefusal } from "../protocol/outbox-client.js";
import type { OutboxHello } from "../protocol/outbox-messages.js";
import { parseSinkSpec } from "../outbox/sink-spec.js";

// `walcheck outbox chaos`: the three outbox scenarios (scenarios/outbox/) against an outbox
// process, a report.json, a summary, and the exit code of `walcheck run`: 0 all passed, 1 an
// invariant broken, 2 a usage or outbox error, 130 interrupted.

export interface ChaosFlags {
  /** The outbox under test, started as this command (default: `walcheck outbox serve`, the reference outbox). */
  outboxCmd?: string;
  /** `sqlite` (default: a fresh file per outbox directory) or a postgres:// URL (a fresh schema per directory). */
  sink?: string;
  /** Operations per scenario (sink-outage: written during the outage). Default 200. */
  ops?: number;
  seed?: number;
  reportDir?: string;
  /** Scenario names, comma-separated (default all). */
  scenario?: string;
  /** Per-request timeout in ms (default 10 000; a sync gets it per 1,000 queued entries). */
  timeout?: number;
}

export const CHAOS_DEFAULTS = { ops: 200, timeoutMs: 10_000, reportDir: "walcheck-reports" } as const;

function resolveLaunch(outboxCmd: string | undefined): OutboxLaunch {
  if (outboxCmd === undefined)
    return { label: "reference", flags: [], file: process.execPath, args: [CLI_JS, "outbox", "serve"], node: true };
  const [file, ...args] = splitCommand("--outbox-cmd", outboxCmd);
  if (!file) throw new UsageError("--outbox-cmd is empty");
  return {
    label: outboxCmd,
    flags: ["--outbox-cmd", JSON.stringify(outboxCmd)],
    file,
    args,
    node: path.basename(file).startsWith("node"),
  };
}

function resolveSink(raw: string | undefined): SinkTarget {
  if (raw === undefined || raw === "sqlite") return sqliteTarget();
  if (/^postgres(ql)?:/.test(raw)) {
    try {
      parseSinkSpec(raw);
    } catch (error) {
      throw new UsageError(`--sink: ${(error as Error).message}`);
    }
    return postgresTarget(raw);
  }
  throw new UsageError(`--sink must be sqlite or a postgres://user@host:port/database URL, got ${JSON.stringify(raw)}`);
}

function selectScenarios(raw: string | undefined): OutboxScenario[] {
  if (raw === undefined) return [...OUTBOX_SCENARIOS];
  const names = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !OUTBOX_SCENARIOS.some((s) => s.name === n));
  if (names.length === 0 || unknown.length > 0)
    throw new UsageError(
      `--scenario ${JSON.stringify(raw)}: no such scenario ${unknown.join(", ")} (there are ${OUTBOX_SCENARIOS.map((s) => s.name).join(", ")})`,
    );
  return OUTBOX_SCENARIOS.filter((s) => names.includes(s.name));
}

function positiveInt(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min)
    throw new UsageError(`${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  return value;
}

const ERR = (line: string) => process.stderr.write(`walcheck outbox chaos: ${line}\n`);

/** `walcheck outbox chaos`: its exit code. */
export async function outboxChaosCommand(flags: ChaosFlags): Promise<number> {
  let launch: OutboxLaunch, sink: SinkTarget, scenarios: OutboxScenario[], ops: number, seed: number, timeoutMs: number;
  try {
    launch = resolveLaunch(flags.outboxCmd);
    sink = resolveSink(flags.sink);
    scenarios = selectScenarios(flags.scenario);
    ops = positiveInt("--ops", flags.ops, CHAOS_DEFAULTS.ops, 1);
    seed = positiveInt("--seed", flags.seed, Math.floor(Math.random() * 2 ** 31), 0);
    timeoutMs = positiveInt("--timeout", flags.timeout, CHAOS_DEFAULTS.timeoutMs, 1);
    await sink.check().catch((error: unknown) => {
      throw new UsageError(`--sink: ${(error as Error).message}`);
    });
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    ERR(error.message);
    return EXIT.usage;
  }

  const started = new Date();
  const t0 = performance.now();
  const stamp = started.toISOString().replace(/[:.]/g, "-");
  const reportFile = path.resolve(
    flags.reportDir ?? CHAOS_DEFAULTS.reportDir,
    `outbox-chaos-${stamp}-seed${seed}`,
    "report.json",
  );
  const controller = new AbortController();
  const everyone = new Set<OutboxClient>();
  const offInterrupt = onInterrupt(controller, () => {
    for (const c of everyone) void c.kill();
  });
  const root = await tmpDir({ prefix: "walcheck-outbox-", unsafeCleanup: true });
  const start =
    (owned: Set<OutboxClient>) =>
    (env: Record<string, string | undefined> = {}) => {
      const client = OutboxClient.start({ file: launch.file, args: launch.args, env, timeoutMs });
      everyone.add(client);
      owned.add(client);
      void client.exited.then(() => everyone.delete(client));
      if (controller.signal.aborted) void client.kill();
      return client;
    };

  let hello: OutboxHello | null = null;
  let runError: { code: string; message: string } | undefined;
  const records: ScenarioRecord[] = [];
  try {
    const probe = start(new Set())();
    try {
      hello = await probe.call("hello", {});
      // An outbox that cannot close before open is not wrong: it is stopped either way.
      await probe.close({ timeoutMs }).catch(() => undefined);
    } catch (error) {
      runError = classify(error, controller.signal).error;
    } finally {
      await probe.kill();
    }
    if (hello) {
      process.stderr.write(
        `walcheck outbox chaos: ${hello.name} (${launch.label}), sink ${sink.label}, ${ops} ops, seed ${seed}, scenarios ${scenarios.map((s) => s.name).join(", ")}\n`,
      );
      for (const scenario of scenarios) {
        if (controller.signal.aborted) break;
        const rec = newRecord(scenario.name);
        records.push(rec);
        const owned = new Set<OutboxClient>();
        let made = 0;
        const ctx: ChaosContext = {
          launch,
          hello,
          sink,
          ops,
          seed,
          timeoutMs,
          signal: controller.signal,
          tempDir: async (name) => fs.mkdtempSync(path.join(root.path, `${name}-${++made}-`)),
          start: start(owned),
          log: (line) => process.stderr.write(`walcheck outbox chaos: ${line}\n`),
          keep: (dir, name) => {
            const to = path.join(path.dirname(reportFile), "kept", name);
            try {
              fs.cpSync(dir, to, { recursive: true, filter: (src) => path.basename(src) !== "LOCK" });
              return to;
            } catch (error) {
              return `(not kept: ${(error as Error).message})`;
            }
          },
        };
        const t = performance.now();
        try {
          await scenario.run(ctx, rec);
        } catch (error) {
          Object.assign(rec, classify(error, controller.signal));
        } finally {
          await Promise.all([...owned].map((c) => c.kill()));
          rec.timingsMs.total = performance.now() - t;
        }
        if (controller.signal.aborted) rec.status = "interrupted";
      }
    }
  } finally {
    offInterrupt();
    await Promise.all([...everyone].map((c) => c.kill()));
    await root.cleanup().catch((error: unknown) => ERR(`could not remove ${root.path}: ${(error as Error).message}`));
  }

  const status = controller.signal.aborted
    ? "interrupted"
    : records.some((r) => r.status === "failed")
      ? "failed"
      : runError || records.some((r) => r.status === "error")
        ? "error"
        : "passed";
  const failing = records.find((r) => r.status === "failed");
  const replay = failing ? replayLine(launch, sink, ops, seed, failing.name) : undefined;
  const outage = records.find((r) => r.name === "sink-outage" && r.figures);
  const report: OutboxChaosReport = {
    kind: "walcheck-outbox-chaos",
    version: OUTBOX_REPORT_VERSION,
    status,
    outbox: launch.label,
    hello,
    sink: { kind: sink.kind, label: sink.label },
    seed,
    ops,
    startedAt: started.toISOString(),
    durationMs: performance.now() - t0,
    scenarios: records,
    figures: outage?.figures ?? null,
    ...(replay ? { replay } : {}),
    ...(runError ? { error: runError } : {}),
    environment: { node: process.version, platform: process.platform, arch: process.arch },
  };
  // A report that does not match its schema is walcheck's own bug: said, and exit 2.
  const checked = OutboxChaosReportSchema.safeParse(report);
  writeJsonAtomic(reportFile, report);
  printSummary(report, reportFile, (name) => replayLine(launch, sink, ops, seed, name));
  if (!checked.success) {
    ERR(
      `the report does not match its schema (a walcheck bug): ${checked.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
    return EXIT.usage;
  }
  return exitCodeOf(status);
}

/** What an error thrown out of a scenario makes of its record. */
function classify(error: unknown, signal: AbortSignal): Pick<ScenarioRecord, "status" | "violation" | "error"> {
  if (signal.aborted) return { status: "interrupted" };
  if (error instanceof ChaosViolation) {
    const v = error;
    return {
      status: "failed",
      violation: {
        invariant: v.invariant,
        message: v.message,
        ...(v.where ? { where: v.where } : {}),
        ...(v.also.length > 0 ? { also: v.also } : {}),
        ...(v.kept ? { kept: v.kept } : {}),
      },
    };
  }
  if (error instanceof ChaosOutboxError || error instanceof OutboxFault || error instanceof OutboxRefusal)
    return { status: "error", error: { code: error.code, message: error.message } };
  return {
    status: "error",
    error: { code: "EINTERNAL", message: error instanceof Error ? (error.stack ?? error.message) : String(error) },
  };
}

function replayLine(launch: OutboxLaunch, sink: SinkTarget, ops: number, seed: number, scenario: string): string {
  return [
    "npx walcheck outbox chaos",
    ...launch.flags,
    "--sink",
    sink.kind === "sqlite" ? "sqlite" : JSON.stringify(sink.label),
    "--ops",
    String(ops),
    "--seed",
    String(seed),
    "--scenario",
    scenario,
  ].join(" ");
}

function describe(r: ScenarioRecord): string {
  if (r.status === "skipped") return r.reason ?? "";
  const crashes = Object.entries(r.crashes);
  const parts = [
    `writes ${r.ops.sent}: accepted ${r.ops.accepted}, refused ${r.ops.refused}`,
    `applied ${r.applied}`,
    `duplicates detected on replay ${r.duplicatesOnReplay}`,
    ...(crashes.length > 0
      ? [`SIGKILLs ${crashes.reduce((a, [, n]) => a + n, 0)} (${crashes.map(([p, n]) => `${p} x${n}`).join(", ")})`]
      : []),
    ...(r.armsNotReached > 0 ? [`crash arms not reached ${r.armsNotReached}`] : []),
    `sync passes ${r.passes}`,
    `${((r.timingsMs.total ?? 0) / 1000).toFixed(1)} s`,
  ];
  return parts.join(", ");
}

function printSummary(report: OutboxChaosReport, file: string, replayFor: (scenario: string) => string): void {
  const out = (line = "") => process.stdout.write(`${line}\n`);
  out(
    `walcheck outbox chaos — ${report.status.toUpperCase()} (seed ${report.seed}, ${report.ops} ops, sink ${report.sink.label}, outbox ${report.hello?.name ?? "?"} (${report.outbox}))`,
  );
  for (const r of report.scenarios)
    out(`  ${r.status.toUpperCase().padEnd(11)} ${r.name.padEnd(15)} ${describe(r as ScenarioRecord)}`);
  const f = report.figures;
  if (f) {
    out(
      `  sync throughput (database up): ${f.syncThroughput.opsPerSec} ops/s (${f.syncThroughput.ops} ops applied by one sync pass in ${f.syncThroughput.ms} ms)`,
    );
    out(
      `  catch-up after the outage: ${f.catchUp.queuedOps} queued ops drained in ${(f.catchUp.ms / 1000).toFixed(2)} s (${f.catchUp.opsPerSec} ops/s)`,
    );
  }
  for (const r of report.scenarios) {
    if (r.violation) {
      out();
      out(`VIOLATION in ${r.name}${r.violation.where ? ` (${r.violation.where})` : ""}: ${r.violation.invariant}`);
      out(`  ${r.violation.message}`);
      for (const more of r.violation.also ?? []) out(`  also: ${more}`);
      if (r.violation.kept)
        out(
          `  kept: ${r.violation.kept}${report.sink.kind === "postgres" ? " (the WAL; the PostgreSQL schema was dropped)" : ""}`,
        );
      out(`  seed ${report.seed}`);
      out(`  replay: ${replayFor(r.name)}`);
    }
    if (r.error) {
      out();
      out(`OUTBOX ERROR in ${r.name}: ${r.error.code}: ${r.error.message}`);
    }
  }
  if (report.error) out(`OUTBOX ERROR: ${report.error.code}: ${report.error.message}`);
  out(`  report: ${file}`);
}
