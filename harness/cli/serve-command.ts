import { adapterSource } from "../adapters/load-adapter.js";
import { armCrashAt } from "../protocol/crashpoint.js";
import { serveAdapter, type ServeArm } from "../protocol/serve.js";
import { errorLine, EXIT, type ExitCode } from "./exit.js";

// `walcheck serve --adapter <spec>`: adapter protocol v1 on this process's stdin and stdout for
// the WAL a spec names (load-adapter.ts). Started once per crash cycle, so main.ts reaches it
// without commander when its arguments are plain (fastServe), and the build bundles it into one
// file (serve-entry.ts, build-dist.ts).

/**
 * walcheck's private arm request (serve.ts SERVE_ARM_OP): arm this process as the environment
 * would have at its start, a named crash point as WALCHECK_CRASH_AT, an fs crash, fault or
 * trace as the fs preload (loaded now, only when asked for).
 */
async function armServe(arm: ServeArm): Promise<void> {
  if (arm.fsCrash !== undefined || arm.fsFault !== undefined || arm.fsTrace !== undefined) {
    const { armFs } = await import("../faults/fs/arm.js");
    armFs({ crash: arm.fsCrash, fault: arm.fsFault, trace: arm.fsTrace });
  }
  if (arm.crashAt !== undefined) armCrashAt(arm.crashAt);
}

/** Serve the adapter `spec` names on stdin and stdout until close is answered or the input ends. */
export async function serveSpec(spec: string, config: Record<string, unknown>): Promise<void> {
  const source = await adapterSource(spec, config);
  await serveAdapter(
    await source.make(),
    { input: process.stdin, output: process.stdout, log: (line) => process.stderr.write(`${line}\n`) },
    { ...(source.fresh ? { fresh: source.make } : {}), arm: armServe },
  );
}

/** `walcheck serve`: its exit code (an adapter that cannot be loaded is a usage error, said on stderr). */
export async function serveCommand(spec: string, config: Record<string, unknown>): Promise<ExitCode> {
  try {
    await serveSpec(spec, config);
  } catch (error) {
    process.stderr.write(errorLine(error));
    return EXIT.usage;
  }
  return EXIT.pass;
}
