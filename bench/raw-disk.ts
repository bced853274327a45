import fs from "node:fs";
import path from "node:path";
import { runOne, taskJson, type RunOptions, type TaskJson } from "./bench-util.js";

/** The raw write size: a 128-byte payload plus the WAL's 28-byte frame header. */
export const RAW_WRITE_BYTES = 156;

/**
 * The disk's limit for one synchronous writer: writeSync(156 bytes per record) + fdatasyncSync
 * on one appending file, no event-loop hop, no encoding. Opened like a WAL segment (O_APPEND),
 * so every fdatasync also has to persist the growing file size, as the WAL's do. `records`
 * records go in one write (a batch of that size), so one iteration is one "append".
 */
export async function benchRawDisk(
  dir: string,
  opts: RunOptions,
  o: { records?: number; id?: string } = {},
): Promise<TaskJson> {
  const records = o.records ?? 1;
  const file = path.join(dir, `raw-${records}.bin`);
  const buf = Buffer.alloc(RAW_WRITE_BYTES * records, 0x61);
  let fd: number | undefined;
  const { O_WRONLY, O_APPEND, O_CREAT, O_TRUNC } = fs.constants;
  const task = await runOne(
    `raw writeSync+fdatasyncSync (${buf.length} B)`,
    () => {
      fs.writeSync(fd!, buf);
      fs.fdatasyncSync(fd!);
    },
    {
      async: false,
      beforeAll: () => {
        fd = fs.openSync(file, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC);
      },
      afterAll: () => {
        if (fd !== undefined) fs.closeSync(fd);
        fd = undefined;
      },
    },
    opts,
  );
  const bytes = fs.statSync(file).size;
  fs.rmSync(file, { force: true });
  return taskJson(o.id ?? "raw", task, 1, { writeBytes: buf.length, recordsPerWrite: records, fileBytesAtEnd: bytes });
}
