import { describe } from "vitest";
import { catchesBugs } from "./run-scenarios.js";

// The scenarios for a second process and for the designs (transactions, event log, state
// file) against fixture WALs with the bug each exists for.
describe("process and design scenarios catch the bugs they are for", () => {
  catchesBugs([
    ["second-opener", "bug-no-lock", ["exclusive-open"]],
    ["transactions", "bug-txn-rollback-ignored", ["rollback"]],
    ["event-log", "bug-ts-order", ["event-order"]],
    ["state-file", "state-in-place", ["recovery", "whole-file", "durability"]],
  ]);
});
