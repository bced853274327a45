// The documents generated from what the code already knows, and the check that the committed
// copies are not stale:
//
//   docs/scenarios.md        the scenario catalogue (scenarios/catalogue.ts), as `walcheck list -v` shows it
//   docs/schema/*.json       JSON Schemas (draft 2020-12) of both protocols' messages and of the
//                            three reports, generated with zod 4's z.toJSONSchema from the zod
//                            schemas walcheck itself validates with
//   docs/schema/README.md    an index of those schemas
//
// `npm run docs` (build, then `node dist/harness/cli/gen-docs.js`) writes them; `--check` writes
// nothing and exits 1 listing the stale, missing and orphaned files. test/docs/generated-docs.test.ts
// fails when the committed files differ from what these functions return.
//
// Which side of a zod schema a JSON Schema describes (z.toJSONSchema's `io`):
// - messages walcheck reads (adapter responses, outbox answers): io "input", what walcheck
//   accepts, since it validates every answer with these zod schemas;
// - requests (walcheck writes, the adapter or outbox reads): io "input" too, what a request of
//   protocol v1 may hold. The only difference "output" would make is additionalProperties: false on
//   `append`'s ops and a transaction's `put`, a promise the protocol does not make (objects may grow
//   new fields, and walcheck's own serving side ignores unknown ones there);
// - reports (walcheck writes them; `walcheck report` and others read them back): io "output", what
//   walcheck writes. No report schema has a default or a transform, so both sides are the same.
//
// What JSON Schema cannot say (transforms, z.custom, refinements written in code such as the bench
// report's superRefine) never stops the generator: unrepresentable types become {} with a
// $comment, refinements keep the rest of their schema and get a $comment, and the file's
// description says what is not checked.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { ErrorResponse, PROTOCOL_VERSION, Request, responseSchemas, type Op } from "../protocol/messages.js";
import {
  OUTBOX_PROTOCOL_VERSION,
  OutboxErrorAnswer,
  OutboxRequestSchemas,
  outboxAnswerSchemas,
  type OutboxOp,
} from "../protocol/outbox-messages.js";
import { BENCH_VERSION, BenchReportSchema } from "../../reports/bench-schema.js";
import { OUTBOX_REPORT_VERSION, OutboxChaosReportSchema } from "../../reports/outbox-report-schema.js";
import {
  EXHAUSTIVE_REPORT_VERSION,
  ExhaustiveReportSchema,
  REPORT_VERSION,
  RunReportSchema,
} from "../../reports/report-schema.js";
import { ERROR_CODES, EXIT } from "../protocol/errors.js";
import {
  DEFAULT_THRESHOLDS,
  describeRequirement,
  SCENARIOS,
  type LatencyOp,
  type Level,
  type Scenario,
  type InvariantSpec,
} from "../../scenarios/index.js";

/** One generated file: its path relative to the repository root, and its whole content. */
export interface GeneratedFile {
  path: string;
  content: string;
}

export const SCENARIOS_DOC = "docs/scenarios.md";
/** Every file under this folder is generated: `npm run docs` removes the ones it no longer makes. */
export const SCHEMA_DIR = "docs/schema";
export const JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema";
/** Schema $ids are names, not addresses: nothing is served there, and no file refers to another. */
export const SCHEMA_ID_PREFIX = "urn:walcheck:schema:";

const REGENERATE = "npm run docs";

// ---------------------------------------------------------------------------------------------
// docs/scenarios.md

/** Text for one Markdown table cell: the catalogue's Markdown kept, pipes and line breaks not. */
const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\s*\n\s*/g, " ");

/** What a scenario needs of an adapter, as `walcheck list` says it ("every adapter" when nothing). */
function appliesTo(s: Scenario): string {
  return s.needs.length === 0 ? "every adapter" : `adapters with: ${s.needs.map(describeRequirement).join("; ")}`;
}

function crashKindsNote(s: Scenario): string | undefined {
  return s.crashKinds ? `${s.crashKinds.join(", ")} only (of those \`--crash\` allows)` : undefined;
}

