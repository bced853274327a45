import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderJUnit } from "../../reports/junit.js";
import { parseRunReport, type RunReport } from "../../reports/report-schema.js";
import { PROTOCOL_INVARIANTS, SCENARIOS } from "../../scenarios/index.js";
import { tempDir } from "../helpers.js";
import { failingRun, HOSTILE, hostileReport, renderedRun } from "./report-helpers.js";

type Attrs = Record<string, string>;
type Case = Attrs & { failure?: Attrs & { "#text": string }; error?: Attrs & { "#text": string }; skipped?: Attrs };
type Suite = Attrs & { testcase: Case[]; properties: { property: Attrs[] } };

/** Parse JUnit XML with a real parser, after checking it is well-formed. */
function parseJUnit(xml: string): { testsuites: Attrs & { testsuite: Suite[] } } {
  expect(XMLValidator.validate(xml)).toBe(true);
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: "",
    htmlEntities: true,
    alwaysCreateTextNode: true,
    isArray: (name) => ["testsuite", "testcase", "property"].includes(name),
  });
  return parser.parse(xml) as { testsuites: Attrs & { testsuite: Suite[] } };
}

/** xmllint (libxml2, a strict XML 1.0 parser) where it is installed: it refuses what a lenient parser lets by. */
const xmllint = await execa("xmllint", ["--version"], { reject: false }).then((r) => r.exitCode === 0);
async function strictlyWellFormed(xml: string): Promise<void> {
  const file = path.join(await tempDir(), "junit.xml");
  fs.writeFileSync(file, xml);
  const r = await execa("xmllint", ["--noout", file], { reject: false });
  expect(r.exitCode, r.stderr).toBe(0);
}

const names = (suite: Suite) => suite.testcase.map((c) => c.name);

describe("renderJUnit, from a real failing run", () => {
  let run: Awaited<ReturnType<typeof failingRun>>;
  let report: RunReport;
  let xml: string;
  beforeAll(async () => {
    ({ run, report, out: xml } = await renderedRun(failingRun, 1, renderJUnit));
  }, 180_000);
  afterAll(() => run?.cleanup());

  it("is well-formed JUnit: one suite per scenario, one case per invariant, counts that add up", () => {
    const { testsuites } = parseJUnit(xml);
    expect(testsuites.testsuite).toHaveLength(1);
    const suite = testsuites.testsuite[0]!;
    expect(suite.name).toBe("crash-append");
    expect(names(suite)).toEqual(["durability", "atomicity", "sequence", "integrity", "recovery"]);
    expect(names(suite)).toEqual(PROTOCOL_INVARIANTS.map((i) => i.id));
    // The test cases come from the invariants the run recorded in report.json.
    expect(report.scenarios[0]!.invariants?.map((i) => i.id)).toEqual(names(suite));
    // The suite's time is the time its cases took; its test cases share it equally.
    const caseTimeMs = report.scenarios[0]!.caseTimeMs!;
    expect(caseTimeMs).toBeGreaterThan(0);
    expect(suite.time).toBe((caseTimeMs / 1000).toFixed(3));
    for (const c of suite.testcase) {
      expect(c.classname).toBe("walcheck.crash-append");
      expect(Number(c.time)).toBeCloseTo(caseTimeMs / 1000 / 5, 2);
    }
    // Violations land on the protocol invariants' test cases (several of one invariant share one).
    const failing = String(new Set(report.failures.map((f) => f.violation.invariant)).size);
    expect({ tests: suite.tests, failures: suite.failures, errors: suite.errors, skipped: suite.skipped }).toEqual({
      tests: "5",
      failures: failing,
      errors: "0",
      skipped: "0",
    });
    expect({
      tests: testsuites.tests,
      failures: testsuites.failures,
      errors: testsuites.errors,
      skipped: testsuites.skipped,
    }).toEqual({ tests: "5", failures: failing, errors: "0", skipped: "0" });
    expect(Number(testsuites.time)).toBeCloseTo(report.elapsedMs / 1000, 2);
    const seed = suite.properties.property.find((p) => p.name === "seed");
    expect(seed?.value).toBe("1");
  });

  it("puts the violation on its invariant's test case, with the replay command", () => {
    const suite = parseJUnit(xml).testsuites.testsuite[0]!;
    const f = report.failures[0]!;
    const failing = suite.testcase.find((c) => c.name === f.violation.invariant)!;
    expect(failing.failure?.type).toBe("invariant");
    expect(failing.failure?.message).toBe(f.violation.message);
    expect(failing.failure?.["#text"]).toContain(
      `replay: npx walcheck run --adapter ${path.resolve("test/fixtures/adapters/bug-ack-before-fsync.mjs")} --replay ${f.replayToken}`,
    );
    expect(failing.failure?.["#text"]).toContain(`kept: ${f.keptDir}`);
    expect(suite.testcase.filter((c) => c.failure).map((c) => c.name)).toContain(f.violation.invariant);
  });

  it("is what the run wrote to report.junit.xml", () => {
    expect(fs.readFileSync(path.join(run.dir, "report.junit.xml"), "utf8")).toBe(xml);
  });

  it.skipIf(!xmllint)("passes xmllint --noout", async () => {
    await strictlyWellFormed(xml);
  });
});

