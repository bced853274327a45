/** Every named crash point of the reference WAL, in the order a write, checkpoint or rotation meets them. */
export const CRASH_POINTS = [
  "append.before-write",
  "append.after-write",
  "append.after-fsync",
  "rotate.after-create",
  "checkpoint.before-snapshot",
  "checkpoint.snapshot-half-written",
  "checkpoint.snapshot-synced",
  "checkpoint.after-rename",
  "checkpoint.before-truncate",
  "checkpoint.mid-truncate",
  "compact.mid",
  "recovery.temp-removed",
  "recovery.before-tail-truncate",
  "recovery.tail-truncated",
] as const;

export type CrashPoint = (typeof CRASH_POINTS)[number];
