import path from "node:path";

// Where an outbox's database is, as the protocol's `open.sink`, the CLI's `--sink` and the
// chaos command's `--sink` name it. Plain code (no zod): `walcheck outbox serve` parses it too.

/** A parsed sink: a SQLite file, or a PostgreSQL connection URL. */
export type SinkSpec = { kind: "sqlite"; file: string } | { kind: "postgres"; url: string };

const FORMS = "sqlite:<path> or postgres://user@host:port/database";

/**
 * Parse `sqlite:<path>` or `postgres://…` (`postgresql://` too). A relative SQLite path is
 * resolved against `relativeTo` when given (the CLI: the working directory), and refused
 * when not (the protocol: the outbox process's working directory is nobody's business).
 * Throws an Error whose message says what is wrong.
 */
export function parseSinkSpec(raw: string, options: { relativeTo?: string } = {}): SinkSpec {
  if (typeof raw !== "string" || raw.trim() === "")
    throw new Error(`the sink must be ${FORMS}, got ${JSON.stringify(raw)}`);
  if (raw.startsWith("sqlite:")) {
    const file = raw.slice("sqlite:".length);
    if (file === "") throw new Error(`the sink ${JSON.stringify(raw)} names no file: give sqlite:<path>`);
    if (!path.isAbsolute(file) && options.relativeTo === undefined)
      throw new Error(`the sink ${JSON.stringify(raw)} must name an absolute path`);
    return { kind: "sqlite", file: path.resolve(options.relativeTo ?? "/", file) };
  }
  if (/^postgres(ql)?:\/\//.test(raw)) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new Error(`the sink ${JSON.stringify(redactUrl(raw))} is not a valid URL: give ${FORMS}`);
    }
    if (url.hostname === "")
      throw new Error(
        `the sink ${JSON.stringify(redactUrl(raw))} names no host: give postgres://user@host:port/database`,
      );
    return { kind: "postgres", url: raw };
  }
  throw new Error(`the sink must be ${FORMS}, got ${JSON.stringify(redactUrl(raw))}`);
}

/** The sink as a string again (what `open.sink` carries). */
export function formatSinkSpec(spec: SinkSpec): string {
  return spec.kind === "sqlite" ? `sqlite:${spec.file}` : spec.url;
}

/** A URL with its password replaced by ***, for messages and reports. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@");
}
