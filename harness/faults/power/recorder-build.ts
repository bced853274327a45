// Builds the power-loss recorder (recorder.c, an LD_PRELOAD library) with the machine's C
// compiler, once per version of its source, into a cache directory, and gives the environment
// that loads it into an adapter process.
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { FS_PRELOAD } from "../fs-preload-path.js";

const NO_COMPILER =
  "power-loss simulation needs a C compiler to build its recorder: set CC or install cc (gcc or clang)";

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * The project's harness/faults/power/recorder.c when there is one (a checkout, run from the
 * sources or from dist), else the copy beside this module (an installed package ships it in
 * dist). The sources win so that a stale copy left in dist by an earlier build is never used.
 */
function recorderSource(): string {
  const beside = path.join(here, "recorder.c");
  for (let dir = here; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "package.json"))) {
      const source = path.join(dir, "harness", "faults", "power", "recorder.c");
      return fs.existsSync(source) ? source : beside;
    }
    if (path.dirname(dir) === dir) return beside;
  }
}

/** The first usable of $XDG_CACHE_HOME/walcheck, ~/.cache/walcheck, <tmpdir>/walcheck-cache. */
function cacheDir(): string {
  const home = os.homedir();
  const candidates = [
    process.env.XDG_CACHE_HOME ? path.join(process.env.XDG_CACHE_HOME, "walcheck") : undefined,
    home ? path.join(home, ".cache", "walcheck") : undefined,
    path.join(os.tmpdir(), "walcheck-cache"),
  ];
  let lastError: unknown;
  for (const dir of candidates) {
    if (!dir) continue;
    try {
      fs.mkdirSync(dir, { recursive: true });
      fs.accessSync(dir, fs.constants.W_OK);
      return dir;
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

function compile(cc: string[], out: string, src: string): Promise<void> {
  const [cmd = "cc", ...ccArgs] = cc;
  const args = [
    ...ccArgs,
    "-shared",
    "-fPIC",
    "-O2",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-o",
    out,
    src,
    "-ldl",
    "-lpthread",
  ];
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolve();
      const output = `${stdout}${stderr}`.trim() || err.message;
      reject(
        new Error(
          (err as NodeJS.ErrnoException).code === "ENOENT"
            ? `${NO_COMPILER} (${cmd} not found)`
            : `${NO_COMPILER}\n${output}`,
        ),
      );
    });
  });
}

const builds = new Map<string, Promise<string>>();

/**
 * The recorder library, compiled with $CC (default `cc`; it may carry arguments, e.g.
 * "ccache gcc") into <cache>/recorder-<sha256 of the source, 12 hex>.so unless already there.
 * The build goes to a temporary name in the cache directory and is renamed into place, so
 * concurrent builds (in this or other processes) are safe and a finished file is always whole.
 */
export function ensureRecorder(): Promise<string> {
  const src = recorderSource();
  let text: Buffer;
  try {
    text = fs.readFileSync(src);
  } catch (err) {
    return Promise.reject(new Error(`the power-loss recorder's source is missing: ${(err as Error).message}`));
  }
  const hash = createHash("sha256").update(text).digest("hex").slice(0, 12);
  const cc = (process.env.CC?.trim() || "cc").split(/\s+/);
  const dir = cacheDir();
  const so = path.join(dir, `recorder-${hash}.so`);
  const key = `${so}\0${cc.join(" ")}`;
  let build = builds.get(key);
  if (!build) {
    build = (async () => {
      if (fs.existsSync(so)) return so;
      const tmp = path.join(dir, `.recorder-${hash}-${process.pid}-${randomBytes(4).toString("hex")}.so`);
      try {
        await compile(cc, tmp, src);
        fs.renameSync(tmp, so);
      } finally {
        fs.rmSync(tmp, { force: true });
      }
      return so;
    })();
    builds.set(key, build);
    build.catch(() => builds.delete(key));
  }
  return build;
}

/**
 * The environment that records an adapter process: LD_PRELOAD with the recorder appended to
 * any LD_PRELOAD already in process.env, the trace file, the recorded directory (absolute and
 * already realpath'd: the recorder compares paths lexically), and UV_USE_IO_URING=0 so that a
 * libuv which would use io_uring for file I/O uses plain calls the recorder sees (the recorder
 * also fails io_uring_setup through syscall(2) with ENOSYS). With `answers`, the adapter's
 * writes to its stdout are recorded too (WALCHECK_POWER_STDOUT: "stdout" ops, for a pipelined life).
 */
export function recordEnv(
  trace: string,
  dir: string,
  so: string,
  opts: { answers?: boolean; where?: { jsTrace: string } } = {},
): Record<string, string> {
  if (/[\s:]/.test(so))
    throw new Error(`the recorder's path cannot go in LD_PRELOAD (it has a space or a colon): ${so}`);
  const existing = process.env.LD_PRELOAD?.trim();
  return {
    LD_PRELOAD: existing ? `${existing} ${so}` : so,
    WALCHECK_POWER_TRACE: trace,
    WALCHECK_POWER_DIR: dir,
    UV_USE_IO_URING: "0",
    ...(opts.answers ? { WALCHECK_POWER_STDOUT: "1" } : {}),
    ...(opts.where ? whereEnv(opts.where.jsTrace) : {}),
  };
}

/**
 * Where each op was issued (recorder.c, "Where"): native frames from the recorder, and for a
 * Node adapter the fs preload's call trace with JavaScript stacks (`jsTrace`), loaded through
 * NODE_OPTIONS (other programs ignore it).
 */
function whereEnv(jsTrace: string): Record<string, string> {
  return {
    WALCHECK_POWER_STACKS: "1",
    WALCHECK_FS_TRACE: jsTrace,
    WALCHECK_FS_TRACE_STACKS: "1",
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${FS_PRELOAD}`.trim(),
    // A Python adapter imports python-where/sitecustomize.py, which writes the same trace.
    PYTHONPATH: [PYTHON_WHERE, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
  };
}

/** The directory of the Python side of "where" (its sitecustomize.py): the project's, else the copy in dist. */
const PYTHON_WHERE = path.join(path.dirname(recorderSource()), "python-where");
