import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import { CLI, tempDir } from "../helpers.js";

// The examples are what a user copies: they must be what the docs print, and they must pass.

const root = path.resolve(import.meta.dirname, "..", "..");
const PYTHON = path.join(root, "examples", "python", "minimal_wal.py");
const PYTHON_WAL = path.join(root, "examples", "python", "wal.py");
const RUST_DIR = path.join(root, "examples", "rust");
const RUST_BIN = path.join(RUST_DIR, "target", "release", "walcheck-example-wal");
const TS_SOURCE = path.join(root, "examples", "typescript", "wal-adapter.ts");
// Compiled beside the source, as the example's header tells a user to: the module finds fs-ext
// (and `import type ... from "walcheck"` resolves) through this repository's node_modules.
const TS_OUT = path.join(root, "examples", "typescript", "dist");
const TS_MODULE = path.join(TS_OUT, "wal-adapter.js");

/** The code block of docs/protocol.md under the heading `heading`, in the language `lang`. */
function docBlock(heading: string, lang: string): string {
  const doc = fs.readFileSync(path.join(root, "docs", "protocol.md"), "utf8");
  const section = doc.slice(doc.indexOf(`## ${heading}`));
  const start = section.indexOf("```" + lang + "\n") + lang.length + 4;
  return section.slice(start, section.indexOf("\n```", start) + 1);
}

// --latency warn and a generous --recovery-threshold: these tests judge correctness, not speed,
// and a loaded CI machine must not turn a slow recovery into a failure.
async function walcheckRun(adapter: string[], scenarios: string, seed: number) {
  const reportDir = await tempDir();
  const args = [CLI, "run", ...adapter, "--scenarios", scenarios, "--runs", "2", "--seed", String(seed)];
  return execa(
    process.execPath,
    [...args, "--latency", "warn", "--recovery-threshold", "10000", "--report-dir", reportDir],
    {
      reject: false,
      env: { WALCHECK_LOG_LEVEL: "warn", GITHUB_STEP_SUMMARY: "" },
    },
  );
}

/** One adapter process, driven by hand over the protocol: one request at a time. */
function drive(argv: string[]) {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  let id = 0;
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    async send(op: string, fields: Record<string, unknown> = {}): Promise<Record<string, any>> {
      const req = { id: ++id, op, ...fields };
      child.stdin.write(JSON.stringify(req) + "\n");
      const next = await lines.next();
      if (next.done) throw new Error(`the adapter exited without answering ${op}: ${stderr}`);
      const reply = JSON.parse(next.value) as Record<string, any>;
      expect(reply.id).toBe(req.id);
      return reply;
    },
    /** Close stdin and wait for the process to end (it must, with or without a `close`). */
    async end(): Promise<number | null> {
      child.stdin.end();
      const code = await exited;
      return code;
    },
    stderr: () => stderr,
  };
}

const SCENARIOS = ["crash-mixed", "crash-append", "power-loss", "torn-tail", "bit-flip", "second-opener"];

const examples = [
  {
    name: "Python (examples/python/wal.py)",
    run: ["--adapter-cmd", `python3 ${PYTHON_WAL}`],
    argv: () => ["python3", PYTHON_WAL],
  },
  {
    name: "Rust (examples/rust)",
    run: ["--adapter-cmd", RUST_BIN],
    argv: () => [RUST_BIN],
  },
  {
    name: "TypeScript (examples/typescript/wal-adapter.ts)",
    run: ["--adapter", TS_MODULE],
    argv: () => [process.execPath, CLI, "serve", "--adapter", TS_MODULE],
  },
];

