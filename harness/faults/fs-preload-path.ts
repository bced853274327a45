import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const MODULE = path.join(here, "fs-preload.js");
// The build's one-file copy (harness/cli/build-dist.ts), in fs/ so that its own frames are
// found where fs/trace.ts looks for walcheck's (two levels up: dist/harness).
const BUNDLE = path.join(here, "fs", "preload.bundle.js");

/**
 * `bundle` when it exists and is no older than `source`, the compiled module it was built from;
 * else undefined. A tsc-only build (`npx tsc -p .`, no bundling) rewrites `source`, so a bundle
 * left from an earlier build is not used with newer code. (Also for the serve bundle:
 * engine/serve-bundle.ts.)
 */
export function currentBundle(bundle: string, source: string): string | undefined {
  try {
    return fs.statSync(bundle).mtimeMs >= fs.statSync(source).mtimeMs ? bundle : undefined;
  } catch {
    return undefined;
  }
}

/** The compiled fs-call preload (crashes and faults at Node fs calls), for NODE_OPTIONS=--import: its bundle when the build made one. */
export const FS_PRELOAD = currentBundle(BUNDLE, MODULE) ?? MODULE;
