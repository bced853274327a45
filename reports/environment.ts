import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import type { Environment } from "./report-schema.js";

/** How long `git rev-parse HEAD` may take before the commit is left out. */
const GIT_TIMEOUT_MS = 2000;

/** A mount point of /proc/self/mountinfo, with its `\040`-style escapes undone. */
function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * The file system type of `target` from a mountinfo text: the mount whose mount point is the
 * longest prefix of the path (the last such line when mounts are stacked on one point).
 */
export function fsTypeFromMountinfo(mountinfo: string, target: string): string | undefined {
  let best: { point: string; type: string } | undefined;
  for (const line of mountinfo.split("\n")) {
    // id parent major:minor root mount-point options [optional fields...] - type source super-options
    const fields = line.split(" ");
    const dash = fields.indexOf("-");
    if (dash < 6 || fields.length < dash + 2) continue;
    const point = unescapeMount(fields[4]!);
    const type = fields[dash + 1]!;
    const under = point === "/" || target === point || target.startsWith(`${point}/`);
    if (under && (!best || point.length >= best.point.length)) best = { point, type };
  }
  return best?.type;
}

/** The realpath of `dir`, or of its nearest existing ancestor (the report directory is made later). */
function existingRealpath(dir: string): string | undefined {
  let at = path.resolve(dir);
  for (;;) {
    try {
      return fs.realpathSync(at);
    } catch {
      const up = path.dirname(at);
      if (up === at) return undefined;
      at = up;
    }
  }
}

/** The file system type holding `dir` ("ext4", "tmpfs", "overlay"...), or "unknown" where /proc/self/mountinfo is not there (not Linux). */
export function fileSystemType(dir: string): string {
  try {
    const real = existingRealpath(dir);
    if (!real) return "unknown";
    return fsTypeFromMountinfo(fs.readFileSync("/proc/self/mountinfo", "utf8"), real) ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** `git rev-parse HEAD` in `cwd`, or undefined (not a checkout, no commit yet, no git, too slow). */
export async function gitCommit(cwd: string): Promise<string | undefined> {
  try {
    const r = await execa("git", ["rev-parse", "HEAD"], {
      cwd,
      reject: false,
      timeout: GIT_TIMEOUT_MS,
      stdin: "ignore",
    });
    const out = typeof r.stdout === "string" ? r.stdout.trim() : "";
    return r.exitCode === 0 && /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(out) ? out : undefined;
  } catch {
    return undefined;
  }
}

/** walcheck's own version: the nearest package.json named walcheck above this module (src or dist). */
export function walcheckVersion(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === "walcheck" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // none here: look further up
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

/** Run `learn`, and leave the field out if it throws. */
function tryLearn<T>(learn: () => T): T | undefined {
  try {
    return learn();
  } catch {
    return undefined;
  }
}

/**
 * What the run ran on, for the report: Node, OS, CPU, memory, the report directory's file
 * system, the git commit of the working directory, walcheck's version and the start time.
 * Never throws: a field it cannot learn is absent.
 */
export async function collectEnvironment(opts: {
  reportDir: string;
  startedAt?: Date;
  cwd?: string;
}): Promise<Environment> {
  const commit = await gitCommit(opts.cwd ?? process.cwd());
  const cpus = tryLearn(() => os.cpus()) ?? [];
  const platform = tryLearn(() => os.platform());
  const release = tryLearn(() => os.release());
  const memory = tryLearn(() => os.totalmem());
  const version = tryLearn(walcheckVersion);
  return {
    startedAt: (opts.startedAt ?? new Date()).toISOString(),
    node: process.version,
    ...(platform ? { os: { platform, ...(release ? { release } : {}), arch: process.arch } } : {}),
    ...(cpus.length > 0
      ? { cpu: { ...(cpus[0]?.model ? { model: cpus[0].model.trim() } : {}), count: cpus.length } }
      : {}),
    ...(memory ? { memoryBytes: memory } : {}),
    fsType: fileSystemType(opts.reportDir),
    ...(commit ? { gitCommit: commit } : {}),
    ...(version ? { walcheckVersion: version } : {}),
  };
}