/** How a scenario is run and judged apart from the rest (Scenario's solo, gatesLatency, latencyExpected, thresholds). */
function runNotes(s: Scenario): [label: string, text: string][] {
  const notes: [string, string][] = [];
  if (s.solo)
    notes.push(["Runs", "before all other scenarios, one case at a time, with no spare process started ahead"]);
  if (s.gatesLatency)
    notes.push(["Latency", "measured alone: a p95 over a critical level fails the run (elsewhere it only warns)"]);
  if (s.latencyExpected)
    notes.push(["Latency", "over the levels is what this scenario provokes: reported, never failing the run"]);
  for (const [op, level] of Object.entries(s.thresholds ?? {}) as [LatencyOp, Level][])
    notes.push([
      "Latency",
      `${op} levels: target ${level.targetMs} ms, critical ${level.criticalMs} ms (default ${DEFAULT_THRESHOLDS[op].targetMs} and ${DEFAULT_THRESHOLDS[op].criticalMs})`,
    ]);
  return notes;
}

/** An invariant as the catalogue states it; typed so that a change of its shape fails to compile here rather than print [object Object]. */
const invariantText = (inv: InvariantSpec): string => `\`${inv.id}\`: ${inv.text}`;

/** docs/scenarios.md: a summary table of the catalogue, then one section per scenario, in catalogue order. */
export function scenariosMarkdown(scenarios: readonly Scenario[] = SCENARIOS): GeneratedFile {
  const lines: string[] = [
    `<!-- Generated by \`${REGENERATE}\` (harness/cli/gen-docs.ts) from the scenario catalogue (scenarios/catalogue.ts): do not edit by hand. -->`,
    "",
    "# walcheck scenarios",
    "",
    `_Generated by \`${REGENERATE}\` from the scenario catalogue: do not edit by hand. Change the scenario in \`scenarios/\` and run \`${REGENERATE}\`._`,
    "",
    `\`walcheck run\` takes these ${scenarios.length} scenarios in this order (pick some with \`--scenarios <names or globs>\`). ` +
      "A scenario whose requirements an adapter does not meet is skipped, with the reason, never failed: " +
      "`walcheck list --adapter <spec>` says which apply to yours. `walcheck list -v` prints the same text.",
    "",
    "| Scenario | Injects | Applies to | Default runs |",
    "| --- | --- | --- | ---: |",
  ];
  for (const s of scenarios) {
    const crash = crashKindsNote(s);
    const injects = crash ? `${s.faults}; crash kinds: ${crash}` : s.faults;
    lines.push(`| [${s.name}](#${s.name}) | ${cell(injects)} | ${cell(appliesTo(s))} | ${s.defaultCases} |`);
  }
  lines.push(
    "",
    "Default runs: the cases a run makes of the scenario when `--runs` does not say.",
    "",
    "Crash kinds: `named` (a crash point the adapter announces in `hello.points`), `fs` (its k-th mutating fs call: the Node fs preload, or the C preload for other dynamically linked adapters), `signal` (SIGKILL).",
  );
  for (const s of scenarios) {
    lines.push("", `## ${s.name}`, "", `**${s.summary}**`, "", s.description, "");
    lines.push(`- **Applies to:** ${appliesTo(s)}`);
    lines.push(`- **Workload:** ${s.workload}`);
    lines.push(`- **Faults:** ${s.faults}`);
    const crash = crashKindsNote(s);
    if (crash) lines.push(`- **Crash kinds:** ${crash}`);
    lines.push(`- **Default runs:** ${s.defaultCases}`);
    for (const [label, text] of runNotes(s)) lines.push(`- **${label}:** ${text}`);
    lines.push("", "Invariants checked:", "");
    for (const inv of s.invariants) lines.push(`- ${invariantText(inv)}`);
  }
  return { path: SCENARIOS_DOC, content: `${lines.join("\n")}\n` };
}

// ---------------------------------------------------------------------------------------------
// docs/schema/*.json

type Io = "input" | "output";
type JsonObject = Record<string, unknown>;

/** A JSON Schema made by z.toJSONSchema, and what in the zod schema it could not express. */
export interface ConvertedSchema {
  schema: JsonObject;
  /** One line per construct JSON Schema cannot state, with its place ("(root)", "properties.a"). */
  unrepresented: string[];
}

