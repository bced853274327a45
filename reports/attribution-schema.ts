import { z } from "zod";

// The attribution of a power-loss violation (harness/faults/power/attribute.ts writes it): the
// lost op whose loss broke the invariant, the barrier that would have prevented it, where the
// adapter issued the op, and the trace around the cut for the HTML report's diagram. Absent from
// reports of walcheck before 0.2, from violations of other scenarios, and when no single lost op
// explains the failure.

const count = z.number().int().nonnegative();

const JsFrameSchema = z.looseObject({
  function: z.string().optional(),
  file: z.string(),
  line: count,
  column: count,
});

const NativeFrameSchema = z.looseObject({
  module: z.string(),
  /** Offset of the return address in the module, hex. */
  offset: z.string(),
  function: z.string().optional(),
  file: z.string().optional(),
  line: count.optional(),
  /** How the frame was named: addr2line with debug information, the dynamic symbol, or not at all. */
  symbolised: z.enum(["debug-info", "symbol", "none"]),
});

export const TraceDiagramSchema = z.looseObject({
  /** Trace lines done before the power loss. */
  cut: count,
  ops: z.array(
    z.looseObject({
      i: count,
      kind: z.string(),
      /** A file's name, or "dir <path>" for a directory's entries and its fsync. */
      lane: z.string(),
      label: z.string(),
      /** done: before the cut, not pending; landed / lost: pending at the cut, kept or not by this state; after: past the cut. */
      status: z.enum(["done", "landed", "lost", "after"]),
      culprit: z.boolean().optional(),
    }),
  ),
  /** Acknowledgments in the window: the batch (1-based) and the trace lines written when it arrived. */
  acks: z.array(z.looseObject({ batch: count, at: count })),
  /** The culprit's source location, e.g. "in open() at adapter.mjs:87". */
  where: z.string().optional(),
});

export const PowerAttributionSchema = z.looseObject({
  /** The lost op: its trace line, kind and label ("create of wal.log (#1)"). */
  op: z.looseObject({ i: count, kind: z.string(), label: z.string() }),
  /** How it was found: the only op the state lost; the state passes with it landed; losing it alone fails. */
  test: z.enum(["only-lost", "restored", "alone"]),
  /** Extra recoveries spent finding it. */
  recoveries: count,
  /** The barrier that would have prevented the loss: "fsync the directory after creating wal.log, before acknowledging batch 1". */
  barrier: z.string(),
  where: z
    .looseObject({
      /** "in open() at adapter.mjs:87" ("" when no frame of the program was found). */
      text: z.string(),
      js: z.array(JsFrameSchema).optional(),
      native: z.array(NativeFrameSchema).optional(),
      /** How `text` was found when not from a JavaScript or symbolised frame, or why it is missing. */
      note: z.string().optional(),
    })
    .optional(),
  /** The whole sentence, as the violation's message carries it. */
  text: z.string(),
  diagram: TraceDiagramSchema,
});
export type PowerAttributionReport = z.infer<typeof PowerAttributionSchema>;
