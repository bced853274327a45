import { resolveAdapter, type AdapterLaunch } from "../engine/adapter-launch.js";
import { runDoctor, type Deviation, type DoctorResult } from "../engine/doctor.js";
import { EXIT, onInterrupt } from "./exit.js";

/** `walcheck doctor` flags as commander parses them. */
export interface DoctorFlags {
  adapter?: string;
  adapterCmd?: string;
  timeout?: number;
  json?: boolean;
}

function deviationLines(d: Deviation): string[] {
  const mark = d.severity;
  const lines = [
    `${mark} [${d.kind}]${d.field ? ` ${d.op ? `${d.op}.` : ""}${d.field}` : d.op ? ` ${d.op}` : ""}: ${d.message}${d.count > 1 ? ` (x${d.count})` : ""}`,
  ];
  if (d.sent) lines.push(`    sent:     ${d.sent}`);
  if (d.received) lines.push(`    received: ${d.received.replace(/\n/g, "\n              ")}`);
  lines.push(`    protocol: ${d.rule} (${d.section})`);
  lines.push(`    fix:      ${d.fix.replace(/\n/g, "\n              ")}`);
  return lines;
}

/** The doctor's findings as lines for a person: the verdict, every deviation, the capabilities. */
export function formatDoctor(result: DoctorResult): string {
  const of = (s: string) => result.deviations.filter((d) => d.severity === s).length;
  const [errors, violations, warnings] = [of("error"), of("violation"), of("warning")];
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
  const others = [violations ? count(violations, "violation") : "", warnings ? count(warnings, "warning") : ""].filter(
    Boolean,
  );
  const lines = [
    `walcheck doctor: ${result.name ?? "(no name)"} (${result.adapter}) in ${Math.round(result.elapsedMs)} ms`,
    result.usable
      ? `usable${others.length ? `, with ${others.join(" and ")}` : ": no deviation from protocol v1"}`
      : `NOT USABLE: ${[count(errors, "error"), ...others].join(", ")}`,
  ];
  for (const d of result.deviations) lines.push("", ...deviationLines(d));
  const power = result.capabilities.powerRecorder;
  const cap = (c: { available: boolean; why: string }) => `${c.available ? "yes" : "no"}, ${c.why}`;
  lines.push(
    "",
    "capabilities:",
    `  fs faults and fs-call crashes: ${cap(result.capabilities.fsFaults)}`,
    `  fs fault scenarios (disk-full, read-only, fsync-error, slow-storage): ${cap(result.capabilities.faultPath)}`,
    `  power-loss recorder: ${cap(power)}${power.checked && !power.available ? " (walcheck run skips power-loss for it, with this reason)" : ""}`,
  );
  return `${lines.join("\n")}\n`;
}

/** The warnings of a usable adapter, for `walcheck run` to print once. */
export function formatWarnings(result: DoctorResult): string {
  return result.deviations
    .map((d) => deviationLines(d).join("\n"))
    .join("\n")
    .concat(result.deviations.length ? "\n" : "");
}

/** Ctrl-C (SIGINT, SIGTERM) while doctor runs stops its adapter processes and removes its temp directory. */
async function interruptible(run: (signal: AbortSignal) => Promise<DoctorResult>): Promise<DoctorResult> {
  const controller = new AbortController();
  const off = onInterrupt(controller);
  try {
    return await run(controller.signal);
  } finally {
    off();
  }
}

/** `walcheck doctor`: exit 0 when the adapter is usable, 2 otherwise. */
export async function doctorCommand(flags: DoctorFlags): Promise<number> {
  const launch = resolveAdapter({ adapter: flags.adapter, adapterCmd: flags.adapterCmd });
  const result = await interruptible((signal) => runDoctor(launch, { timeoutMs: flags.timeout ?? 10_000, signal }));
  if (result.interrupted) return EXIT.interrupted;
  process.stdout.write(flags.json ? `${JSON.stringify(result, null, 2)}\n` : formatDoctor(result));
  return result.usable ? EXIT.pass : EXIT.usage;
}

/**
 * `walcheck run`'s pre-flight: the doctor's checks before any case. An adapter that is not
 * usable gets every deviation printed (stderr) and `usable: false`, so the run stops with
 * exit 2 instead of failing mid-run; a usable adapter's warnings are printed once.
 */
export async function preflight(
  launch: AdapterLaunch,
  opts: { timeoutMs: number; openConfig: Record<string, unknown>; power: boolean },
  log: (m: string) => void,
): Promise<DoctorResult> {
  const result = await interruptible((signal) => runDoctor(launch, { ...opts, fsFaults: false, signal }));
  if (result.interrupted) return result;
  log(
    `pre-flight (walcheck doctor): ${result.usable ? "usable" : "not usable"}, ${result.deviations.length} deviations, ${Math.round(result.elapsedMs)} ms`,
  );
  if (!result.usable)
    process.stderr.write(
      `walcheck run: the adapter is not usable, no case was run (walcheck doctor shows the same)\n${formatDoctor(result)}`,
    );
  else if (result.deviations.length)
    process.stderr.write(
      `walcheck run: pre-flight (walcheck doctor) found deviations that do not stop the run\n${formatWarnings(result)}`,
    );
  return result;
}
