// A small, strict JSON Schema (draft 2020-12) checker for the generated schemas: no validator
// package is installed (ajv is not a dependency), and these tests must not add one. It knows the
// keywords z.toJSONSchema emits and a few more; a keyword it does not know is an error, never
// skipped, so a schema that starts using one fails the tests until this file learns it.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Schema = boolean | { [keyword: string]: unknown };

export const DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema";

const TYPES = new Set(["null", "boolean", "object", "array", "number", "string", "integer"]);
const ANNOTATIONS = new Set([
  "$schema",
  "$id",
  "$comment",
  "title",
  "description",
  "format",
  "default",
  "examples",
  "deprecated",
  "readOnly",
  "writeOnly",
]);
const KEYWORDS = new Set([
  ...ANNOTATIONS,
  "$defs",
  "$ref",
  "type",
  "const",
  "enum",
  "properties",
  "required",
  "additionalProperties",
  "propertyNames",
  "items",
  "prefixItems",
  "minItems",
  "maxItems",
  "minLength",
  "maxLength",
  "pattern",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "anyOf",
  "oneOf",
  "allOf",
  "not",
]);

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isNonNegInt = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;

/** Resolve a local reference ("#", "#/$defs/x") in `root`; anything else is unsupported here (the files stand alone). */
function resolveRef(root: Schema, ref: string): Schema | undefined {
  if (!ref.startsWith("#")) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(1).split("/").slice(1)) {
    const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    if (!isPlainObject(node) && !Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return typeof node === "boolean" || isPlainObject(node) ? (node as Schema) : undefined;
}

/**
 * The problems that make `root` not a well-formed draft 2020-12 schema of the kind these
 * tests accept: the dialect, every keyword known and of the right shape, patterns that compile
 * as ECMA-262 (unicode) regular expressions, and every $ref resolving inside the file.
 */
export function schemaProblems(root: Schema): string[] {
  const problems: string[] = [];
  if (!isPlainObject(root)) return ["the root schema is not an object"];
  if (root.$schema !== DRAFT_2020_12) problems.push(`$schema is ${JSON.stringify(root.$schema)}, not ${DRAFT_2020_12}`);
  const walk = (s: unknown, at: string): void => {
    if (typeof s === "boolean") return;
    if (!isPlainObject(s)) return void problems.push(`${at}: a schema must be an object or a boolean`);
    const sub = (v: unknown, where: string) => walk(v, `${at}/${where}`);
    for (const [k, v] of Object.entries(s)) {
      if (!KEYWORDS.has(k)) {
        problems.push(`${at}: unknown keyword ${k}`);
        continue;
      }
      const bad = (what: string) => problems.push(`${at}/${k}: must be ${what}`);
      switch (k) {
        case "$schema":
          if (at !== "#") bad("only at the root");
          break;
        case "$id":
          if (typeof v !== "string" || !/^[a-z][a-z0-9+.-]*:/i.test(v)) bad("an absolute URI");
          break;
        case "$comment":
        case "title":
        case "description":
        case "format":
          if (typeof v !== "string") bad("a string");
          break;
        case "$ref":
          if (typeof v !== "string" || resolveRef(root, v) === undefined) bad("a reference that resolves in this file");
          break;
        case "$defs":
        case "properties":
          if (!isPlainObject(v)) bad("an object of schemas");
          else for (const [name, d] of Object.entries(v)) sub(d, `${k}/${name}`);
          break;
        case "type": {
          const list = Array.isArray(v) ? v : [v];
          if (
            list.length === 0 ||
            list.some((t) => typeof t !== "string" || !TYPES.has(t)) ||
            new Set(list).size !== list.length
          )
            bad("a type name or a list of distinct type names");
          break;
        }
        case "enum":
          if (!Array.isArray(v) || v.length === 0) bad("a non-empty array");
          break;
        case "required":
          if (!Array.isArray(v) || v.some((r) => typeof r !== "string") || new Set(v).size !== v.length)
            bad("an array of distinct strings");
          break;
        case "additionalProperties":
        case "propertyNames":
        case "items":
        case "not":
          sub(v, k);
          break;
        case "prefixItems":
        case "anyOf":
        case "oneOf":
        case "allOf":
          if (!Array.isArray(v) || v.length === 0) bad("a non-empty array of schemas");
          else v.forEach((d, i) => sub(d, `${k}/${i}`));
          break;
        case "minItems":
        case "maxItems":
        case "minLength":
        case "maxLength":
          if (!isNonNegInt(v)) bad("a non-negative integer");
          break;
        case "minimum":
        case "maximum":
        case "exclusiveMinimum":
        case "exclusiveMaximum":
          if (typeof v !== "number") bad("a number");
          break;
        case "pattern":
          try {
            new RegExp(v as string, "u");
          } catch {
            bad("an ECMA-262 regular expression");
          }
          break;
      }
    }
  };
  walk(root, "#");
  return problems;
}

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

function hasType(v: unknown, t: string): boolean {
  switch (t) {
    case "integer":
      return Number.isInteger(v);
    case "number":
      return typeof v === "number" && Number.isFinite(v);
    case "object":
      return isPlainObject(v);
    default:
      return typeOf(v) === t;
  }
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && equal(a[k], b[k]));
  }
  return false;
}

