import { errnoCode, WalcheckError } from "../harness/protocol/errors.js";

export { errnoCode, errorCode } from "../harness/protocol/errors.js";

/** Stable error codes raised by the reference WAL. */
export type WalErrorCode =
  "WAL_CORRUPT" | "WAL_LOCKED" | "WAL_CLOSED" | "WAL_FAILED" | "WAL_IO" | "WAL_CONFIG" | "WAL_INVALID";

export interface WalErrorDetails {
  file?: string;
  offset?: number;
  [key: string]: unknown;
}

/** Every error the reference WAL throws on purpose: a stable `code`, the original error as `cause`. */
export class WalError extends WalcheckError {
  override readonly name = "WalError";
  declare readonly code: WalErrorCode;
  declare readonly details: WalErrorDetails;

  constructor(code: WalErrorCode, message: string, options: { cause?: unknown; details?: WalErrorDetails } = {}) {
    super(code, message, options);
  }

  /** A failed WAL answers with the errno that poisoned it (EIO from fsync, say) when there is one. */
  override get answerCode(): string {
    return this.code === "WAL_FAILED" ? (errnoCode(this.cause) ?? this.code) : this.code;
  }
}
