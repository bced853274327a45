import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import { AdapterClient, type ExitInfo } from "../../harness/protocol/adapter-client.js";
import { AdapterError } from "../../harness/protocol/adapter-error.js";
import { CLI, tempDir } from "../helpers.js";
import { readTrace, type TraceLine } from "./preload-helpers.js";
import { runScenarios } from "../scenarios/run-scenarios.js";

// The bundled `walcheck serve` (dist/harness/cli/serve.bundle.js, made by `npm run build`) and
// the armed spare: real processes, real SIGKILL. A process armed after its start by walcheck's
// private request must do exactly what one armed by its environment does.

const BUNDLE = path.resolve("dist/harness/cli/serve.bundle.js");
const PRELOAD_BUNDLE = path.resolve("dist/harness/faults/fs/preload.bundle.js");

beforeAll(() => {
  for (const [bundle, source] of [
    [BUNDLE, "dist/harness/cli/serve-entry.js"],
    [PRELOAD_BUNDLE, "dist/harness/faults/fs-preload.js"],
  ] as const) {
    if (!fs.existsSync(bundle) || fs.statSync(bundle).mtimeMs < fs.statSync(source).mtimeMs)
      throw new Error(`${bundle} is missing or older than ${source}: run \`npm run build\` first`);
  }
});

const started: AdapterClient[] = [];
function start(args: string[], env: Record<string, string> = {}): AdapterClient {
  const client = AdapterClient.start({ file: process.execPath, args, env, timeoutMs: 15_000 });
  started.push(client);
  return client;
}

async function killAll(): Promise<void> {
  await Promise.all(started.splice(0).map((c) => c.kill()));
}

/** A life on `dir`: hello, open, `batches` appends of one put each, a checkpoint (if it has them), more appends, read, close. */
async function life(
  client: AdapterClient,
  dir: string,
  batches = 6,
  config: Record<string, unknown> = { maxSegmentBytes: 512 },
): Promise<{ exit: ExitInfo; reads: unknown[] }> {
  const reads: unknown[] = [];
  const must = <T extends { ok: boolean }>(reply: T): T => {
    if (!reply.ok) throw new Error(`the adapter refused: ${JSON.stringify(reply)}`);
    return reply;
  };
  try {
    const { features } = await client.hello();
    must(await client.request("open", { dir, config }));
    for (let i = 0; i < batches; i++) {
      must(
        await client.request("append", {
          ops: [{ key: `k${i % 3}`, value: `value-${i}-${"x".repeat(40)}` }],
        }),
      );
      if (i === Math.floor(batches / 2) && features.includes("checkpoint"))
        must(await client.request("checkpoint", { mode: "passive" }));
    }
    const read = must(await client.request("read", {}));
    if (read.ok) reads.push({ lastSeq: read.lastSeq, state: read.state });
    must(await client.request("close", {}));
  } catch (error) {
    // the crash it was armed with: the process died
    if (!(error instanceof AdapterError) || error.code !== "ADAPTER_EXITED") throw error;
  }
  return { exit: await client.exited, reads };
}

/** What the adapter left in `dir`, for comparison: each file's size (records carry timestamps), no LOCK. */
function contents(dir: string): Record<string, number> {
  if (!fs.existsSync(dir)) return {};
  const sizes: Record<string, number> = {};
  for (const name of fs.readdirSync(dir).sort())
    if (name !== "LOCK") sizes[name] = fs.statSync(path.join(dir, name)).size;
  return sizes;
}

/** A trace with the life's directory written as <dir>, for comparing lives on two directories. */
function normalized(trace: TraceLine[], dir: string): unknown[] {
  return trace.map((line) => JSON.parse(JSON.stringify(line).split(dir).join("<dir>")) as unknown);
}

