import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { ExitCode } from "./exit.js";

// The entry of `walcheck serve` that the build bundles into one file (dist/harness/cli/
// serve.bundle.js, see build-dist.ts): the serve loop, load-adapter and the built-in adapters in
// one module, so a crash cycle's adapter process parses one file instead of resolving and
// loading ~35. walcheck starts the bundle directly (adapter-launch.ts); `walcheck serve` typed by
// a user reaches it through main.ts's fast path. Native addons, pino and optional peers stay
// outside, loaded when used.

/**
 * Serve as `walcheck serve --adapter <spec> [--config <json object>]` with `argv` (process.argv
 * form): the exit code, or undefined when the arguments are not that plain form (commander then
 * parses them, for its own messages).
 */
export async function serveArgv(argv: string[]): Promise<ExitCode | undefined> {
  if (argv[2] !== "serve") return undefined;
  let parsed;
  try {
    parsed = parseArgs({
      args: argv.slice(3),
      options: { adapter: { type: "string" }, config: { type: "string" } },
      strict: true,
      allowPositionals: false,
    });
  } catch {
    return undefined;
  }
  let config: Record<string, unknown> = {};
  if (parsed.values.config !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(parsed.values.config);
    } catch {
      return undefined;
    }
    if (!json || typeof json !== "object" || Array.isArray(json)) return undefined;
    config = json as Record<string, unknown>;
  }
  // Under the fs preload's stack trace (power-loss "where"), frames must name the source files
  // (reference-impl/wal.js:110), not this bundle: serve from the unbundled modules beside it.
  const { serveCommand } = (
    (globalThis as Record<symbol, unknown>)[Symbol.for("walcheck.fs-trace-stacks")] === true &&
    import.meta.url.endsWith(".bundle.js")
      ? await import(new URL("./serve-command.js", import.meta.url).href)
      : await import("./serve-command.js")
  ) as typeof import("./serve-command.js");
  return serveCommand(parsed.values.adapter ?? "reference", config);
}

/** Run as the process's main module: serve, or a usage error for arguments that are not the plain form. */
export function serveMain(): void {
  void serveArgv(process.argv).then((code) => {
    if (code === undefined) {
      process.stderr.write(
        "walcheck serve: usage: serve --adapter <reference|sqlite|state-file|event-log|module path> [--config <JSON object>]\n",
      );
      process.exit(2);
    }
    process.exit(code);
  });
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url)))
  serveMain();
