import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { execa } from "execa";
import { dir } from "tmp-promise";
import { afterEach, describe, expect, expectTypeOf, it } from "vitest";
import { defineConfig, loadRunConfig, type RunConfig } from "../../harness/cli/run-config.js";
import { UsageError } from "../../harness/protocol/errors.js";
import { CLI } from "../helpers.js";

// walcheck.config.{json,mjs,js} as `walcheck run --config` reads them. TypeScript configs (loaded
// with jiti) and finding walcheck.config.* without --config: config-discovery.test.ts.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A fresh temp directory holding `files` (name → contents); its path. */
async function project(files: Record<string, string>): Promise<string> {
  const d = await dir({ prefix: "walcheck-config-", unsafeCleanup: true });
  cleanups.push(d.cleanup);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(d.path, name), text);
  return d.path;
}

async function refusal(file: string): Promise<UsageError> {
  const error: unknown = await loadRunConfig(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UsageError);
  return error as UsageError;
}

const CONFIG = {
  adapter: "./my-wal-adapter.js",
  seed: 77,
  runs: 12,
  budget: "5m",
  crash: "named",
  scenarios: ["crash-*"],
  thresholds: { append: { targetMs: 5, criticalMs: 50 } },
  scenarioOptions: { "crash-append": { cases: 3, adapterConfig: { sync: "always" } } },
} satisfies RunConfig;

describe("loadRunConfig", () => {
  it("loads walcheck.config.json", async () => {
    const d = await project({ "walcheck.config.json": JSON.stringify(CONFIG) });
    expect(await loadRunConfig(path.join(d, "walcheck.config.json"))).toEqual(CONFIG);
  });

  it("loads the default export of walcheck.config.mjs, written with the package's defineConfig", async () => {
    const walcheck = pathToFileURL(path.resolve("dist/index.js")).href;
    const d = await project({
      "walcheck.config.mjs": `import { defineConfig } from ${JSON.stringify(walcheck)};\nexport default defineConfig(${JSON.stringify(CONFIG)});\n`,
    });
    expect(await loadRunConfig(path.join(d, "walcheck.config.mjs"))).toEqual(CONFIG);
  });

  it("loads walcheck.config.js as CommonJS, or as ESM in a project with type: module", async () => {
    const cjs = await project({ "walcheck.config.js": `module.exports = ${JSON.stringify(CONFIG)};\n` });
    expect(await loadRunConfig(path.join(cjs, "walcheck.config.js"))).toEqual(CONFIG);
    const esm = await project({
      "package.json": JSON.stringify({ type: "module" }),
      "walcheck.config.js": `export default ${JSON.stringify(CONFIG)};\n`,
    });
    expect(await loadRunConfig(path.join(esm, "walcheck.config.js"))).toEqual(CONFIG);
  });

  it("resolves a relative path from the working directory, and an empty config is valid", async () => {
    const d = await project({ "walcheck.config.json": "{}" });
    expect(await loadRunConfig(path.relative(process.cwd(), path.join(d, "walcheck.config.json")))).toEqual({});
  });

  it("names the path of a bad field, and of every bad field", async () => {
    const d = await project({
      "one.json": JSON.stringify({ thresholds: { append: { targetMs: 5, criticalMs: -50 } } }),
      "many.json": JSON.stringify({
        runs: 0,
        budget: "soon",
        scenarioOptions: { "crash-append": { cases: 2.5 } },
      }),
    });
    const one = path.join(d, "one.json");
    const message = (await refusal(one)).message;
    expect(message.startsWith(`--config ${one}: thresholds.append.criticalMs: `)).toBe(true);
    expect(message.length).toBeGreaterThan(`--config ${one}: thresholds.append.criticalMs: `.length);
    const many = (await refusal(path.join(d, "many.json"))).message.split("; ");
    expect(many).toHaveLength(3);
    expect(many.some((m) => m.includes("runs: "))).toBe(true);
    expect(many.some((m) => m.includes('budget: a duration like "60s"'))).toBe(true);
    expect(many.some((m) => m.includes("scenarioOptions.crash-append.cases: "))).toBe(true);
  });

  it("refuses unknown fields, at the top level and inside, naming where they are", async () => {
    const d = await project({
      "typo.json": JSON.stringify({ run: 5 }),
      "nested.json": JSON.stringify({ thresholds: { append: { critical: 50 } } }),
    });
    expect((await refusal(path.join(d, "typo.json"))).message).toContain('(config): Unrecognized key: "run"');
    expect((await refusal(path.join(d, "nested.json"))).message).toContain(
      'thresholds.append: Unrecognized key: "critical"',
    );
  });

  it("refuses a module without a default export, or one that is not an object", async () => {
    const d = await project({
      "named.mjs": "export const config = { runs: 1 };\n",
      "list.json": JSON.stringify([CONFIG]),
    });
    expect((await refusal(path.join(d, "named.mjs"))).message).toContain("(config): ");
    expect((await refusal(path.join(d, "list.json"))).message).toContain("(config): ");
  });

  it("a missing file, broken JSON or a module that throws is a usage error naming the file", async () => {
    const d = await project({ "broken.json": "{ runs: 3 ", "throws.mjs": 'throw new Error("no config today");\n' });
    const missing = path.join(d, "walcheck.config.json");
    expect((await refusal(missing)).message).toBe(`--config ${missing}: no such file`);
    const broken = path.join(d, "broken.json");
    expect((await refusal(broken)).message).toMatch(`--config ${broken}: cannot read it: `);
    const throws = path.join(d, "throws.mjs");
    expect((await refusal(throws)).message).toBe(`--config ${throws}: cannot read it: no config today`);
  });
});

