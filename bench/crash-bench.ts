import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { CLI_JS, type AdapterLaunch } from "../harness/engine/adapter-launch.js";
import type { BenchCrashCampaign } from "../reports/bench-schema.js";
import { WalcheckError } from "../harness/protocol/errors.js";

// The crash suite's campaign: `walcheck run` itself, started as a child process (the same
// code path a user runs, nothing of it re-assembled here), over the crash-* scenarios with the
// bench's seed, a fixed number of cases per scenario and a worker per core; its report.json
// gives the crash cycles and the time they took.

/** The scenarios the crash suite runs: process crashes of every kind the reference WAL has points for. */
export const CRASH_SCENARIOS = [
  "crash-append",
  "crash-checkpoint",
  "crash-truncate",
  "crash-rotate",
  "crash-recovery",
  "crash-mixed",
] as const;

export interface CrashCampaignOptions {
  subject: string;
  launch: AdapterLaunch;
  seed: number;
  /** Cases per scenario. */
  runs: number;
  workers: number;
  timeoutMs: number;
  /** A directory of its own for the run's report (removed by the caller). */
  dir: string;
  signal: AbortSignal;
}

/** Why a crash campaign gave no figure: the run could not start, stopped with an error and no report, or was interrupted. */
export class CrashCampaignError extends WalcheckError {
  override readonly name = "CrashCampaignError";

  constructor(
    message: string,
    readonly interrupted = false,
  ) {
    super("BENCH_FAILED", message);
  }
}

/** The flags that select the adapter again (`--adapter x`, or `--adapter-cmd` with the command as given). */
function adapterFlags(launch: AdapterLaunch): string[] {
  const [flag, value] = launch.flags;
  if (flag === "--adapter-cmd" && value !== undefined) return [flag, JSON.parse(value) as string];
  return launch.flags;
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Run the campaign and read its report; a CrashCampaignError when there is no figure to give. */
export async function benchCrashCampaign(o: CrashCampaignOptions): Promise<BenchCrashCampaign> {
  if (o.signal.aborted) throw new CrashCampaignError("interrupted", true);
  const args = [
    CLI_JS,
    "run",
    ...adapterFlags(o.launch),
    "--no-config",
    "--scenarios",
    CRASH_SCENARIOS.join(","),
    "--seed",
    String(o.seed),
    "--runs",
    String(o.runs),
    "--workers",
    String(o.workers),
    "--timeout",
    String(o.timeoutMs),
    "--report-dir",
    o.dir,
  ];
  // Not detached: a Ctrl-C in a terminal reaches it too; walcheck run then stops its adapters and exits 130.
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "ignore", "pipe"],
    // Its report goes nowhere but its directory: not into a CI job summary.
    env: { ...process.env, WALCHECK_LOG_LEVEL: "warn", GITHUB_STEP_SUMMARY: "" },
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-4000);
  });
  const onAbort = () => child.kill("SIGINT");
  o.signal.addEventListener("abort", onAbort, { once: true });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (exitCode) => resolve(exitCode));
  }).finally(() => o.signal.removeEventListener("abort", onAbort));
  if (o.signal.aborted || code === 130) throw new CrashCampaignError("interrupted", true);
  const reportDir = fs.existsSync(o.dir)
    ? fs
        .readdirSync(o.dir)
        .map((d) => path.join(o.dir, d, "report.json"))
        .find((f) => fs.existsSync(f))
    : undefined;
  if (!reportDir)
    throw new CrashCampaignError(
      `walcheck run over ${CRASH_SCENARIOS.join(", ")} exited with code ${String(code)} and wrote no report: ${stderr.trim().slice(-1500) || "(no stderr)"}`,
    );
  const r = JSON.parse(fs.readFileSync(reportDir, "utf8")) as Record<string, unknown>;
  const cases = r.cases as Record<string, unknown> | undefined;
  const status = r.status;
  if (
    (status !== "passed" && status !== "failed" && status !== "error") ||
    !isCount(r.cycles) ||
    typeof r.elapsedMs !== "number" ||
    !(r.elapsedMs > 0) ||
    !cases ||
    !["planned", "run", "passed", "failed", "errors"].every((k) => isCount(cases[k]))
  )
    throw new CrashCampaignError(
      `walcheck run exited with code ${String(code)} and its report (${reportDir}) has no verdict, cycles and time: ${stderr.trim().slice(-1500) || "(no stderr)"}`,
    );
  const scenarios = Array.isArray(r.scenarios)
    ? (r.scenarios as { name?: unknown; status?: unknown }[])
        .filter((s) => typeof s.name === "string" && s.status !== "skipped")
        .map((s) => s.name as string)
    : [];
  return {
    subject: o.subject,
    scenarios,
    runs: o.runs,
    workers: o.workers,
    seed: o.seed,
    status,
    cases: {
      planned: cases.planned as number,
      run: cases.run as number,
      passed: cases.passed as number,
      failed: cases.failed as number,
      errors: cases.errors as number,
    },
    cycles: r.cycles,
    elapsedMs: r.elapsedMs,
    cyclesPerMinute: (r.cycles * 60_000) / r.elapsedMs,
  };
}
