import fs from "node:fs";
import path from "node:path";

// Small helpers for the durable-write discipline: every create, rename and unlink is
// followed by an fsync of the directory that holds the entry.

/** fsync a directory so that entries created, renamed or removed in it survive power loss. */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Write all of `buf` at `position` (or the current position), looping on short writes. */
export function writeFully(fd: number, buf: Uint8Array, position: number | null = null): void {
  let done = 0;
  while (done < buf.length) {
    const n = fs.writeSync(fd, buf, done, buf.length - done, position === null ? null : position + done);
    done += n;
  }
}

/**
 * Atomically replace `file` with `data`: write a temp file, fsync it, rename it over
 * `file`, fsync the directory. `onStep` marks crash points between the steps.
 */
export function writeFileAtomic(
  file: string,
  data: Uint8Array,
  onStep: (step: "half-written" | "synced" | "renamed") => void = () => {},
): void {
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, "w");
  try {
    const half = data.length >>> 1;
    writeFully(fd, data.subarray(0, half));
    onStep("half-written");
    writeFully(fd, data.subarray(half));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  onStep("synced");
  fs.renameSync(tmp, file);
  onStep("renamed");
  fsyncDir(path.dirname(file));
}

/** Create `dir` (and parents) and make the new entry durable in its parent. */
export function ensureDir(dir: string): void {
  if (fs.existsSync(dir)) return;
  const parent = path.dirname(dir);
  ensureDir(parent);
  try {
    fs.mkdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    return;
  }
  fsyncDir(parent);
}

/** Cut `file` to `length` bytes and make the new length durable. */
export function truncateFile(file: string, length: number): void {
  const fd = fs.openSync(file, "r+");
  try {
    fs.ftruncateSync(fd, length);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
