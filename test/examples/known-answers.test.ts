import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { COLUMNS, ENGINE_CONFIGS } from "../../bench/engine-configs.js";
import { findingsOf, REPO_ROOT, tableVerdicts, type Budget } from "../../bench/findings.js";
import { assertDistFresh, tempDir } from "../helpers.js";

// The known-answer suite: walcheck's verdict on each engine configuration of
// bench/engine-configs.ts, under process kills and under power loss with every persistence
// model, must be the verdict the engine's documentation justifies. A smaller budget than
// `npm run findings` (which runs every configuration): the configurations marked `slice`,
// each with its own run of the walcheck CLI.

const SLICE: Budget = { processRuns: 2, powerRuns: 1, seed: 15, shrink: false };

describe("known answers: walcheck's verdicts on real engines", () => {
  assertDistFresh(["index", "harness/cli/main"]);

  it.each(ENGINE_CONFIGS.filter((c) => c.slice).map((c) => [c.id, c] as const))(
    "%s: every column's verdict is the documented one",
    async (_id, config) => {
      const work = await tempDir();
      const found = await findingsOf(config, SLICE, work);
      const got = Object.fromEntries(found.cells.map((c) => [c.column, c.verdict]));
      const detail = found.cells
        .filter((c) => c.verdict !== config.expected[c.column])
        .map((c) => `${c.column}: ${c.verdict} ${c.message ?? ""} ${c.replay ?? ""}`)
        .join("\n");
      expect(got, detail).toEqual(config.expected);
      // Every column was measured: cycles under process kills, states under each model.
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
