// walcheck's errors, one family: every error walcheck (or its reference WAL and outbox)
// raises on purpose is a WalcheckError with a stable `code` (ERROR_CODES says what each one
// means and how the CLI exits on it), the error it stems from as the standard `cause`, and
// `details` for a person or a report. This module imports nothing: every folder may use it.

/**
 * Exit codes of every walcheck command, the CI-gate contract: pass; violation (an invariant
 * broken, a benchmark regression, outbox entries left unsynced); usage (a usage error, or an
 * adapter or outbox error walcheck cannot judge past); interrupted (SIGINT, SIGTERM).
 */
export const EXIT = { pass: 0, violation: 1, usage: 2, interrupted: 130 } as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** What an error carries for a person or a report beyond its message (possibly nothing). */
export type ErrorDetails = Readonly<Record<string, unknown>>;

export interface WalcheckErrorOptions {
  /** The error this one stems from (kept as the standard `cause`). */
  cause?: unknown;
  details?: ErrorDetails;
}

/** The base of every walcheck error: a stable `code`, the original error as `cause`, `details`. */
export class WalcheckError extends Error {
  override readonly name: string = "WalcheckError";
  readonly code: string;
  readonly details: ErrorDetails;

  constructor(code: string, message: string, options: WalcheckErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }

  /** The code a protocol answer carries for this error: its own (a subclass may answer with its cause's). */
  get answerCode(): string {
    return this.code;
  }
}

/** A mistake in how walcheck was called (flag, config, adapter path): exit code 2. */
export class UsageError extends WalcheckError {
  override readonly name = "UsageError";
  declare readonly code: "USAGE";

  constructor(message: string, options: WalcheckErrorOptions = {}) {
    super("USAGE", message, options);
  }
}

/** How a child spoken to in JSON lines failed (see json-lines-child.ts). */
export type ChildFault = "PROTOCOL" | "TIMEOUT" | "EXITED" | "START";

/** The protocols walcheck speaks to a child in: adapter protocol v1, the outbox protocol. */
export type FaultProtocol = "ADAPTER" | "OUTBOX";

export type ProtocolFaultCode = `${FaultProtocol}_${ChildFault}`;

/** Everything a person needs about a fault. */
export interface FaultDetails {
  /** The request that was waiting, if any. */
  op?: string;
  id?: number;
  /** The offending line the child wrote. */
  line?: string;
  exitCode?: number | undefined;
  signal?: string | undefined;
  timeoutMs?: number;
  stderrTail: string;
  [key: string]: unknown;
}

/**
 * A child (an adapter, an outbox) that broke its protocol, hung, exited or could not start:
 * ADAPTER_* or OUTBOX_*, the message followed by the child's stderr tail under `heading`.
 */
export class ProtocolFault extends WalcheckError {
  override readonly name: string = "ProtocolFault";
  declare readonly code: ProtocolFaultCode;
  declare readonly details: FaultDetails;

  constructor(
    code: ProtocolFaultCode,
    message: string,
    details: FaultDetails,
    options: { cause?: unknown; heading?: string } = {},
  ) {
    const tail = details.stderrTail.trim();
    super(code, tail ? `${message}\n--- ${options.heading ?? "stderr (tail)"} ---\n${tail}` : message, {
      cause: options.cause,
      details,
    });
  }

  /** Which failure of the child this is (PROTOCOL, TIMEOUT, EXITED, START). */
  get fault(): ChildFault {
    return this.code.slice(this.code.indexOf("_") + 1) as ChildFault;
  }
}

/**
 * An invariant that did not hold: the WAL or outbox under test is wrong (exit code 1).
 * `invariant` names it; the message says how it broke.
 */
export class Violation extends WalcheckError {
  override readonly name: string = "Violation";
  declare readonly code: "VIOLATION";

  constructor(
    readonly invariant: string,
    message: string,
    options: WalcheckErrorOptions = {},
  ) {
    super("VIOLATION", message, options);
  }
}

/** The errno name of an I/O error (ENOSPC, EIO, ...), or of any error with a string `code`; else undefined. */
export function errnoCode(error: unknown): string | undefined {
  if (error && typeof error === "object" && "code" in error && typeof error.code === "string") return error.code;
  return undefined;
}

/**
 * The short machine-readable word for an error, as a protocol answer carries it: a
 * WalcheckError's code (see answerCode), an errno name (or any error's string `code`), else
 * `fallback` (EINTERNAL).
 */
export function errorCode(error: unknown, fallback = "EINTERNAL"): string {
  if (error instanceof WalcheckError) return error.answerCode;
  return errnoCode(error) ?? fallback;
}

/** One code walcheck can print, answer or put in a report. */
export interface ErrorCodeInfo {
  /** The code as printed; `<code>` stands for a code the child answered (`OUTBOX_REFUSED_<code>`). */
  readonly code: string;
  /** The error class that carries it, or who answers it. */
  readonly raisedBy: string;
  /** What it means, in one sentence. */
  readonly meaning: string;
  /** The exit code of the walcheck command it ends (see EXIT), where the CLI maps it. */
  readonly exit?: ExitCode;
}

