import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { dir } from "tmp-promise";
import { afterEach, describe, expect, it } from "vitest";
import { CONFIG_NAMES, loadRunConfig, resolveRunConfig } from "../../harness/cli/run-config.js";
import { UsageError } from "../../harness/protocol/errors.js";
import { CLI } from "../helpers.js";

// walcheck.config.* found in the working directory when no --config is given, and TypeScript
// configs loaded with jiti (in memory: nothing written beside the config). The end-to-end runs go
// through the built CLI (`npx tsc -p .` first).

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A fresh temp directory holding `files` (name → contents); its path. */
async function project(files: Record<string, string> = {}): Promise<string> {
  const d = await dir({ prefix: "walcheck-discovery-", unsafeCleanup: true });
  cleanups.push(d.cleanup);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(d.path, name), text);
  return d.path;
}

/** A project that installed walcheck: node_modules/walcheck is this repository (as `npm link` makes it). */
async function installedProject(files: Record<string, string>): Promise<string> {
  const d = await project(files);
  fs.mkdirSync(path.join(d, "node_modules"));
  fs.symlinkSync(path.resolve("."), path.join(d, "node_modules", "walcheck"), "dir");
  return d;
}

/** A config file of each kind setting `seed`, in that kind's own syntax. */
function configText(name: string, seed: number): string {
  if (name.endsWith(".json")) return JSON.stringify({ seed });
  if (/\.[cm]?ts$/.test(name))
    return `const seed: number = ${seed};\nexport default { seed } satisfies { seed: number };\n`;
  if (name.endsWith(".mjs")) return `export default { seed: ${seed} };\n`;
  return `module.exports = { seed: ${seed} };\n`; // .js without "type": "module", and .cjs
}

/** What resolveRunConfig said, by level. */
function listener() {
  const said = { info: [] as string[], warn: [] as string[] };
  return { said, say: { info: (m: string) => said.info.push(m), warn: (m: string) => said.warn.push(m) } };
}

/** The names in `d` and in its node_modules (not following the walcheck symlink), sorted. */
function listing(d: string): string[] {
  const names = fs.readdirSync(d);
  const nm = path.join(d, "node_modules");
  if (fs.existsSync(nm)) names.push(...fs.readdirSync(nm).map((n) => `node_modules/${n}`));
  return names.sort();
}

/** Entries of jiti's default cache directory in the temp dir (jiti's fallback when no node_modules is beside it). */
function jitiTmpCache(): string[] {
  const d = path.join(os.tmpdir(), "jiti");
  return fs.existsSync(d) ? fs.readdirSync(d) : [];
}

async function refusal(promise: Promise<unknown>): Promise<UsageError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UsageError);
  return error as UsageError;
}

async function walcheckRun(cwd: string, args: string[]) {
  return execa(process.execPath, [CLI, "run", ...args], {
    cwd,
    reject: false,
    env: { WALCHECK_LOG_LEVEL: "info", GITHUB_STEP_SUMMARY: "" },
  });
}

