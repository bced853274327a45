// What WALCHECK_FS_CRASH and WALCHECK_FS_FAULT say, parsed; the spec is fs-preload.ts's header.

import path from "node:path";

/** How `WALCHECK_FS_CRASH` stops the process at the k-th counted call. */
export type FsCrashMode = "before" | "after" | "mid";

/** A parsed `WALCHECK_FS_CRASH`: crash at the `k`-th counted call (1-based). */
export interface FsCrash {
  k: number;
  mode: FsCrashMode;
}

/** Parses `<k>:<before|after|mid>`; undefined for an unset variable, TypeError for anything else. */
export function parseFsCrash(raw: string | undefined): FsCrash | undefined {
  if (!raw) return undefined;
  const match = /^(\d+):(before|after|mid)$/.exec(raw);
  const k = Number(match?.[1]);
  if (!match || !Number.isSafeInteger(k) || k < 1) {
    throw new TypeError(`WALCHECK_FS_CRASH must be <k>:<before|after|mid> with k >= 1, got ${JSON.stringify(raw)}`);
  }
  return { k, mode: match[2] as FsCrashMode };
}

/** A parsed `WALCHECK_FS_FAULT`; `release` is the file whose existence lifts the fault. */
export type FsFault = { release?: string } & (
  | { kind: "enospc"; bytes: number }
  | { kind: "erofs" | "eacces-dir" | "eacces-files" }
  | { kind: "eio-fsync"; n: number }
  | { kind: "slow-fsync"; ms: number }
  | { kind: "eio-read"; offset: number; length: number; file: string }
);

/**
 * Parses `<kind>[,release=<absolute path>]`, kind one of enospc:<bytes> (bytes >= 0), erofs,
 * eacces-dir, eacces-files, eio-fsync:<n> (n >= 1), slow-fsync:<ms> (1 <= ms < 2^31, a
 * timer's range); undefined for an unset variable, TypeError for anything else.
 */
export function parseFsFault(raw: string | undefined): FsFault | undefined {
  if (!raw) return undefined;
  if (raw.startsWith("eio-read:")) return parseEioRead(raw);
  const [, kind = "", release] = /^([^,]*)(?:,release=(.*))?$/.exec(raw) ?? [];
  const fault = parseFaultKind(kind);
  if (!fault || (release !== undefined && !path.isAbsolute(release))) {
    throw new TypeError(
      "WALCHECK_FS_FAULT must be enospc:<bytes>, erofs, eacces-dir, eacces-files, eio-fsync:<n> or slow-fsync:<ms> " +
        `(bytes >= 0, n >= 1, 1 <= ms < 2^31), optionally followed by ,release=<absolute path>; got ${JSON.stringify(raw)}`,
    );
  }
  return release === undefined ? fault : { ...fault, release };
}

/**
 * `eio-read:<offset>:<length>:<absolute path>` (offset >= 0, length >= 1): the path is last and
 * may hold ':' and ','; no `release` suffix (a path may contain ',').
 */
function parseEioRead(raw: string): FsFault {
  const match = /^eio-read:(\d+):(\d+):(.+)$/.exec(raw);
  const offset = Number(match?.[1]);
  const length = Number(match?.[2]);
  if (
    !match ||
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    length < 1 ||
    !path.isAbsolute(match[3]!)
  ) {
    throw new TypeError(
      `WALCHECK_FS_FAULT=eio-read must be eio-read:<offset>:<length>:<absolute path> (offset >= 0, length >= 1, no release); got ${JSON.stringify(raw)}`,
    );
  }
  return { kind: "eio-read", offset, length, file: path.resolve(match[3]!) };
}

function parseFaultKind(spec: string): FsFault | undefined {
  const [kind, value, extra] = spec.split(":");
  const number = value !== undefined && /^\d+$/.test(value) ? Number(value) : NaN; // NaN fails every check
  if (extra !== undefined) return undefined;
  switch (kind) {
    case "erofs":
    case "eacces-dir":
    case "eacces-files":
      return value === undefined ? { kind } : undefined;
    case "enospc":
      return number <= Number.MAX_SAFE_INTEGER ? { kind, bytes: number } : undefined;
    case "eio-fsync":
      return number >= 1 && number <= Number.MAX_SAFE_INTEGER ? { kind, n: number } : undefined;
    case "slow-fsync":
      return number >= 1 && number < 2 ** 31 ? { kind, ms: number } : undefined;
    default:
      return undefined;
  }
}
