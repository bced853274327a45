import fs from "node:fs/promises";
import path from "node:path";

/**
 * Bytes in the regular files under `dir`, subdirectories included: the size of a WAL as it
 * lies on disk before recovery. A missing directory (a WAL never created) is 0 bytes; a file
 * that vanishes while it is counted is skipped.
 */
export async function dirBytes(dir: string): Promise<number> {
  let entries: import("node:fs").Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw error;
  }
  let total = 0;
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += await dirBytes(p);
    else if (e.isFile())
      total += await fs.stat(p).then(
        (s) => s.size,
        () => 0,
      );
  }
  return total;
}
