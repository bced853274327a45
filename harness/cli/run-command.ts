import fs from "node:fs";
import { DEFAULT_TIMEOUT_MS } from "../protocol/json-lines-child.js";
import path from "node:path";
import { createRequire } from "node:module";
import type cliProgressModule from "cli-progress";
import { dir as tmpDir } from "tmp-promise";
import { collectEnvironment } from "../../reports/environment.js";
import { writeJsonAtomic } from "../../reports/json-file.js";
import { writeRenderings } from "../../reports/renderings.js";
import { githubAnnotations, githubExhaustiveAnnotations, inGitHubActions } from "../../reports/github-annotations.js";
import {
  EXHAUSTIVE_REPORT_VERSION,
  REPORT_VERSION,
  type ExhaustiveReport,
  type PersistenceReport,
  type RunReport,
  type Written,
} from "../../reports/report-schema.js";
import { AdapterClient, type ProtocolWarning } from "../protocol/adapter-client.js";
import { addWarning } from "../protocol/tolerant-reader.js";
import { fsFaultSupport, MIN_FS_CALLS, resolveAdapter, type AdapterLaunch } from "../engine/adapter-launch.js";
import {
  applicability,
  DEFAULT_THRESHOLDS,
  MAX_POWER_PIPELINE,
  SAMPLED_STATES,
  SCENARIOS,
  scenarioByName,
  selectScenarios,
  type Scenario,
  type Thresholds,
} from "../../scenarios/index.js";
import {
  defaultWorkers,
  probeAdapter,
  runCampaign,
  type PlannedScenario,
  type RunSummary,
} from "../engine/campaign.js";
import { ensureRecorder } from "../faults/power/recorder-build.js";
import { RecoveryKeeper } from "../faults/power/recovery-keeper.js";
import { faultPath, nativeFsCrashPath, type FaultPath, type FsCrashPath } from "../engine/fault-path.js";
import { FS_PRELOAD } from "../faults/fs-preload-path.js";
import { checkOutputDir } from "./output-dir.js";
import { createLogger, logFormat } from "./logger.js";
import { decodeReplayToken, type ReplayToken } from "../engine/replay-token.js";
import { PERSISTENCE_MODELS, type Hello, type PersistenceModel } from "../protocol/messages.js";
import { parseDuration, resolveRunConfig } from "./run-config.js";
import { UsageError } from "../protocol/errors.js";
import { EXIT, exitCodeOf, onInterrupt } from "./exit.js";
import { preflight } from "./doctor-command.js";
import type { CrashKinds } from "../engine/workload.js";
import type { InvariantSpec } from "../engine/scenario.js";

/** `walcheck run` flags as commander parses them (all optional: the config file and defaults fill in). */
export interface RunFlags {
  adapter?: string;
  adapterCmd?: string;
  /** A file; false for --no-config; absent: the first walcheck.config.* of the working directory. */
  config?: string | false;
  seed?: number;
  runs?: number;
  budget?: string;
  shrinkBudget?: string;
  crash?: "named" | "fs" | "signal" | "power" | "all";
  /** A persistence model, or "all" (validated here: commander passes any string). */
  persistence?: string;
  exhaustive?: boolean;
  freshRecovery?: boolean;
  /** Appends in flight in pipelined power-loss lives (1: none pipelined). */
  powerPipeline?: number;
  /** Add the corruption sweep (opt-in scenario corruption-sweep) to the scenarios run. */
  sweep?: boolean;
  workers?: number;
  shard?: string;
  reportDir?: string;
  replay?: string;
  recoveryThreshold?: number;
  timeout?: number;
  maxCommands?: number;
  scenarios?: string;
  latency?: "gate" | "warn";
  bail?: boolean;
  skipDoctor?: boolean;
}

export { FS_PRELOAD };

/** `--sweep`: the selected scenarios and corruption-sweep (opt-in, so never in the default selection), in catalogue order. */
function withSweep(selected: Scenario[], sweep: boolean): Scenario[] {
  if (!sweep || selected.some((sc) => sc.name === "corruption-sweep")) return selected;
  const all = [...selected, scenarioByName("corruption-sweep")];
  return SCENARIOS.filter((sc) => all.includes(sc));
}
export { faultPath, fsFaultSupport, MIN_FS_CALLS };

function parseShard(raw: string | undefined): { index: number; count: number } {
  if (raw === undefined) return { index: 0, count: 1 };
  const m = /^(\d+)\/(\d+)$/.exec(raw);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index < 1 || index > count)
    throw new UsageError(`--shard must be i/n with 1 <= i <= n, got ${JSON.stringify(raw)}`);
  return { index: index - 1, count };
}

