import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import {
  checkDocs,
  generatedFiles,
  main,
  scenariosMarkdown,
  SCENARIOS_DOC,
  SCHEMA_DIR,
  SCHEMA_ID_PREFIX,
  toJsonSchema,
  writeDocs,
} from "../../harness/cli/gen-docs.js";
import { ErrorResponse, Request, responseSchemas, type Op } from "../../harness/protocol/messages.js";
import {
  OutboxErrorAnswer,
  OutboxRequestSchemas,
  outboxAnswerSchemas,
  type OutboxOp,
} from "../../harness/protocol/outbox-messages.js";
import { BenchReportSchema } from "../../reports/bench-schema.js";
import { OutboxChaosReportSchema } from "../../reports/outbox-report-schema.js";
import { RunReportSchema } from "../../reports/report-schema.js";
import { describeRequirement, SCENARIOS } from "../../scenarios/index.js";
import { report as benchReport, task } from "../bench/bench-helpers.js";
import { CLI } from "../helpers.js";
import { DRAFT_2020_12, schemaProblems, validate, type Schema } from "./json-schema-lite.js";

// The generated docs (harness/cli/gen-docs.ts) are committed: these tests fail when a committed
// copy is stale, missing or orphaned, when the generator says something the catalogue or the zod
// schemas do not, and when a real message or report does not validate against its schema.

const ROOT = path.resolve(".");
const RUN_DOCS = "run `npm run docs` to regenerate the docs, and commit them";
const files = generatedFiles();
const byPath = new Map(files.map((f) => [f.path, f]));
const schemaOf = (file: string): Schema => {
  const f = byPath.get(`${SCHEMA_DIR}/${file}`);
  if (!f) throw new Error(`the generator makes no ${SCHEMA_DIR}/${file}`);
  return JSON.parse(f.content) as Schema;
};
const jsonFiles = files.filter((f) => f.path.endsWith(".json"));

/** Every file under `dir`, relative to the root with / separators. */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(ROOT, rel), { withFileTypes: true })) {
      const p = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  if (fs.existsSync(path.join(ROOT, dir))) walk(dir);
  return out.sort();
}

