import type { CaseSession, FaultArm } from "../harness/engine/case-session.js";
import type { BatchOp } from "../harness/protocol/messages.js";

/**
 * Start a process with a file-system fault and open the WAL under it. A clean refusal
 * (ok:false) ends that life (the process is killed) and returns false; dying instead of
 * answering is a violation; an open that succeeds is verified and returns true.
 */
export async function openUnderFault(session: CaseSession, spec: string, what: string): Promise<boolean> {
  const arm: FaultArm = { kind: "fault", spec };
  session.tampered({ kind: "fault", at: what });
  const opened = await session.openRaw(arm);
  if ("broken" in opened)
    return session.fail(
      "clean-refusal",
      `opening the WAL under ${what}, the adapter did not answer with an error: ${opened.broken}`,
    );
  if (!opened.reply.ok) {
    if (opened.reply.error.message.trim() === "")
      session.fail("clean-refusal", `open under ${what} answered ${opened.reply.error.code} with an empty message`);
    await session.crash({ kind: "fault", at: what });
    return false;
  }
  await session.verifyOpened();
  return true;
}

/**
 * The shape of a fault scenario: appends on a healthy disk and a clean close; a life under
 * the fault (`during`, if open was not refused); recovery without it; appends; a clean
 * close and reopen.
 */
export async function healthyFaultyHealthy(
  session: CaseSession,
  plan: { before: BatchOp[][]; spec: string; what: string; during: () => Promise<void>; after: BatchOp[][] },
): Promise<void> {
  await session.start();
  for (const b of plan.before) await session.appendBurst([b]);
  await session.closeClean();
  if (await openUnderFault(session, plan.spec, plan.what)) await plan.during();
  else await session.start();
  for (const b of plan.after) await session.appendBurst([b]);
  await session.finish();
}