describe("the bundled walcheck serve", () => {
  it("walcheck starts a built-in adapter from the bundle (armable), a module adapter from it too (not armable), and it serves a whole life", async () => {
    // From dist/, where the bundle is (the sources' directory has none).
    const { resolveAdapter } = (await import(
      pathToFileURL(path.resolve("dist/harness/engine/adapter-launch.js")).href
    )) as typeof import("../../harness/engine/adapter-launch.js");
    const reference = resolveAdapter({ adapter: "reference" });
    expect(reference.args.slice(0, 4)).toEqual([BUNDLE, "serve", "--adapter", "reference"]);
    expect(reference.armable).toBe(true);
    const module = resolveAdapter({ adapter: "test/fixtures/adapters/bug-ack-before-fsync.mjs" });
    expect(module.args[0]).toBe(BUNDLE);
    expect(module.armable).toBeUndefined();
    expect(resolveAdapter({ adapterCmd: `node ${BUNDLE} serve` }).armable).toBeUndefined();

    const dir = path.join(await tempDir(), "wal");
    const client = start(reference.args);
    const { exit, reads } = await life(client, dir);
    expect(exit.exitCode).toBe(0);
    expect(reads).toEqual([
      { lastSeq: 6, state: { k0: expect.any(String), k1: expect.any(String), k2: expect.any(String) } },
    ]);
  });

  it("walcheck serve typed by a user answers as before, through the bundle", async () => {
    const r = await execa(process.execPath, [CLI, "serve", "--adapter", "reference"], {
      input: '{"id":1,"op":"hello"}\n{"id":2,"op":"read"}\n',
      reject: false,
    });
    expect(r.exitCode).toBe(0);
    // Answers may come back in any order (protocol.md): the refused read can overtake hello.
    const answers = r.stdout.split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(answers).toHaveLength(2);
    const hello = answers.find((a) => a.id === 1);
    const read = answers.find((a) => a.id === 2);
    expect(hello).toMatchObject({ id: 1, ok: true, name: "walcheck-reference", protocol: 1 });
    expect(read).toMatchObject({ id: 2, ok: false, error: { code: "EPROTO" } });
  });

  it("without the bundle (a tsc-only build) or with one older than the compiled modules, walcheck starts main.js serve, and it serves", async () => {
    // A copy of dist/ (the shared one is not touched), beside the package's node_modules.
    const pkg = await tempDir();
    fs.cpSync("dist", path.join(pkg, "dist"), { recursive: true, filter: (src) => !src.endsWith(".d.ts") });
    fs.copyFileSync("package.json", path.join(pkg, "package.json"));
    fs.symlinkSync(path.resolve("node_modules"), path.join(pkg, "node_modules"));
    const bundle = path.join(pkg, "dist/harness/cli/serve.bundle.js");
    const entry = path.join(pkg, "dist/harness/cli/serve-entry.js");
    const launchIn = async () => {
      // A fresh module instance per import (query string): the bundle is looked for on each resolve.
      const url = `${pathToFileURL(path.join(pkg, "dist/harness/engine/adapter-launch.js")).href}?${Math.random()}`;
      const { resolveAdapter } = (await import(url)) as typeof import("../../harness/engine/adapter-launch.js");
      return resolveAdapter({ adapter: "reference" });
    };
    const later = new Date(Date.now() + 60_000);
    fs.utimesSync(bundle, later, later);
    expect((await launchIn()).args[0]).toBe(bundle);

    const earlier = new Date(fs.statSync(entry).mtimeMs - 60_000);
    fs.utimesSync(bundle, earlier, earlier);
    expect((await launchIn()).args[0]).toBe(path.join(pkg, "dist/harness/cli/main.js"));

    fs.rmSync(bundle);
    const launch = await launchIn();
    expect(launch.args.slice(0, 4)).toEqual([
      path.join(pkg, "dist/harness/cli/main.js"),
      "serve",
      "--adapter",
      "reference",
    ]);
    const dir = path.join(await tempDir(), "wal");
    const { exit, reads } = await life(start(launch.args), dir);
    expect(exit.exitCode).toBe(0);
    expect(reads).toHaveLength(1);
    // And a whole run, from the copy, with crashes of every kind.
    const reportDir = await tempDir();
    const run = await execa(
      process.execPath,
      [
        path.join(pkg, "dist/harness/cli/main.js"),
        "run",
        "--scenarios",
        "crash-mixed",
        "--seed",
        "3",
        "--runs",
        "2",
        "--recovery-threshold",
        "5000",
        "--report-dir",
        reportDir,
      ],
      { reject: false, env: { WALCHECK_LOG_LEVEL: "warn", GITHUB_STEP_SUMMARY: "" } },
    );
    expect(run.stdout).toContain("PASSED");
    expect(run.exitCode).toBe(0);
    await killAll();
  }, 120_000);
});