describe("the committed docs are what `npm run docs` generates", () => {
  it.each(files.map((f) => [f.path, f] as const))("%s", (file, f) => {
    const abs = path.join(ROOT, file);
    expect(fs.existsSync(abs), `${file} is missing: ${RUN_DOCS}`).toBe(true);
    expect(fs.readFileSync(abs, "utf8"), `${file} is stale: ${RUN_DOCS}`).toBe(f.content);
  });

  it(`${SCHEMA_DIR}/ holds only files the generator makes`, () => {
    const orphans = listFiles(SCHEMA_DIR).filter((p) => !byPath.has(p));
    expect(orphans, `not generated any more: ${RUN_DOCS} (it removes them)`).toEqual([]);
  });

  it("the generator is deterministic, and its JSON is 2-space indented with a final newline", () => {
    expect(generatedFiles()).toEqual(files);
    for (const f of jsonFiles) expect(f.content, f.path).toBe(`${JSON.stringify(JSON.parse(f.content), null, 2)}\n`);
    expect(new Set(files.map((f) => f.path)).size).toBe(files.length);
  });

  it("npm run docs builds and runs the generator, and the package ships docs/", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
    expect(pkg.scripts.docs).toBe("npm run build && node dist/harness/cli/gen-docs.js");
    expect(pkg.files).toContain("docs");
    expect(fs.readFileSync(path.join(ROOT, ".gitignore"), "utf8")).not.toMatch(/^\/?docs\/?$/m);
  });

  it("main --check exits 1 naming stale, missing and orphaned files; main writes them and removes orphans", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "walcheck-gen-docs-"));
    const stderr: string[] = [];
    const errSpy = vi.spyOn(process.stderr, "write").mockImplementation((s) => (stderr.push(String(s)), true));
    const outSpy = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    try {
      expect(main(["--check"], root, files)).toBe(1);
      expect(stderr.join("")).toContain(`missing  ${SCENARIOS_DOC}`);
      expect(stderr.join("")).toContain("npm run docs");
      expect(main([], root, files)).toBe(0);
      expect(main(["--check"], root, files)).toBe(0);
      expect(checkDocs(root, files)).toEqual({ missing: [], stale: [], orphans: [] });

      fs.appendFileSync(path.join(root, SCHEMA_DIR, "report.json"), " ");
      fs.writeFileSync(path.join(root, SCHEMA_DIR, "protocol-response", "gone.json"), "{}\n");
      fs.rmSync(path.join(root, SCHEMA_DIR, "README.md"));
      stderr.length = 0;
      expect(main(["--check"], root, files)).toBe(1);
      const said = stderr.join("");
      expect(said).toContain(`stale    ${SCHEMA_DIR}/report.json`);
      expect(said).toContain(`missing  ${SCHEMA_DIR}/README.md`);
      expect(said).toContain(`orphan   ${SCHEMA_DIR}/protocol-response/gone.json`);

      expect(writeDocs(root, files).orphans).toEqual([`${SCHEMA_DIR}/protocol-response/gone.json`]);
      expect(checkDocs(root, files)).toEqual({ missing: [], stale: [], orphans: [] });
      expect(main(["--bogus"], root, files)).toBe(2);
    } finally {
      errSpy.mockRestore();
      outSpy.mockRestore();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("docs/scenarios.md", () => {
  const md = scenariosMarkdown().content;

  it("says first that it is generated by npm run docs and not to be edited by hand", () => {
    const first = md.split("\n")[0]!;
    expect(first).toContain("npm run docs");
    expect(first).toMatch(/do not edit by hand/i);
  });

  it("has a summary row per scenario, in catalogue order, with what it injects, who it applies to and its default runs", () => {
    const rows = md.split("\n").filter((l) => /^\| \[/.test(l));
    expect(rows.map((r) => /^\| \[([^\]]+)\]/.exec(r)![1])).toEqual(SCENARIOS.map((s) => s.name));
    SCENARIOS.forEach((s, i) => {
      const cells = rows[i]!.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, "|"));
      expect(cells[2], s.name).toContain(s.faults);
      for (const kind of s.crashKinds ?? []) expect(cells[2], s.name).toContain(kind);
      if (s.needs.length === 0) expect(cells[3], s.name).toBe("every adapter");
      for (const need of s.needs) expect(cells[3], s.name).toContain(describeRequirement(need));
      expect(cells[4], s.name).toBe(String(s.defaultCases));
    });
  });

  it("has a section per scenario, in catalogue order, stating what the catalogue states", () => {
    const sections = md.split(/^## /m).slice(1);
    expect(sections.map((s) => s.split("\n")[0])).toEqual(SCENARIOS.map((s) => s.name));
    SCENARIOS.forEach((s, i) => {
      const text = sections[i]!;
      expect(text).toContain(`**${s.summary}**`);
      expect(text).toContain(`\n${s.description}\n`);
      expect(text).toContain(`- **Workload:** ${s.workload}\n`);
      expect(text).toContain(`- **Faults:** ${s.faults}\n`);
      expect(text).toContain(`- **Default runs:** ${s.defaultCases}\n`);
      for (const need of s.needs) expect(text).toContain(describeRequirement(need));
      s.invariants.forEach((inv) => expect(text).toContain(`\n- \`${inv.id}\`: ${inv.text}\n`));
    });
  });
});

/** The keys a zod object requires and names (an intersection's, merged), by asking each field whether it takes undefined. */
function zodKeys(schema: z.ZodType): { names: string[]; required: string[] } {
  if (schema instanceof z.ZodIntersection) {
    const l = zodKeys(schema._zod.def.left as z.ZodType);
    const r = zodKeys(schema._zod.def.right as z.ZodType);
    return { names: [...l.names, ...r.names], required: [...l.required, ...r.required] };
  }
  if (!(schema instanceof z.ZodObject)) throw new Error("not an object schema");
  const shape = schema.shape as Record<string, z.ZodType>;
  return {
    names: Object.keys(shape),
    required: Object.keys(shape).filter((k) => !shape[k]!.safeParse(undefined).success),
  };
}

