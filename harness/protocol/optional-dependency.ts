import { createRequire } from "node:module";
import { UsageError } from "./errors.js";

// walcheck's native and heavy dependencies (better-sqlite3, pg, fs-ext) are optional: a user
// testing their own WAL through --adapter-cmd needs none of them, and a failed native build
// must not fail `npm install walcheck`. Each is loaded here, when the feature that uses it
// runs, and its absence is a UsageError (exit 2) that names the package to install.

const require = createRequire(import.meta.url);

/** The packages walcheck loads on demand. */
export type OptionalDependency = "better-sqlite3" | "pg" | "fs-ext";

const cache = new Map<OptionalDependency, unknown>();

/**
 * `require(name)` (all three are CommonJS), or a UsageError "install <name> to use <feature>"
 * when it is not installed or does not load (a native module whose build failed or was skipped).
 */
export function requireOptional<T>(name: OptionalDependency, feature: string): T {
  if (cache.has(name)) return cache.get(name) as T;
  let loaded: T;
  try {
    loaded = require(name) as T;
  } catch (error) {
    const missing =
      (error as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND" && (error as Error).message.includes(`'${name}'`);
    throw new UsageError(
      `install ${name} to use ${feature} (npm install ${name}): ${
        missing ? "it is not installed" : `it does not load: ${(error as Error).message.split("\n")[0]}`
      }`,
      { cause: error, details: { package: name, feature } },
    );
  }
  cache.set(name, loaded);
  return loaded;
}
