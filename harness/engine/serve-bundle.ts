import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

// Where the build put the bundled `walcheck serve` (harness/cli/serve-entry.ts bundled by
// harness/cli/build-dist.ts), and whether it is current.

const cliDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "cli");

/** The bundled `walcheck serve` entry. */
export const SERVE_BUNDLE = path.join(cliDir, "serve.bundle.js");

/** The module the bundle is built from (tsc's output). */
const SERVE_ENTRY = path.join(cliDir, "serve-entry.js");

/**
 * `bundle` when it exists and is no older than `source`, the compiled module it was built from;
 * else undefined. A tsc-only build (`npx tsc -p .`, no bundling) rewrites `source`, so a bundle
 * left from an earlier build is not used with newer code.
 */
export function currentBundle(bundle: string, source: string): string | undefined {
  try {
    return fs.statSync(bundle).mtimeMs >= fs.statSync(source).mtimeMs ? bundle : undefined;
  } catch {
    return undefined;
  }
}

/** The bundled `walcheck serve` if the build made one and it is current, else undefined (start `main.js serve`). */
export function serveBundle(): string | undefined {
  return currentBundle(SERVE_BUNDLE, SERVE_ENTRY);
}
