import { applicability, describeRequirement, SCENARIOS } from "../../scenarios/index.js";
import { resolveAdapter } from "../engine/adapter-launch.js";
import { probeAdapter } from "../engine/campaign.js";
import { EXIT } from "./exit.js";
import { faultPath, fsFaultSupport, probeWithFsCalls } from "./run-command.js";

export interface ListFlags {
  adapter?: string;
  adapterCmd?: string;
  json?: boolean;
  verbose?: boolean;
}

/** One catalogue row; with an adapter, whether the scenario applies to it and why not. */
export interface ListedScenario {
  name: string;
  summary: string;
  description: string;
  needs: string[];
  workload: string;
  faults: string;
  invariants: { id: string; text: string }[];
  defaultCases: number;
  applies?: boolean;
  reason?: string;
}

/** `walcheck list`: the scenario catalogue, and with `--adapter` which scenarios apply to it. */
export async function listCommand(flags: ListFlags): Promise<number> {
  let judge: ((i: number) => { applies: boolean; reason?: string }) | undefined;
  let against = "";
  if (flags.adapter || flags.adapterCmd) {
    const launch = resolveAdapter({ adapter: flags.adapter, adapterCmd: flags.adapterCmd });
    const { hello, fsCalls: calls } = launch.node
      ? await probeWithFsCalls(launch, 10_000, {})
      : { hello: await probeAdapter(launch, 10_000), fsCalls: 0 };
    const fsFaults = await faultPath(launch, fsFaultSupport(launch, calls), 10_000, {});
    judge = (i) => {
      const v = applicability(SCENARIOS[i]!, hello, fsFaults);
      return v.applies ? { applies: true } : { applies: false, reason: v.reason };
    };
    against = `${hello.name} (${launch.label})`;
  }
  const rows: ListedScenario[] = SCENARIOS.map((s, i) => ({
    name: s.name,
    summary: s.summary,
    description: s.description,
    needs: s.needs.map(describeRequirement),
    workload: s.workload,
    faults: s.faults,
    invariants: s.invariants.map(({ id, text }) => ({ id, text })),
    defaultCases: s.defaultCases,
    ...(judge ? judge(i) : {}),
  }));
  const out = (line = "") => process.stdout.write(`${line}\n`);
  if (flags.json) {
    out(
      JSON.stringify(
        { kind: "walcheck-scenarios", version: 2, ...(against ? { adapter: against } : {}), scenarios: rows },
        null,
        2,
      ),
    );
    return EXIT.pass;
  }
  out(`walcheck scenarios${against ? ` for ${against}` : ""} (${rows.length}; pick with --scenarios <names or globs>)`);
  const width = Math.max(...rows.map((r) => r.name.length));
  for (const r of rows) {
    const mark = r.applies === undefined ? "" : r.applies ? "applies  " : "skipped  ";
    out(`  ${mark}${r.name.padEnd(width)}  ${r.summary}`);
    if (r.needs.length > 0) out(`  ${" ".repeat(mark.length + width)}  needs: ${r.needs.join(", ")}`);
    if (r.reason) out(`  ${" ".repeat(mark.length + width)}  why skipped: ${r.reason}`);
    if (flags.verbose) {
      out(`  ${" ".repeat(mark.length + width)}  ${r.description}`);
      out(`  ${" ".repeat(mark.length + width)}  workload: ${r.workload}`);
      out(`  ${" ".repeat(mark.length + width)}  faults: ${r.faults}`);
      for (const inv of r.invariants) out(`  ${" ".repeat(mark.length + width)}  checks: ${inv.id}: ${inv.text}`);
    }
  }
  return EXIT.pass;
}
