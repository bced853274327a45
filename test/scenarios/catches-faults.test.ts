import { describe } from "vitest";
import { catchesBugs } from "./run-scenarios.js";

// The fault scenarios (bit flips, and the fs faults the preload injects) against fixture
// WALs with the bug each exists for.
describe("fault scenarios catch the bugs they are for", () => {
  catchesBugs([
    ["bit-flip", "bug-claims-checksums", ["corruption-detected"]],
    ["corruption-sweep", "bug-truncate-at-damage", ["no-loss-after-damage"]],
    ["disk-full", "bug-ignore-write-errors", ["durability", "atomicity", "sequence"]],
    ["read-only", "bug-reset-on-open-error", ["durability", "no-partial-files"]],
    ["fsync-error", "bug-retry-fsync", ["durability", "atomicity", "sequence", "no-ack-after-fsync-error"]],
    ["slow-storage", "bug-no-fsync-power", ["ack-after-fsync"]],
  ]);
});
