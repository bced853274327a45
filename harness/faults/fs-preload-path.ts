import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const MODULE = path.join(here, "fs-preload.js");
// The build's one-file copy (harness/cli/build-dist.ts), in fs/ so that its own frames are
// found where fs/trace.ts looks for walcheck's (two levels up: dist/harness).
const BUNDLE = path.join(here, "fs", "preload.bundle.js");

/** Whether the bundle exists and is no older than the module it was built from (a tsc-only build rewrites the module). */
function bundleIsCurrent(): boolean {
  try {
    return fs.statSync(BUNDLE).mtimeMs >= fs.statSync(MODULE).mtimeMs;
  } catch {
    return false;
  }
}

/** The compiled fs-call preload (crashes and faults at Node fs calls), for NODE_OPTIONS=--import: its bundle when the build made one. */
export const FS_PRELOAD = bundleIsCurrent() ? BUNDLE : MODULE;