const where = (p: readonly (string | number)[]) => (p.length === 0 ? "(root)" : p.join("."));

/**
 * z.toJSONSchema with the options every generated file uses: draft 2020-12, `io`, shared
 * sub-schemas inlined, and what JSON Schema cannot express noted instead of thrown:
 * a transform, z.custom, a bigint, a date... becomes `{}` (anything) with a $comment; a schema
 * with a refinement (refine, superRefine, check) keeps its representable part and gets a $comment.
 * `ids` names sub-schemas that become `$defs` entries (and `$ref`s where they are used).
 */
export function toJsonSchema(
  schema: z.ZodType,
  io: Io,
  ids: ReadonlyMap<z.ZodType, { id: string; title?: string; description?: string }> = new Map(),
): ConvertedSchema {
  const unrepresented = new Set<string>();
  const metadata = z.registry<{ id: string; title?: string; description?: string }>();
  for (const [sub, meta] of ids) metadata.add(sub, meta);
  const json = z.toJSONSchema(schema, {
    target: "draft-2020-12",
    io,
    metadata,
    cycles: "ref",
    reused: "inline",
    unrepresentable: ({ path: at, message }) => {
      unrepresented.add(`at ${where(at)}, ${message} (any value passes there)`);
      return { $comment: `zod: ${message}; this schema lets any value through here` };
    },
    override: ({ zodSchema, jsonSchema, path: at }) => {
      const checks = (zodSchema._zod.def as { checks?: { _zod: { def: { check: string } } }[] }).checks ?? [];
      if (checks.some((c) => c._zod.def.check === "custom")) {
        unrepresented.add(`at ${where(at)}, a refinement written in code (refine/superRefine)`);
        jsonSchema.$comment = "zod refines this value in code as well; those checks are not expressed here";
      }
    },
  }) as JsonObject;
  return { schema: json, unrepresented: [...unrepresented] };
}

interface SchemaSpec {
  /** Under docs/schema/. */
  file: string;
  title: string;
  /** What it describes, and for whom. */
  description: string;
  /** Said in the README's index; defaults to the description's first sentence. */
  summary?: string;
  schema: z.ZodType;
  io: Io;
  ids?: ReadonlyMap<z.ZodType, { id: string; title?: string; description?: string }>;
}

const IO_NOTE: Record<Io, string> = {
  input: "It states what walcheck's zod schema accepts (z.toJSONSchema io: input).",
  output: "It states what walcheck writes (z.toJSONSchema io: output).",
};

/** One schema file: the generated schema under $schema, $id, title and description, as 2-space JSON with a final newline. */
function schemaFile(spec: SchemaSpec): GeneratedFile {
  const { schema, unrepresented } = toJsonSchema(spec.schema, spec.io, spec.ids);
  const { $schema: _dialect, ...rest } = schema;
  const notes = unrepresented.length
    ? ` JSON Schema cannot express, so this schema does not check (walcheck does): ${unrepresented.join("; ")}.`
    : "";
  const out = {
    $schema: JSON_SCHEMA_DIALECT,
    $id: `${SCHEMA_ID_PREFIX}${spec.file}`,
    title: spec.title,
    description: `${spec.description} ${IO_NOTE[spec.io]}${notes} Generated by \`${REGENERATE}\` from the zod schemas: do not edit by hand.`,
    ...rest,
  };
  return { path: `${SCHEMA_DIR}/${spec.file}`, content: `${JSON.stringify(out, null, 2)}\n` };
}

// What each op's success answer carries; a new op fails to compile until it has a line here.
const RESPONSE_TEXT: Record<Op, string> = {
  hello: "the adapter's name, the protocol version, its durability promise, its features and named crash points",
  open: "the last sequence number after recovery, and optional recovery statistics",
  append: "the sequence number of the acknowledged batch",
  checkpoint: "optional checkpoint statistics",
  read: "the last sequence number and the whole key-value state",
  check: 'the integrity check\'s lines (["ok"] when intact)',
  close: "nothing beyond id and ok",
  transaction: "the sequence number of the committed transaction, like an append",
  recover: "the recovered state and last sequence number, check's lines and recovery statistics",
};

