import { adapterSource } from "../adapters/load-adapter.js";
import { serveAdapter } from "../protocol/serve.js";
import { errorLine, EXIT, type ExitCode } from "./exit.js";

// `walcheck serve --adapter <spec>`: adapter protocol v1 on this process's stdin and stdout for
// the WAL a spec names (load-adapter.ts). Started once per crash cycle, so main.ts reaches it
// without commander when its arguments are plain (fastServe).

/** Serve the adapter `spec` names on stdin and stdout until close is answered or the input ends. */
export async function serveSpec(spec: string, config: Record<string, unknown>): Promise<void> {
  const source = await adapterSource(spec, config);
  await serveAdapter(
    await source.make(),
    { input: process.stdin, output: process.stdout, log: (line) => process.stderr.write(`${line}\n`) },
    source.fresh ? { fresh: source.make } : {},
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
