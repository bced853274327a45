import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { z } from "zod";
import { UsageError } from "../protocol/errors.js";
import { PERSISTENCE_MODELS } from "../protocol/messages.js";
export { parseDuration } from "./duration.js";

/** `walcheck.config.{ts,mts,cts,js,mjs,cjs,json}`: every field optional; flags on the command line win. */
const LevelSchema = z.strictObject({
  targetMs: z.number().positive().optional(),
  criticalMs: z.number().positive().optional(),
});
const ThresholdsSchema = z.strictObject({
  append: LevelSchema.optional(),
  recovery: LevelSchema.optional(),
  truncate: LevelSchema.optional(),
});

export const RunConfigSchema = z.strictObject({
  adapter: z.string().min(1).optional(),
  adapterCmd: z.string().min(1).optional(),
  /** Adapter config sent with every `open`. */
  adapterConfig: z.record(z.string(), z.unknown()).optional(),
  seed: z.number().int().nonnegative().optional(),
  runs: z.number().int().positive().optional(),
  /** Stop starting cases after this long: "90s", "5m", "2h", or milliseconds. */
  budget: z
    .union([
      z.string().regex(/^\d+(ms|s|m|h|d)$/, 'a duration like "60s", "5m", "2h" or "500ms"'),
      z.number().int().positive(),
    ])
    .optional(),
  /** How long a failing case may shrink: "10s" (the default), "0s" (report it as found), or milliseconds. */
  shrinkBudget: z
    .union([
      z.string().regex(/^\d+(ms|s|m|h|d)$/, 'a duration like "10s", "0s" or "500ms"'),
      z.number().int().nonnegative(),
    ])
    .optional(),
  crash: z.enum(["named", "fs", "signal", "power", "all"]).optional(),
  /** The persistence model power-loss states are built under, or "all" (each, with a table); default hello.persistence, else posix-pessimistic. */
  persistence: z.enum([...PERSISTENCE_MODELS, "all"]).optional(),
  workers: z.number().int().positive().optional(),
  reportDir: z.string().min(1).optional(),
  recoveryThresholdMs: z.number().positive().optional(),
  timeoutMs: z.number().int().positive().optional(),
  maxCommands: z.number().int().positive().max(1000).optional(),
  /** Add the corruption sweep (scenario corruption-sweep, opt-in) to the scenarios run, as `--sweep` does. */
  sweep: z.boolean().optional(),
  /** Scenario names or globs (`crash-*`); default all. */
  scenarios: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  /** Latency levels (p95, ms) for every scenario: over target warns, over critical fails the run. */
  thresholds: ThresholdsSchema.optional(),
  /** "warn": latency over a critical level is reported but does not fail the run. */
  latency: z.enum(["gate", "warn"]).optional(),
  /** Per scenario: case count, latency levels, adapter config sent with its opens. */
  scenarioOptions: z
    .record(
      z.string(),
      z.strictObject({
        cases: z.number().int().positive().optional(),
        thresholds: ThresholdsSchema.optional(),
        adapterConfig: z.record(z.string(), z.unknown()).optional(),
      }),
    )
    .optional(),
});
export type RunConfig = z.infer<typeof RunConfigSchema>;

/** Identity, for types: `export default defineConfig({ runs: 50 })`. */
export function defineConfig(config: RunConfig): RunConfig {
  return config;
}

/**
 * The names `walcheck run` looks for in the working directory when no `--config` is given, in
 * this order (vitest's for its own `vitest.config.*`: ts, mts, cts, js, mjs, cjs; then json): the
 * first found is used.
 */
export const CONFIG_NAMES = [
  "walcheck.config.ts",
  "walcheck.config.mts",
  "walcheck.config.cts",
  "walcheck.config.js",
  "walcheck.config.mjs",
  "walcheck.config.cjs",
  "walcheck.config.json",
] as const;