const OUTBOX_ANSWER_TEXT: Record<OutboxOp, string> = {
  hello: 'the outbox\'s name, the protocol version, kind "outbox", its features and named crash points',
  open: "the statistics of the recovered outbox",
  write: 'status "accepted" with the entry, its number and idempotency key, or status "direct"',
  sync: "the result of one forced sync pass",
  start: "nothing beyond id and ok (the background worker started)",
  stop: "nothing beyond id and ok (the background worker stopped)",
  stats: "the outbox statistics",
  snapshot: "what the database holds",
  compact: "how many completed entries past retention were removed",
  close: "nothing beyond id and ok (then the process exits)",
};

const ADAPTER = `adapter protocol v${PROTOCOL_VERSION}`;
const OUTBOX = `outbox protocol v${OUTBOX_PROTOCOL_VERSION}`;
const LOOSE = "Objects accept fields this schema does not name, except where it says additionalProperties: false.";
const TOLERANT =
  "Informational fields (elapsedMs, checkpoint stats, recovery but for bytesDiscarded under the feature recovery-stats, an error's message) are what an adapter should send; walcheck drops one that does not match, with a warning, instead of failing (docs/protocol.md).";

function schemaSpecs(): SchemaSpec[] {
  const requestOps = Request.options.map((o) => [o.shape.op.value, o] as const);
  const responseOps = Object.entries(responseSchemas) as [Op, z.ZodType][];
  const outboxRequestOps = Object.entries(OutboxRequestSchemas) as [OutboxOp, z.ZodType][];
  const outboxAnswerOps = Object.entries(outboxAnswerSchemas) as [OutboxOp, z.ZodType][];
  const OutboxRequest = z.discriminatedUnion(
    "op",
    Object.values(OutboxRequestSchemas) as unknown as [
      (typeof OutboxRequestSchemas)[OutboxOp],
      ...(typeof OutboxRequestSchemas)[OutboxOp][],
    ],
  );
  const defs = (
    entries: readonly (readonly [string, z.ZodType])[],
    title: (op: string) => string,
    extra: [z.ZodType, string, string][] = [],
  ) =>
    new Map([
      ...entries.map(([op, s]) => [s, { id: op, title: title(op) }] as const),
      ...extra.map(([s, id, t]) => [s, { id, title: t }] as const),
    ]);

  return [
    {
      file: "protocol-request.json",
      title: `walcheck ${ADAPTER}: request`,
      description:
        `Any request line walcheck sends an adapter (${ADAPTER}), one of the ops in $defs, told apart by "op". ` +
        `An adapter answers an op it does not know with error code EUNSUPPORTED. ${LOOSE}`,
      schema: Request,
      io: "input",
      ids: defs(requestOps, (op) => `${op} request`),
    },
    {
      file: "protocol-response.json",
      title: `walcheck ${ADAPTER}: response`,
      description:
        `Any answer line of an adapter (${ADAPTER}): a success answer of one of the ops in $defs, or "error". ` +
        "A success answer does not name its op, so this union is loose; to validate the answer to one op, use " +
        `protocol-response/<op>.json (the same schema as $defs/<op> here) or protocol-response/error.json. ${LOOSE} ${TOLERANT}`,
      summary: `Any answer line of an adapter, with each op's success answer in $defs.`,
      schema: z.union([ErrorResponse, ...responseOps.map(([, s]) => s)]),
      io: "input",
      ids: defs(responseOps, (op) => `${op} response`, [[ErrorResponse, "error", "error response"]]),
    },
    ...responseOps.map(([op, s]): SchemaSpec => ({
      file: `protocol-response/${op}.json`,
      title: `walcheck ${ADAPTER}: ${op} response`,
      description: `An adapter's success answer to "${op}" (${ADAPTER}): ${RESPONSE_TEXT[op]}. ${LOOSE} ${TOLERANT}`,
      schema: s,
      io: "input",
    })),
    {
      file: "protocol-response/error.json",
      title: `walcheck ${ADAPTER}: error response`,
      description:
        `An adapter's error answer to any op (${ADAPTER}): ok false and an error code (an errno name such as ` +
        `EIO, or WAL_LOCKED, WAL_CORRUPT, EPROTO, EUNSUPPORTED...) with a message. ${LOOSE} ${TOLERANT}`,
      schema: ErrorResponse,
      io: "input",
    },
    {
      file: "outbox-request.json",
      title: `walcheck ${OUTBOX}: request`,
      description:
        `Any request line walcheck sends an outbox process (${OUTBOX}), one of the ops in $defs, told apart by "op". ` +
        `An outbox answers an op it does not know with error code EUNSUPPORTED. ${LOOSE}`,
      schema: OutboxRequest,
      io: "input",
      ids: defs(outboxRequestOps, (op) => `${op} request`),
    },
    {
      file: "outbox-response.json",
      title: `walcheck ${OUTBOX}: answer`,
      description:
        `Any answer line of an outbox process (${OUTBOX}): a success answer of one of the ops in $defs, or "error". ` +
        "A success answer does not name its op, so this union is loose; to validate the answer to one op, use " +
        `outbox-response/<op>.json (the same schema as $defs/<op> here) or outbox-response/error.json. ${LOOSE}`,
      summary: `Any answer line of an outbox process, with each op's success answer in $defs.`,
      schema: z.union([OutboxErrorAnswer, ...outboxAnswerOps.map(([, s]) => s)]),
      io: "input",
      ids: defs(outboxAnswerOps, (op) => `${op} answer`, [[OutboxErrorAnswer, "error", "error answer"]]),
    },
    ...outboxAnswerOps.map(([op, s]): SchemaSpec => ({
      file: `outbox-response/${op}.json`,
      title: `walcheck ${OUTBOX}: ${op} answer`,
      description: `An outbox's success answer to "${op}" (${OUTBOX}): ${OUTBOX_ANSWER_TEXT[op]}. ${LOOSE}`,
      schema: s,
      io: "input",
    })),
    {
      file: "outbox-response/error.json",
      title: `walcheck ${OUTBOX}: error answer`,
      description:
        `An outbox's error answer to any op (${OUTBOX}): ok false and an error code (OUTBOX_HALTED, OUTBOX_CLOSED, ` +
        `SINK_UNAVAILABLE, EPROTO, EINVAL, EUNSUPPORTED, WAL_LOCKED, WAL_CORRUPT...) with a message. ${LOOSE}`,
      schema: OutboxErrorAnswer,
      io: "input",
    },
    {
      file: "report.json",
      title: `walcheck run report v${REPORT_VERSION}`,
      description:
        `report.json of \`walcheck run\` (kind "walcheck-run", version ${REPORT_VERSION}): the run's verdict, ` +
        "every scenario's cases, crashes, latency and thresholds, failures with replay tokens, the environment. " +
        "It is rewritten after every case, so a run still going is valid too. " +
        `${LOOSE}`,
      summary: "report.json of `walcheck run`.",
      schema: RunReportSchema,
      io: "output",
    },
    {
      file: "exhaustive-report.json",
      title: `walcheck run --exhaustive report v${EXHAUSTIVE_REPORT_VERSION}`,
      description:
        `report.json of \`walcheck run --exhaustive\` (kind "walcheck-run-exhaustive", version ${EXHAUSTIVE_REPORT_VERSION}): ` +
        "the bounded workload, every fs-call crash point checked and fired, failures with the point, replay token and kept directory. " +
        `${LOOSE}`,
      summary: "report.json of `walcheck run --exhaustive`.",
      schema: ExhaustiveReportSchema,
      io: "output",
    },
    {
      file: "bench.json",
      title: `walcheck bench report v${BENCH_VERSION}`,
      description:
        `bench.json of \`walcheck bench\` (kind "walcheck-bench", version ${BENCH_VERSION}): the subjects, every task's ` +
        "latency and throughput statistics, ratios between subjects, and a baseline comparison. " +
        "walcheck also checks, in a superRefine, that task ids are unique and that every task's subject is one of the subjects. " +
        `${LOOSE}`,
      summary: "bench.json of `walcheck bench`.",
      schema: BenchReportSchema,
      io: "output",
    },
    {
      file: "outbox-chaos-report.json",
      title: `walcheck outbox chaos report v${OUTBOX_REPORT_VERSION}`,
      description:
        `report.json of \`walcheck outbox chaos\` (kind "walcheck-outbox-chaos", version ${OUTBOX_REPORT_VERSION}): ` +
        "the verdict, one record per chaos scenario, and the sink-outage figures. " +
        `${LOOSE}`,
      summary: "report.json of `walcheck outbox chaos`.",
      schema: OutboxChaosReportSchema,
      io: "output",
    },
  ];
}

