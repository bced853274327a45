// walcheck's private request to its own `walcheck serve` processes (not part of adapter
// protocol v1, never sent to another adapter): arm a spare process after its start, before its
// `open`, as the environment would have armed it at start (serve.ts ServeOptions.arm).

/** The op of the private arm request. */
export const SERVE_ARM_OP = "walcheck.arm";

/** What the arm request carries: the values WALCHECK_CRASH_AT, WALCHECK_FS_CRASH, WALCHECK_FS_FAULT and WALCHECK_FS_TRACE would have had. */
export interface ServeArm {
  crashAt?: string;
  fsCrash?: string;
  fsFault?: string;
  fsTrace?: string;
}
