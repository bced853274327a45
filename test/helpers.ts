import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Writable } from "node:stream";
import pino, { type Logger } from "pino";
import { dir } from "tmp-promise";
import { afterEach, expect } from "vitest";
import { WalError } from "../reference-impl/errors.js";

/** A fresh temp directory per call, removed after the test. */
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});
export async function tempDir(): Promise<string> {
  const d = await dir({ prefix: "walcheck-test-", unsafeCleanup: true });
  cleanups.push(d.cleanup);
  return d.path;
}

/** A pino logger whose lines are collected as parsed objects. */
export function captureLogger(): {
  logger: Logger;
  lines: Record<string, unknown>[];
  waitFor: (pred: (l: Record<string, unknown>[]) => boolean) => Promise<void>;
} {
  const lines: Record<string, unknown>[] = [];
  const waiters: { pred: (l: Record<string, unknown>[]) => boolean; resolve: () => void }[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) lines.push(JSON.parse(line));
      for (const w of [...waiters]) if (w.pred(lines)) (waiters.splice(waiters.indexOf(w), 1), w.resolve());
      cb();
    },
  });
  const logger = pino({ level: "debug" }, stream);
  const waitFor = (pred: (l: Record<string, unknown>[]) => boolean) =>
    pred(lines) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ pred, resolve }));
  return { logger, lines, waitFor };
}

export const silentLogger = pino({ level: "silent" });

/** The only segment file in a WAL directory (tests that write a small log). */
export function segmentFiles(walDir: string): string[] {
  return fs
    .readdirSync(walDir)
    .filter((n) => n.startsWith("seg-"))
    .sort()
    .map((n) => path.join(walDir, n));
}

export function copyDir(from: string, to: string): void {
  fs.rmSync(to, { recursive: true, force: true });
  fs.cpSync(from, to, { recursive: true });
  fs.rmSync(path.join(to, "LOCK"), { force: true });
}

export const CLI = path.resolve("dist/harness/cli/main.js");

export function batch(i: number): { key: string; value: string | null }[] {
  return [
    { key: `k${i % 3}`, value: `v${i}-é日` },
    { key: `x${i}`, value: i % 4 === 3 ? null : `y${i}` },
  ];
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Child-process tests run the compiled modules; a stale dist/ would test old code. */
/** Modules are named under reference-impl/ (`wal`) or by their path from the root (`harness/protocol/crashpoint`). */
export function assertDistFresh(modules: string[]): void {
  for (const name of modules) {
    const rel = name.includes("/") ? name : path.join("reference-impl", name);
    const src = path.join(root, `${rel}.ts`);
    const out = path.join(root, "dist", `${rel}.js`);
    if (!fs.existsSync(out) || fs.statSync(out).mtimeMs < fs.statSync(src).mtimeMs) {
      throw new Error(`${path.relative(root, out)} is missing or older than its source: run \`npx tsc -p .\` first`);
    }
  }
}

/** The rejection of `promise`, which must be a WalError. */
export async function walErrorOf(promise: Promise<unknown>): Promise<WalError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WalError);
  return error as WalError;
}

/** Processes whose environment carries WALCHECK_TEST_MARK=`mark` (a test's walcheck and every child it started). */
export function processesMarked(mark: string): number[] {
  const found: number[] = [];
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/environ`, "latin1").includes(`WALCHECK_TEST_MARK=${mark}`))
        found.push(Number(pid));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/** Resolves once `stream` has carried `text` (waiting on output, never on time). */
export function waitForOutput(stream: NodeJS.ReadableStream, text: string): Promise<void> {
  return new Promise<void>((resolve) => {
    let seen = "";
    stream.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(text)) resolve();
    });
  });
}

/** The one report.json a run wrote under `reportDir`. */
export function readOnlyReport(reportDir: string): Record<string, any> {
  const [dir] = fs.readdirSync(reportDir);
  return JSON.parse(fs.readFileSync(path.join(reportDir, dir!, "report.json"), "utf8")) as Record<string, any>;
}
