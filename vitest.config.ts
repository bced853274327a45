import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Child-process tests start real adapters; give them room on a loaded 2-core CI box.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: more workers would only contend for the disk's fsyncs.
    maxWorkers: 2,
  },
});
