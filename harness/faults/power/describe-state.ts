import type { CrashState, PendingOp } from "./crash-states.js";
import type { TraceOp } from "./trace.js";

const LISTED = 3;

function listOf(ops: readonly PendingOp[]): string {
  const shown = ops
    .slice(0, LISTED)
    .map((o) => o.label)
    .join("; ");
  return ops.length > LISTED ? `${shown} and ${ops.length - LISTED} more` : shown;
}

const count = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;

/** What happened to the pending ops in this variant. */
function whatLanded(variant: string, pending: readonly PendingOp[]): string {
  const n = pending.length;
  if (n === 0) return "nothing was pending: every op had reached the disk";
  const [kind, a, b] = variant.split(":");
  const m = Number(a);
  const at = Number(b);
  switch (kind) {
    case "all":
      return `every pending op landed (${n}, what a process kill leaves)`;
    case "none":
      return `every pending op was lost: ${listOf(pending)}`;
    case "prefix":
      return `the first ${m} of ${n} pending ops landed, the rest were lost: ${listOf(pending.slice(m))}`;
    case "omit":
      return `the ${pending[m - 1]!.label} was lost, the other ${count(n - 1, "pending op")} landed`;
  }
  const write = pending[m - 1]!;
  const offset = write.op.op === "write" ? write.op.offset : 0;
  const tear =
    kind === "torn-prefix"
      ? `only its first ${at - offset} bytes landed (to offset ${at})`
      : `it landed but its sector at offset ${at} ${kind === "torn-zero" ? "reads as zeros" : "holds garbage"}`;
  const after = m < n ? `; the ${count(n - m, "pending op")} after it ${n - m === 1 ? "was" : "were"} lost` : "";
  return `the ${write.label} was torn: ${tear}${after}`;
}

/** One or two lines for a person: the cut, the variant, what was lost or torn, and which other variants give the same bytes. */
export function describeState(state: CrashState, trace: readonly TraceOp[]): string {
  const where =
    state.cut === 0
      ? "cut before the first op"
      : `cut after #${trace[state.cut - 1]?.i ?? state.cut} (${state.context.label})`;
  const lines = [`${where}, variant ${state.variant}: ${whatLanded(state.variant, state.context.pending)}`];
  const same = [
    ...state.alsoVariants,
    ...(state.sameAs ? [`cut ${state.sameAs.cut} variant ${state.sameAs.variant}`] : []),
  ];
  if (same.length > 0) lines.push(`the same bytes as: ${same.join(", ")}`);
  return lines.join("\n");
}