/** The config files of `CONFIG_NAMES` present in `dir`, in that order (absolute paths). */
export function findRunConfigs(dir: string = process.cwd()): string[] {
  return CONFIG_NAMES.map((name) => path.join(dir, name)).filter((file) => {
    try {
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  });
}

/** This package's root (the directory of its package.json), from dist/harness/cli or harness/cli. */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, "package.json")) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}

/** This package's own entry points (its `exports`), for configs whose project has no `walcheck` installed. */
function selfAlias(): Record<string, string> {
  const root = packageRoot();
  return {
    "walcheck/vitest": path.join(root, "dist/harness/vitest-suite.js"),
    walcheck: path.join(root, "dist/index.js"),
  };
}

/** Whether `walcheck` resolves from `file`'s directory as Node would resolve it (its node_modules). */
function resolvesWalcheck(file: string): boolean {
  try {
    createRequire(file).resolve("walcheck");
    return true;
  } catch {
    return false;
  }
}

async function importConfigModule(file: string): Promise<unknown> {
  if (!/\.[cm]?ts$/.test(file)) return ((await import(pathToFileURL(file).href)) as { default?: unknown }).default;
  // A TypeScript config: jiti transpiles it in memory (loaded only now, for TS configs). No file is
  // written: fsCache off (by default jiti caches transpiled code in node_modules/.cache/jiti or the
  // temp dir), and moduleCache off, so a config edited between two loads in one process is reloaded.
  // `import { defineConfig } from "walcheck"` resolves through the project's node_modules like any
  // import; when the project has no walcheck installed (npx walcheck), it is this walcheck.
  const { createJiti } = await import("jiti");
  const jiti = createJiti(import.meta.url, {
    fsCache: false,
    moduleCache: false,
    esmEvalTempFile: false,
    tryNative: false,
    ...(resolvesWalcheck(file) ? {} : { alias: selfAlias() }),
  });
  return jiti.import(file, { default: true });
}

/** Load and check a config file; a bad field is named with its path. */
export async function loadRunConfig(file: string, label = `--config ${file}`): Promise<RunConfig> {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw new UsageError(`${label}: no such file`);
  let raw: unknown;
  try {
    raw = abs.endsWith(".json") ? JSON.parse(fs.readFileSync(abs, "utf8")) : await importConfigModule(abs);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${label}: cannot read it: ${(error as Error).message}`, { cause: error });
  }
  const parsed = RunConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .map((i) => `${i.path.length ? i.path.join(".") : "(config)"}: ${i.message}`)
      .join("; ");
    throw new UsageError(`${label}: ${issues}`);
  }
  return parsed.data;
}

/** The config a run uses, and where it came from (`label` prefixes errors about it). */
export interface ResolvedRunConfig {
  config: RunConfig;
  /** The file, as given or found (`./walcheck.config.ts`); none when no config is used. */
  file?: string;
  label: string;
}

/**
 * `--config <file>` (a string) wins; `--no-config` (false) uses none; otherwise the first of
 * `CONFIG_NAMES` in `cwd`, said through `say.info`. When more than one is there, the first is
 * used and `say.warn` names the others (vitest would use the first silently).
 */
export async function resolveRunConfig(
  option: string | false | undefined,
  say: { info: (m: string) => void; warn: (m: string) => void },
  cwd: string = process.cwd(),
): Promise<ResolvedRunConfig> {
  if (typeof option === "string")
    return { config: await loadRunConfig(option), file: option, label: `--config ${option}` };
  if (option === false) return { config: {}, label: "--no-config" };
  const [found, ...others] = findRunConfigs(cwd);
  if (!found) return { config: {}, label: "config" };
  const rel = `./${path.relative(cwd, found)}`;
  const label = `config ${rel}`;
  if (others.length > 0)
    say.warn(
      `config: using ${rel}; also found ${others.map((f) => `./${path.relative(cwd, f)}`).join(", ")}, ignored (give --config to choose, or remove them)`,
    );
  else say.info(`config: ${rel}`);
  return { config: await loadRunConfig(found, label), file: rel, label };
}