describe("docs/schema: JSON Schemas", () => {
  it("every file is a well-formed draft 2020-12 schema with its own $id, a title and a description", () => {
    const ids = new Set<string>();
    for (const f of jsonFiles) {
      const s = JSON.parse(f.content) as Record<string, unknown>;
      expect(schemaProblems(s), f.path).toEqual([]);
      expect(Object.keys(s).slice(0, 4), f.path).toEqual(["$schema", "$id", "title", "description"]);
      expect(s.$schema).toBe(DRAFT_2020_12);
      expect(s.$id).toBe(`${SCHEMA_ID_PREFIX}${f.path.slice(SCHEMA_DIR.length + 1)}`);
      ids.add(s.$id as string);
      expect(s.title, f.path).toMatch(/^walcheck /);
      expect(s.description, f.path).toMatch(/io: (input|output)/);
      expect(s.description, f.path).toContain("npm run docs");
    }
    expect(ids.size).toBe(jsonFiles.length);
  });

  it("covers every request, response and answer op, and the three reports", () => {
    const names = files.map((f) => f.path.slice(SCHEMA_DIR.length + 1));
    for (const op of Object.keys(responseSchemas)) expect(names).toContain(`protocol-response/${op}.json`);
    for (const op of Object.keys(outboxAnswerSchemas)) expect(names).toContain(`outbox-response/${op}.json`);
    const reqDefs = Object.keys((schemaOf("protocol-request.json") as { $defs: object }).$defs);
    expect(reqDefs).toEqual(Request.options.map((o) => o.shape.op.value));
    const outboxDefs = Object.keys((schemaOf("outbox-request.json") as { $defs: object }).$defs);
    expect(outboxDefs).toEqual(Object.keys(OutboxRequestSchemas));
    for (const f of ["report.json", "bench.json", "outbox-chaos-report.json", "README.md"]) expect(names).toContain(f);
  });

  it("the README lists every schema file", () => {
    const readme = byPath.get(`${SCHEMA_DIR}/README.md`)!.content;
    for (const f of jsonFiles) {
      const name = f.path.slice(SCHEMA_DIR.length + 1);
      expect(readme).toContain(`| [${name}](${name}) |`);
    }
  });

  it("each object schema names exactly the properties its zod schema names, and requires exactly those zod requires", () => {
    const cases: [string, z.ZodType, Schema][] = [
      ...Object.entries(responseSchemas).map(
        ([op, s]) =>
          [`protocol-response/${op}`, s, schemaOf(`protocol-response/${op}.json`)] as [string, z.ZodType, Schema],
      ),
      ["protocol-response/error", ErrorResponse, schemaOf("protocol-response/error.json")],
      ...Request.options.map(
        (o) =>
          [
            `protocol-request $defs/${o.shape.op.value}`,
            o,
            (schemaOf("protocol-request.json") as { $defs: Record<string, Schema> }).$defs[o.shape.op.value]!,
          ] as [string, z.ZodType, Schema],
      ),
      ...(Object.entries(outboxAnswerSchemas) as [OutboxOp, z.ZodType][])
        .filter(([op]) => op !== "write") // a union of two shapes: checked by the real answers below
        .map(
          ([op, s]) =>
            [`outbox-response/${op}`, s, schemaOf(`outbox-response/${op}.json`)] as [string, z.ZodType, Schema],
        ),
      ["outbox-response/error", OutboxErrorAnswer, schemaOf("outbox-response/error.json")],
      ["report", RunReportSchema, schemaOf("report.json")],
      ["bench", BenchReportSchema, schemaOf("bench.json")],
      ["outbox-chaos-report", OutboxChaosReportSchema, schemaOf("outbox-chaos-report.json")],
    ];
    for (const [name, zod, json] of cases) {
      const { names, required } = zodKeys(zod);
      const j = json as { properties: object; required?: string[] };
      expect(Object.keys(j.properties).sort(), name).toEqual([...names].sort());
      expect([...(j.required ?? [])].sort(), name).toEqual([...required].sort());
    }
    // The hello response, spelled out: what an adapter must send.
    expect((schemaOf("protocol-response/hello.json") as { required: string[] }).required.sort()).toEqual(
      ["durability", "features", "id", "name", "ok", "protocol"].sort(),
    );
  });

  it("says what JSON Schema cannot express: the bench report's superRefine", () => {
    const bench = schemaOf("bench.json") as { description: string; $comment?: string };
    expect(bench.description).toMatch(/superRefine/);
    expect(bench.description).toMatch(/cannot express/);
    expect(bench.$comment).toMatch(/not expressed/);
    for (const f of jsonFiles.filter((f) => !f.path.endsWith("/bench.json")))
      expect(f.content, f.path).not.toMatch(/cannot express|"\$comment"/);
  });

  it("never throws on what JSON Schema cannot express: such a place accepts anything and is named", () => {
    const tricky = z.object({
      n: z.string().transform(Number),
      c: z.custom<string>(() => true),
      big: z.bigint(),
      r: z.string().refine((s) => s.length > 2),
      ok: z.number(),
    });
    const { schema, unrepresented } = toJsonSchema(tricky, "output");
    const props = (schema as { properties: Record<string, Record<string, unknown>> }).properties;
    for (const k of ["n", "c", "big"]) {
      expect(Object.keys(props[k]!), k).toEqual(["$comment"]);
      expect(unrepresented.join("\n")).toContain(`properties.${k}`);
    }
    expect(props.r).toMatchObject({ type: "string" });
    expect(props.r!.$comment).toBeTruthy();
    expect(unrepresented.join("\n")).toContain("properties.r");
    expect(props.ok).toEqual({ type: "number" });
    expect(schemaProblems(schema as Schema)).toEqual([]);
    // The input side of a transform is representable.
    expect(toJsonSchema(tricky, "input").schema).toMatchObject({ properties: { n: { type: "string" } } });
  });
});

