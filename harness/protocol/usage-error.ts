/** A mistake in how walcheck was called (flag, config, adapter path): exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  readonly code = "USAGE";
}