describe("defineConfig", () => {
  it("returns its input, typed as a RunConfig", () => {
    const config = { runs: 50, crash: "fs" as const };
    expect(defineConfig(config)).toBe(config);
    expectTypeOf(defineConfig).parameter(0).toEqualTypeOf<RunConfig>();
    expectTypeOf(defineConfig(config)).toEqualTypeOf<RunConfig>();
    // A wrong field is a type error in the user's config (npm run typecheck checks these):
    // @ts-expect-error runs is a number
    defineConfig({ runs: "many" });
    // @ts-expect-error no such crash kind
    defineConfig({ crash: "meteor" });
  });
});

// Flags and config are merged in runCommand (harness/cli/run-command.ts), so this goes through
// `walcheck run` (the built CLI: `npx tsc -p .` first).
describe("walcheck run --config", () => {
  it("a flag wins over the config; the config fills in what no flag gives", async () => {
    const d = await project({
      "walcheck.config.json": JSON.stringify({
        seed: 77,
        runs: 3,
        crash: "named",
        scenarios: "crash-append",
        recoveryThresholdMs: 5000,
        thresholds: { recovery: { targetMs: 1234, criticalMs: 5678 } },
      }),
    });
    const reportDir = path.join(d, "reports");
    const r = await execa(
      process.execPath,
      [
        CLI,
        "run",
        "--config",
        path.join(d, "walcheck.config.json"),
        "--report-dir",
        reportDir,
        "--latency",
        "warn",
        "--seed",
        "5",
        "--runs",
        "1",
        "--crash",
        "signal",
        "--scenarios",
        "crash-mixed",
      ],
      { reject: false, env: { WALCHECK_LOG_LEVEL: "warn", GITHUB_STEP_SUMMARY: "" } },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const [run] = fs.readdirSync(reportDir);
    const report = JSON.parse(fs.readFileSync(path.join(reportDir, run!, "report.json"), "utf8"));
    expect(report).toMatchObject({ seed: 5, crash: ["signal"], cases: { planned: 1, run: 1 } });
    expect(report.scenarios.map((s: { name: string }) => s.name)).toEqual(["crash-mixed"]);
    // Every case opens the WAL at least once, so recovery always has a verdict against its levels.
    const recovery = report.scenarios[0].thresholds.find((t: { op: string }) => t.op === "recovery");
    expect(recovery).toMatchObject({ targetMs: 1234, criticalMs: 5678 });
  }, 120_000);
});
