import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { UsageError } from "../protocol/errors.js";
export { parseDuration } from "./duration.js";

/** `walcheck.config.{ts,js,mjs,json}`: every field optional; flags on the command line win. */
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
  crash: z.enum(["named", "fs", "signal", "power", "all"]).optional(),
  workers: z.number().int().positive().optional(),
  reportDir: z.string().min(1).optional(),
  recoveryThresholdMs: z.number().positive().optional(),
  timeoutMs: z.number().int().positive().optional(),
  maxCommands: z.number().int().positive().max(1000).optional(),
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

async function importConfigModule(file: string): Promise<unknown> {
  if (!/\.[cm]?ts$/.test(file)) return ((await import(pathToFileURL(file).href)) as { default?: unknown }).default;
  // A TypeScript config: transpile it with the project's own TypeScript, next to the
  // original so its imports resolve the same way, import it, and remove the copy.
  const require = createRequire(path.join(path.dirname(file), "package.json"));
  type Transpiler = { transpileModule?: (src: string, opts: object) => { outputText: string } };
  let ts: Transpiler | undefined;
  try {
    ts = require("typescript") as Transpiler;
  } catch {
    ts = undefined;
  }
  if (!ts?.transpileModule) {
    throw new UsageError(
      `--config ${file}: a TypeScript config needs TypeScript's JS API (transpileModule, typescript 5.x) in that project; or write walcheck.config.mjs or .json`,
    );
  }
  // ModuleKind.ESNext = 99, ScriptTarget.ES2022 = 9 (numbers, so no types from a given TypeScript version are needed).
  const out = ts.transpileModule(fs.readFileSync(file, "utf8"), {
    compilerOptions: { module: 99, target: 9 },
    fileName: file,
  });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.mjs`);
  fs.writeFileSync(tmp, out.outputText);
  try {
    return ((await import(pathToFileURL(tmp).href)) as { default?: unknown }).default;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Load and check a config file; a bad field is named with its path. */
export async function loadRunConfig(file: string): Promise<RunConfig> {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw new UsageError(`--config ${file}: no such file`);
  let raw: unknown;
  try {
    raw = abs.endsWith(".json") ? JSON.parse(fs.readFileSync(abs, "utf8")) : await importConfigModule(abs);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`--config ${file}: cannot read it: ${(error as Error).message}`, { cause: error });
  }
  const parsed = RunConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .map((i) => `${i.path.length ? i.path.join(".") : "(config)"}: ${i.message}`)
      .join("; ");
    throw new UsageError(`--config ${file}: ${issues}`);
  }
  return parsed.data;
}
