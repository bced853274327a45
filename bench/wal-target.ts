import fs from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { Wal } from "../reference-impl/index.js";
import type { BenchTarget } from "./tasks.js";

/**
 * The reference WAL in process as a bench target: a fresh WAL in `dir`/<name>-<phase> per
 * phase; `beforeClose` sees each phase's handle before it is closed and removed.
 */
export function walTarget(
  dir: string,
  name: string,
  logger: Logger,
  sync: "always" | "batch" | "none" = "batch",
  beforeClose?: (wal: Wal, phase: "warmup" | "run") => void,
): BenchTarget {
  let wal: Wal | undefined;
  const opened = () => {
    if (!wal) throw new TypeError(`walTarget ${name}: not open`);
    return wal;
  };
  return {
    async setUp(phase) {
      const walDir = path.join(dir, `${name}-${phase}`);
      fs.rmSync(walDir, { recursive: true, force: true });
      wal = await Wal.open(walDir, { logger, sync });
    },
    async tearDown(phase) {
      if (!wal) return;
      beforeClose?.(wal, phase);
      await wal.close();
      fs.rmSync(wal.dir, { recursive: true, force: true });
      wal = undefined;
    },
    append: (ops) => opened().append(ops),
    checkpoint: async () => (await opened().checkpoint("truncate")).elapsedMs,
  };
}
