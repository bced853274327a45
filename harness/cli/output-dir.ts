import fs from "node:fs";
import path from "node:path";
import { UsageError } from "../protocol/errors.js";

/**
 * `dir`, given by `flag`, is where a command will write its output: a UsageError now, before
 * anything runs, if that path or one of its parents is something other than a directory (a
 * file left there, say), rather than an error from mkdir after minutes of work.
 */
export function checkOutputDir(flag: string, dir: string): void {
  for (let p = dir; ;) {
    let stat: fs.Stats | undefined;
    try {
      stat = fs.statSync(p);
    } catch {
      // not there (yet): its parent decides
    }
    if (stat) {
      if (!stat.isDirectory())
        throw new UsageError(`${flag} ${dir}: ${p === dir ? "it" : p} exists and is not a directory`);
      return;
    }
    const parent = path.dirname(p);
    if (parent === p) return;
    p = parent;
  }
}
