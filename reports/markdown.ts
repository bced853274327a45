import { mdCode, mdCodeBlock, mdText } from "./escape.js";
import { byteLabel, fitText } from "./svg-chart.js";
import {
  environmentParts,
  type Environment,
  type FailedCase,
  type RunReport,
  type ScenarioReport,
} from "./report-schema.js";
import {
  cellText,
  SWEEP_FAULT_COLUMNS,
  SWEEP_OUTCOME_ORDER,
  SWEEP_OUTCOME_TEXT,
  sweepRows,
  sweepsOf,
  sweepSummary,
  worstOutcome,
  type SweepOutcomeName,
} from "./sweep-view.js";

// The run report as Markdown that fits a CI job summary ($GITHUB_STEP_SUMMARY): the
// verdict, one table row per scenario, what was skipped and why, latency levels crossed,
// and each violation with the line that replays it. Built from the JSON report only.

const VERDICT: Record<RunReport["status"], string> = {
  passed: "✅ PASSED",
  failed: "❌ FAILED",
  error: "⚠️ ERROR",
  interrupted: "⏹️ INTERRUPTED",
  running: "⏳ RUNNING",
};

const LATENCY_OPS = ["append", "recovery", "truncate"] as const;

/** 850 ms, 12.3 s, 4 min 05 s. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function verdictLine(r: RunReport): string {
  const c = r.cases;
  return `**${r.status.toUpperCase()}**: seed ${r.seed}, ${c.run}/${c.planned} cases (${c.passed} passed, ${c.failed} failed, ${plural(c.errors, "error")}), ${plural(r.cycles, "crash cycle")}, ${formatDuration(r.elapsedMs)}`;
}

function environmentLine(e: Environment): string {
  return environmentParts(e).map(mdText).join(" · ");
}

function header(r: RunReport): string[] {
  const h = r.hello;
  const adapter = h
    ? `${mdText(r.adapter)} (${mdText(h.name)}, durability ${mdText(h.durability)}, features ${mdText(h.features.join(", ") || "none")})`
    : mdText(r.adapter);
  const lines = [
    `### walcheck run: ${VERDICT[r.status]}`,
    "",
    verdictLine(r),
    "",
    `- adapter: ${adapter}`,
    `- crash kinds: ${mdText(r.crash.join(", ") || "none")}; shard ${mdText(r.shard)}`,
  ];
  lines.push(`- environment: ${environmentLine(r.environment)}`);
  for (const note of r.merged?.notes ?? []) lines.push(`- merged: ${mdText(note)}`);
  for (const c of coverageLines(r)) lines.push(`- crash coverage: ${mdText(c)}`);
  if (r.status === "running")
    lines.push("", "_This report was written while the run was going: the numbers are partial._");
  if (r.status === "interrupted")
    lines.push("", "_The run was interrupted: the numbers are those of the cases that finished._");
  return lines;
}

const latencyCell = (s: ScenarioReport, op: string) => {
  const l = s.latency[op];
  return l ? `${l.p50.toFixed(1)} / ${l.p95.toFixed(1)} / ${l.p99.toFixed(1)}` : "—";
};

function scenarioTable(r: RunReport): string[] {
  const rows = r.scenarios.map((s) => {
    const c = s.cases;
    const cases =
      s.status === "skipped"
        ? "—"
        : `${c.run}/${c.planned}${c.failed ? `, ${c.failed} failed` : ""}${c.errors ? `, ${plural(c.errors, "error")}` : ""}`;
    const f = s.faults;
    const faults = f.lives > 0 ? `${f.lives} lives; refused ${f.refusedOpens} opens, ${f.refusedAppends} appends` : "—";
    const cells = [
      mdText(s.name),
      mdText(s.status),
      cases,
      s.status === "skipped" ? "—" : String(s.cycles),
      faults,
      ...LATENCY_OPS.map((op) => latencyCell(s, op)),
    ];
    return `| ${cells.join(" | ")} |`;
  });
  return [
    "| scenario | status | cases | crash cycles | faults | append p50 / p95 / p99 ms | recovery p50 / p95 / p99 ms | truncate p50 / p95 / p99 ms |",
    "|---|---|--:|--:|---|--:|--:|--:|",
    ...rows,
  ];
}

/** The power-loss verdict per persistence model (report.persistence). */
function persistenceSection(r: RunReport): string[] {
  const p = r.persistence;
  if (!p) return [];
  return [
    "",
    "#### Power loss per persistence model",
    "",
    `Assumed model: ${mdCode(p.assumed)} (from ${p.source}); weakest model passed: ${p.weakestPassing ? mdCode(p.weakestPassing) : "none"}.`,
    "",
    "| model | verdict | states | directories | acked batches lost (states) | time | failure |",
    "|---|---|--:|--:|--:|--:|---|",
    ...p.results.map((x) =>
      [
        "",
        mdCode(x.model),
        mdText(x.status),
        String(x.statesChecked),
        String(x.directoriesRecovered),
        x.lostAcked.states > 0 ? `${x.lostAcked.batches} (${x.lostAcked.states})` : "0",
        formatDuration(x.elapsedMs),
        x.failure ? `${mdText(x.failure.invariant)}: ${mdText(x.failure.message)}` : "—",
        "",
      ]
        .join(" | ")
        .trim(),
    ),
  ];
}

