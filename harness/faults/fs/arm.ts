import { fromSpec } from "./injectors.js";
import { install } from "./patch.js";
import { installReadFault } from "./reads.js";
import { parseFsCrash, parseFsFault } from "./spec.js";
import { Trace } from "./trace.js";

/** What the fs preload is armed with: the values of its four environment variables (fs-preload.ts's header). */
export interface FsArming {
  crash?: string | undefined;
  fault?: string | undefined;
  trace?: string | undefined;
  traceStacks?: boolean | undefined;
}

let armed = false;

/**
 * Arm the fs preload's crash, fault and trace in this process: what loading fs-preload.js with
 * WALCHECK_FS_CRASH, WALCHECK_FS_FAULT and WALCHECK_FS_TRACE set does (it calls this), or what
 * `walcheck serve` does when walcheck arms a spare process after its start (serve's private
 * arm request), before any counted fs call was made. Bad values throw; a second arming throws.
 */
export function armFs(what: FsArming): void {
  const crash = parseFsCrash(what.crash);
  const fault = parseFsFault(what.fault);
  const tracePath = what.trace || undefined;
  const countedFault = fault?.kind === "eio-read" ? undefined : fault;
  if (crash === undefined && fault === undefined && tracePath === undefined) return;
  if (armed) throw new TypeError("walcheck fs-preload: already armed in this process");
  armed = true;
  // For `walcheck serve`'s bundle (serve-entry.ts): stacks must name source files, not the bundle.
  if (what.traceStacks === true) (globalThis as Record<symbol, unknown>)[Symbol.for("walcheck.fs-trace-stacks")] = true;
  if (crash !== undefined || countedFault !== undefined || tracePath !== undefined) {
    install({
      crash,
      injector: countedFault && fromSpec(countedFault),
      trace: tracePath === undefined ? undefined : Trace.open(tracePath, what.traceStacks === true),
    });
  }
  if (fault?.kind === "eio-read") installReadFault(fault);
}