function crashKinds(choice: "named" | "fs" | "signal" | "power" | "all"): CrashKinds {
  // Power loss is its own scenario (power-loss); the crash kinds of the others do not apply.
  // fs crash points: the Node fs preload, else the C preload (decided after the probe, see runCommand).
  if (choice === "power") return ["signal"];
  if (choice !== "all") return [choice];
  return ["named", "signal", "fs"];
}

/**
 * Start the adapter once, under the fs preload: its hello, and the mutating fs calls of one
 * typical life (open, appends, checkpoints) counted from the preload's trace, so that fs crash
 * points are drawn where calls really happen.
 */
export async function probeWithFsCalls(
  launch: AdapterLaunch,
  timeoutMs: number,
  openConfig: Record<string, unknown>,
  onWarning?: (w: Omit<ProtocolWarning, "count">) => void,
): Promise<{ hello: Hello; fsCalls: number }> {
  const work = await tmpDir({ prefix: "walcheck-count-", unsafeCleanup: true });
  const trace = path.join(work.path, "trace.jsonl");
  const env = {
    ...launch.env,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${FS_PRELOAD}`.trim(),
    WALCHECK_FS_TRACE: trace,
  };
  const client = AdapterClient.start({
    file: launch.file,
    args: launch.args,
    env,
    timeoutMs,
    ...(onWarning ? { onWarning } : {}),
  });
  try {
    const hello = await client.hello();
    await client.request("open", { dir: path.join(work.path, "wal"), config: openConfig });
    for (let i = 0; i < 6; i++) await client.request("append", { ops: [{ key: "k", value: String(i) }] });
    if (hello.features.includes("checkpoint"))
      await client.request("checkpoint", {
        mode: hello.features.includes("checkpoint.truncate") ? "truncate" : "passive",
      });
    await client.request("close", {});
    await client.waitExit();
    return {
      hello,
      fsCalls: fs.existsSync(trace) ? fs.readFileSync(trace, "utf8").split("\n").filter(Boolean).length : 0,
    };
  } finally {
    await client.kill();
    await work.cleanup();
  }
}

/** Whether the power-loss recorder can be built (cached after the first time), and if not, why. */
export async function recorderSupport(): Promise<{ ok: true; path: string; why: "" } | { ok: false; why: string }> {
  try {
    return { ok: true, path: await ensureRecorder(), why: "" };
  } catch (error) {
    return { ok: false, why: (error as Error).message };
  }
}

export interface RunOutcome {
  exitCode: number;
  summary?: RunSummary;
  reportFile?: string;
}

/** `walcheck run`: resolve flags and config, run the campaign, write the report, print the verdict. */
export async function runCommand(flags: RunFlags): Promise<RunOutcome> {
  const logger = createLogger();
  const { config, label: configLabel } = await resolveRunConfig(flags.config, {
    info: (m) => logger.info(m),
    warn: (m) => logger.warn(m),
  });
  const replay: ReplayToken | undefined = flags.replay ? decodeReplayToken(flags.replay) : undefined;
  const log = (m: string) => logger.info(m);
  const openConfig = config.adapterConfig ?? {};
  const adapterFlag = flags.adapter ?? (flags.adapterCmd ? undefined : config.adapter);
  const adapterCmdFlag = flags.adapterCmd ?? (flags.adapter ? undefined : config.adapterCmd);
  const launch = resolveAdapter({ adapter: adapterFlag, adapterCmd: adapterCmdFlag });
  const seed = flags.seed ?? config.seed ?? Math.floor(Math.random() * 2 ** 31);
  const budgetRaw = flags.budget ?? config.budget;
  const budgetMs = budgetRaw === undefined ? undefined : parseDuration(budgetRaw);
  const shrinkRaw = flags.shrinkBudget ?? config.shrinkBudget;
  const shrinkBudgetMs =
    shrinkRaw === undefined ? undefined : parseDuration(shrinkRaw, "--shrink-budget", "10s, 0s or 500ms");
  const workers = flags.workers ?? config.workers ?? defaultWorkers();
  const shard = parseShard(flags.shard);
  const timeoutMs = flags.timeout ?? config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const recoveryThresholdMs =
    flags.recoveryThreshold ?? config.recoveryThresholdMs ?? DEFAULT_THRESHOLDS.recovery.criticalMs;
  const maxCommands = flags.maxCommands ?? config.maxCommands ?? 25;
  const crashChoice = flags.crash ?? config.crash ?? "all";
  let crash = replay ? replay.crash : crashKinds(crashChoice);
  for (const name of Object.keys(config.scenarioOptions ?? {})) {
    if (!SCENARIOS.some((sc) => sc.name === name))
      throw new UsageError(`${configLabel}: scenarioOptions.${name}: no such scenario (walcheck list shows them)`);
  }
  const persistenceChoice = parsePersistence(flags.persistence ?? config.persistence);
  const pipeline = pipelineOf(flags.powerPipeline, replay);
  const powerRun = crashChoice === "power" || replay?.power !== undefined;
  const powerExhaustive = replay ? replay.power === "exhaustive" : powerRun && flags.exhaustive === true;
  const sweep = flags.sweep ?? config.sweep ?? false;
  const selected: Scenario[] = replay
    ? [scenarioByName(replay.scenario ?? "crash-mixed")]
    : withSweep(selectScenarios(flags.scenarios ?? config.scenarios ?? (powerRun ? "power-loss" : undefined)), sweep);
  if (powerRun && !selected.some((sc) => sc.name === "power-loss"))
    throw new UsageError("--crash power runs the power-loss scenario; --scenarios does not select it");

  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const reportDir = path.resolve(flags.reportDir ?? config.reportDir ?? "walcheck-reports", `run-${stamp}-seed${seed}`);
  checkOutputDir(
    flags.reportDir !== undefined ? "--report-dir" : "reportDir",
    path.resolve(flags.reportDir ?? config.reportDir ?? "walcheck-reports"),
  );
  const reportFile = path.join(reportDir, "report.json");

  const fsExhaustive = (flags.exhaustive && !powerRun) || replay?.exhaustive !== undefined;
  if (fsExhaustive && !launch.node)
    throw new UsageError(
      "--exhaustive enumerates fs-call crash points, which need a Node.js adapter (or give --crash power --exhaustive for every power-loss state)",
    );
  // Pre-flight (walcheck doctor): an adapter that breaks the protocol stops here, with every deviation.
  const needsRecorder = selected.some((sc) => sc.needs.some((n) => n.kind === "power-recorder"));
  const doctor = flags.skipDoctor
    ? undefined
    : await preflight(launch, { timeoutMs, openConfig, power: needsRecorder }, log);
  if (doctor?.interrupted) return { exitCode: EXIT.interrupted };
  if (doctor && !doctor.usable) return { exitCode: EXIT.usage };
  // One start of the adapter learns its hello and, when fs crash points or fs faults may be
  // drawn, counts the fs calls of a typical life under the preload.
  const needFsCount =
    launch.node &&
    !fsExhaustive &&
    (crash.includes("fs") || selected.some((sc) => sc.usesFsFaults || sc.needs.some((n) => n.kind === "fs-faults")));
  // The probe's informational-field deviations count with the cases' (each is listed once).
  const probeWarnings: ProtocolWarning[] = [];
  const onProbeWarning = (w: Omit<ProtocolWarning, "count">) => addWarning(probeWarnings, w);
  const { hello, fsCalls: fsCallsPerLife } = needFsCount
    ? await probeWithFsCalls(launch, timeoutMs, openConfig, onProbeWarning)
    : { hello: await probeAdapter(launch, timeoutMs, onProbeWarning), fsCalls: 0 };
  if (fsExhaustive) {
    return runExhaustiveCommand({
      launch,
      hello,
      seed,
      workers,
      timeoutMs,
      recoveryThresholdMs,
      openConfig,
      reportDir,
      reportFile,
      ...(replay?.exhaustive ? { only: replay.exhaustive } : {}),
    });
  }
  if (crash.includes("named") && !hello.points?.length && !replay) {
    log("named crash points skipped: the adapter lists no points in hello");
    crash = crash.filter((k) => k !== "named");
    if (crash.length === 0) throw new UsageError("--crash named: the adapter lists no crash points in hello.points");
  }
  // An adapter whose I/O happens in native code (SQLite, say) makes almost no calls the
  // preload can see: fs crash points would all land in the same one or two places, and
  // injected faults would never reach its writes.
  const fsFaults = fsFaultSupport(launch, fsCallsPerLife);
  // fs crash points the Node preload cannot take to the adapter go through the C preload (LD_PRELOAD).
  const fsCrash: FsCrashPath = fsFaults.ok
    ? { ok: true, via: "node", calls: fsCallsPerLife, why: "through the Node fs preload" }
    : crash.includes("fs") && !fsExhaustive
      ? await nativeFsCrashPath(launch, fsFaults.why, timeoutMs, openConfig)
      : { ok: false, why: fsFaults.why };
  if (crash.includes("fs") && !fsCrash.ok) {
    if (!replay && crashChoice === "all") {
      log(`fs-call crash points skipped: ${fsCrash.why}`);
      crash = crash.filter((k) => k !== "fs");
    } else {
      throw new UsageError(`${replay ? "this replay token uses fs crash points" : "--crash fs"}: ${fsCrash.why}`);
    }
  }
  if (crash.includes("fs") && fsCrash.ok && fsCrash.via === "native") log(`fs-call crash points ${fsCrash.why}`);
  const fsCalls = fsCrash.ok ? fsCrash.calls : undefined;

  // Injected fs faults: the Node preload where it sees the adapter's I/O, else the C preload.
  const faults: FaultPath = selected.some((sc) => sc.usesFsFaults || sc.needs.some((n) => n.kind === "fs-faults"))
    ? await faultPath(launch, fsFaults, timeoutMs, openConfig)
    : fsFaults.ok
      ? { ok: true, via: "node", why: "" }
      : { ok: false, why: fsFaults.why };
  if (faults.ok && faults.via === "native") log(`fs faults injected ${faults.why}`);

  const seen = doctor?.capabilities.powerRecorder;
  const recorder = needsRecorder
    ? seen?.checked && !seen.available
      ? { ok: false as const, why: seen.why }
      : await recorderSupport()
    : undefined;
  // The persistence model: a replay's own (older tokens: posix-pessimistic), else the flag's, else hello's.
  const persistence = resolvePersistence(persistenceChoice, hello, replay);
  const power = recorder?.ok
    ? {
        recorder: recorder.path,
        exhaustive: powerExhaustive,
        states: SAMPLED_STATES,
        freshRecovery: flags.freshRecovery === true,
        only: replay?.powerState,
        model: persistence.assumed,
        // A replay draws its case as its run did (a token without a depth: sequential lives).
        ...pipeline,
        // Each case recovers its crash states on its share of the cores (at least two at once),
        // with recovery processes kept from one case to the next (closed when the run ends).
        recoverers: Math.max(2, Math.ceil(defaultWorkers() / Math.max(1, workers))),
        keeper: new RecoveryKeeper((onWarning) =>
          AdapterClient.start({ file: launch.file, args: launch.args, env: { ...launch.env }, timeoutMs, onWarning }),
        ),
      }
    : undefined;
  /** The power-loss plans, one per model run, with their labels in the summary. */
  const powerPlans: { model: PersistenceModel; label: string }[] = [];
  const plans: PlannedScenario[] = [];
  const skipped: { name: string; reason: string; invariants: readonly InvariantSpec[] }[] = [];
  for (const scenario of selected) {
    const verdict = applicability(scenario, hello, faults, recorder);
    if (!verdict.applies) {
      skipped.push({ name: scenario.name, reason: verdict.reason, invariants: scenario.invariants });
      continue;
    }
    const options = config.scenarioOptions?.[scenario.name] ?? {};
    const kinds = scenario.crashKinds ? crash.filter((k) => scenario.crashKinds!.includes(k)) : crash;
    const plan: PlannedScenario = {
      scenario,
      cases: replay ? 1 : (flags.runs ?? options.cases ?? config.runs ?? scenario.defaultCases),
      env: {
        hello,
        crash: kinds,
        maxCommands,
        fsCallsPerLife: fsCalls,
        faults: faults.ok ? { ok: true, via: faults.via } : { ok: false, why: faults.why },
        power,
        ...(replay?.sweepCell ? { sweepOnly: replay.sweepCell } : {}),
      },
      openConfig: { ...scenario.adapterConfig?.(hello), ...openConfig, ...options.adapterConfig },
      thresholds: mergeThresholds(DEFAULT_THRESHOLDS, scenario.thresholds, config.thresholds, options.thresholds),
    };
    if (scenario.name !== "power-loss" || !power) {
      plans.push(plan);
      continue;
    }
    // --persistence all: the power-loss scenario once per model, same seed, same cases.
    for (const model of persistence.run) {
      const label = persistence.run.length > 1 ? `power-loss (${model})` : "power-loss";
      powerPlans.push({ model, label });
      plans.push({
        ...plan,
        env: { ...plan.env, power: { ...power, model } },
        ...(persistence.run.length > 1 ? { label } : {}),
      });
    }
  }
  for (const s of skipped) log(`scenario ${s.name} skipped: ${s.reason}`);
  if (plans.length === 0)
    throw new UsageError(
      `no selected scenario applies to ${hello.name}: ${skipped.map((s) => `${s.name} (${s.reason})`).join("; ")}`,
    );
  const planned = plans.reduce((n, p) => n + (replay ? 1 : Math.ceil((p.cases - shard.index) / shard.count)), 0);
  log(
    `walcheck run: ${hello.name} (${launch.label}), seed ${seed}, ${replay ? `replaying one ${plans[0]!.scenario.name} case` : `${plans.length} scenarios, ${planned} cases`}, crash ${powerRun ? (powerExhaustive ? "power (every state)" : "power (sampled states)") : crash.join("+") || "none"}, ${workers} workers${fsCalls !== undefined ? `, ~${fsCalls} fs calls per life` : ""}`,
  );

  const controller = new AbortController();
  const offInterrupt = onInterrupt(controller);
  // The bar only on a terminal, and not among JSON log lines; elsewhere a line per case.
  const tty = process.stderr.isTTY === true && logFormat() === "pretty";
  // cli-progress only draws on a terminal: loaded then (CommonJS), not in CI or under a pipe.
  const cliProgress = tty ? (createRequire(import.meta.url)("cli-progress") as typeof cliProgressModule) : undefined;
  const bar = cliProgress
    ? new cliProgress.SingleBar(
        {
          format: "cases {bar} {value}/{total} | cycles {cycles} ({rate}/min) | violations {violations}",
          hideCursor: true,
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(planned, 0, { cycles: 0, rate: 0, violations: 0 });
  // The environment goes in from the first write, so an interrupted run's report has it too.
  const environment = await collectEnvironment({ reportDir });
  const base = {
    kind: "walcheck-run" as const,
    version: REPORT_VERSION as typeof REPORT_VERSION,
    adapter: launch.label,
    flags: launch.flags,
    environment,
    ...(fsCalls !== undefined ? { fsCallsPerLife: fsCalls } : {}),
  };
  let summary: RunSummary;
  try {
    summary = await runCampaign(
      {
        launch,
        seed,
        crash,
        scenarios: plans,
        skipped,
        order: selected.map((sc) => sc.name),
        ...(budgetMs !== undefined ? { budgetMs } : {}),
        ...(shrinkBudgetMs !== undefined ? { shrinkBudgetMs } : {}),
        workers,
        shard,
        reportDir,
        recoveryThresholdMs,
        timeoutMs,
        ...(replay ? { replay } : {}),
        fsPreload: FS_PRELOAD,
        ...(faults.ok && faults.via === "native" ? { nativeFaults: faults.lib } : {}),
        ...(crash.includes("fs") && fsCrash.ok && fsCrash.via === "native" ? { nativeFsCrash: fsCrash.lib } : {}),
        warnings: probeWarnings,
        latencyGate: flags.latency ?? config.latency ?? "gate",
        ...(flags.bail ? { bail: true } : {}),
        signal: controller.signal,
        onCase: (result, s) => {
          // Written as the run goes: an interrupted run still leaves a valid report.
          writeJsonAtomic(reportFile, { ...base, ...s } satisfies Written<RunReport>);
          if (bar)
            bar.update(s.cases.run, {
              cycles: s.cycles,
              rate: Math.round(s.cyclesPerMinute),
              violations: s.cases.failed,
            });
          else {
            const line = `case ${s.cases.run}/${planned} ${result.scenario} ${result.status}: ${s.cycles} crash cycles, ${Math.round(s.cyclesPerMinute)}/min`;
            if (logFormat() === "json") logger.info(line);
            else process.stderr.write(`${line}\n`);
          }
        },
      },
      hello,
    );
  } finally {
    bar?.stop();
    offInterrupt();
    await power?.keeper.close();
  }
  const persistenceReport = powerPlans.length
    ? persistenceVerdicts(summary, powerPlans, persistence, launch)
    : undefined;
  // The report's type is its schema's (reports/report-schema.ts): the engine's summary must fit it.
  writeJsonAtomic(reportFile, {
    ...base,
    ...summary,
    ...(persistenceReport ? { persistence: persistenceReport } : {}),
  } satisfies Written<RunReport>);
  printSummary(summary, reportFile, launch);
  if (persistenceReport && powerPlans.length > 1) printPersistence(persistenceReport);
  if (inGitHubActions())
    for (const line of githubAnnotations({ ...base, ...summary })) process.stdout.write(`${line}\n`);
  // Markdown, JUnit and HTML from the final JSON, checked against its schema first (a report that
  // does not match is walcheck's own bug: said, but the run's verdict stands).
  try {
    const written = writeRenderings(reportFile);
    process.stdout.write(
      `  report (markdown): ${written.markdown}\n  report (junit): ${written.junit}\n  report (html): ${written.html}\n`,
    );
    if (written.stepSummary) process.stdout.write(`  job summary: appended to ${written.stepSummary}\n`);
    if (written.stepSummaryError) process.stderr.write(`walcheck: ${written.stepSummaryError}\n`);
  } catch (error) {
    process.stderr.write(`walcheck: could not render the report: ${(error as Error).message}\n`);
  }
  return { exitCode: exitCodeOf(summary.status), summary, reportFile };
}

interface ExhaustiveCommandOptions {
  launch: AdapterLaunch;
  hello: Awaited<ReturnType<typeof probeAdapter>>;
  seed: number;
  workers: number;
  timeoutMs: number;
  recoveryThresholdMs: number;
  openConfig: Record<string, unknown>;
  reportDir: string;
  reportFile: string;
  only?: { call: number; when: "before" | "after" | "mid" };
}

/** `walcheck run --exhaustive`: every fs-call crash point of the seed's bounded workload. */
async function runExhaustiveCommand(o: ExhaustiveCommandOptions): Promise<RunOutcome> {
  const { runExhaustive } = await import("../engine/exhaustive.js");
  const controller = new AbortController();
  const offInterrupt = onInterrupt(controller);
  let last = 0;
  let result;
  try {
    result = await runExhaustive({
      launch: o.launch,
      hello: o.hello,
      seed: o.seed,
      fsPreload: FS_PRELOAD,
      openConfig: o.openConfig,
      recoveryThresholdMs: o.recoveryThresholdMs,
      timeoutMs: o.timeoutMs,
      workers: o.workers,
      reportDir: o.reportDir,
      ...(o.only ? { only: o.only } : {}),
      signal: controller.signal,
      onPoint: (done, total) => {
        if (done - last >= 10 || done === total) {
          last = done;
          process.stderr.write(`exhaustive: ${done}/${total} crash points\n`);
        }
      },
    });
  } finally {
    offInterrupt();
  }
  writeJsonAtomic(o.reportFile, {
    kind: "walcheck-run-exhaustive",
    version: EXHAUSTIVE_REPORT_VERSION as typeof EXHAUSTIVE_REPORT_VERSION,
    adapter: o.launch.label,
    hello: o.hello,
    ...result,
  } satisfies Written<ExhaustiveReport>);
  const out = (line = "") => process.stdout.write(`${line}\n`);
  out(
    `walcheck run --exhaustive — ${result.status.toUpperCase()} (seed ${result.seed}: ${result.calls} fs calls, ${result.points} crash points, ${result.checked} checked, ${result.fired} fired, ${result.pointsPerSecond.toFixed(1)} points/s)`,
  );
  out(`  workload: ${result.workload.join(", ")}`);
  for (const f of result.failures) {
    out();
    out(`VIOLATION at fs call #${f.point.call} (${f.point.when}):`);
    out(f.violation.description.replace(/^/gm, "  "));
    out(`  kept: ${f.keptDir}`);
    out(`  replay: npx walcheck run ${o.launch.flags.join(" ")} --replay ${f.replayToken}`);
  }
  for (const e of result.errors)
    out(`ADAPTER ERROR at fs call #${e.point.call} (${e.point.when}): ${e.code}: ${e.message}`);
  printWarnings(result.stats.warnings, out);
  out(`  report: ${o.reportFile}`);
  if (inGitHubActions())
    for (const line of githubExhaustiveAnnotations({ ...result, flags: o.launch.flags })) out(line);
  return { exitCode: exitCodeOf(result.status), reportFile: o.reportFile };
}

