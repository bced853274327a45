import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseCommandString } from "execa";
import { UsageError } from "../protocol/errors.js";

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
 * Resolve `--adapter reference | sqlite | state-file | event-log | <module path>` or `--adapter-cmd "<command>"` (any
 * language; split like a shell would, without a shell, so SIGKILL reaches the adapter
 * itself and not a shell around it). No adapter means the reference WAL.
 */
export function resolveAdapter(opts: {
  adapter?: string | undefined;
  adapterCmd?: string | undefined;
  config?: Record<string, unknown>;
}): AdapterLaunch {
  if (opts.adapter && opts.adapterCmd) throw new UsageError("give --adapter or --adapter-cmd, not both");
  if (opts.adapterCmd !== undefined) {
    const [file, ...args] = parseCommandString(opts.adapterCmd);
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
  const args = [CLI_JS, "serve", "--adapter", target];
  if (opts.config && Object.keys(opts.config).length > 0) args.push("--config", JSON.stringify(opts.config));
  return { label: spec, flags: ["--adapter", spec], file: process.execPath, args, env: {}, node: true };
}
