import { createHash } from "node:crypto";
import type { Entries, Track } from "./object-versions.js";
import { ROOT_DIR, type Replay } from "./persistence-model.js";

/** Picks the version of each object (a file's data, a directory's entries) a crash state holds. */
export type Chooser = <V>(track: Track<V>) => V;

export interface CrashContent {
  /** Relative to the recorded directory, parents first. */
  dirs: string[];
  files: Map<string, Buffer>;
  /** sha256 hex over the tree, walked in name order: each directory's path, each file's path, size and sha256. */
  key: string;
}

// Versions are immutable and shared by many states: hash and sort each once.
const hashes = new WeakMap<Buffer, string>();
const sorted = new WeakMap<Entries, string[]>();

function hashOf(data: Buffer): string {
  let h = hashes.get(data);
  if (h === undefined) hashes.set(data, (h = createHash("sha256").update(data).digest("hex")));
  return h;
}

function namesOf(entries: Entries): string[] {
  let names = sorted.get(entries);
  if (!names) sorted.set(entries, (names = [...entries.keys()].sort()));
  return names;
}

/** The tree a crash state holds: what is reachable from the recorded directory through the chosen entries. */
export function crashContent(replay: Replay, choose: Chooser): CrashContent {
  const dirs: string[] = [];
  const files = new Map<string, Buffer>();
  const key = createHash("sha256");
  const visit = (dir: number, prefix: string, above: Set<number>) => {
    const entries = choose(replay.dirs.get(dir)!);
    for (const name of namesOf(entries)) {
      const target = entries.get(name)!;
      const path = prefix + name;
      if (target.kind === "file") {
        const data = choose(replay.files.get(target.inode)!);
        files.set(path, data);
        key.update(`f ${JSON.stringify(path)} ${data.length} ${hashOf(data)}\n`);
      } else if (!above.has(target.dir)) {
        // (A directory inside itself, which halves of two directory renames landing apart
        // can make, is not walked into again.)
        dirs.push(path);
        key.update(`d ${JSON.stringify(path)}\n`);
        above.add(target.dir);
        visit(target.dir, `${path}/`, above);
        above.delete(target.dir);
      }
    }
  };
  visit(ROOT_DIR, "", new Set([ROOT_DIR]));
  return { dirs, files, key: key.digest("hex") };
}