type PersistenceChoice = PersistenceModel | "all" | undefined;

/** Appends in flight in power-loss lives when --power-pipeline is absent. */
export const DEFAULT_POWER_PIPELINE = 4;

/**
 * The pipeline depth of the power-loss lives: a replay's own (a token without one: sequential
 * lives), else --power-pipeline's, else DEFAULT_POWER_PIPELINE; 1 is sequential (capped at MAX_POWER_PIPELINE).
 */
function pipelineOf(flag: number | undefined, replay: ReplayToken | undefined): { pipeline?: number } {
  const depth = replay ? replay.pipeline : (flag ?? DEFAULT_POWER_PIPELINE);
  if (depth !== undefined && depth > MAX_POWER_PIPELINE)
    throw new UsageError(`--power-pipeline: at most ${MAX_POWER_PIPELINE} appends in flight, got ${depth}`);
  return depth !== undefined && depth > 1 ? { pipeline: depth } : {};
}

/** `--persistence` (or the config's `persistence`): a model, "all", or absent; anything else is a usage error listing them. */
export function parsePersistence(raw: string | undefined): PersistenceChoice {
  if (raw === undefined) return undefined;
  if (raw === "all" || (PERSISTENCE_MODELS as readonly string[]).includes(raw)) return raw as PersistenceChoice;
  throw new UsageError(
    `--persistence: unknown persistence model ${JSON.stringify(raw)}; the models: ${PERSISTENCE_MODELS.join(", ")}, or all (each in turn)`,
  );
}