// ---------------------------------------------------------------------------------------------
// Real messages and reports, from real walcheck processes.

type Line = Record<string, unknown> & { id: number };

/** A JSON-lines child that answers one request at a time: send a request, get the line with its id. */
function lineChild(args: string[]) {
  const child = execa(process.execPath, [CLI, ...args], {
    reject: false,
    timeout: 30_000,
    env: { WALCHECK_LOG_LEVEL: "warn" },
  });
  const waiting = new Map<number, (line: Line) => void>();
  readline.createInterface({ input: child.stdout! }).on("line", (text) => {
    const line = JSON.parse(text) as Line;
    waiting.get(line.id)?.(line);
    waiting.delete(line.id);
  });
  const exchanges: { request: Line; answer: Line }[] = [];
  return {
    exchanges,
    async send(request: Line): Promise<Line> {
      const answer = await new Promise<Line>((resolve, reject) => {
        waiting.set(request.id, resolve);
        child.stdin!.write(`${JSON.stringify(request)}\n`);
        void child.then((r) => reject(new Error(`the child exited before answering ${request.op}: ${r.stderr}`)));
      });
      exchanges.push({ request, answer });
      return answer;
    },
    async end() {
      child.stdin!.end();
      return child;
    },
  };
}

/** What replaces a value of each type: null or the wrong type, and the edges of what zod checks on that type. */
function variants(v: unknown): unknown[] {
  if (typeof v === "number") return [null, "1", -1, 0.5];
  if (typeof v === "string") return [null, 1, ""];
  if (typeof v === "boolean") return [null, "true"];
  if (Array.isArray(v)) return [{}, [], [1]];
  if (v === null) return ["x", {}];
  return [null, [], {}];
}

/**
 * The value changed at every path in ways a schema cares about: replaced (see variants),
 * deleted (an object's key), given an extra key (an object). The document is changed in place
 * while the consumer looks at it, and put back before the next one (cloning each would be slow).
 */
