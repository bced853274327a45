import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { CLI, tempDir } from "../helpers.js";

const walcheck = (args: string[], input?: string) =>
  execa(process.execPath, [CLI, ...args], { reject: false, ...(input === undefined ? {} : { input }) });
const pkg = JSON.parse(fs.readFileSync("package.json", "utf8")) as { version: string };

describe("walcheck CLI", () => {
  it("--version and --help", async () => {
    const version = await walcheck(["--version"]);
    expect(version.exitCode).toBe(0);
    expect(version.stdout.trim()).toBe(pkg.version);
    const help = await walcheck(["--help"]);
    expect(help.exitCode).toBe(0);
    for (const cmd of ["serve", "run", "list", "report", "bench", "outbox"]) expect(help.stdout).toContain(cmd);
    expect(help.stdout).not.toContain("smoke");
  });

  it("a wrong flag or value is a usage error: exit 2 with a message", async () => {
    const bad = await walcheck(["run", "--rnus", "3"]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain("unknown option '--rnus'");
    const badValue = await walcheck(["run", "--runs", "zero"]);
    expect(badValue.exitCode).toBe(2);
    expect(badValue.stderr).toContain('--runs must be an integer >= 1, got "zero"');
    const badJson = await walcheck(["serve", "--config", "{nope"]);
    expect(badJson.exitCode).toBe(2);
    expect(badJson.stderr).toContain("--config must be a JSON object");
  });

  it("bench with an adapter that cannot start: exit 2 naming it, before anything is measured", async () => {
    const r = await walcheck(["bench", "--adapter-cmd", "x"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("walcheck bench: ADAPTER_START: subject adapter, task hello: cannot start the adapter");
  });

  it("serve --adapter with a missing module or a module that is not an adapter: exit 2 naming it", async () => {
    const missing = await walcheck(["serve", "--adapter", "no/such/adapter.js"], "");
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain("--adapter no/such/adapter.js: cannot load the module");
    const dir = await tempDir();
    const notAdapter = path.join(dir, "not-adapter.mjs");
    fs.writeFileSync(notAdapter, "export default { hello() {} };\n");
    const wrong = await walcheck(["serve", "--adapter", notAdapter], "");
    expect(wrong.exitCode).toBe(2);
    expect(wrong.stderr).toContain("must export a WalAdapter");
  });

  it("serve answers bad requests with errors and goes on: unknown op, invalid fields, bad config, op before open, non-JSON", async () => {
    const dir = await tempDir();
    const lines = [
      "this is not json",
      JSON.stringify({ id: 1, op: "read" }),
      JSON.stringify({ id: 2, op: "open", dir, config: { sync: "sometimes", maxSegmentBytes: -1 } }),
      JSON.stringify({ id: 3, op: "open", dir, config: {} }),
      JSON.stringify({ id: 4, op: "frobnicate" }),
      JSON.stringify({ id: 5, op: "append", ops: [{ key: "a", value: 1 }] }),
      JSON.stringify({ id: 6, op: "checkpoint", mode: "full" }),
      JSON.stringify({ id: 7, op: "append", ops: [{ key: "a", value: "ü" }] }),
      JSON.stringify({ id: 8, op: "close" }),
    ];
    const r = await walcheck(["serve"], `${lines.join("\n")}\n`);
    expect(r.exitCode).toBe(0);
    const replies = new Map(
      r.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l))
        .map((m) => [m.id, m]),
    );
    expect(replies.get(1)).toMatchObject({ ok: false, error: { code: "EPROTO" } });
    expect(replies.get(2)).toMatchObject({ ok: false, error: { code: "WAL_CONFIG" } });
    expect(replies.get(2).error.message).toContain("sync: expected one of");
    expect(replies.get(2).error.message).toContain("maxSegmentBytes: expected a positive integer, got -1");
    expect(replies.get(3)).toMatchObject({ ok: true, lastSeq: 0 });
    expect(replies.get(4)).toMatchObject({ ok: false, error: { code: "EUNSUPPORTED" } });
    expect(replies.get(5)).toMatchObject({
      ok: false,
      error: { code: "EINVAL", message: "append: ops.0.value must be a string or null" },
    });
    expect(replies.get(6)).toMatchObject({ ok: false, error: { code: "EINVAL" } });
    expect(replies.get(7)).toMatchObject({ ok: true, seq: 1 });
    expect(replies.get(8)).toMatchObject({ ok: true });
    expect(r.stderr).toContain("ignoring a line that is not JSON");
  });

  it("smoke was retired: exit 2 pointing at walcheck run --scenarios crash-mixed, whatever its flags", async () => {
    const message =
      'walcheck smoke was retired: run "walcheck run --scenarios crash-mixed" (the same SIGKILL and named-crash cycles, with shrinking and replay)';
    for (const args of [["smoke"], ["smoke", "--seed", "42", "--cycles", "12", "--report-dir", "x"]]) {
      const r = await walcheck(args);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stdout).toBe("");
    }
  });
});
