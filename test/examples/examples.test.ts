import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { CLI, tempDir } from "../helpers.js";

// The examples are what a user copies: they must be what the docs print, and they must pass.

const root = path.resolve(import.meta.dirname, "..", "..");
const PYTHON = path.join(root, "examples", "python", "minimal_wal.py");

/** The code block of docs/protocol.md under the heading `heading`, in the language `lang`. */
function docBlock(heading: string, lang: string): string {
  const doc = fs.readFileSync(path.join(root, "docs", "protocol.md"), "utf8");
  const section = doc.slice(doc.indexOf(`## ${heading}`));
  const start = section.indexOf("```" + lang + "\n") + lang.length + 4;
  return section.slice(start, section.indexOf("\n```", start) + 1);
}

describe("examples", () => {
  it("the Python adapter is the one docs/protocol.md prints", () => {
    expect(fs.readFileSync(PYTHON, "utf8")).toBe(docBlock("A minimal adapter in Python", "python"));
  });

  it("the Python adapter passes the crash, torn-tail and second-opener scenarios (exit 0)", async () => {
    const reportDir = await tempDir();
    const r = await execa(
      process.execPath,
      [
        CLI,
        "run",
        "--adapter-cmd",
        `python3 ${PYTHON}`,
        "--scenarios",
        "crash-append,torn-tail,second-opener",
        "--runs",
        "2",
        "--seed",
        "5",
        "--latency",
        "warn",
        "--report-dir",
        reportDir,
      ],
      { reject: false, env: { WALCHECK_LOG_LEVEL: "warn", GITHUB_STEP_SUMMARY: "" } },
    );
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/PASSED\s+crash-append\s+2\/2 cases/);
    expect(r.stdout).toMatch(/PASSED\s+torn-tail\s+2\/2 cases/);
    expect(r.stdout).toMatch(/PASSED\s+second-opener\s+2\/2 cases/);
  }, 180_000);
});
