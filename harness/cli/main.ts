#!/usr/bin/env node
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Command } from "commander";
import { UsageError } from "../protocol/errors.js";
import { errorLine, EXIT } from "./exit.js";

// The commander program: every command's flags, wired to its module (one per command, loaded
// when it runs: `walcheck serve` starts in every crash cycle, and must not pay for the run
// engine's execa or the pretty logger), and the fast path of `walcheck serve`.

const here = path.dirname(fileURLToPath(import.meta.url));
const packageJson = JSON.parse(fs.readFileSync(path.join(here, "..", "..", "..", "package.json"), "utf8")) as {
  version: string;
};
// commander is loaded only when a command needs it (see fastServe).
let commander: typeof import("commander") | undefined;
const cmdr = (): typeof import("commander") => {
  if (!commander) throw new TypeError("commander is not loaded yet");
  return commander;
};

function intArg(name: string, min: number) {
  return (raw: string) => {
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < min)
      throw new (cmdr().InvalidArgumentError)(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
    return n;
  };
}

function numberArg(name: string, min: number) {
  return (raw: string) => {
    const n = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(n) || n < min)
      throw new (cmdr().InvalidArgumentError)(`${name} must be a number >= ${min}, got ${JSON.stringify(raw)}`);
    return n;
  };
}

/** A JSON object from a flag's text, or an Error saying why not. */
function parseJsonObject(raw: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new Error(`--config must be a JSON object: ${(error as Error).message}`);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
    throw new Error(`--config must be a JSON object, got ${raw}`);
  return parsed as Record<string, unknown>;
}

function jsonArg(raw: string): Record<string, unknown> {
  try {
    return parseJsonObject(raw);
  } catch (error) {
    throw new (cmdr().InvalidArgumentError)((error as Error).message);
  }
}

/**
 * The run is over and its report written: if anything (a stuck child's pipe, a timer)
 * still holds the event loop 3 s from now, exit anyway with the run's code, so a CI job
 * never hangs after its verdict.
 */
function forceExitSoon(): void {
  setTimeout(() => {
    process.stderr.write("walcheck: something still held the process after the run ended; exiting\n");
    process.exit(typeof process.exitCode === "number" ? process.exitCode : EXIT.pass);
  }, 3000).unref();
}

/**
 * A flag the command cannot go without. Checked in the action rather than with commander's
 * requiredOption, which reports a missing flag before an unknown one: `--dri x` must be
 * named as the unknown option it is, not as a missing --dir.
 */
function requireFlag(cmd: Command, value: unknown, flag: string): void {
  if (value === undefined) cmd.error(`error: required option '${flag}' not specified`);
}

/**
 * A one-shot command is done and has printed its verdict: exit with its code now rather
 * than when the event loop drains. Once in about a hundred `outbox chaos --sink postgres://`
 * runs on a loaded machine, the process went on spinning on its main thread after printing
 * its report (no system calls, so forceExitSoon's timer never fired); exiting at once leaves
 * nothing to spin. stdout and stderr are flushed first where they buffer.
 */
async function exitNow(code: number): Promise<never> {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.writableLength > 0) await new Promise<void>((resolve) => stream.write("", () => resolve()));
  }
  process.exit(code);
}

/** `--log-format`, on the commands that log: it sets WALCHECK_LOG_FORMAT, which the logger reads. */
function logFormatOption() {
  return new (cmdr().Option)(
    "--log-format <format>",
    "walcheck's own log lines on stderr: pretty (default) or json (env WALCHECK_LOG_FORMAT)",
  ).choices(["pretty", "json"]);
}