const firstSentence = (text: string) => /^.*?\.(?=\s|$)/.exec(text)?.[0] ?? text;

/** docs/schema/README.md: every schema file and what it describes. */
function schemaIndex(specs: readonly SchemaSpec[]): GeneratedFile {
  const lines = [
    `<!-- Generated by \`${REGENERATE}\` (harness/cli/gen-docs.ts): do not edit by hand. -->`,
    "",
    "# walcheck JSON Schemas",
    "",
    `_Generated by \`${REGENERATE}\` from the zod schemas walcheck validates with: do not edit by hand. ` +
      `Every file in this folder is generated; \`${REGENERATE}\` removes those it no longer makes._`,
    "",
    "- Dialect: JSON Schema draft 2020-12. Each file stands alone: it refers to nothing outside itself, and its",
    `  \`$id\` (\`${SCHEMA_ID_PREFIX}<file>\`) is a name, not an address.`,
    "- Messages an adapter or outbox sends (responses) are described as walcheck accepts them, and requests as",
    "  a request of the protocol may be (zod's input side); reports as walcheck writes them (zod's output side).",
    "- Objects are loose (extra fields pass) wherever walcheck's zod schemas are.",
    "- A response does not name its op: validate the answer to one op against `protocol-response/<op>.json`",
    "  (or `outbox-response/<op>.json`), and an error answer against `error.json` beside them.",
    "- What JSON Schema cannot express is said in the schema's `description` and in a `$comment` where it sits.",
    "",
    "| File | Describes |",
    "| --- | --- |",
  ];
  for (const spec of specs)
    lines.push(`| [${spec.file}](${spec.file}) | ${cell(spec.summary ?? firstSentence(spec.description))} |`);
  return { path: `${SCHEMA_DIR}/README.md`, content: `${lines.join("\n")}\n` };
}

