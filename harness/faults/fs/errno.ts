// The errors a sick file system makes Node report, built the way Node builds them.

import os from "node:os";
import util from "node:util";
import { pathOf, TWO_PATH_CALLS, type FsCall } from "./calls.js";

export type FaultCode = "ENOSPC" | "EROFS" | "EACCES" | "EIO";

/** The error Node reports, e.g. `EROFS: read-only file system, open '/x/y'`, with errno, code, syscall, path, dest. */
export function fsError(code: FaultCode, call: FsCall): NodeJS.ErrnoException {
  const [first, second] = call.args;
  const syscall = syscallOf(call, code);
  const errno = -os.constants.errno[code];
  const file = syscall.startsWith("write") ? undefined : pathOf(first); // undefined for an fd
  const dest = file !== undefined && TWO_PATH_CALLS.includes(call.name) ? pathOf(second) : undefined;
  let message = `${code}: ${util.getSystemErrorMap().get(errno)?.[1] ?? code}, ${syscall}`;
  if (file !== undefined) message += ` '${file}'`;
  if (dest !== undefined) message += ` -> '${dest}'`;
  return Object.assign(
    new Error(message),
    { errno, code, syscall },
    file === undefined ? {} : { path: file },
    dest === undefined ? {} : { dest },
  );
}

/** The system call Node names: writeFile, appendFile and truncate of a path open it first. */
function syscallOf(call: FsCall, code: FaultCode): string {
  const byPath = typeof call.args[0] !== "number";
  if (call.name === "writeFile" || call.name === "appendFile") return byPath && code !== "ENOSPC" ? "open" : "write";
  if (call.name === "truncate") return "open";
  return call.name === "copyFile" ? "copyfile" : call.name;
}
