/** Stable error codes raised by the reference WAL. */
export type WalErrorCode =
  "WAL_CORRUPT" | "WAL_LOCKED" | "WAL_CLOSED" | "WAL_FAILED" | "WAL_IO" | "WAL_CONFIG" | "WAL_INVALID";

export interface WalErrorDetails {
  file?: string;
  offset?: number;
  [key: string]: unknown;
}

/** Every error the reference WAL throws on purpose: a stable `code`, the original error as `cause`. */
export class WalError extends Error {
  override readonly name = "WalError";
  readonly code: WalErrorCode;
  readonly details: WalErrorDetails;

  constructor(code: WalErrorCode, message: string, options: { cause?: unknown; details?: WalErrorDetails } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** The errno name of an I/O error (ENOSPC, EIO, ...), or undefined. */
export function errnoCode(error: unknown): string | undefined {
  if (error && typeof error === "object" && "code" in error && typeof error.code === "string") return error.code;
  return undefined;
}

/** The short machine-readable word for an error: its WAL code or errno name. */
export function errorCode(error: unknown): string {
  if (error instanceof WalError) {
    // A failed WAL reports the errno that poisoned it (EIO from fsync, say) when there is one.
    return error.code === "WAL_FAILED" ? (errnoCode(error.cause) ?? error.code) : error.code;
  }
  return errnoCode(error) ?? "EINTERNAL";
}
