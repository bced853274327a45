import { WalcheckError } from "../../harness/protocol/errors.js";

/** Stable codes of the errors the outbox raises on purpose. */
export type OutboxErrorCode = "OUTBOX_HALTED" | "OUTBOX_CLOSED";

/** An outbox refusal: a stable `code`, the original error (the WAL's) as `cause`. */
export class OutboxError extends WalcheckError {
  override readonly name = "OutboxError";
  declare readonly code: OutboxErrorCode;

  constructor(code: OutboxErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}