/** Every error code of walcheck, its reference WAL and its reference outbox: the registry docs are generated from. */
export const ERROR_CODES = [
  // The CLI and the run engine
  {
    code: "USAGE",
    raisedBy: "UsageError",
    meaning:
      "walcheck was called wrongly: an unknown or malformed flag, a config or report file it cannot use, an adapter path that does not exist, a retired command.",
    exit: EXIT.usage,
  },
  {
    code: "VIOLATION",
    raisedBy: "InvariantViolation, ChaosViolation",
    meaning:
      "An invariant did not hold: the WAL or outbox under test lost, reordered or invented data it had acknowledged (the report names the invariant, the input and the replay).",
    exit: EXIT.violation,
  },
  {
    code: "INTERRUPTED",
    raisedBy: "BenchInterrupted",
    meaning:
      "walcheck bench was stopped by SIGINT or SIGTERM: every adapter process was stopped, the temp directories removed and no report written.",
    exit: EXIT.interrupted,
  },
  {
    code: "CASE_ABANDONED",
    raisedBy: "CaseAbandoned",
    meaning:
      "A case was stopped from outside while it ran (its time limit, or the run ending) and is reported as an error.",
    exit: EXIT.usage,
  },
  {
    code: "CRASH_HAPPENED",
    raisedBy: "CrashHappened",
    meaning:
      "Internal, never reported: the adapter died of the crash walcheck armed or sent, and the case goes on with recovery.",
  },
  {
    code: "EINTERNAL",
    raisedBy: "errorCode() for an error with no code",
    meaning:
      "An error with no code of its own: an adapter's or outbox's exception in a protocol answer, or a walcheck bug in a report.",
    exit: EXIT.usage,
  },
  // Adapter protocol v1 (AdapterClient)
  {
    code: "ADAPTER_PROTOCOL",
    raisedBy: "AdapterError",
    meaning:
      "The adapter broke protocol v1: a line that is not JSON, an answer to no request, a response that fails its schema, or an error answer to a request that had to succeed.",
    exit: EXIT.usage,
  },
  {
    code: "ADAPTER_TIMEOUT",
    raisedBy: "AdapterError",
    meaning:
      "The adapter did not answer a request, or exit after close, within the per-request timeout, and was killed.",
    exit: EXIT.usage,
  },
  {
    code: "ADAPTER_EXITED",
    raisedBy: "AdapterError",
    meaning: "The adapter process ended when walcheck had not crashed it; its exit code and stderr tail say why.",
    exit: EXIT.usage,
  },
  {
    code: "ADAPTER_START",
    raisedBy: "AdapterError",
    meaning: "The adapter process could not be started (no such program, or not executable).",
    exit: EXIT.usage,
  },
  // The outbox protocol (OutboxClient) and walcheck outbox chaos
  {
    code: "OUTBOX_PROTOCOL",
    raisedBy: "OutboxFault",
    meaning:
      "The outbox broke the outbox protocol: a line that is not JSON, an answer to no request, or a response that fails its schema.",
    exit: EXIT.usage,
  },
  {
    code: "OUTBOX_TIMEOUT",
    raisedBy: "OutboxFault",
    meaning: "The outbox did not answer a request, or exit after close, within the timeout, and was killed.",
    exit: EXIT.usage,
  },
  {
    code: "OUTBOX_EXITED",
    raisedBy: "OutboxFault, ChaosOutboxError",
    meaning:
      "The outbox process ended when walcheck had not killed it, or ended otherwise than by SIGKILL at an armed crash point.",
    exit: EXIT.usage,
  },
  {
    code: "OUTBOX_START",
    raisedBy: "OutboxFault",
    meaning: "The outbox process could not be started (no such program, or not executable).",
    exit: EXIT.usage,
  },
  {
    code: "OUTBOX_NO_FILL",
    raisedBy: "ChaosOutboxError",
    meaning:
      "wal-full never filled the outbox WAL's disk: the outbox's writes are not Node fs calls the ENOSPC preload can fail.",
    exit: EXIT.usage,
  },
  {
    code: "OUTBOX_NO_CRASH",
    raisedBy: "ChaosOutboxError",
    meaning:
      "crash-mid-sync armed the crash points the outbox lists in hello.points but it never died at one: it does not honour WALCHECK_CRASH_AT.",
    exit: EXIT.usage,
  },
  {
    code: "OUTBOX_REFUSED_<code>",
    raisedBy: "OutboxRefusal",
    meaning: "The outbox answered ok:false, with <code>, to a request that had to succeed.",
    exit: EXIT.usage,
  },
  // The reference outbox (walcheck outbox serve answers these)
  {
    code: "OUTBOX_HALTED",
    raisedBy: "OutboxError",
    meaning:
      "The reference outbox's WAL could not be written (a full disk, an I/O error): it accepts no operation until reopened.",
  },
  {
    code: "OUTBOX_CLOSED",
    raisedBy: "OutboxError",
    meaning: "The reference outbox was used after close.",
  },
  {
    code: "SINK_UNAVAILABLE",
    raisedBy: "SinkUnavailableError",
    meaning:
      "The outbox's database could not be reached (connection refused, server gone, locked past the busy timeout); the sync worker backs off and retries.",
  },
  {
    code: "OUTBOX_<code>",
    raisedBy: "ChaosOutboxError",
    meaning: "The outbox under walcheck outbox chaos refused to open its directory, answering <code>.",
    exit: EXIT.usage,
  },
  // Power-loss simulation
  {
    code: "POWER_UNSUPPORTED",
    raisedBy: "CrashStateError",
    meaning: "The recorded life did something the power-loss model cannot replay.",
    exit: EXIT.usage,
  },
  {
    code: "POWER_TRACE_INVALID",
    raisedBy: "CrashStateError",
    meaning: "The power-loss recorder's trace is inconsistent with itself or with the initial state.",
    exit: EXIT.usage,
  },
  {
    code: "POWER_VARIANT_UNKNOWN",
    raisedBy: "CrashStateError",
    meaning: "A replay token names a power-loss crash-state variant that does not exist at its cut.",
    exit: EXIT.usage,
  },
  {
    code: "POWER_OPEN_REFUSED",
    raisedBy: "OpenRefused",
    meaning:
      "The adapter refused to open an empty directory in the life recorded for power-loss states (the power-loss scenario reports it as a recovery violation).",
  },
  // walcheck bench
  {
    code: "ADAPTER_REFUSED",
    raisedBy: "BenchError",
    meaning: "An adapter answered ok:false to a request the benchmark needed, so there is no honest figure.",
    exit: EXIT.usage,
  },
  {
    code: "RECOVERY_LOST",
    raisedBy: "BenchError",
    meaning: "An adapter recovered fewer batches than it had acknowledged, so its recovery time is not reported.",
    exit: EXIT.usage,
  },
  {
    code: "POWER_STATE_FAILED",
    raisedBy: "BenchError",
    meaning: "A power-loss state failed its check in the power suite, so its figures are not reported.",
    exit: EXIT.usage,
  },
  {
    code: "BENCH_FAILED",
    raisedBy: "BenchError",
    meaning:
      "A benchmark task failed otherwise (an in-process WAL's error, a file system error); the message names the subject and the task.",
    exit: EXIT.usage,
  },
  // Answers of walcheck serve and walcheck outbox serve
  {
    code: "EPROTO",
    raisedBy: "walcheck serve, walcheck outbox serve",
    meaning: "A request out of order: an op before open, open after recover, recover after open, a second outbox open.",
  },
  {
    code: "EUNSUPPORTED",
    raisedBy: "walcheck serve, walcheck outbox serve",
    meaning: "An op the protocol does not know, or one the adapter does not offer in hello.features.",
  },
  {
    code: "EINVAL",
    raisedBy: "walcheck serve, walcheck outbox serve",
    meaning: "A request whose fields are invalid; the message names them.",
  },
  // The reference WAL (answered by walcheck serve, printed by walcheck outbox)
  {
    code: "WAL_CORRUPT",
    raisedBy: "WalError",
    meaning:
      "The WAL's files hold damage that recovery must not repair silently (a bad record before the tail, a broken snapshot); nothing was changed.",
  },
  {
    code: "WAL_LOCKED",
    raisedBy: "WalError",
    meaning: "Another process holds the WAL directory's lock.",
  },
  {
    code: "WAL_CLOSED",
    raisedBy: "WalError",
    meaning: "The WAL was used before open or after close.",
  },
  {
    code: "WAL_FAILED",
    raisedBy: "WalError",
    meaning:
      "An earlier write or fsync failed, so the WAL refuses appends until it is reopened (answered as that failure's errno when there is one).",
  },
  {
    code: "WAL_IO",
    raisedBy: "WalError",
    meaning: "An I/O error (ENOSPC, EIO, ...) while writing, reading or locking the WAL; the cause names the errno.",
  },
  {
    code: "WAL_CONFIG",
    raisedBy: "WalError",
    meaning:
      "The open config is invalid (an unknown field or value, a codec other than the files'); the message names every problem.",
  },
  {
    code: "WAL_INVALID",
    raisedBy: "WalError",
    meaning: "A call the WAL's state does not allow: open of an open WAL, commit of a finished transaction.",
  },
] as const satisfies readonly ErrorCodeInfo[];

/** The registry's entry for `code` (a code the child answered matches its `<code>` family), or undefined. */
export function errorCodeInfo(code: string): ErrorCodeInfo | undefined {
  const entries: readonly ErrorCodeInfo[] = ERROR_CODES;
  return (
    entries.find((e) => e.code === code) ??
    entries.find((e) => e.code.endsWith("<code>") && code.startsWith(e.code.slice(0, -"<code>".length)))
  );
}
