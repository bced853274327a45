import pino, { type Logger } from "pino";
import pretty from "pino-pretty";

/** walcheck's own log: JSON lines on stderr, pretty when stderr is a terminal. */
export function createLogger(level = process.env.WALCHECK_LOG_LEVEL ?? "info"): Logger {
  if (process.stderr.isTTY) {
    return pino(
      { name: "walcheck", level },
      pretty({ destination: 2, sync: true, colorize: true, ignore: "pid,hostname" }),
    );
  }
  return pino({ name: "walcheck", level }, pino.destination({ dest: 2, sync: true }));
}
