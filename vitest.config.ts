import path from "node:path";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

// The longest files, longest first (by their times in a full `vitest run`). A fresh clone (CI) has
// no vitest cache, and without one vitest starts the largest files first: catches-crashes.test.ts,
// a 21-line table of long runs, started 76th of 80 files. Started first, the long files overlap
// each other and the short ones fill the gaps, so no long file runs alone at the end.
const LONGEST_FIRST = [
  "test/scenarios/catches-power.test.ts",
  "test/examples/engines.test.ts",
  "test/scenarios/catalogue.test.ts",
  "test/scenarios/catches-crashes.test.ts",
  "test/harness/run.test.ts",
  "test/harness/exhaustive.test.ts",
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification) => {
      const i = LONGEST_FIRST.indexOf(path.relative(f.project.config.root, f.moduleId).split(path.sep).join("/"));
      return i < 0 ? LONGEST_FIRST.length : i;
    };
    // Stable: the files not listed keep the order vitest gives them (failed first, then by duration when it has a cache).
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Child-process tests start real adapters; give them room on a loaded 2-core CI box.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: more workers would only contend for the disk's fsyncs.
    maxWorkers: 2,
    sequence: { sequencer: LongestFirst },
  },
});