describe("config discovery", () => {
  it("looks for .ts, .mts, .cts, .js, .mjs, .cjs, .json in that order (vitest's, then .json)", () => {
    expect(CONFIG_NAMES).toEqual([
      "walcheck.config.ts",
      "walcheck.config.mts",
      "walcheck.config.cts",
      "walcheck.config.js",
      "walcheck.config.mjs",
      "walcheck.config.cjs",
      "walcheck.config.json",
    ]);
  });

  it("finds and loads a config of each kind alone in the working directory, and says which", async () => {
    for (const [i, name] of CONFIG_NAMES.entries()) {
      const d = await project({ [name]: configText(name, 100 + i) });
      const { said, say } = listener();
      const resolved = await resolveRunConfig(undefined, say, d);
      expect(resolved.config, name).toEqual({ seed: 100 + i });
      expect(resolved.file).toBe(`./${name}`);
      expect(said).toEqual({ info: [`config: ./${name}`], warn: [] });
    }
  });

  it("with several, uses the first in the order and warns naming the others", async () => {
    const files = Object.fromEntries(CONFIG_NAMES.map((name, i) => [name, configText(name, 100 + i)]));
    const d = await project(files);
    for (const [i, name] of CONFIG_NAMES.entries()) {
      const { said, say } = listener();
      const resolved = await resolveRunConfig(undefined, say, d);
      expect(resolved.config, name).toEqual({ seed: 100 + i });
      const others = CONFIG_NAMES.slice(i + 1).map((n) => `./${n}`);
      if (others.length === 0) {
        expect(said).toEqual({ info: [`config: ./${name}`], warn: [] });
      } else {
        expect(said.info).toEqual([]);
        expect(said.warn).toEqual([
          `config: using ./${name}; also found ${others.join(", ")}, ignored (give --config to choose, or remove them)`,
        ]);
      }
      fs.rmSync(path.join(d, name)); // the next one in the order now comes first
    }
  });

  it("--config wins over a found file, --no-config ignores it, and nothing found means no config", async () => {
    const d = await project({
      "walcheck.config.ts": configText("walcheck.config.ts", 1),
      "ci.json": JSON.stringify({ seed: 2 }),
    });
    const given = listener();
    const explicit = await resolveRunConfig(path.join(d, "ci.json"), given.say, d);
    expect(explicit.config).toEqual({ seed: 2 });
    expect(given.said).toEqual({ info: [], warn: [] });
    const none = listener();
    expect((await resolveRunConfig(false, none.say, d)).config).toEqual({});
    expect(none.said).toEqual({ info: [], warn: [] });
    const empty = listener();
    const nothing = await resolveRunConfig(undefined, empty.say, await project());
    expect(nothing.config).toEqual({});
    expect(nothing.file).toBeUndefined();
    expect(empty.said).toEqual({ info: [], warn: [] });
  });

  it("a found config's errors name it: a bad field with its path", async () => {
    const d = await project({
      "walcheck.config.mts": "export default { thresholds: { append: { criticalMs: -5 } } };\n",
    });
    const error = await refusal(resolveRunConfig(undefined, listener().say, d));
    expect(error.message).toMatch(/^config \.\/walcheck\.config\.mts: thresholds\.append\.criticalMs: /);
  });
});

describe("TypeScript configs (jiti)", () => {
  const TYPED = [
    'import { defineConfig, type RunConfig } from "walcheck";',
    "",
    'const thresholds: RunConfig["thresholds"] = { recovery: { targetMs: 1111, criticalMs: 2222 } };',
    "const seed: number = 4242;",
    "",
    'export default defineConfig({ seed, thresholds, scenarios: "crash-append", runs: 1, crash: "signal" });',
    "",
  ].join("\n");

  it("imports defineConfig from the walcheck the project installed, through the package's exports", async () => {
    const d = await installedProject({ "walcheck.config.ts": TYPED });
    expect(await loadRunConfig(path.join(d, "walcheck.config.ts"))).toEqual({
      seed: 4242,
      thresholds: { recovery: { targetMs: 1111, criticalMs: 2222 } },
      scenarios: "crash-append",
      runs: 1,
      crash: "signal",
    });
  });

  it("resolves walcheck from the config's project, not from the walcheck that loads it", async () => {
    // A project whose own "walcheck" package has a defineConfig that adds runs: 7.
    const d = await project({
      "walcheck.config.cts": 'import { defineConfig } from "walcheck";\nexport default defineConfig({ seed: 1 });\n',
    });
    const pkg = path.join(d, "node_modules", "walcheck");
    fs.mkdirSync(pkg, { recursive: true });
    fs.writeFileSync(
      path.join(pkg, "package.json"),
      JSON.stringify({ name: "walcheck", type: "module", exports: { ".": "./main.js" } }),
    );
    fs.writeFileSync(path.join(pkg, "main.js"), "export const defineConfig = (c) => ({ ...c, runs: 7 });\n");
    expect(await loadRunConfig(path.join(d, "walcheck.config.cts"))).toEqual({ seed: 1, runs: 7 });
  });

  it("without walcheck installed in the project (npx walcheck), walcheck and walcheck/vitest are this walcheck", async () => {
    const d = await project({
      "walcheck.config.ts": [
        'import { defineConfig } from "walcheck";',
        'import { walConformance } from "walcheck/vitest";',
        'export default defineConfig({ seed: typeof walConformance === "function" ? 5 : 0 });',
        "",
      ].join("\n"),
    });
    expect(await loadRunConfig(path.join(d, "walcheck.config.ts"))).toEqual({ seed: 5 });
  });

  it("writes nothing beside the config, nor in jiti's temp-dir cache; an edit between two loads is seen", async () => {
    const d = await installedProject({ "walcheck.config.ts": TYPED });
    const before = listing(d);
    const cacheBefore = jitiTmpCache();
    const file = path.join(d, "walcheck.config.ts");
    expect((await loadRunConfig(file)).seed).toBe(4242);
    fs.writeFileSync(file, TYPED.replace("4242", "4343"));
    expect((await loadRunConfig(file)).seed).toBe(4343);
    expect(listing(d)).toEqual(before);
    expect(jitiTmpCache()).toEqual(cacheBefore);
  });

  it("a TS syntax error or a throw is a usage error naming the file and carrying jiti's message", async () => {
    const d = await project({
      "syntax.ts": "const seed: number = ;\nexport default { seed };\n",
      "throws.mts": 'const reason: string = "no config today";\nthrow new Error(reason);\n',
    });
    const syntax = path.join(d, "syntax.ts");
    const s = (await refusal(loadRunConfig(syntax))).message;
    expect(s.startsWith(`--config ${syntax}: cannot read it: `)).toBe(true);
    expect(s).toContain(`${syntax}:1:`); // jiti's location of the error
    const throws = path.join(d, "throws.mts");
    expect((await refusal(loadRunConfig(throws))).message).toBe(`--config ${throws}: cannot read it: no config today`);
  });
});

