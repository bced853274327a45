import { ProtocolFault, type FaultDetails } from "./errors.js";

/** Stable codes for an adapter that broke the protocol, hung, exited or could not start. */
export type AdapterErrorCode = "ADAPTER_PROTOCOL" | "ADAPTER_TIMEOUT" | "ADAPTER_EXITED" | "ADAPTER_START";

/** The request that was waiting, the offending line, how the adapter ended, its stderr tail (see FaultDetails). */
export type AdapterErrorDetails = FaultDetails;

/** A protocol fault, carrying everything a person needs to see what the adapter did. */
export class AdapterError extends ProtocolFault {
  override readonly name = "AdapterError";
  declare readonly code: AdapterErrorCode;

  constructor(code: AdapterErrorCode, message: string, details: AdapterErrorDetails, cause?: unknown) {
    super(code, message, details, { cause, heading: "adapter stderr (tail)" });
  }
}