export async function buildProgram(): Promise<Command> {
  commander ??= await import("commander");
  const { Command, Option } = commander;
  const program = new Command("walcheck")
    .description("Crash-consistency harness and chaos suite for write-ahead logs")
    .version(packageJson.version, "-V, --version")
    .showHelpAfterError("(run walcheck --help for usage)")
    // Options belong to the command they follow (`bench compare --baseline` is compare's, not bench's).
    .enablePositionalOptions()
    .exitOverride()
    .hook("preAction", (_program, action) => {
      const format = (action.opts() as { logFormat?: string }).logFormat;
      if (format) process.env.WALCHECK_LOG_FORMAT = format;
    });

  program
    .command("serve")
    .description(
      "speak adapter protocol v1 on stdin/stdout for a WAL (the reference WAL, or a module exporting a WalAdapter)",
    )
    .option(
      "--adapter <spec>",
      "reference, sqlite, state-file, event-log, or the path of a JavaScript module exporting a WalAdapter",
      "reference",
    )
    .option("--config <json>", "adapter config (JSON object); the open request's config is merged over it", jsonArg, {})
    .action(async (opts: { adapter: string; config: Record<string, unknown> }) => {
      const { serveCommand } = await import("./serve-command.js");
      // Answered close (or the input ended): exit now, whatever handles an adapter left
      // open. stdout to a pipe is synchronous on POSIX, so the last answer is out.
      process.exit(await serveCommand(opts.adapter, opts.config));
    });

  // Retired: `walcheck run --scenarios crash-mixed` runs the same crash cycles with the real engine.
  program
    .command("smoke", { hidden: true })
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      throw new UsageError(
        'walcheck smoke was retired: run "walcheck run --scenarios crash-mixed" (the same SIGKILL and named-crash cycles, with shrinking and replay)',
      );
    });

  program
    .command("run")
    .description(
      "the chaos suite: every scenario of the catalogue (crashes, torn tails, bit flips, full disks, fsync errors, ...) against a WAL, with shrinking and replay",
    )
    .option("--adapter <spec>", "reference (default), or the path of a JavaScript module exporting a WalAdapter")
    .option("--adapter-cmd <command>", "any adapter in any language, started as this command")
    .option(
      "--config <file>",
      "a config file (defineConfig); flags win over it (default: the first walcheck.config.{ts,mts,cts,js,mjs,cjs,json} here)",
    )
    .option("--no-config", "use no config file, even if a walcheck.config.* is here")
    .option("--seed <n>", "campaign seed (default: random, printed)", intArg("--seed", 0))
    .option("--runs <n>", "cases per scenario (default: each scenario's own, 3-16)", intArg("--runs", 1))
    .option("--budget <duration>", "stop starting cases after this long, e.g. 60s or 5m")
    .option(
      "--shrink-budget <duration>",
      "how long a failing case may shrink before it is reported (default 10s; 0s reports it as found, still with its replay)",
    )
    .addOption(
      new Option(
        "--crash <kind>",
        "crash kinds to inject (default all); power: the power-loss scenario alone (simulated power cuts over a recorded life)",
      ).choices(["named", "fs", "signal", "power", "all"]),
    )
    .option(
      "--exhaustive",
      "every crash point of a bounded workload: every fs-call crash point, or with --crash power every power-loss state",
    )
    .option(
      "--persistence <model>",
      "the persistence model power-loss states are built under: posix-pessimistic, sector-atomic, ext4-ordered, process-only, or all (each, with a table); default hello.persistence, else posix-pessimistic",
    )
    .option(
      "--fresh-recovery",
      "recover every power-loss state in a new adapter process, even when the adapter offers the recover op",
    )
    .option(
      "--power-pipeline <depth>",
      "power loss with concurrent appenders: two recorded lives in three send runs of up to <depth> appends at once, each ack pinned where the adapter wrote it (default 4; 1: one request at a time)",
      intArg("--power-pipeline", 1),
    )
    .option(
      "--sweep",
      "add the corruption sweep (scenario corruption-sweep: every block of every WAL file damaged, one fault at a time) to the scenarios run; for the sweep alone, --scenarios corruption-sweep",
    )
    .option("--workers <n>", "cases run at once (default: the cores)", intArg("--workers", 1))
    .option("--shard <i/n>", "run only the i-th of n deterministic slices of the cases")
    .option("--report-dir <dir>", "where the report and failing cases go (default walcheck-reports)")
    .option("--replay <token>", "run exactly the case a failure printed")
    .option(
      "--recovery-threshold <ms>",
      "a single recovery slower than this is a violation (default 200, the recovery critical level)",
      intArg("--recovery-threshold", 1),
    )
    .option("--timeout <ms>", "per-request timeout (default 10000)", intArg("--timeout", 1))
    .option("--max-commands <n>", "longest command list per case (default 25)", intArg("--max-commands", 1))
    .option("--scenarios <list>", "scenario names or globs, comma-separated (default all; walcheck list shows them)")
    .addOption(
      new Option(
        "--latency <mode>",
        "latency over a critical level: gate fails the run (default), warn only reports it",
      ).choices(["gate", "warn"]),
    )
    .option("--bail", "stop the whole run at the first failing case (default: only its scenario stops)")
    .addOption(logFormatOption())
    .option(
      "--skip-doctor",
      "skip the pre-flight (walcheck doctor's checks, about a second) that stops a run on an adapter breaking the protocol",
    )
    .action(async (opts: import("./run-command.js").RunFlags) => {
      const { runCommand } = await import("./run-command.js");
      const outcome = await runCommand(opts);
      process.exitCode = outcome.exitCode;
      forceExitSoon();
    });

  program
    .command("doctor")
    .description(
      "pre-flight an adapter: drive it through every op it claims and list every deviation from protocol v1 at once, with the fix (exit 0 usable, 2 not)",
    )
    .option("--adapter <spec>", "reference (default), or the path of a JavaScript module exporting a WalAdapter")
    .option("--adapter-cmd <command>", "any adapter in any language, started as this command")
    .option("--timeout <ms>", "per-request timeout (default 10000)", intArg("--timeout", 1))
    .option("--json", "print the findings as JSON")
    .action(async (opts: import("./doctor-command.js").DoctorFlags) => {
      const { doctorCommand } = await import("./doctor-command.js");
      process.exitCode = await doctorCommand(opts);
      forceExitSoon();
    });

  program
    .command("list")
    .description("the scenario catalogue; with --adapter, which scenarios apply to it and why the others are skipped")
    .option("--adapter <spec>", "reference, sqlite, or the path of a JavaScript module exporting a WalAdapter")
    .option("--adapter-cmd <command>", "any adapter in any language, started as this command")
    .option("--json", "print the catalogue as JSON")
    .option("-v, --verbose", "print each scenario's description, workload, faults and invariants")
    .addOption(logFormatOption())
    .action(async (opts: import("./list-command.js").ListFlags) => {
      const { listCommand } = await import("./list-command.js");
      process.exitCode = await listCommand(opts);
      forceExitSoon();
    });

  const report = program
    .command("report")
    .enablePositionalOptions()
    .description(
      "render a run's report.json as Markdown (a CI job summary), JUnit XML, an HTML page or the checked JSON (a bench.json too, but for JUnit)",
    )
    .argument("<report.json>", "the report.json a walcheck run wrote, or a walcheck bench bench.json")
    .addOption(
      new Option("--format <format>", "md, junit, json or html (one self-contained page)")
        .choices(["md", "junit", "json", "html"])
        .default("md"),
    )
    .option("--out <file>", "write it to this file instead of standard output")
    .action(async (file: string, opts: { format: "md" | "junit" | "json" | "html"; out?: string }) => {
      const { reportCommand } = await import("./report-command.js");
      process.exitCode = await reportCommand(file, { format: opts.format, ...(opts.out ? { out: opts.out } : {}) });
    });
  report
    .command("merge")
    .description(
      "merge the reports of walcheck run --shard i/n jobs (same seed, adapter, scenarios) into one: report.json, .md, .junit.xml, .html; exit with the merged verdict, 2 if they are not shards of one run",
    )
    .argument("<dir...>", "each a run's report directory, a --report-dir holding runs, or a report.json")
    .option("--out <dir>", "where the merged report goes (default walcheck-reports/merged-<time>-seed<seed>)")
    .action(async (dirs: string[], opts: import("./report-merge-command.js").ReportMergeFlags) => {
      const { reportMergeCommand } = await import("./report-merge-command.js");
      process.exitCode = await reportMergeCommand(dirs, opts);
    });

  const bench = program
    .command("bench")
    .description(
      "benchmark WALs side by side (the raw fdatasync limit, the reference WAL, SQLite, your adapter): append latency and throughput by batch size and concurrency, checkpoint and recovery time; --baseline fails on a regression",
    )
    .enablePositionalOptions()
    .option(
      "--adapter <spec>",
      "the adapter to benchmark: sqlite, reference, or the path of a JavaScript module exporting a WalAdapter",
    )
    .option("--adapter-cmd <command>", "the adapter to benchmark, in any language, started as this command")
    .option(
      "--compare <list>",
      "subjects beside the adapter, comma-separated: raw, reference-inproc, reference, sqlite (default all four)",
    )
    .option("--no-compare", "benchmark the adapter alone")
    .option(
      "--suites <list>",
      "append, checkpoint, recovery, power, crash (default append,checkpoint,recovery; power checks every power-loss state of one recorded life, a minute or more per subject; crash runs walcheck run over the crash-* scenarios for crash cycles per minute, and times the protocol's cost per append)",
    )
    .option("--batch-sizes <list>", "ops per append (default 1,16,64)")
    .option("--concurrency <list>", "appends in flight at once (default 1,8)")
    .option("--recovery-sizes <list>", "WAL sizes to recover, in acknowledged batches (default 1000,10000)")
    .option("--power-steps <n>", "steps of the life the power suite records (default 20)", intArg("--power-steps", 1))
    .option("--crash-runs <n>", "cases per crash-* scenario in the crash suite (default 3)", intArg("--crash-runs", 1))
    .option("--time <ms>", "tinybench time budget per task (default 1000)", intArg("--time", 1))
    .option("--timeout <ms>", "per-request timeout (default 10000)", intArg("--timeout", 1))
    .option("--seed <n>", "workload seed: which keys each append writes (default 1)", intArg("--seed", 0))
    .option("--out <dir>", "where bench.json, bench.md and bench.html go (default walcheck-reports/bench-<time>)")
    .option("--baseline <bench.json>", "compare with an earlier run's bench.json: exit 1 on a regression")
    .option(
      "--threshold <percent>",
      "a mean latency this much worse (and beyond the margin of error) is a regression (default 10)",
      numberArg("--threshold", 0),
    )
    .addOption(logFormatOption())
    .action(async (opts: import("./bench-command.js").BenchFlags) => {
      const { benchCommand } = await import("./bench-command.js");
      process.exitCode = await benchCommand(opts);
      forceExitSoon();
    });

  bench
    .command("compare")
    .description("compare a bench.json with an earlier one, running nothing: exit 1 on a regression, 2 on a bad file")
    .argument("<bench.json>", "the newer run's bench.json")
    .option("--baseline <bench.json>", "the earlier run's bench.json (required)")
    .option(
      "--threshold <percent>",
      "a mean latency this much worse (and beyond the margin of error) is a regression (default 10)",
      numberArg("--threshold", 0),
    )
    .action(async (file: string, opts: { baseline: string; threshold?: number }, cmd: Command) => {
      requireFlag(cmd, opts.baseline, "--baseline <bench.json>");
      const { benchCompareCommand } = await import("./bench-command.js");
      process.exitCode = benchCompareCommand(file, opts);
    });

  const outbox = program
    .command("outbox")
    .description(
      "the durable outbox in front of a database: status, sync and compact an outbox directory, serve the outbox protocol, chaos-test an outbox",
    );
  const outboxDirCommand = (name: "status" | "sync" | "compact", description: string) =>
    outbox
      .command(name)
      .description(description)
      .option("--dir <dir>", "the outbox directory (its WAL) (required)")
      .option(
        "--sink <sink>",
        "the database: sqlite:<path> or postgres://user@host:port/database (default sqlite:<dir>/outbox.sqlite)",
      )
      .option("--json", "print JSON")
      .addOption(logFormatOption());
  const runOutbox =
    (name: "status" | "sync" | "compact") => async (opts: import("./outbox-command.js").OutboxFlags, cmd: Command) => {
      requireFlag(cmd, opts.dir, "--dir <dir>");
      const { outboxCommand } = await import("./outbox-command.js");
      await exitNow(await outboxCommand(name, opts));
    };
  outboxDirCommand(
    "status",
    "pending count, oldest pending age, failures, circuit, halted, corrupt entries skipped (never contacts the database)",
  ).action(runOutbox("status"));
  outboxDirCommand(
    "sync",
    "sync pending entries to the database until the queue is empty (exit 1, saying why, while entries remain)",
  ).action(runOutbox("sync"));
  outboxDirCommand("compact", "remove COMPLETED entries past their retention and fold the WAL")
    .option("--retention <duration>", "how long COMPLETED entries are kept, e.g. 168h, 30m, 0s (default 168h)")
    .action(runOutbox("compact"));
  outbox
    .command("serve")
    .description("speak the outbox protocol (JSON lines) on stdin/stdout for the reference outbox")
    .action(async () => {
      const { outboxCommand } = await import("./outbox-command.js");
      // Answered close (or the input ended): exit now, whatever handles a sink left open.
      process.exit(await outboxCommand("serve", {}));
    });
  outbox
    .command("chaos")
    .description(
      "the outbox chaos scenarios (sink-outage, crash-mid-sync, wal-full) against an outbox process: exactly once, in order, nothing accepted without durability",
    )
    .option(
      "--outbox-cmd <command>",
      "the outbox under test, in any language, started as this command (default: walcheck outbox serve, the reference outbox)",
    )
    .option(
      "--sink <sink>",
      "sqlite (default: a fresh file per outbox directory) or postgres://user@host:port/database (a fresh schema per directory)",
    )
    .option(
      "--ops <n>",
      "operations per scenario; sink-outage writes this many during the outage (default 200)",
      intArg("--ops", 1),
    )
    .option("--seed <n>", "seed of the operations and crash cases (default: random, printed)", intArg("--seed", 0))
    .option("--scenario <names>", "sink-outage, crash-mid-sync, wal-full, comma-separated (default all)")
    .option(
      "--timeout <ms>",
      "per-request timeout; a sync gets it per 1,000 queued entries (default 10000)",
      intArg("--timeout", 1),
    )
    .option("--report-dir <dir>", "where report.json goes (default walcheck-reports)")
    .action(async (opts: import("./outbox-chaos-command.js").ChaosFlags) => {
      const { outboxChaosCommand } = await import("./outbox-chaos-command.js");
      await exitNow(await outboxChaosCommand(opts));
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.pass;
  } catch (error) {
    if (error instanceof cmdr().CommanderError) {
      // --help and --version "fail" with exit code 0; every real parse error is a usage error.
      return error.exitCode === 0 ? EXIT.pass : EXIT.usage;
    }
    process.stderr.write(errorLine(error));
    return EXIT.usage;
  }
}

/**
 * `walcheck serve` starts once per crash cycle, thousands of times a campaign: it skips
 * commander (and its load time) when its arguments are plain; anything unusual (help, a
 * bad flag) goes through the full parser for the proper message.
 */
async function fastServe(argv: string[]): Promise<boolean> {
  if (argv[2] !== "serve") return false;
  // The bundled serve (one file) when the build made it, else the modules.
  const { serveBundle } = await import("../engine/serve-bundle.js");
  const bundle = serveBundle();
  const { serveArgv } = (
    bundle ? await import(pathToFileURL(bundle).href) : await import("./serve-entry.js")
  ) as typeof import("./serve-entry.js");
  const code = await serveArgv(argv);
  if (code === undefined) return false;
  process.exit(code);
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url))) {
  if (!(await fastServe(process.argv))) process.exitCode = await main(process.argv);
}
