import pino, { type Logger } from "pino";
import { createRequire } from "node:module";
import type prettyModule from "pino-pretty";

/** walcheck's own log: JSON lines on stderr, pretty when stderr is a terminal. */
export function createLogger(level = process.env.WALCHECK_LOG_LEVEL ?? "info"): Logger {
  if (process.stderr.isTTY) {
    // pino-pretty (CommonJS) only for a terminal: not loaded in CI or under a pipe.
    const pretty = createRequire(import.meta.url)("pino-pretty") as typeof prettyModule;
    return pino(
      { name: "walcheck", level },
      pretty({ destination: 2, sync: true, colorize: true, ignore: "pid,hostname" }),
    );
  }
  return pino({ name: "walcheck", level }, pino.destination({ dest: 2, sync: true }));
}