interface Persistence {
  assumed: PersistenceModel;
  source: PersistenceReport["source"];
  /** The models power-loss runs under: the assumed one, or every one for `all`. */
  run: readonly PersistenceModel[];
}

function resolvePersistence(choice: PersistenceChoice, hello: Hello, replay: ReplayToken | undefined): Persistence {
  if (replay) {
    const model = replay.persistence ?? "posix-pessimistic";
    return { assumed: model, source: replay.persistence ? "flag" : "default", run: [model] };
  }
  const declared = hello.persistence;
  if (choice !== undefined && choice !== "all") return { assumed: choice, source: "flag", run: [choice] };
  const assumed = declared ?? "posix-pessimistic";
  const source = declared ? "hello" : "default";
  return { assumed, source, run: choice === "all" ? PERSISTENCE_MODELS : [assumed] };
}

/** report.json's `persistence`: each model's power-loss verdict, from its scenario summary. */
function persistenceVerdicts(
  s: RunSummary,
  plans: readonly { model: PersistenceModel; label: string }[],
  persistence: Persistence,
  launch: AdapterLaunch,
): PersistenceReport {
  const results = plans.flatMap(({ model, label }) => {
    const sc = s.scenarios.find((x) => x.name === label);
    if (!sc) return [];
    const p = sc.powerStates;
    const failed = sc.failures[0];
    const status: "passed" | "failed" | "error" =
      sc.status === "passed" || sc.status === "failed" ? sc.status : "error";
    return [
      {
        model,
        status,
        statesChecked: p?.checked ?? 0,
        directoriesRecovered: p?.recovered ?? 0,
        lostAcked: { states: p?.lostStates ?? 0, batches: p?.lostMax ?? 0 },
        elapsedMs: sc.caseTimeMs ?? 0,
        ...(failed
          ? {
              failure: {
                invariant: failed.violation.invariant,
                message: failed.violation.message,
                replay: `npx walcheck run ${launch.flags.join(" ")} --replay ${failed.replayToken}`,
              },
            }
          : {}),
      },
    ];
  });
  const weakest = PERSISTENCE_MODELS.find((m) => results.some((r) => r.model === m && r.status === "passed"));
  return { assumed: persistence.assumed, source: persistence.source, results, weakestPassing: weakest ?? null };
}