/** Why `value` does not validate against `schema` (a sub-schema of `root`); empty when it does. Formats are annotations, as 2020-12 says. */
export function validate(value: unknown, schema: Schema, root: Schema = schema, at = "$"): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${at}: no value is allowed here`];
  const errors: string[] = [];
  const s = schema as Record<string, any>;
  const fail = (msg: string) => errors.push(`${at}: ${msg}`);
  for (const k of Object.keys(s)) if (!KEYWORDS.has(k)) throw new Error(`json-schema-lite: unknown keyword ${k}`);
  if (s.$ref !== undefined) {
    const target = resolveRef(root, s.$ref);
    if (target === undefined) throw new Error(`json-schema-lite: unresolved $ref ${s.$ref}`);
    errors.push(...validate(value, target, root, at));
  }
  if (s.type !== undefined) {
    const types: string[] = Array.isArray(s.type) ? s.type : [s.type];
    if (!types.some((t) => hasType(value, t))) fail(`expected ${types.join(" or ")}, got ${typeOf(value)}`);
  }
  if ("const" in s && !equal(value, s.const)) fail(`expected ${JSON.stringify(s.const)}`);
  if (s.enum !== undefined && !(s.enum as unknown[]).some((e) => equal(value, e)))
    fail(`expected one of ${JSON.stringify(s.enum)}`);
  if (typeof value === "number") {
    if (s.minimum !== undefined && value < s.minimum) fail(`below the minimum ${s.minimum}`);
    if (s.maximum !== undefined && value > s.maximum) fail(`above the maximum ${s.maximum}`);
    if (s.exclusiveMinimum !== undefined && value <= s.exclusiveMinimum) fail(`not above ${s.exclusiveMinimum}`);
    if (s.exclusiveMaximum !== undefined && value >= s.exclusiveMaximum) fail(`not below ${s.exclusiveMaximum}`);
  }
  if (typeof value === "string") {
    const length = [...value].length;
    if (s.minLength !== undefined && length < s.minLength) fail(`shorter than ${s.minLength}`);
    if (s.maxLength !== undefined && length > s.maxLength) fail(`longer than ${s.maxLength}`);
    if (s.pattern !== undefined && !new RegExp(s.pattern, "u").test(value)) fail(`does not match ${s.pattern}`);
  }
  if (Array.isArray(value)) {
    if (s.minItems !== undefined && value.length < s.minItems) fail(`fewer than ${s.minItems} items`);
    if (s.maxItems !== undefined && value.length > s.maxItems) fail(`more than ${s.maxItems} items`);
    const prefix: Schema[] = s.prefixItems ?? [];
    value.forEach((item, i) => {
      const itemSchema = i < prefix.length ? prefix[i] : s.items;
      if (itemSchema !== undefined) errors.push(...validate(item, itemSchema, root, `${at}[${i}]`));
    });
  }
  if (isPlainObject(value)) {
    const props: Record<string, Schema> = s.properties ?? {};
    for (const r of (s.required as string[] | undefined) ?? []) if (!(r in value)) fail(`missing ${r}`);
    for (const [k, v] of Object.entries(value)) {
      if (s.propertyNames !== undefined) errors.push(...validate(k, s.propertyNames, root, `${at}{${k}}`));
      if (k in props) errors.push(...validate(v, props[k]!, root, `${at}.${k}`));
      else if (s.additionalProperties !== undefined)
        errors.push(...validate(v, s.additionalProperties, root, `${at}.${k}`));
    }
  }
  if (s.allOf) for (const sub of s.allOf as Schema[]) errors.push(...validate(value, sub, root, at));
  if (s.anyOf && !(s.anyOf as Schema[]).some((sub) => validate(value, sub, root, at).length === 0))
    fail("matches none of anyOf");
  if (s.oneOf) {
    const n = (s.oneOf as Schema[]).filter((sub) => validate(value, sub, root, at).length === 0).length;
    if (n !== 1) fail(`matches ${n} of oneOf, not exactly 1`);
  }
  if (s.not !== undefined && validate(value, s.not, root, at).length === 0) fail("matches not");
  return errors;
}

export type { Json, Schema };
