import type { FaultDetails } from "./json-lines-child.js";

/** Stable codes for an adapter that broke the protocol, hung, exited or could not start. */
export type AdapterErrorCode = "ADAPTER_PROTOCOL" | "ADAPTER_TIMEOUT" | "ADAPTER_EXITED" | "ADAPTER_START";

/** The request that was waiting, the offending line, how the adapter ended, its stderr tail (see FaultDetails). */
export type AdapterErrorDetails = FaultDetails;

/** A protocol fault, carrying everything a person needs to see what the adapter did. */
export class AdapterError extends Error {
  override readonly name = "AdapterError";
  readonly code: AdapterErrorCode;
  readonly details: AdapterErrorDetails;

  constructor(code: AdapterErrorCode, message: string, details: AdapterErrorDetails, cause?: unknown) {
    const tail = details.stderrTail.trim();
    super(
      tail ? `${message}\n--- adapter stderr (tail) ---\n${tail}` : message,
      cause === undefined ? undefined : { cause },
    );
    this.code = code;
    this.details = details;
  }
}
