import pino, { type Logger } from "pino";
import pretty from "pino-pretty";
import { UsageError } from "../protocol/errors.js";

// walcheck's own log on stderr: human-readable lines by default, JSON lines (pino's) with
// `--log-format json` or WALCHECK_LOG_FORMAT=json, for a log collector. Both are written
// synchronously, so they keep their order with what walcheck prints on stdout.

export const LOG_FORMATS = ["pretty", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The log format from WALCHECK_LOG_FORMAT (set by `--log-format` too): pretty unless it says json. */
export function logFormat(env: NodeJS.ProcessEnv = process.env): LogFormat {
  const raw = env.WALCHECK_LOG_FORMAT;
  if (raw === undefined || raw === "") return "pretty";
  if ((LOG_FORMATS as readonly string[]).includes(raw)) return raw as LogFormat;
  throw new UsageError(`WALCHECK_LOG_FORMAT must be pretty or json, got ${JSON.stringify(raw)}`);
}

/**
 * Whether to write colour to a stream: FORCE_COLOR set wins (any value but 0 or false turns
 * colour on, as in Node), then NO_COLOR with any non-empty value turns it off
 * (https://no-color.org), else colour only on a terminal that is not TERM=dumb.
 */
export function useColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== "0" && force.toLowerCase() !== "false";
  if (env.NO_COLOR) return false;
  return stream.isTTY === true && env.TERM !== "dumb";
}

/** walcheck's own log on stderr, in the format of logFormat() and the level of WALCHECK_LOG_LEVEL. */
export function createLogger(level = process.env.WALCHECK_LOG_LEVEL ?? "info"): Logger {
  if (logFormat() === "json") return pino({ name: "walcheck", level }, pino.destination({ dest: 2, sync: true }));
  return pino(
    { name: "walcheck", level },
    pretty({ destination: 2, sync: true, colorize: useColor(process.stderr), ignore: "pid,hostname" }),
  );
}
