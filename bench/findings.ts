import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { ENGINE_CONFIGS, PERSISTENCE_COLUMNS, type Column, type EngineConfig, type Verdict } from "./engine-configs.js";

// walcheck's verdicts on real engines: every configuration of bench/engine-configs.ts run by
// the walcheck CLI (a child process, as a user runs it) under process kills and under power
// loss with every persistence model, each verdict set beside the one its documentation
// justifies. `npm run findings` writes the table into docs/findings.md; the known-answer test
// runs a small budget of the same.

/** The repository's root: the nearest directory above this module (bench/ or dist/bench/) with a package.json. */
export const REPO_ROOT = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, "package.json")) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
})();
const CLI = path.join(REPO_ROOT, "dist", "harness", "cli", "main.js");

export interface Budget {
  /** Cases per crash-* and second-opener scenario under process kills. */
  processRuns: number;
  /** Power-loss cases per persistence model. */
  powerRuns: number;
  seed: number;
  /** Shrink failing cases (the findings' replays are minimal); the test reports them as found. */
  shrink: boolean;
}

/** The budget of `npm run findings`; the known-answer test runs a smaller one. */
export const FULL_BUDGET: Budget = { processRuns: 2, powerRuns: 1, seed: 15, shrink: true };

export interface Cell {
  column: Column;
  verdict: Verdict;
  /** Crash cycles (process) or power-loss states judged. */
  checked: number;
  elapsedMs: number;
  /** Acknowledged batches lost where the promise allows it: states that lost some, and the most one lost. */
  lostAcked?: { states: number; batches: number };
  /** A failure's invariant message, or why the column was skipped. */
  message?: string;
  /** The command that replays a failure. */
  replay?: string;
}

export interface ConfigFindings {
  id: string;
  /** The adapter's hello name: the engine and its version. */
  name: string;
  cells: Cell[];
}

type Json = Record<string, any>;

async function runCli(args: string[], reportDir: string): Promise<{ exitCode: number; report?: Json; output: string }> {
  fs.mkdirSync(reportDir, { recursive: true });
  const result = await execa(process.execPath, [CLI, "run", ...args, "--report-dir", reportDir], {
    cwd: REPO_ROOT,
    reject: false,
    env: { WALCHECK_LOG_LEVEL: "warn", GITHUB_STEP_SUMMARY: "", GITHUB_ACTIONS: "" },
  });
  const output = `${result.stdout}\n${result.stderr}`;
  const dirs = fs.existsSync(reportDir) ? fs.readdirSync(reportDir).filter((d) => d.startsWith("run-")) : [];
  const file = dirs.length ? path.join(reportDir, dirs.sort().at(-1)!, "report.json") : undefined;
  const report = file && fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as Json) : undefined;
  return { exitCode: result.exitCode ?? -1, report, output };
}

