import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

// What the fs-preload tests share: how to load the compiled preload, its trace, and a
// directory's content to compare before and after.

export const PRELOAD = path.resolve("dist/harness/faults/fs-preload.js");
export const PRELOAD_OPTION = `--import ${pathToFileURL(PRELOAD).href}`;

/** One line of WALCHECK_FS_TRACE. */
export interface TraceLine {
  i: number;
  call: string;
  path?: string;
  dest?: string;
  fd?: number;
  flags?: string | number;
  bytes?: number;
  crash?: string;
  fault?: string;
}

export function readTrace(file: string): TraceLine[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as TraceLine);
}

export const DIR = "(dir)";

/** Everything under `dir` by relative path: a file's content, a symlink's target, or DIR. */
export function snapshot(dir: string, rel = ""): Record<string, string> {
  const entries: Record<string, string> = {};
  for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
    const entry = rel ? `${rel}/${name}` : name;
    const full = path.join(dir, entry);
    const stats = fs.lstatSync(full);
    if (stats.isSymbolicLink()) entries[entry] = `-> ${fs.readlinkSync(full)}`;
    else if (stats.isDirectory()) Object.assign(entries, { [entry]: DIR }, snapshot(dir, entry));
    else entries[entry] = fs.readFileSync(full, "utf8");
  }
  return entries;
}
