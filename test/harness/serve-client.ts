import { afterEach } from "vitest";
import { AdapterClient } from "../../harness/index.js";
import { CLI } from "../helpers.js";

/** `walcheck serve --adapter <spec>` as a real child, with an optional crash point. */
export function startServe(
  opts: { crashAt?: string; adapter?: string; config?: Record<string, unknown>; timeoutMs?: number } = {},
): AdapterClient {
  const args = [CLI, "serve", "--adapter", opts.adapter ?? "reference"];
  if (opts.config) args.push("--config", JSON.stringify(opts.config));
  return AdapterClient.start({
    file: process.execPath,
    args,
    env: opts.crashAt ? { WALCHECK_CRASH_AT: opts.crashAt } : {},
    timeoutMs: opts.timeoutMs ?? 15_000,
  });
}

/** Unwrap an ok reply or fail the test with the adapter's error. */
export function ok<T extends { ok: boolean }>(reply: T): Extract<T, { ok: true }> {
  if (!reply.ok) throw new Error(`adapter answered an error: ${JSON.stringify(reply)}`);
  return reply as Extract<T, { ok: true }>;
}

/** `startServe` for one test file: every child it starts is killed after each test. */
export function serveKilledAfterEach(): (opts?: Parameters<typeof startServe>[0]) => AdapterClient {
  const started: AdapterClient[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((c) => c.kill()));
  });
  return (opts = {}) => {
    const client = startServe(opts);
    started.push(client);
    return client;
  };
}