function* mutants(doc: unknown): Generator<[string, unknown]> {
  for (const v of variants(doc)) yield [`(root) = ${JSON.stringify(v)}`, v];
  function* inside(node: unknown, label: string): Generator<[string, unknown]> {
    if (!node || typeof node !== "object") return;
    const container = node as Record<string | number, unknown>;
    // An array's items share one schema: its first two stand for the rest.
    const keys = Array.isArray(node) ? node.slice(0, 2).map((_, i) => i) : Object.keys(node);
    for (const k of keys) {
      const here = `${label}${label ? "." : ""}${k}`;
      const original = container[k];
      for (const v of variants(original)) {
        container[k] = v;
        yield [`${here} = ${JSON.stringify(v)}`, doc];
      }
      if (!Array.isArray(node)) {
        delete container[k];
        yield [`${here} deleted`, doc];
      }
      container[k] = original;
      if (original && typeof original === "object" && !Array.isArray(original)) {
        (original as Record<string, unknown>).zzExtra = 1;
        yield [`${here} + extra key`, doc];
        delete (original as Record<string, unknown>).zzExtra;
      }
      yield* inside(original, here);
    }
  }
  yield* inside(doc, "");
}

/**
 * Hold a JSON Schema to its zod schema: the real value validates against both, and for every
 * mutant the two agree, except where zod's only complaints are refinements the schema says it
 * cannot express (then JSON Schema accepts and zod does not). Returns how many mutants were judged.
 */
function expectAgreement(name: string, value: unknown, zod: z.ZodType, json: Schema): number {
  expect(validate(value, json), `${name}: the real value against the JSON Schema`).toEqual([]);
  expect(zod.safeParse(value).success, `${name}: the real value against zod`).toBe(true);
  let judged = 0;
  for (const [label, mutant] of mutants(value)) {
    const byZod = zod.safeParse(mutant);
    const byJson = validate(mutant, json).length === 0;
    judged++;
    if (byZod.success === byJson) continue;
    const onlyRefinements = !byZod.success && byJson && byZod.error.issues.every((i) => i.code === "custom");
    expect(onlyRefinements, `${name}: ${label}: zod says ${byZod.success}, the JSON Schema says ${byJson}`).toBe(true);
  }
  return judged;
}

