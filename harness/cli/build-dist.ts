import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

// The build's steps after tsc (`npm run build`, `npm run prepare`): the CLI made executable,
// the power-loss recorder's C source and Python "where" hook copied into dist, and the one-file
// bundles of what every adapter process loads, made with esbuild (a devDependency):
//   dist/harness/cli/serve.bundle.js         `walcheck serve` (serve-entry.ts), started by
//                                            walcheck for `--adapter <built-in or module>`
//   dist/harness/faults/fs/preload.bundle.js the fs preload (fs-preload.ts), for NODE_OPTIONS
// Without esbuild (an install that left devDependencies out), the bundles are not made and
// walcheck starts the modules tsc compiled, as it does whenever a bundle is older than them.

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const root = path.dirname(dist);

/** Kept outside the bundles: native addons, optional peers, and pino (loaded on first log line, with its worker files). */
const EXTERNAL = ["fs-ext", "@node-rs/crc32", "better-sqlite3", "pg", "pino", "pino-pretty"];

fs.chmodSync(path.join(dist, "harness/cli/main.js"), 0o755);
fs.copyFileSync(path.join(root, "harness/faults/power/recorder.c"), path.join(dist, "harness/faults/power/recorder.c"));
fs.mkdirSync(path.join(dist, "harness/faults/power/python-where"), { recursive: true });
fs.copyFileSync(
  path.join(root, "harness/faults/power/python-where/sitecustomize.py"),
  path.join(dist, "harness/faults/power/python-where/sitecustomize.py"),
);

let esbuild: typeof import("esbuild") | undefined;
try {
  esbuild = await import("esbuild");
} catch {
  process.stderr.write("build-dist: esbuild is not installed; no bundles (walcheck starts the compiled modules)\n");
}
if (esbuild) {
  for (const [entry, out] of [
    ["harness/cli/serve-entry.js", "harness/cli/serve.bundle.js"],
    ["harness/faults/fs-preload.js", "harness/faults/fs/preload.bundle.js"],
  ] as const) {
    await esbuild.build({
      entryPoints: [path.join(dist, entry)],
      outfile: path.join(dist, out),
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      external: EXTERNAL,
      logLevel: "warning",
      legalComments: "none",
    });
  }
}