describe("a spare process armed after its start (walcheck.arm) does what one armed by its environment does", () => {
  it.each([
    ["reference", { maxSegmentBytes: 512 }],
    ["state-file", {}],
    ["event-log", {}],
  ] as const)(
    "%s: the fs trace has the same counted calls, in the same order, as under the preload loaded by NODE_OPTIONS",
    async (adapter, config) => {
      const work = await tempDir();
      const lives = [];
      for (const how of ["env", "late"] as const) {
        const dir = path.join(work, `${how}-wal`);
        const trace = path.join(work, `${how}.trace`);
        const client =
          how === "env"
            ? start([BUNDLE, "serve", "--adapter", adapter], {
                NODE_OPTIONS: `--import ${pathToFileURL(PRELOAD_BUNDLE).href}`,
                WALCHECK_FS_TRACE: trace,
              })
            : start([BUNDLE, "serve", "--adapter", adapter]);
        if (how === "late") await client.arm({ fsTrace: trace });
        const { exit } = await life(client, dir, 12, config);
        expect(exit.exitCode).toBe(0);
        lives.push(normalized(readTrace(trace), dir));
      }
      expect(lives[0]!.length).toBeGreaterThan(20);
      expect(lives[1]).toEqual(lives[0]);
    },
  );

  it.each([
    ["a named crash point", { crashAt: "append.after-write:4" }, { WALCHECK_CRASH_AT: "append.after-write:4" }],
    ["an fs crash (mid)", { fsCrash: "17:mid" }, { WALCHECK_FS_CRASH: "17:mid" }],
    ["an fs crash (after)", { fsCrash: "25:after" }, { WALCHECK_FS_CRASH: "25:after" }],
  ] as const)("%s: killed at the same request, leaving the same files", async (_what, arm, env) => {
    const work = await tempDir();
    const results = [];
    for (const how of ["env", "late"] as const) {
      const dir = path.join(work, `${how}-wal`);
      const client =
        how === "env"
          ? start([BUNDLE, "serve", "--adapter", "reference"], {
              ...env,
              ...("WALCHECK_FS_CRASH" in env ? { NODE_OPTIONS: `--import ${pathToFileURL(PRELOAD_BUNDLE).href}` } : {}),
            })
          : start([BUNDLE, "serve", "--adapter", "reference"]);
      if (how === "late") await client.arm(arm);
      const { exit, reads } = await life(client, dir, 12);
      results.push({ signal: exit.signal, reads, files: contents(dir) });
    }
    expect(results[0]!.signal).toBe("SIGKILL");
    expect(results[0]!.reads).toEqual([]);
    expect(Object.keys(results[0]!.files).length).toBeGreaterThan(0);
    expect(results[1]).toEqual(results[0]);
  });

  it("is taken once before open; refused with a bad value, a second time, or after open", async () => {
    const dir = path.join(await tempDir(), "wal");
    const client = start([BUNDLE, "serve", "--adapter", "reference"]);
    await expect(client.arm({ crashAt: "append.after-write:0" })).rejects.toThrow(/walcheck.arm answered/);
    const again = start([BUNDLE, "serve", "--adapter", "reference"]);
    await again.arm({ crashAt: "append.after-write:1" });
    await expect(again.arm({ fsCrash: "1:before" })).rejects.toThrow(/once, before open/);
    const opened = start([BUNDLE, "serve", "--adapter", "reference"]);
    await opened.hello();
    await opened.request("open", { dir, config: {} });
    await expect(opened.arm({ crashAt: "append.after-write:1" })).rejects.toThrow(/once, before open/);
    await killAll();
  });

  it("a crash campaign gives the same cycles, crashes and batches with the armed spare (--adapter reference) as with env-armed processes of the same program (--adapter-cmd)", async () => {
    const runWith = async (adapter: string[]) => {
      const r = await runScenarios([
        "--scenarios",
        "crash-append,crash-checkpoint",
        "--seed",
        "5",
        "--runs",
        "4",
        ...adapter,
      ]);
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      const report = r.report;
      return {
        cycles: report.cycles,
        crashes: report.crashes,
        armsNotReached: report.armsNotReached,
        // batches.acked is left out: how many in-flight appends a SIGKILL from walcheck lets through is timing.
        sent: report.batches.sent,
      };
    };
    const spare = await runWith(["--adapter", "reference"]);
    const env = await runWith(["--adapter-cmd", `node ${BUNDLE} serve --adapter reference`]);
    expect(Object.keys(spare.crashes.named).length + Object.keys(spare.crashes.fs).length).toBeGreaterThan(0);
    expect(spare).toEqual(env);
  }, 240_000);
});