describe("real messages and reports validate against the generated schemas", () => {
  type LineChild = ReturnType<typeof lineChild>;
  let tmp = "";
  let adapter: LineChild;
  let recoverer: LineChild;
  let outbox: LineChild;
  let runReport: unknown;

  /** The report.json of the one run written under `dir` (its own run-<time>-seed<n> folder). */
  const readReport = (dir: string) => {
    const runs = fs.readdirSync(dir);
    expect(runs, `runs under ${dir}`).toHaveLength(1);
    return JSON.parse(fs.readFileSync(path.join(dir, runs[0]!, "report.json"), "utf8")) as unknown;
  };

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "walcheck-docs-test-"));
    adapter = lineChild(["serve", "--adapter", "reference"]);
    recoverer = lineChild(["serve", "--adapter", "reference"]);
    outbox = lineChild(["outbox", "serve"]);
    const walcheck = (args: string[]) =>
      execa(process.execPath, [CLI, ...args], {
        reject: false,
        timeout: 60_000,
        env: { WALCHECK_LOG_LEVEL: "warn", GITHUB_STEP_SUMMARY: "" },
      });
    const runDir = path.join(tmp, "run");
    const wal = path.join(tmp, "wal");
    const session = async () => {
      let id = 0;
      const a = (op: string, fields: Record<string, unknown> = {}) => adapter.send({ id: ++id, op, ...fields });
      await a("hello");
      await a("open", { dir: wal, config: {} });
      await a("append", {
        ops: [
          { key: "a", value: "1" },
          { key: "b", value: null },
        ],
      });
      await a("transaction", {
        steps: [
          { put: { key: "c", value: "2" } },
          { savepoint: true },
          { put: { key: "d", value: "3" } },
          { rollback: true },
        ],
      });
      await a("checkpoint", { mode: "passive" });
      await a("read");
      await a("check");
      await a("no-such-op");
      await a("close");
      await adapter.end();
      // recover goes to a process that never opens a WAL.
      await recoverer.send({ id: 1, op: "hello" });
      await recoverer.send({ id: 2, op: "recover", dir: wal, config: {} });
      await recoverer.end();
    };
    const outboxSession = async () => {
      let id = 0;
      const o = (op: string, fields: Record<string, unknown> = {}) => outbox.send({ id: ++id, op, ...fields });
      await o("hello");
      await o("open", { dir: path.join(tmp, "outbox"), sink: `sqlite:${path.join(tmp, "sink.sqlite")}` });
      await o("write", { type: "balance.update", args: { account: "acct-1", delta: 7, opId: "op-1" } });
      await o("write", { type: "metrics.tick", args: { v: 1 }, critical: false });
      await o("sync");
      await o("stats");
      await o("snapshot");
      await o("compact");
      await o("start");
      await o("stop");
      await o("no-such-op");
      await o("close");
      await outbox.end();
    };
    const [run] = await Promise.all([
      walcheck([
        "run",
        "--adapter",
        "reference",
        "--scenarios",
        "crash-append",
        "--runs",
        "1",
        "--max-commands",
        "3",
        "--seed",
        "1",
        "--latency",
        "warn",
        "--report-dir",
        runDir,
      ]),
      session(),
      outboxSession(),
    ]);
    expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0);
    runReport = readReport(runDir);
  });
  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("every request sent to the reference adapter validates against protocol-request.json, and agrees with zod", () => {
    const schema = schemaOf("protocol-request.json");
    const known = adapter.exchanges.concat(recoverer.exchanges).filter((e) => e.request.op !== "no-such-op");
    expect([...new Set(known.map((e) => e.request.op))].sort()).toEqual(Object.keys(responseSchemas).sort());
    for (const { request } of known) expectAgreement(`request ${request.op}`, request, Request, schema);
  });

  it("every answer of the reference adapter validates against its op's schema and the union, and agrees with zod", () => {
    const union = schemaOf("protocol-response.json");
    let judged = 0;
    for (const { request, answer } of adapter.exchanges.concat(recoverer.exchanges)) {
      if (request.op === "no-such-op") {
        expect(answer).toMatchObject({ ok: false, error: { code: "EUNSUPPORTED" } });
        judged += expectAgreement("error", answer, ErrorResponse, schemaOf("protocol-response/error.json"));
        expect(validate(answer, schemaOf("protocol-response/hello.json"))).not.toEqual([]);
      } else {
        const op = request.op as Op;
        expect(answer, `${op} answered`).toMatchObject({ ok: true });
        judged += expectAgreement(op, answer, responseSchemas[op], schemaOf(`protocol-response/${op}.json`));
        // The same schema under $defs of the union file.
        expect(validate(answer, (union as { $defs: Record<string, Schema> }).$defs[op]!, union)).toEqual([]);
      }
      expect(validate(answer, union), `${request.op} against protocol-response.json`).toEqual([]);
    }
    // The hello answer, spelled out: a wrong protocol version does not pass.
    const hello = adapter.exchanges[0]!.answer;
    expect(hello).toMatchObject({ id: 1, ok: true, name: "walcheck-reference", protocol: 1 });
    expect(validate({ ...hello, protocol: 2 }, schemaOf("protocol-response/hello.json"))).not.toEqual([]);
    expect(judged).toBeGreaterThan(300);
  });

  it("every request and answer of the reference outbox validates against the outbox schemas, and agrees with zod", () => {
    const requests = schemaOf("outbox-request.json");
    const union = schemaOf("outbox-response.json");
    const answered = new Set<string>();
    for (const { request, answer } of outbox.exchanges) {
      if (request.op === "no-such-op") {
        expect(answer).toMatchObject({ ok: false, error: { code: "EUNSUPPORTED" } });
        expectAgreement("outbox error", answer, OutboxErrorAnswer, schemaOf("outbox-response/error.json"));
      } else {
        const op = request.op as OutboxOp;
        expect(answer, `${op} answered`).toMatchObject({ ok: true });
        expectAgreement(`outbox ${op}`, answer, outboxAnswerSchemas[op], schemaOf(`outbox-response/${op}.json`));
        expectAgreement(`outbox request ${op}`, request, OutboxRequestSchemas[op], requests);
        answered.add(op);
      }
      expect(validate(answer, union), `${request.op} against outbox-response.json`).toEqual([]);
    }
    expect([...answered].sort()).toEqual(Object.keys(outboxAnswerSchemas).sort());
    // Both shapes of a write answer were seen.
    const writes = outbox.exchanges.filter((e) => e.request.op === "write").map((e) => e.answer.status);
    expect(writes).toEqual(["accepted", "direct"]);
  });

  it("a real report.json of walcheck run validates against report.json, and agrees with zod", () => {
    expect(expectAgreement("report.json", runReport, RunReportSchema, schemaOf("report.json"))).toBeGreaterThan(500);
  });

  // walcheck bench and walcheck outbox chaos take a second or more each even when small: a bench
  // report as the bench tests build it, and an outbox chaos report as a real run wrote it (plus a
  // failed scenario), stand in for them.
  it("a bench report validates against bench.json; it and zod disagree only where the superRefine checks", () => {
    const bench = benchReport([task("adapter/append/b1/c1", 2, 3), task("raw/append/b1/c1", 0.5, 1)]);
    expectAgreement("bench.json", bench, BenchReportSchema, schemaOf("bench.json"));
    // What the description says the schema does not check: a task's subject that is not a subject.
    bench.tasks[0]!.subject = "nobody";
    expect(validate(bench, schemaOf("bench.json"))).toEqual([]);
    expect(BenchReportSchema.safeParse(bench).success).toBe(false);
  });

  it("an outbox chaos report validates against outbox-chaos-report.json, and agrees with zod", () => {
    expectAgreement(
      "outbox chaos report",
      chaosReport(),
      OutboxChaosReportSchema,
      schemaOf("outbox-chaos-report.json"),
    );
  });
});

