import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "shell-quote";
import { UsageError } from "../protocol/errors.js";
import { serveBundle } from "./serve-bundle.js";

/** How to start the adapter under test: a program, its arguments, extra environment. */
export interface AdapterLaunch {
  /** What the report and replay line call it: a built-in name (`reference`, `sqlite`, ...), a module path, or the command. */
  label: string;
  /** The flags that select it again, for the replay line. */
  flags: string[];
  file: string;
  args: string[];
  env: Record<string, string>;
  /** Whether it runs on Node (so the fs-call preload can be injected). */
  node: boolean;
  /**
   * A built-in adapter hosted by walcheck's own `walcheck serve`: a process of it can be armed
   * after its start (serve.ts SERVE_ARM_OP) instead of by its environment, so a spare process
   * kept warm can take an armed life. Never set for other adapters (protocol v1 is all they get).
   */
  armable?: boolean;
}

/** Adapters `walcheck serve` hosts by name (see load-adapter.ts); anything else is a module path. */
const BUILT_IN_ADAPTERS = ["reference", "sqlite", "state-file", "event-log"];

/**
 * The compiled CLI (dist/harness/cli/main.js), the one place its path is defined: children start
 * from it (adapters named by `--adapter` hosted by `walcheck serve`, the reference outbox by
 * `walcheck outbox serve`).
 */
export const CLI_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "cli", "main.js");

/**
 * Split `command` (the value of `flag`, `--adapter-cmd` or `--outbox-cmd`) into words as a POSIX
 * shell would: single and double quotes, backslash escapes; and nothing more, since no shell
 * runs it (walcheck starts the program itself, in a process group it kills whole). Pipes,
 * lists, redirections, globs, comments, `$VAR` and `$(...)` are refused with a UsageError that
 * points to `bash -c '...'`: an environment variable is refused rather than expanded (or passed
 * as text), so a command never means something else than it would in a shell. `~` is not
 * expanded either, as in quotes.
 */
export function splitCommand(flag: string, command: string): string[] {
  const words: string[] = [];
  const tokens = parse(command, (name) => ({ envVar: name }) as unknown as string);
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as string | Record<string, unknown>;
    if (typeof token === "string") {
      words.push(token);
      continue;
    }
    const next = tokens[i + 1] as { op?: unknown } | undefined;
    const what =
      "envVar" in token
        ? token.envVar === "" && typeof next === "object" && next.op === "("
          ? "command substitution $(...) is"
          : `the environment variable reference $${String(token.envVar)} is not expanded and`
        : "comment" in token
          ? "a comment (#) is"
          : token.op === "glob"
            ? `the glob ${String(token.pattern)} is`
            : `the shell operator ${String(token.op)} is`;
    throw new UsageError(
      `${flag} ${JSON.stringify(command)}: ${what} not supported (walcheck splits the command into words as a shell would, quotes and backslashes, and runs it without a shell); write the value itself, quote it ('...'), or give ${flag} "bash -c '...'"`,
    );
  }
  return words;
}

/**
 * Resolve `--adapter reference | sqlite | state-file | event-log | <module path>` or `--adapter-cmd "<command>"` (any
 * language; split by splitCommand, like a shell would, without a shell). No adapter means the reference WAL.
 */
export function resolveAdapter(opts: {
  adapter?: string | undefined;
  adapterCmd?: string | undefined;
  config?: Record<string, unknown>;
}): AdapterLaunch {
  if (opts.adapter && opts.adapterCmd) throw new UsageError("give --adapter or --adapter-cmd, not both");
  if (opts.adapterCmd !== undefined) {
    const [file, ...args] = splitCommand("--adapter-cmd", opts.adapterCmd);
    if (!file) throw new UsageError("--adapter-cmd is empty");
    return {
      label: opts.adapterCmd,
      flags: ["--adapter-cmd", JSON.stringify(opts.adapterCmd)],
      file,
      args,
      env: {},
      node: path.basename(file).startsWith("node"),
    };
  }
  const spec = opts.adapter ?? "reference";
  const builtIn = BUILT_IN_ADAPTERS.includes(spec);
  const target = builtIn ? spec : path.resolve(spec);
  if (!builtIn && !fs.existsSync(target)) throw new UsageError(`--adapter ${spec}: no such file`);
  // The bundled serve (one file to load: most of a crash cycle is this process's start-up) when
  // the build made it, else the CLI's own `serve`.
  const bundle = serveBundle();
  const args = [bundle ?? CLI_JS, "serve", "--adapter", target];
  if (opts.config && Object.keys(opts.config).length > 0) args.push("--config", JSON.stringify(opts.config));
  return {
    label: spec,
    flags: ["--adapter", spec],
    file: process.execPath,
    args,
    env: {},
    node: true,
    ...(builtIn ? { armable: true } : {}),
  };
}

/** Fewer fs calls than this that the preload sees in a typical life, and fs crash points say nothing. */
export const MIN_FS_CALLS = 4;

/** Whether fs crash points and injected fs faults can reach this adapter's I/O, and if not, why. */
export function fsFaultSupport(launch: AdapterLaunch, fsCallsPerLife: number): { ok: boolean; why: string } {
  if (!launch.node) return { ok: false, why: "the adapter is not a Node.js process" };
  if (fsCallsPerLife >= MIN_FS_CALLS) return { ok: true, why: "" };
  return {
    ok: false,
    why: `the adapter made ${fsCallsPerLife} fs calls the preload could see in a typical life (its I/O is not Node's fs, as for SQLite's own VFS, or it is not started directly by node)`,
  };
}