/** The table `--persistence all` prints after the summary. */
function printPersistence(r: PersistenceReport): void {
  const out = (line = "") => process.stdout.write(`${line}\n`);
  const rows = [
    ["model", "verdict", "states", "directories", "acked batches lost (states)", "time"],
    ...r.results.map((x) => [
      x.model,
      x.status.toUpperCase(),
      String(x.statesChecked),
      String(x.directoriesRecovered),
      x.lostAcked.states > 0 ? `${x.lostAcked.batches} (${x.lostAcked.states})` : "0",
      `${(x.elapsedMs / 1000).toFixed(1)} s`,
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  out();
  out(`persistence models (assumed: ${r.assumed}, from ${r.source}):`);
  for (const row of rows) out(`  ${row.map((cell, c) => cell.padEnd(widths[c]!)).join(" | ")}`.trimEnd());
  out(`  weakest model passed: ${r.weakestPassing ?? "none"}`);
}

function mergeThresholds(
  ...layers: (Partial<Record<keyof Thresholds, Partial<Thresholds[keyof Thresholds]>>> | undefined)[]
): Thresholds {
  const out = structuredClone(DEFAULT_THRESHOLDS);
  for (const layer of layers)
    for (const [op, level] of Object.entries(layer ?? {})) Object.assign(out[op as keyof Thresholds], level);
  return out;
}

/** The summary's words for a replay of a failing power-loss state: did the recorded life come back? */
function replayNote(r: { recordings: number; matched: boolean } | undefined): string {
  if (!r) return "";
  if (r.matched)
    return `; replay: recording ${r.recordings} of the life had the failing run's shape at the failing cut`;
  return `; replay: none of ${r.recordings} recordings of the life had the failing run's shape at the failing cut (a pipelined life's interleaving depends on timing), so this case's states were checked as the run checked them`;
}

function printSummary(s: RunSummary, reportFile: string, launch: AdapterLaunch): void {
  const out = (line = "") => process.stdout.write(`${line}\n`);
  const named = Object.entries(s.crashes.named).sort((a, b) => b[1] - a[1]);
  const fsHits = Object.values(s.crashes.fs).reduce((a, b) => a + b, 0);
  const t = s.timeMs;
  const total = t.startup + t.recovery + t.workload + t.verify || 1;
  const pct = (v: number) => `${Math.round((v / total) * 100)}%`;
  // A run that could not start the cases it planned (budget, Ctrl-C, bail, a scenario stopped
  // at its first failure) says so next to its verdict.
  const cases =
    s.cases.run < s.cases.planned
      ? `${s.cases.run} of ${s.cases.planned} planned cases ran`
      : `${s.cases.run}/${s.cases.planned} cases`;
  out(
    `walcheck run — ${s.status.toUpperCase()} (seed ${s.seed}, ${cases}, ${s.cycles} crash cycles, ${Math.round(s.cyclesPerMinute)}/min)`,
  );
  out(
    `  adapter: ${launch.label} (${s.hello?.name}, durability ${s.hello?.durability}, features ${s.hello?.features.join(", ") || "none"})`,
  );
  for (const sc of s.scenarios) {
    const lat = ["append", "recovery", "truncate"]
      .filter((op) => sc.latency[op])
      .map((op) => `${op} p50 ${sc.latency[op]!.p50.toFixed(1)}/p99 ${sc.latency[op]!.p99.toFixed(1)} ms`)
      .join(", ");
    const f = sc.faults;
    const faults =
      f.lives > 0 ? `, ${f.lives} fault lives (refused: ${f.refusedOpens} opens, ${f.refusedAppends} appends)` : "";
    const p = sc.powerStates;
    const power =
      p && p.checked > 0
        ? `, ${p.checked} power-loss states (${p.recovered} directories recovered${p.crossChecked ? `, ${p.crossChecked} cross-checked in fresh processes` : ""}, ${((p.checked * 1000) / Math.max(1, p.ms)).toFixed(1)} states/s per case${p.enumerated !== undefined ? `; ${p.enumerated} enumerated, ${p.duplicates ?? 0} of them duplicates of a directory already recovered` : ""}${p.lostStates ? `; acknowledged batches lost in ${p.lostStates} states, at most ${p.lostMax} at once, as durability "process" allows` : ""}${replayNote(p.replay)})`
        : "";
    const w = sc.sweep;
    const sweep = w
      ? `, ${w.recoveries} damaged copies recovered (${((w.recoveries * 1000) / Math.max(1, w.ms)).toFixed(1)}/s; ${w.violations} violations; not violations: ${w.findings.changed} silently changed, ${w.findings.missing} lost after a bit flip${w.skipped.length ? `; not swept: ${w.skipped.map((x) => x.fault).join(", ")}` : ""})`
      : "";
    const detail =
      sc.status === "skipped"
        ? sc.reason
        : `${sc.cases.run}/${sc.cases.planned} cases, ${sc.cycles} crash cycles${faults}${power}${sweep}${lat ? `; ${lat}` : ""}`;
    out(`  ${sc.status.toUpperCase().padEnd(8)} ${sc.name.padEnd(17)} ${detail}`);
  }
  out(
    `  crashes: SIGKILL ${s.crashes.signal}, named ${named.reduce((a, [, n]) => a + n, 0)}${named.length ? ` (${named.map(([p, n]) => `${p} x${n}`).join(", ")})` : ""}, fs calls ${fsHits}; armed but not reached ${s.armsNotReached}`,
  );
  out(
    `  batches acked ${s.batches.acked}/${s.batches.sent}, checkpoints ${s.checkpoints}; recovery ms p50 ${s.recoveryMs.p50.toFixed(1)}, p95 ${s.recoveryMs.p95.toFixed(1)}, max ${s.recoveryMs.max.toFixed(1)}`,
  );
  out(
    `  time: start-up ${pct(t.startup)}, recovery ${pct(t.recovery)}, workload ${pct(t.workload)}, verification ${pct(t.verify)} (summed over workers)`,
  );
  for (const w of s.latencyWarnings) out(`  latency warning: ${w}`);
  if (s.latencyObserved.length > 0) {
    const names = new Set(s.latencyObserved.map((l) => l.split(":")[0]));
    out(
      `  latency beside crash cycles (reported, not gated): over a level in ${names.size} scenario(s); see latencyObserved in the report`,
    );
  }
  for (const f of s.latencyFailures) out(`  LATENCY FAILURE: ${f}`);
  for (const f of s.failures) {
    out();
    out(`VIOLATION in ${f.scenario} case ${f.index} (case seed ${f.seed}), shrunk ${f.shrinks} times:`);
    out(f.violation.description.replace(/^/gm, "  "));
    out(`  input: ${f.commands}`);
    out(`  kept: ${f.keptDir}`);
    out(`  replay: npx walcheck run ${launch.flags.join(" ")} --replay ${f.replayToken}`);
  }
  for (const e of s.errors) {
    out();
    out(`ADAPTER ERROR in ${e.scenario} case ${e.index} (case seed ${e.seed}): ${e.error.code}: ${e.error.message}`);
  }
  printWarnings(s.warnings, out);
  out(`  report: ${reportFile}`);
}

/** The informational answer fields the adapter got wrong, once each, after the verdict. */
function printWarnings(warnings: readonly { message: string; count: number }[], out: (line?: string) => void): void {
  if (warnings.length === 0) return;
  out("  protocol warnings (informational fields; the run is not affected):");
  for (const w of warnings) out(`    ${w.message} (${w.count} answer${w.count === 1 ? "" : "s"})`);
}
