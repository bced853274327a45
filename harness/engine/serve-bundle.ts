import path from "node:path";
import { fileURLToPath } from "node:url";
import { currentBundle } from "../faults/fs-preload-path.js";

// Where the build put the bundled `walcheck serve` (harness/cli/serve-entry.ts bundled by
// harness/cli/build-dist.ts), and whether it is current.

const cliDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "cli");

/** The bundled `walcheck serve` entry. */
export const SERVE_BUNDLE = path.join(cliDir, "serve.bundle.js");

/** The module the bundle is built from (tsc's output). */
const SERVE_ENTRY = path.join(cliDir, "serve-entry.js");

/** The bundled `walcheck serve` if the build made one and it is current, else undefined (start `main.js serve`). */
export function serveBundle(): string | undefined {
  return currentBundle(SERVE_BUNDLE, SERVE_ENTRY);
}