describe("examples", () => {
  beforeAll(async () => {
    // Built once per test run; cargo keeps examples/rust/target (git-ignored) between runs.
    // --offline: the example has no dependencies, and CI has no crate registry.
    await execa("cargo", ["build", "--release", "--offline", "--quiet"], { cwd: RUST_DIR });
    await execa(
      process.execPath,
      [
        path.join(root, "node_modules", "typescript", "bin", "tsc"),
        "--ignoreConfig",
        TS_SOURCE,
        "--rootDir",
        path.dirname(TS_SOURCE),
        "--outDir",
        TS_OUT,
        "--module",
        "nodenext",
        "--target",
        "es2022",
        "--types",
        "node",
        "--strict",
        "--skipLibCheck",
      ],
      { cwd: root },
    );
  }, 300_000);

  it("the Python adapter is the one docs/protocol.md prints", () => {
    expect(fs.readFileSync(PYTHON, "utf8")).toBe(docBlock("A minimal adapter in Python", "python"));
  });

  it("the minimal Python adapter passes the crash, torn-tail and second-opener scenarios (exit 0)", async () => {
    const r = await walcheckRun(["--adapter-cmd", `python3 ${PYTHON}`], "crash-append,torn-tail,second-opener", 5);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/PASSED\s+crash-append\s+2\/2 cases/);
    expect(r.stdout).toMatch(/PASSED\s+torn-tail\s+2\/2 cases/);
    expect(r.stdout).toMatch(/PASSED\s+second-opener\s+2\/2 cases/);
  }, 180_000);

  it("the Rust example's JSON reader and writer pass its unit tests (escapes, surrogate pairs, zeros)", async () => {
    const r = await execa("cargo", ["test", "--release", "--offline", "--quiet"], { cwd: RUST_DIR, reject: false });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/2 passed; 0 failed/);
  }, 300_000);

  describe.each(examples)("$name", (example) => {
    it("passes the crash, power-loss, torn-tail, bit-flip and second-opener scenarios (exit 0)", async () => {
      const r = await walcheckRun(example.run, "crash-*,torn-tail,bit-flip,second-opener,power-loss", 7);
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/features checksums, recovery-stats/);
      for (const s of SCENARIOS) expect(r.stdout).toMatch(new RegExp(`PASSED\\s+${s}\\s+2/2 cases`));
    }, 180_000);

    it("refuses to open a log damaged in the middle, and cuts a torn tail", async () => {
      const dir = path.join(await tempDir(), "wal");
      const values = ["first-value", 'middle-value-\u00e9"\\\n\u{1F600}', "last-value"];
      const writer = drive(example.argv());
      expect((await writer.send("hello")).features).toContain("checksums");
      expect(await writer.send("open", { dir, config: {} })).toMatchObject({ ok: true, lastSeq: 0 });
      for (const [i, value] of values.entries())
        expect(await writer.send("append", { ops: [{ key: `k${i}`, value }] })).toMatchObject({ ok: true, seq: i + 1 });
      expect(await writer.send("close")).toMatchObject({ ok: true });
      expect(await writer.end()).toBe(0);

      const file = path.join(dir, "wal.log");
      const good = fs.readFileSync(file);

      // A torn tail: the last record cut short. Recovery keeps the first two.
      fs.writeFileSync(file, good.subarray(0, good.length - 3));
      const torn = drive(example.argv());
      await torn.send("hello");
      const tornOpen = await torn.send("open", { dir, config: {} });
      expect(tornOpen, torn.stderr()).toMatchObject({ ok: true, lastSeq: 2 });
      expect(tornOpen.recovery.bytesDiscarded).toBeGreaterThan(0);
      expect((await torn.send("read")).state).toEqual({ k0: values[0], k1: values[1] });
      await torn.send("close");
      expect(await torn.end()).toBe(0);

      // One byte of the middle record's value changed: records after it are still valid, so
      // cutting the log there would drop an acknowledged batch. open must refuse.
      const at = good.indexOf(Buffer.from("middle-value"));
      expect(at).toBeGreaterThan(0);
      const damaged = Buffer.from(good);
      damaged[at + 3] = damaged[at + 3]! ^ 0x20;
      fs.writeFileSync(file, damaged);
      const reader = drive(example.argv());
      await reader.send("hello");
      const opened = await reader.send("open", { dir, config: {} });
      expect(opened.ok, JSON.stringify(opened)).toBe(false);
      expect(opened.error.code).toBe("WAL_CORRUPT");
      expect(opened.error.message).toMatch(/valid records after it/);
      await reader.end();
      // ... and it did not "repair" the file by cutting it.
      expect(fs.readFileSync(file).equals(damaged)).toBe(true);
    }, 60_000);
  });
});
