import fs from "node:fs";
import path from "node:path";

/** Every regular file under `dir` (relative path → bytes); an absent directory is empty. */
export function snapshotDir(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const walk = (sub: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(dir, sub), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const rel = path.join(sub, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.isFile()) files.set(rel, fs.readFileSync(path.join(dir, rel)));
    }
  };
  walk("");
  return files;
}

/** The inode of every regular file under `dir` (relative path → inode): a file replaced by rename gets a new one. */
export function inodesOf(dir: string, files: Iterable<string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const rel of files) {
    const st = fs.statSync(path.join(dir, rel), { throwIfNoEntry: false });
    if (st) out.set(rel, st.ino);
  }
  return out;
}

/** The bytes of one file that changed between two snapshots: [start, end) in the new content. */
export interface Region {
  file: string;
  start: number;
  end: number;
  /** The file's size before. */
  sizeBefore: number;
}

/** The largest changed region between two snapshots (what one append wrote), or undefined if nothing changed. */
export function changedRegion(before: Map<string, Buffer>, after: Map<string, Buffer>): Region | undefined {
  let best: Region | undefined;
  for (const [file, now] of after) {
    const old = before.get(file) ?? Buffer.alloc(0);
    let start = 0;
    const common = Math.min(old.length, now.length);
    while (start < common && old[start] === now[start]) start++;
    if (start === now.length && old.length <= now.length) continue;
    let end = now.length;
    if (now.length === old.length) while (end > start && old[end - 1] === now[end - 1]) end--;
    if (!best || end - start > best.end - best.start) best = { file, start, end, sizeBefore: old.length };
  }
  return best;
}

/** A lock or pid file (LOCK, x.lock, x.pid): its content is a process's, not the WAL's. */
export const LOCK_FILE = /(^|\/)(LOCK|[^/ ]*\.(lock|pid))$/i;

/** What differs between two snapshots, as lines for a person (added, removed and changed files), lock and pid files aside. */
export function walChanges(before: Map<string, Buffer>, after: Map<string, Buffer>): string[] {
  const lines: string[] = [];
  for (const [file, bytes] of after) {
    if (LOCK_FILE.test(file)) continue;
    const old = before.get(file);
    if (!old) lines.push(`added ${file} (${bytes.length} bytes)`);
    else if (!old.equals(bytes)) lines.push(`changed ${file} (${old.length} → ${bytes.length} bytes)`);
  }
  for (const file of before.keys()) if (!after.has(file) && !LOCK_FILE.test(file)) lines.push(`removed ${file}`);
  return lines;
}