/** docs/schema/: one JSON Schema per spec, and the README indexing them. */
export function schemaDocs(): GeneratedFile[] {
  const specs = schemaSpecs();
  return [...specs.map(schemaFile), schemaIndex(specs)];
}

export const ERRORS_DOC = "docs/errors.md";

const EXIT_NAMES = new Map<number, string>(Object.entries(EXIT).map(([name, code]) => [code, `${code} (${name})`]));

/** docs/errors.md: every error code walcheck prints or reports (ERROR_CODES), with its exit code. */
export function errorsMarkdown(): GeneratedFile {
  const lines = [
    `<!-- Generated by \`${REGENERATE}\` (harness/cli/gen-docs.ts) from ERROR_CODES in harness/protocol/errors.ts: do not edit by hand. -->`,
    "",
    "# Error codes",
    "",
    `_Generated by \`${REGENERATE}\` from \`ERROR_CODES\` (harness/protocol/errors.ts): do not edit by hand._`,
    "",
    "Every error walcheck raises on purpose is a `WalcheckError` with one of these codes; the CLI prints it as",
    "`walcheck: CODE: message`, and a report carries it in `errors[].error.code`. A code ending in `<code>` is a",
    "family: the rest is the code the outbox answered. Exit codes: " +
      [...EXIT_NAMES.values()].join(", ") +
      "; a code without one is reported inside a run (a failed case, a skipped state) rather than ending it.",
    "",
    "| Code | Raised by | Exit | Meaning |",
    "| --- | --- | --- | --- |",
  ];
  for (const e of ERROR_CODES) {
    const exit = "exit" in e && typeof e.exit === "number" ? (EXIT_NAMES.get(e.exit) ?? String(e.exit)) : "";
    lines.push(`| \`${cell(e.code)}\` | ${cell(e.raisedBy)} | ${exit} | ${cell(e.meaning)} |`);
  }
  return { path: ERRORS_DOC, content: `${lines.join("\n")}\n` };
}

