/** Named crash points of the outbox, in the order one entry meets them (see harness/protocol/crashpoint.ts). */
export const OUTBOX_CRASH_POINTS = [
  "outbox.after-accept",
  "outbox.after-syncing",
  // Between the database commit and the COMPLETED record: replay must find the key and not apply twice.
  "outbox.after-sink-apply",
  "outbox.after-completed",
] as const;

export type OutboxCrashPoint = (typeof OUTBOX_CRASH_POINTS)[number];