const quoteArg = (s: string) => (/^[\w./:=,@+-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`);

function replayOf(config: EngineConfig, failure: Json | undefined): string | undefined {
  if (!failure?.replayToken) return undefined;
  return `npx walcheck run --adapter-cmd ${quoteArg(config.cmd)} --replay ${failure.replayToken}`;
}

function commonFlags(config: EngineConfig, budget: Budget, runs: number): string[] {
  // Correctness, not speed: latency over a level is reported, never a failure here.
  return [
    "--adapter-cmd",
    config.cmd,
    "--runs",
    String(runs),
    "--seed",
    String(budget.seed),
    "--latency",
    "warn",
    "--recovery-threshold",
    "60000",
    // A slow start on a busy machine (PGlite's initdb, DuckDB's module) is not a finding.
    "--timeout",
    "60000",
    "--skip-doctor",
    ...(budget.shrink && !config.noShrink ? [] : ["--shrink-budget", "0s"]),
    ...(config.freshRecovery ? ["--fresh-recovery"] : []),
  ];
}

/** A run that ended in neither a verdict nor a report: the adapter or walcheck broke, and the findings say so. */
function broken(what: string, exitCode: number, output: string): Error {
  return new Error(
    `${what} ended with exit ${exitCode} and no verdict:\n${output.trim().split("\n").slice(-15).join("\n")}`,
  );
}

async function processColumn(config: EngineConfig, budget: Budget, work: string): Promise<Cell> {
  const flags = [...commonFlags(config, budget, budget.processRuns), "--scenarios", "crash-*,second-opener"];
  const { exitCode, report, output } = await runCli(flags, path.join(work, "process"));
  if (!report || exitCode > 1) throw broken(`${config.id} under process kills`, exitCode, output);
  const failure = (report.failures as Json[])[0];
  return {
    column: "process",
    verdict: failure ? `fail:${failure.violation.invariant}` : "pass",
    checked: report.cycles,
    elapsedMs: report.elapsedMs,
    ...(failure ? { message: failure.violation.message, replay: replayOf(config, failure) } : {}),
  };
}

async function powerColumns(config: EngineConfig, budget: Budget, work: string): Promise<Cell[]> {
  if (config.powerSkip)
    return PERSISTENCE_COLUMNS.map((column) => ({
      column,
      verdict: "skip",
      checked: 0,
      elapsedMs: 0,
      message: config.powerSkip,
    }));
  // Sequential lives, as docs/findings.md measured them (pipelined lives became the default later).
  const flags = [
    ...commonFlags(config, budget, budget.powerRuns),
    ...["--crash", "power", "--persistence", "all", "--power-pipeline", "1"],
  ];
  const { exitCode, report, output } = await runCli(flags, path.join(work, "power"));
  if (!report || exitCode > 1) throw broken(`${config.id} under power loss`, exitCode, output);
  const scenario = (report.scenarios as Json[]).find((s) => s.name === "power-loss");
  if (!report.persistence) {
    const reason = scenario?.reason ?? "the power-loss scenario did not run";
    return PERSISTENCE_COLUMNS.map((column) => ({
      column,
      verdict: "skip",
      checked: 0,
      elapsedMs: 0,
      message: reason,
    }));
  }
  return PERSISTENCE_COLUMNS.map((column): Cell => {
    const r = (report.persistence.results as Json[]).find((x) => x.model === column);
    if (!r) throw new Error(`${config.id}: the report has no result for persistence model ${column}`);
    const lost = r.lostAcked as { states: number; batches: number };
    if (r.status === "error") {
      // An adapter error (a hang, a malformed answer): the column has no verdict, and says why.
      const error = (report.scenarios as Json[])
        .filter((s) => s.name === `power-loss (${column})`)
        .flatMap((s) => s.errors as Json[])[0];
      const why = error ? `${error.error.code}: ${error.error.message}` : "an adapter error";
      return { column, verdict: "error", checked: r.statesChecked, elapsedMs: r.elapsedMs, message: why };
    }
    const verdict: Verdict =
      r.status === "failed" ? `fail:${r.failure?.invariant ?? "?"}` : lost.batches > 0 ? "loss" : "pass";
    return {
      column,
      verdict,
      checked: r.statesChecked,
      elapsedMs: r.elapsedMs,
      ...(lost.batches > 0 ? { lostAcked: lost } : {}),
      ...(r.failure ? { message: r.failure.message, replay: r.failure.replay } : {}),
    };
  });
}

/** One configuration's verdicts, measured by the walcheck CLI with `budget`: every column, or the power-loss ones only. */
export async function findingsOf(
  config: EngineConfig,
  budget: Budget,
  work: string,
  columns: "all" | "power" = "all",
): Promise<ConfigFindings> {
  const dir = path.join(work, config.id);
  const process = columns === "all" ? [await processColumn(config, budget, dir)] : [];
  const power = await powerColumns(config, budget, dir);
  const hello = readHelloName(path.join(dir, "power")) ?? readHelloName(path.join(dir, "process"));
  return { id: config.id, name: hello ?? config.engine, cells: [...process, ...power] };
}

function readHelloName(reportDir: string): string | undefined {
  const dirs = fs.existsSync(reportDir) ? fs.readdirSync(reportDir).filter((d) => d.startsWith("run-")) : [];
  if (!dirs.length) return undefined;
  const report = JSON.parse(fs.readFileSync(path.join(reportDir, dirs.sort().at(-1)!, "report.json"), "utf8")) as Json;
  return report.hello?.name;
}

const BEGIN = "<!-- findings:begin (npm run findings writes this part) -->";
const END = "<!-- findings:end -->";

/** A message on one line (a dead process's stderr follows its first line), pipes escaped for a table's neighbour. */
const oneLine = (m: string) => m.split("\n")[0]!.replaceAll("|", "\\|");

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The generated part of docs/findings.md: the table and every violation with its replay. */
export function renderFindings(results: ConfigFindings[], budget: Budget, when: string): string {
  const byId = new Map(ENGINE_CONFIGS.map((c) => [c.id, c]));
  const lines = [
    `Measured ${when} by \`npm run findings\` (seed ${budget.seed}; ${budget.processRuns} ${budget.processRuns === 1 ? "case" : "cases"} per crash scenario under process kills, ${budget.powerRuns} power-loss ${budget.powerRuns === 1 ? "case" : "cases"} per persistence model).`,
    "",
    "| id | engine, version | configuration | declared | model | verdict | expected | checked | time |",
    "| --- | --- | --- | --- | --- | --- | --- | ---: | ---: |",
  ];
  const details: string[] = [];
  for (const r of results) {
    const config = byId.get(r.id)!;
    for (const cell of r.cells) {
      const expected = config.expected[cell.column];
      const shown =
        cell.verdict === "loss"
          ? `loss (${cell.lostAcked!.states} states lost up to ${cell.lostAcked!.batches} acked batches)`
          : cell.verdict;
      const unit = cell.column === "process" ? "crash cycles" : "states";
      lines.push(
        `| \`${r.id}\` | ${r.name} | ${config.configuration} | ${config.durability} | ${cell.column === "process" ? "process kill" : cell.column} | ${shown}${cell.verdict === expected ? "" : " **(unexpected)**"} | ${expected} | ${cell.checked} ${unit} | ${seconds(cell.elapsedMs)} |`,
      );
      if (cell.verdict === "skip" && cell.column === "posix-pessimistic")
        details.push(`- **\`${r.id}\`, power loss** (${r.name}): skip. ${oneLine(cell.message ?? "")}`);
      if (cell.verdict.startsWith("fail:") || cell.verdict === "error") {
        const why = config.why?.[cell.column];
        details.push(
          `- **\`${r.id}\`, ${cell.column}** (${r.name}, ${config.configuration}): ${cell.verdict}. ${oneLine(cell.message ?? "")}${why ? `\n\n  Judgement: ${why}` : ""}${cell.replay ? `\n\n  \`\`\`sh\n  ${cell.replay}\n  \`\`\`` : ""}`,
        );
      }
    }
  }
  if (details.length)
    lines.push(
      "",
      "Violations, each with the command that replays it (and what was not run, and why):",
      "",
      ...details,
    );
  return lines.join("\n");
}

/** `doc` with its generated part replaced by `generated`. */
export function spliceFindings(doc: string, generated: string): string {
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) throw new Error(`docs/findings.md has no ${BEGIN} … ${END} section`);
  return `${doc.slice(0, a + BEGIN.length)}\n\n${generated}\n\n${doc.slice(b)}`;
}

/** The verdicts the generated table of `doc` shows, keyed "id / column". */
export function tableVerdicts(doc: string): Map<string, string> {
  const out = new Map<string, string>();
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  for (const line of doc.slice(a, b).split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    if (cells.length < 10 || !cells[1]!.startsWith("`")) continue;
    const model = cells[5] === "process kill" ? "process" : cells[5]!;
    out.set(`${cells[1]!.replaceAll("`", "")} / ${model}`, cells[6]!.split(" ")[0]!);
  }
  return out;
}

/** Write docs/findings.md's table from the results (every configuration, the default budget), and count the verdicts that differ from the expected ones. */
function publish(results: ConfigFindings[], budget: Budget, where: string): number {
  const byId = new Map(results.map((r) => [r.id, r]));
  const complete = ENGINE_CONFIGS.every((c) => byId.has(c.id));
  const full =
    budget.processRuns === FULL_BUDGET.processRuns &&
    budget.powerRuns === FULL_BUDGET.powerRuns &&
    budget.seed === FULL_BUDGET.seed;
  if (complete && full) {
    const ordered = ENGINE_CONFIGS.map((c) => byId.get(c.id)!);
    const docPath = path.join(REPO_ROOT, "docs", "findings.md");
    const generated = renderFindings(ordered, budget, new Date().toISOString().slice(0, 10));
    fs.writeFileSync(docPath, spliceFindings(fs.readFileSync(docPath, "utf8"), generated));
    process.stderr.write(`findings: docs/findings.md written; runs under ${where}\n`);
  } else
    process.stderr.write(
      `findings: runs under ${where} (docs/findings.md is written only for every configuration with the default budget)\n`,
    );
  let unexpected = 0;
  for (const r of results) {
    const config = ENGINE_CONFIGS.find((c) => c.id === r.id);
    for (const cell of r.cells) if (!config || cell.verdict !== config.expected[cell.column]) unexpected += 1;
  }
  if (unexpected) process.stderr.write(`findings: ${unexpected} verdict(s) differ from bench/engine-configs.ts\n`);
  return unexpected ? 1 : 0;
}

/** `--render a/findings.json b/findings.json`: the results of earlier runs (a later file's configuration wins), published again. */
function render(files: string[]): number {
  const byId = new Map<string, ConfigFindings>();
  let budget: Budget | undefined;
  for (const file of files) {
    let saved: { budget: Budget; results: ConfigFindings[] };
    try {
      saved = JSON.parse(fs.readFileSync(file, "utf8"));
      if (!saved?.budget || !Array.isArray(saved.results)) throw new Error("no budget and results in it");
    } catch (error) {
      process.stderr.write(
        `findings: ${file} is not a findings.json of npm run findings: ${(error as Error).message}\n`,
      );
      return 2;
    }
    if (budget && JSON.stringify(budget) !== JSON.stringify(saved.budget)) {
      process.stderr.write(`findings: ${file} was measured with another budget than the files before it\n`);
      return 2;
    }
    budget = saved.budget;
    for (const r of saved.results) byId.set(r.id, r);
  }
  return publish([...byId.values()], budget!, files.join(", "));
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "--render" && argv.length > 1) return render(argv.slice(1));
  const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const only = flag("--only")?.split(",");
  const budget: Budget = {
    processRuns: Number(flag("--process-runs") ?? FULL_BUDGET.processRuns),
    powerRuns: Number(flag("--power-runs") ?? FULL_BUDGET.powerRuns),
    seed: Number(flag("--seed") ?? FULL_BUDGET.seed),
    shrink: true,
  };
  const known = new Set(["--only", "--process-runs", "--power-runs", "--seed"]);
  const bad = argv.find((a, i) => (i % 2 === 0 ? !known.has(a) : a === undefined || a.startsWith("--")));
  if (
    bad !== undefined ||
    argv.length % 2 ||
    ![budget.processRuns, budget.powerRuns, budget.seed].every(Number.isInteger)
  ) {
    process.stderr.write(
      `findings: bad arguments ${JSON.stringify(argv)}\nusage: npm run findings -- [--only id,id] [--process-runs N] [--power-runs N] [--seed N]\n       npm run findings -- --render walcheck-reports/findings-*/findings.json\n`,
    );
    return 2;
  }
  const configs = ENGINE_CONFIGS.filter((c) => !only || only.includes(c.id));
  if (only && configs.length !== only.length) {
    process.stderr.write(
      `findings: unknown configuration in --only; the ids: ${ENGINE_CONFIGS.map((c) => c.id).join(", ")}\n`,
    );
    return 2;
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const work = path.join(REPO_ROOT, "walcheck-reports", `findings-${stamp}`);
  const results: ConfigFindings[] = [];
  for (const config of configs) {
    process.stderr.write(`findings: ${config.id} …\n`);
    const r = await findingsOf(config, budget, work);
    results.push(r);
    // Written after every configuration: a run cut short keeps what it measured (--render publishes it).
    fs.writeFileSync(path.join(work, "findings.json"), `${JSON.stringify({ budget, results }, null, 2)}\n`);
    for (const cell of r.cells) {
      const ok = cell.verdict === config.expected[cell.column];
      process.stderr.write(
        `  ${cell.column.padEnd(18)} ${cell.verdict.padEnd(18)} ${ok ? "" : `(expected ${config.expected[cell.column]}) `}${cell.checked} checked, ${seconds(cell.elapsedMs)}\n`,
      );
    }
  }
  return publish(results, budget, work);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1]))
  process.exitCode = await main(process.argv.slice(2));