/** Every generated file, in a stable order. */
export function generatedFiles(): GeneratedFile[] {
  return [scenariosMarkdown(), errorsMarkdown(), ...schemaDocs()];
}

// ---------------------------------------------------------------------------------------------
// Writing and checking

/** Every file under `dir` (relative to `root`, with / separators), sorted; none when it does not exist. */
export function filesUnder(root: string, dir: string): string[] {
  const abs = path.join(root, dir);
  if (!fs.existsSync(abs)) return [];
  return (fs.readdirSync(abs, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join("/"))
    .sort();
}

export interface DocsCheck {
  missing: string[];
  stale: string[];
  /** Files under docs/schema that the generator does not make. */
  orphans: string[];
}

/** How the files under `root` differ from `files`. */
export function checkDocs(root: string, files: readonly GeneratedFile[] = generatedFiles()): DocsCheck {
  const result: DocsCheck = { missing: [], stale: [], orphans: [] };
  for (const f of files) {
    const abs = path.join(root, f.path);
    if (!fs.existsSync(abs)) result.missing.push(f.path);
    else if (fs.readFileSync(abs, "utf8") !== f.content) result.stale.push(f.path);
  }
  const made = new Set(files.map((f) => f.path));
  result.orphans = filesUnder(root, SCHEMA_DIR).filter((p) => !made.has(p));
  return result;
}

/** Write the files that differ, and remove orphans under docs/schema; returns what changed. */
export function writeDocs(root: string, files: readonly GeneratedFile[] = generatedFiles()): DocsCheck {
  const check = checkDocs(root, files);
  const changed = new Set([...check.missing, ...check.stale]);
  for (const f of files) {
    if (!changed.has(f.path)) continue;
    const abs = path.join(root, f.path);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.writeFileSync(abs, f.content);
  }
  for (const p of check.orphans) fs.rmSync(path.join(root, p));
  return check;
}

/** The repository root: the nearest folder above this file with a package.json (from harness/cli or dist/harness/cli). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, "package.json"))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error("gen-docs: no package.json above harness/cli");
    dir = parent;
  }
}

/** `node dist/harness/cli/gen-docs.js [--check]`: 0 when written or up to date, 1 when --check finds a difference, 2 on bad usage. */
export function main(
  argv: readonly string[] = process.argv.slice(2),
  root = repoRoot(),
  files: readonly GeneratedFile[] = generatedFiles(),
): number {
  const unknown = argv.filter((a) => a !== "--check");
  if (unknown.length > 0) {
    process.stderr.write(`gen-docs: unknown argument ${unknown[0]} (usage: gen-docs [--check])\n`);
    return 2;
  }
  if (argv.includes("--check")) {
    const { missing, stale, orphans } = checkDocs(root, files);
    const problems = [
      ...missing.map((p) => `missing  ${p}`),
      ...stale.map((p) => `stale    ${p}`),
      ...orphans.map((p) => `orphan   ${p} (not generated any more)`),
    ];
    if (problems.length === 0) {
      process.stdout.write(`gen-docs: ${files.length} generated files up to date\n`);
      return 0;
    }
    process.stderr.write(`gen-docs: generated docs out of date; run \`${REGENERATE}\`:\n`);
    for (const p of problems) process.stderr.write(`  ${p}\n`);
    return 1;
  }
  const { missing, stale, orphans } = writeDocs(root, files);
  process.stdout.write(
    `gen-docs: ${files.length} files; ${missing.length} created, ${stale.length} updated, ${orphans.length} removed\n`,
  );
  for (const p of missing) process.stdout.write(`  created  ${p}\n`);
  for (const p of stale) process.stdout.write(`  updated  ${p}\n`);
  for (const p of orphans) process.stdout.write(`  removed  ${p}\n`);
  return 0;
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url))) {
  process.exitCode = main();
}
