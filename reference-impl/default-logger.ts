import { createRequire } from "node:module";
import type { Logger } from "pino";

// pino is loaded on first use, not at import: an adapter process that never logs (most
// crash-test children) does not pay for it at start-up.
const require = createRequire(import.meta.url);
let shared: Logger | undefined;

/** The pino module, loaded on the first call. */
export function loadPino(): typeof import("pino") {
  return require("pino") as typeof import("pino");
}

/** JSON lines to stderr at info, created once per process on first use. */
export function defaultLogger(): Logger {
  if (!shared) {
    const pino = loadPino();
    shared = pino.default({ name: "walcheck-wal" }, pino.default.destination({ dest: 2, sync: true }));
  }
  return shared;
}