describe("renderJUnit, with hostile adapter strings", () => {
  const report = hostileReport();
  const xml = renderJUnit(report);
  /** The hostile string as it must come back from a parser: the control character replaced, nothing else changed. */
  const cleaned = HOSTILE.replace("\u0001", "\uFFFD");

  it("escapes everything: no raw markup from the adapter, no control character XML forbids", () => {
    expect(xml).not.toContain("<script>");
    expect(xml).not.toContain("</testcase><");
    expect(xml).not.toContain("\u0001");
    expect(xml).toContain("&lt;/testcase&gt;&lt;script&gt;");
    expect(xml).toContain(" &amp; ");
    // Attribute values carry no raw < or quote, in any element.
    for (const value of xml.match(/="[^"]*"/g) ?? []) expect(value).not.toMatch(/[<>']/);
  });

  it("parses back to the very strings the adapter sent (less the control character)", () => {
    const { testsuites } = parseJUnit(xml);
    const [crash, torn, flip] = testsuites.testsuite;
    const durability = crash!.testcase.find((c) => c.name === "durability")!;
    expect(durability.failure?.message).toBe(`durability: ${cleaned}`);
    expect(durability.failure?.["#text"]).toContain(`invariant durability violated: ${cleaned}`);
    expect(torn!.testcase.find((c) => c.error)?.error).toMatchObject({
      type: "ADAPTER_PROTOCOL",
      message: `ADAPTER_PROTOCOL: ${cleaned}`,
    });
    expect(flip!.testcase.every((c) => c.skipped?.message === `the adapter said ${cleaned}`)).toBe(true);
    const adapterName = crash!.properties.property.find((p) => p.name === "adapter.name");
    expect(adapterName?.value).toBe(cleaned);
  });

  it("counts failures, errors, skips, and gives a violation of an invariant the scenario does not declare its own test case", () => {
    const { testsuites } = parseJUnit(xml);
    const [crash, torn, flip] = testsuites.testsuite;
    // crash-append: five protocol invariants plus "exclusive-open", which it does not list.
    expect(names(crash!)).toEqual(["durability", "atomicity", "sequence", "integrity", "recovery", "exclusive-open"]);
    expect(crash!.testcase.find((c) => c.name === "exclusive-open")?.failure?.type).toBe("invariant");
    expect({ tests: crash!.tests, failures: crash!.failures, errors: crash!.errors, skipped: crash!.skipped }).toEqual({
      tests: "6",
      failures: "2",
      errors: "0",
      skipped: "0",
    });
    const tornInvariants = SCENARIOS.find((s) => s.name === "torn-tail")!.invariants.length;
    expect({ tests: torn!.tests, errors: torn!.errors }).toEqual({ tests: String(tornInvariants + 1), errors: "1" });
    expect(names(torn!).at(-1)).toBe("adapter error in case 0");
    const flipInvariants = SCENARIOS.find((s) => s.name === "bit-flip")!.invariants.length;
    expect({ tests: flip!.tests, skipped: flip!.skipped, failures: flip!.failures }).toEqual({
      tests: String(flipInvariants),
      skipped: String(flipInvariants),
      failures: "0",
    });
    // A scenario the catalogue does not know (a crafted name): one test case, named after it.
    const odd = testsuites.testsuite[3]!;
    expect(odd.name).toBe(cleaned);
    expect(names(odd)).toEqual([cleaned]);
    expect(odd.testcase[0]!.classname).toBe(`walcheck.${cleaned}`);
    expect(testsuites).toMatchObject({
      tests: String(6 + tornInvariants + 1 + flipInvariants + 1),
      failures: "2",
      errors: "1",
      skipped: String(flipInvariants),
    });
  });

  it.skipIf(!xmllint)("passes xmllint --noout", async () => {
    await strictlyWellFormed(xml);
  });
});

describe("renderJUnit, a report written before scenarios recorded their invariants", () => {
  it("gives each scenario one test case named after it, plus one per violated invariant", () => {
    const report = hostileReport();
    for (const s of report.scenarios) delete s.invariants;
    const { testsuites } = parseJUnit(renderJUnit(report));
    const [crash, torn, flip] = testsuites.testsuite;
    expect(names(crash!)).toEqual(["crash-append", "durability", "exclusive-open"]);
    expect(crash!.testcase.find((c) => c.name === "durability")?.failure?.type).toBe("invariant");
    expect(names(torn!)).toEqual(["torn-tail", "adapter error in case 0"]);
    expect(names(flip!)).toEqual(["bit-flip"]);
    expect(flip!.skipped).toBe("1");
  });
});
