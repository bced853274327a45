import { WalcheckError } from "../../protocol/errors.js";

/** Stable codes for a trace the power-loss model cannot replay, or a variant that does not exist. */
export type CrashStateErrorCode = "POWER_UNSUPPORTED" | "POWER_TRACE_INVALID" | "POWER_VARIANT_UNKNOWN";

/** A trace (or a replay token's variant) the crash-state generator refuses, saying why. */
export class CrashStateError extends WalcheckError {
  override readonly name = "CrashStateError";
  declare readonly code: CrashStateErrorCode;

  constructor(
    code: CrashStateErrorCode,
    message: string,
    /** The trace line at fault, if any. */
    readonly line?: number,
  ) {
    super(code, message, line === undefined ? {} : { details: { line } });
  }
}