/** report.json of `walcheck outbox chaos --ops 5 --seed 1 --scenario sink-outage`, and a failed crash-mid-sync beside it. */
function chaosReport() {
  const figures = {
    syncThroughput: { ops: 1, ms: 3.2, opsPerSec: 316.5 },
    catchUp: { queuedOps: 5, ms: 7.7, opsPerSec: 647.3 },
  };
  return {
    kind: "walcheck-outbox-chaos",
    version: 1,
    status: "failed",
    outbox: "reference",
    hello: {
      name: "walcheck-reference-outbox",
      protocol: 1,
      kind: "outbox",
      features: ["direct", "worker", "compact"],
      points: ["outbox.after-accept", "outbox.after-syncing", "outbox.after-sink-apply", "outbox.after-completed"],
    },
    sink: { kind: "sqlite", label: "sqlite" },
    seed: 1,
    ops: 5,
    startedAt: "2026-12-06T17:36:57.454Z",
    durationMs: 1121.106096,
    scenarios: [
      {
        name: "sink-outage",
        status: "passed",
        ops: { sent: 6, accepted: 6, refused: 0 },
        applied: 6,
        duplicatesOnReplay: 0,
        crashes: {},
        armsNotReached: 0,
        passes: 3,
        timingsMs: { warmUp: 489.4, outage: 132.1, catchUp: 7.7, total: 647.6 },
        details: {
          outage: {
            writes: 5,
            queued: 5,
            forcedSync: { applied: 0, duplicates: 0, failed: 0, remaining: 5, stopped: "sink-unavailable" },
            circuit: "open",
            sinkFailures: 3,
          },
          catchUpPasses: 1,
        },
        figures,
      },
      {
        name: "crash-mid-sync",
        status: "failed",
        violation: { invariant: "exactly-once", message: "entry 3 applied twice", where: "after crash 2" },
        ops: { sent: 5, accepted: 5, refused: 0 },
        applied: 6,
        duplicatesOnReplay: 1,
        crashes: { "outbox.after-sink-apply": 1 },
        armsNotReached: 0,
        passes: 4,
        timingsMs: { total: 300.5 },
        details: {},
      },
    ],
    figures,
    replay: "npx walcheck outbox chaos --seed 1 --scenario crash-mid-sync --ops 5",
    environment: { node: "v20.20.2", platform: "linux", arch: "x64" },
  };
}
