import { z } from "zod";
import { OutboxHelloFields } from "../harness/protocol/outbox-messages.js";

// The JSON report of `walcheck outbox chaos` (report.json), as harness/cli/outbox-chaos-command.ts
// writes it: one record per scenario (ScenarioRecord in harness/outbox/chaos-kit.ts) and the
// figures of the sink-outage scenario. Objects are loose: later versions may add fields.

export const OUTBOX_REPORT_VERSION = 1;

const count = z.number().int().nonnegative();
const ms = z.number().nonnegative();
const Status = z.enum(["passed", "failed", "error", "skipped", "interrupted"]);

export const OutboxFiguresSchema = z.looseObject({
  syncThroughput: z.looseObject({ ops: count, ms, opsPerSec: z.number().nonnegative() }),
  catchUp: z.looseObject({ queuedOps: count, ms, opsPerSec: z.number().nonnegative() }),
});

export const OutboxScenarioReportSchema = z.looseObject({
  name: z.string().min(1),
  status: Status,
  reason: z.string().optional(),
  violation: z
    .looseObject({
      invariant: z.string().min(1),
      message: z.string().min(1),
      where: z.string().optional(),
      also: z.array(z.string()).optional(),
      kept: z.string().optional(),
    })
    .optional(),
  error: z.looseObject({ code: z.string().min(1), message: z.string() }).optional(),
  ops: z.looseObject({ sent: count, accepted: count, refused: count }),
  applied: count,
  duplicatesOnReplay: count,
  crashes: z.record(z.string(), count),
  armsNotReached: count,
  passes: count,
  timingsMs: z.record(z.string(), ms),
  figures: OutboxFiguresSchema.optional(),
  details: z.record(z.string(), z.unknown()),
});

export const OutboxChaosReportSchema = z.looseObject({
  kind: z.literal("walcheck-outbox-chaos"),
  version: z.literal(OUTBOX_REPORT_VERSION),
  status: z.enum(["passed", "failed", "error", "interrupted"]),
  outbox: z.string().min(1),
  hello: OutboxHelloFields.loose().nullable(),
  sink: z.looseObject({ kind: z.enum(["sqlite", "postgres"]), label: z.string() }),
  seed: count,
  ops: z.number().int().positive(),
  startedAt: z.string(),
  durationMs: ms,
  scenarios: z.array(OutboxScenarioReportSchema),
  /** sink-outage's figures; null when it did not run to the end. */
  figures: OutboxFiguresSchema.nullable(),
  /** The command line that runs the failing scenario again. */
  replay: z.string().optional(),
  error: z.looseObject({ code: z.string(), message: z.string() }).optional(),
  environment: z.looseObject({ node: z.string(), platform: z.string(), arch: z.string() }),
});
export type OutboxChaosReport = z.infer<typeof OutboxChaosReportSchema>;
