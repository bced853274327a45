import { EXIT, type ExitCode } from "../protocol/errors.js";

// How every walcheck command ends: its exit code (EXIT, defined beside ERROR_CODES, which
// says which code each error ends a command with), and what Ctrl-C does while it runs.

export { EXIT, type ExitCode };

/** The exit code of a run's verdict: passed 0, failed 1, interrupted 130, anything else (error) 2. */
export function exitCodeOf(status: string): ExitCode {
  return status === "passed"
    ? EXIT.pass
    : status === "failed"
      ? EXIT.violation
      : status === "interrupted"
        ? EXIT.interrupted
        : EXIT.usage;
}

/** One line for an error that ends a command: `walcheck: CODE: message` (no code, no `CODE: `). */
export function errorLine(error: unknown): string {
  const code = (error as { code?: string }).code;
  return `walcheck: ${code ? `${code}: ` : ""}${(error as Error).message}\n`;
}

/**
 * On SIGINT or SIGTERM, abort `controller` (then run `also`, to stop children at once) until
 * the returned function is called. `on`, not `once`: the transport's last-resort hook
 * (protocol/json-lines-child.ts: kill every adapter group) re-raises the signal when no other
 * listener is left, which would end walcheck before it removed its temp directories; and a second Ctrl-C must not fall through to Node's default
 * (no cleanup) either.
 */
export function onInterrupt(controller: AbortController, also?: () => void): () => void {
  const onSignal = () => {
    controller.abort();
    also?.();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };
}