describe("walcheck run finds walcheck.config.ts", () => {
  it("uses it (its seed and thresholds), says so, and leaves its directory as it was", async () => {
    const d = await installedProject({
      "walcheck.config.ts": [
        'import { defineConfig } from "walcheck";',
        "",
        "const seed: number = 4242;",
        "export default defineConfig({",
        "  seed,",
        '  scenarios: "crash-append",',
        "  runs: 1,",
        '  crash: "signal",',
        '  latency: "warn",',
        "  thresholds: { recovery: { targetMs: 1111, criticalMs: 2222 } },",
        "});",
        "",
      ].join("\n"),
    });
    const reportDir = await project();
    const before = listing(d);
    const r = await walcheckRun(d, ["--report-dir", reportDir]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain("INFO (walcheck): config: ./walcheck.config.ts");
    expect(r.stdout).toContain("(seed 4242, 1/1 cases");
    const [run] = fs.readdirSync(reportDir);
    const report = JSON.parse(fs.readFileSync(path.join(reportDir, run!, "report.json"), "utf8"));
    expect(report).toMatchObject({ seed: 4242, crash: ["signal"], cases: { planned: 1, run: 1 } });
    const recovery = report.scenarios[0].thresholds.find((t: { op: string }) => t.op === "recovery");
    expect(recovery).toMatchObject({ targetMs: 1111, criticalMs: 2222 });
    expect(listing(d)).toEqual(before);
  }, 120_000);

  it("--config wins over the found file, and --no-config ignores it", async () => {
    // The found config would fail the run before it starts (no such scenario); the given one is fine.
    const d = await project({
      "walcheck.config.ts": 'export default { scenarios: "no-such-scenario" as string };\n',
      "ci.json": JSON.stringify({ scenarios: "also-missing" }),
    });
    const found = await walcheckRun(d, []);
    expect(found.exitCode).toBe(2);
    expect(found.stderr).toContain('"no-such-scenario" matches no scenario');
    const given = await walcheckRun(d, ["--config", "ci.json"]);
    expect(given.exitCode).toBe(2);
    expect(given.stderr).toContain('"also-missing" matches no scenario');
    expect(given.stderr).not.toContain("config: ./walcheck.config.ts");
    const ignored = await walcheckRun(d, ["--no-config", "--scenarios", "nor-this-one"]);
    expect(ignored.exitCode).toBe(2);
    expect(ignored.stderr).toContain('"nor-this-one" matches no scenario');
    expect(ignored.stderr).not.toContain("no-such-scenario");
  }, 60_000);

  it("a broken walcheck.config.ts is exit 2 naming the file, with jiti's message", async () => {
    const d = await project({ "walcheck.config.ts": "export default { seed: 1 as number, };\nconst = 3;\n" });
    const r = await walcheckRun(d, []);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("config ./walcheck.config.ts: cannot read it: ");
    expect(r.stderr).toContain(`${path.join(d, "walcheck.config.ts")}:2:`);
  }, 60_000);
});
