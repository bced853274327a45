import fc from "fast-check";
import { batchOf } from "../harness/engine/workload.js";
import { snapshotDir, walChanges } from "./dir-files.js";
import { openUnderFault } from "./fault-lives.js";
import type { Scenario } from "../harness/engine/scenario.js";

type Batch = { key: string; value: string | null }[];
type Variant = "erofs" | "eacces-dir" | "eacces-files";

interface Input {
  existing: boolean;
  batches: Batch[];
  variant: Variant;
  attempt: Batch;
}

const WHAT: Record<Variant, string> = {
  erofs: "a read-only file system (EROFS)",
  "eacces-dir": "a directory it may not write (EACCES)",
  "eacces-files": "read-only WAL files (EACCES)",
};

export const readOnly: Scenario<Input> = {
  name: "read-only",
  summary: "EROFS and EACCES on open: a clear error, no partial files, nothing acknowledged that was not written",
  description:
    "A WAL is opened on a file system remounted read-only after an error, or in a directory whose permissions changed. walcheck opens an existing WAL (or a new one) with every write refused with EROFS, or with directory changes refused with EACCES, or with the existing files read-only. The adapter must either refuse to open with a clear error and leave no file added or removed, or open it read-only with the exact acknowledged state and refuse appends it cannot make durable. The bug this finds: on a failed open, a WAL starts a fresh empty log beside the old one and carries on, forgetting everything.",
  needs: [{ kind: "fs-faults" }],
  workload: "appends and close (or a new directory); open under the fault, one append; recovery with the fault gone",
  faults: "EROFS on every mutating call; EACCES on directory changes; EACCES on opening existing files for writing",
  invariants: [
    { id: "clean-refusal", text: "open answers (a non-empty error message) or succeeds; it never dies" },
    { id: "no-partial-files", text: "a refused open adds and removes no file" },
    {
      id: "durability",
      text: "an open that succeeds serves exactly the acknowledged state, and whatever it acknowledges survives",
    },
  ],
  defaultCases: 9,
  arbitrary: () =>
    fc.record({
      existing: fc.boolean(),
      batches: fc.array(batchOf(), { minLength: 1, maxLength: 4 }),
      variant: fc.constantFrom<Variant>("erofs", "eacces-dir", "eacces-files"),
      attempt: batchOf(),
    }),
  async execute(input, session) {
    if (input.existing) {
      await session.start();
      for (const b of input.batches) await session.appendBurst([b]);
      await session.closeClean();
    }
    const before = snapshotDir(session.dirPath);
    if (await openUnderFault(session, input.variant, WHAT[input.variant])) {
      // Opened read-only: an append must be refused or really durable (the recovery below judges it).
      await session.appendBurst([input.attempt]);
      await session.crash({ kind: "fault", at: `${WHAT[input.variant]}, then SIGKILL` });
    } else {
      // Files added, removed or changed are the partial work of a refused open (a lock file's new pid is not).
      const changes = walChanges(before, snapshotDir(session.dirPath));
      if (changes.length > 0)
        session.fail(
          "no-partial-files",
          `open under ${WHAT[input.variant]} was refused but changed the directory: ${changes.join("; ")}`,
        );
    }
    await session.start();
    await session.appendBurst([input.attempt]);
    await session.finish();
  },
};