const SWEEP_MARK: Record<SweepOutcomeName, string> = { intact: "🟩", refused: "🟦", changed: "🟧", missing: "🟥" };

/** The corruption sweep's matrix: file and region by fault kind, each cell marked by its worst outcome. */
function sweepSection(r: RunReport): string[] {
  return sweepsOf(r).flatMap(({ scenario, sweep }) => [
    "",
    `#### Corruption sweep (${mdText(scenario)})`,
    "",
    `Legend: ${SWEEP_OUTCOME_ORDER.map((o) => `${SWEEP_MARK[o]} ${o}: ${SWEEP_OUTCOME_TEXT[o]}`).join("; ")}. A cell is marked by its worst outcome; "violations" counts the damaged copies of the row that broke an invariant.`,
    "",
    `| ending | file | region | ${SWEEP_FAULT_COLUMNS.join(" | ")} | violations |`,
    `|---|---|---|${SWEEP_FAULT_COLUMNS.map(() => "---").join("|")}|--:|`,
    ...sweepRows(scenario, sweep).map(
      (row) =>
        `| ${row.ending} | ${mdCode(row.file)} | ${row.region} | ${row.cells.map((c) => (c ? `${SWEEP_MARK[worstOutcome(c)]} ${cellText(c)}` : "—")).join(" | ")} | ${row.violations > 0 ? `**${row.violations}**` : "0"} |`,
    ),
    "",
    mdText(sweepSummary(sweep)),
    ...sweep.skipped.map((s) => `- ${mdCode(s.fault)} not swept: ${mdText(s.reason)}`),
  ]);
}

function skippedSection(r: RunReport): string[] {
  const skipped = r.scenarios.filter((s) => s.status === "skipped");
  if (skipped.length === 0) return [];
  return [
    "",
    "#### Skipped scenarios",
    "",
    ...skipped.map((s) => `- ${mdText(s.name)}: ${mdText(s.reason ?? "(no reason given)")}`),
  ];
}

function latencySection(r: RunReport): string[] {
  const lines: string[] = [];
  for (const f of r.latencyFailures) lines.push(`- **over a critical level (fails the run)**: ${mdText(f)}`);
  for (const w of r.latencyWarnings) lines.push(`- warning: ${mdText(w)}`);
  if (r.latencyObserved.length > 0) {
    lines.push(
      `- measured beside crash cycles or provoked on purpose (reported, never failing): ${plural(r.latencyObserved.length, "level")} crossed`,
    );
    for (const o of r.latencyObserved) lines.push(`  - ${mdText(o)}`);
  }
  return lines.length > 0 ? ["", "#### Latency levels crossed", "", ...lines] : [];
}

/**
 * Crash coverage as sentences: how many of the adapter's named points fired (and which never
 * did), how many distinct fs-call indices fired against the calls of a typical life.
 */
export function coverageLines(r: RunReport): string[] {
  const declared = r.hello?.points ?? [];
  const neverHit = declared.filter((p) => !Object.hasOwn(r.crashes.named, p));
  const fsIndices = new Set(Object.keys(r.crashes.fs).map((k) => k.split(" ")[0]));
  const lines: string[] = [];
  if (declared.length > 0)
    lines.push(
      `${declared.length - neverHit.length} of the adapter's ${declared.length} named crash points fired${neverHit.length > 0 ? `; never fired: ${neverHit.join(", ")}` : ""}.`,
    );
  if (r.fsCallsPerLife !== undefined)
    lines.push(
      `${fsIndices.size} distinct fs-call indices fired, of about ${r.fsCallsPerLife} mutating fs calls in a typical life.`,
    );
  return lines;
}

