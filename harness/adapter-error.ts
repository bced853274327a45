/** Stable codes for an adapter that broke the protocol, hung, exited or could not start. */
export type AdapterErrorCode = "ADAPTER_PROTOCOL" | "ADAPTER_TIMEOUT" | "ADAPTER_EXITED" | "ADAPTER_START";

export interface AdapterErrorDetails {
  /** The request that was waiting, if any. */
  op?: string;
  id?: number;
  /** The offending line the adapter wrote. */
  line?: string;
  exitCode?: number | undefined;
  signal?: string | undefined;
  timeoutMs?: number;
  durationMs?: number;
  /** The last part of the adapter's stderr. */
  stderrTail: string;
}

/** A protocol fault, carrying everything a person needs to see what the adapter did. */
export class AdapterError extends Error {
  override readonly name = "AdapterError";
  readonly code: AdapterErrorCode;
  readonly details: AdapterErrorDetails;

  constructor(code: AdapterErrorCode, message: string, details: AdapterErrorDetails, cause?: unknown) {
    const tail = details.stderrTail.trim();
    super(tail ? `${message}\n--- adapter stderr (tail) ---\n${tail}` : message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.details = details;
  }
}
