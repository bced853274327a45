// Named crash points: with WALCHECK_CRASH_AT=<point>:<n> set, the n-th time the process
// reaches <point> it kills itself with SIGKILL, exactly as a power cut would stop it
// (minus the page cache). Parsed once; an unset variable costs one comparison per call.

interface CrashTarget {
  point: string;
  nth: number;
}

function parseCrashAt(raw: string | undefined): CrashTarget | undefined {
  if (!raw) return undefined;
  const at = raw.lastIndexOf(":");
  const point = at > 0 ? raw.slice(0, at) : raw;
  const nth = at > 0 ? Number(raw.slice(at + 1)) : 1;
  if (!point || !Number.isInteger(nth) || nth < 1) {
    throw new TypeError(`WALCHECK_CRASH_AT must be <point>:<n> with n >= 1, got ${JSON.stringify(raw)}`);
  }
  return { point, nth };
}

let target = parseCrashAt(process.env.WALCHECK_CRASH_AT);
let hits = 0;

/**
 * Marks a crash point. When `WALCHECK_CRASH_AT=<name>:<n>` is set and this is the n-th
 * call with that name, the process is killed with SIGKILL before the call returns.
 */
export function crashpoint(name: string): void {
  if (target === undefined || target.point !== name) return;
  hits += 1;
  if (hits === target.nth) {
    process.kill(process.pid, "SIGKILL");
  }
}

/**
 * Arm `<point>:<n>` after start, as WALCHECK_CRASH_AT would have at start: `walcheck serve`
 * does it for walcheck's private arm request (a spare process armed before its `open`, when no
 * crash point has been reached). Throws on a bad value, or when the process is already armed.
 */
export function armCrashAt(raw: string): void {
  if (target !== undefined) throw new TypeError(`a crash point is already armed (${target.point}:${target.nth})`);
  target = parseCrashAt(raw);
  if (target === undefined) throw new TypeError(`WALCHECK_CRASH_AT must be <point>:<n> with n >= 1, got ""`);
  hits = 0;
}

/** The crash target this process was started with, if any (for logs and `hello`). */
export function crashTarget(): Readonly<CrashTarget> | undefined {
  return target;
}
