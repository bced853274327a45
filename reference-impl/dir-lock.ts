import fs from "node:fs";
import path from "node:path";
import { requireOptional } from "../harness/protocol/optional-dependency.js";
import { WalError } from "./errors.js";

// An exclusive flock(2) on <dir>/LOCK. The kernel drops it when the owner dies, even by
// SIGKILL, so a crashed owner never leaves a stale lock behind (unlike pid or mkdir
// lock files, which need staleness guesses). fs-ext is the maintained flock binding; it is
// native and an optional dependency (its build may fail or be skipped), loaded on the first
// acquire. Without it the reference WAL refuses to open (a UsageError naming fs-ext) rather
// than run unlocked: Node has no flock of its own, and lock files are not crash-correct.
type FsExt = { flockSync(fd: number, flags: "exnb" | "un"): void };
const fsExt = (): FsExt => requireOptional<FsExt>("fs-ext", "the reference WAL (its directory lock needs flock(2))");

export const LOCK_FILE = "LOCK";

export class DirLock {
  private constructor(
    readonly file: string,
    private fd: number | undefined,
  ) {}

  /** Throw the UsageError naming fs-ext if flock is unavailable (it is optional and native). */
  static ensureAvailable(): void {
    fsExt();
  }

  /** Take the lock or throw WAL_LOCKED naming the process that holds it. */
  static acquire(dir: string): DirLock {
    const { flockSync } = fsExt(); // before LOCK is created: throws if fs-ext does not load
    const file = path.join(dir, LOCK_FILE);
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    try {
      flockSync(fd, "exnb");
    } catch (error) {
      const holder = fs.readFileSync(file, "utf8").trim();
      fs.closeSync(fd);
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EAGAIN" || code === "EWOULDBLOCK") {
        throw new WalError("WAL_LOCKED", `${dir} is locked by another process${holder ? ` (pid ${holder})` : ""}`, {
          cause: error,
          details: { file, holder },
        });
      }
      throw new WalError("WAL_IO", `cannot lock ${file}: ${(error as Error).message}`, {
        cause: error,
        details: { file },
      });
    }
    // For people reading the directory: who holds it. Not used for locking.
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, `${process.pid}\n`, 0);
    return new DirLock(file, fd);
  }

  release(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      fsExt().flockSync(fd, "un");
    } finally {
      fs.closeSync(fd);
    }
  }
}