function recoverySection(r: RunReport): string[] {
  const all = r.recoveryBySize;
  if (!all || all.n === 0) return [];
  const fit = all.fit ? `; least-squares fit ${fitText(all)}` : "";
  return [
    "",
    "#### Recovery time against WAL size",
    "",
    `${plural(all.n, "recovery", "recoveries")}, each against the bytes of the WAL directory it started from${fit}.`,
    "",
    "| WAL size | recoveries | p50 ms | p95 ms | max ms |",
    "|---|--:|--:|--:|--:|",
    ...all.buckets.map(
      (b) =>
        `| ${byteLabel(b.fromBytes)} – ${byteLabel(b.toBytes)} | ${b.n} | ${b.p50.toFixed(2)} | ${b.p95.toFixed(2)} | ${b.max.toFixed(2)} |`,
    ),
  ];
}

/** The key-level differences and the ledger's last batches, as violation.description lists them. */
export function diffLines(description: string): { keys: string[]; ledger: string[] } {
  const lines = description.split("\n");
  const keys = lines
    .filter((l) => /^\s*key /.test(l) || /^\s*\(\+\d+ more keys? differ\)/.test(l))
    .map((l) => l.trim());
  const at = lines.findIndex((l) => l.trim() === "ledger tail:");
  return {
    keys,
    ledger:
      at === -1
        ? []
        : lines
            .slice(at + 1)
            .map((l) => l.trim())
            .filter(Boolean),
  };
}

/** The command that runs a failing case again, as the terminal summary prints it. */
export function replayCommand(r: RunReport, f: FailedCase): string {
  return ["npx walcheck run", ...r.flags, "--replay", f.replayToken].join(" ");
}

function violation(r: RunReport, f: FailedCase, n: number): string[] {
  const v = f.violation;
  const message = v.message.startsWith(`${v.invariant}: `) ? v.message.slice(v.invariant.length + 2) : v.message;
  const { keys, ledger } = diffLines(v.description);
  const block = [
    ...(keys.length > 0 ? ["key differences:", ...keys.map((k) => `  ${k}`)] : ["key differences: none recorded"]),
    ...(ledger.length > 0 ? ["ledger tail:", ...ledger.map((l) => `  ${l}`)] : []),
  ];
  return [
    "",
    `##### ${n}. ${mdText(f.scenario)} case ${f.index}: ${mdText(v.invariant)}`,
    "",
    `- scenario: ${mdText(f.scenario)} (case ${f.index}, case seed ${f.seed}, shrunk ${plural(f.shrinks, "time")})`,
    `- invariant: ${mdText(v.invariant)}`,
    `- message: ${mdText(message)}`,
    `- crash: ${mdText(v.crash ?? "none (clean run)")}`,
    `- input: ${mdText(f.commands)}`,
    `- kept directory: ${mdCode(f.keptDir)}`,
    "",
    mdCodeBlock(block, "text"),
    "",
    "Replay:",
    "",
    mdCodeBlock([replayCommand(r, f)], "sh"),
  ];
}

function warningsSection(r: RunReport): string[] {
  const warnings = r.warnings ?? [];
  if (warnings.length === 0) return [];
  return [
    "",
    "#### Protocol warnings (informational fields; the run is not affected)",
    "",
    ...warnings.map((w) => `- ${mdText(w.message)} (${plural(w.count, "answer")})`),
  ];
}

function problems(r: RunReport): string[] {
  const out: string[] = [];
  if (r.failures.length > 0) {
    out.push("", `#### Violations (${r.failures.length})`);
    r.failures.forEach((f, i) => out.push(...violation(r, f, i + 1)));
  }
  if (r.errors.length > 0) {
    out.push("", `#### Adapter errors (${r.errors.length})`, "");
    for (const e of r.errors)
      out.push(
        `- ${mdText(e.scenario)} case ${e.index} (case seed ${e.seed}): ${mdText(e.error.code)}: ${mdText(e.error.message)}`,
      );
  }
  return out;
}

/** The whole report as Markdown; every string from the report is escaped where it lands. */
export function renderMarkdown(report: RunReport): string {
  return `${[...header(report), "", ...scenarioTable(report), ...persistenceSection(report), ...sweepSection(report), ...skippedSection(report), ...latencySection(report), ...recoverySection(report), ...warningsSection(report), ...problems(report)].join("\n")}\n`;
}
