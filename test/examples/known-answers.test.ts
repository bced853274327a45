import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { COLUMNS, ENGINE_CONFIGS } from "../../bench/engine-configs.js";
import { findingsOf, REPO_ROOT, tableVerdicts, type Budget } from "../../bench/findings.js";
import { assertDistFresh, tempDir } from "../helpers.js";

// The known-answer suite: walcheck's verdict on each engine configuration of
// bench/engine-configs.ts, under power loss with every persistence model, must be the verdict
// the engine's documentation justifies. A smaller budget than `npm run findings` (which runs
// every configuration and every column): one `--crash power --persistence all` run of the
// walcheck CLI for each configuration marked `slice` (PGlite's initdb and PostgreSQL start-up,
// seconds per recovered state, keep it out). The process-kill column of every configuration is
// test/examples/engines.test.ts: each must keep every acknowledged batch.

const SLICE: Budget = { processRuns: 2, powerRuns: 1, seed: 15, shrink: false };

describe("known answers: walcheck's verdicts on real engines", () => {
  assertDistFresh(["index", "harness/cli/main"]);

  it.each(ENGINE_CONFIGS.filter((c) => c.slice).map((c) => [c.id, c] as const))(
    "%s: its verdict under every persistence model is the documented one",
    async (_id, config) => {
      const work = await tempDir();
      const found = await findingsOf(config, SLICE, work, "power");
      const got = Object.fromEntries(found.cells.map((c) => [c.column, c.verdict]));
      const { process: _process, ...expected } = config.expected;
      const detail = found.cells
        .filter((c) => c.verdict !== config.expected[c.column])
        .map((c) => `${c.column}: ${c.verdict} ${c.message ?? ""} ${c.replay ?? ""}`)
        .join("\n");
      expect(got, detail).toEqual(expected);
      // Every model's column was measured.
      for (const cell of found.cells) expect(cell.checked, cell.column).toBeGreaterThan(0);
    },
    240_000,
  );

  it("docs/findings.md shows, for every configuration and column, the expected verdict", () => {
    const doc = fs.readFileSync(path.join(REPO_ROOT, "docs", "findings.md"), "utf8");
    const table = tableVerdicts(doc);
    for (const config of ENGINE_CONFIGS)
      for (const column of COLUMNS)
        expect(table.get(`${config.id} / ${column}`), `${config.id} ${column}`).toBe(config.expected[column]);
  });
});
