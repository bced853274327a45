import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

// What the fs-preload tests share: how to load the compiled preload, its trace, and a
// directory's content to compare before and after.

export const PRELOAD = path.resolve("dist/harness/faults/fs-preload.js");
export const PRELOAD_OPTION = `--import ${pathToFileURL(PRELOAD).href}`;

/** Throws unless each of the preload's modules is compiled, and newer than its source: the tests load dist/. */
export function assertPreloadBuilt(): void {
  const parts = fs.readdirSync("harness/faults/fs").filter((name) => name.endsWith(".ts"));
  for (const source of ["harness/faults/fs-preload.ts", ...parts.map((name) => `harness/faults/fs/${name}`)]) {
    const compiled = `dist/${source.replace(/\.ts$/, ".js")}`;
    if (!fs.existsSync(compiled) || fs.statSync(compiled).mtimeMs < fs.statSync(source).mtimeMs) {
      throw new Error(`${compiled} is missing or older than its source: run \`npx tsc -p .\` first`);
    }
  }
}

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
