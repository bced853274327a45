// Reports: the JSON report (its schema), and the renderers built from it.
export { writeJsonAtomic, writeTextAtomic } from "./json-file.js";
export {
  parseRunReport,
  RunReportSchema,
  REPORT_VERSION,
  type RunReport,
  type ScenarioReport,
  type Environment,
  ExhaustiveReportSchema,
  EXHAUSTIVE_REPORT_VERSION,
  type ExhaustiveReport,
} from "./report-schema.js";
export { collectEnvironment } from "./environment.js";
export { renderMarkdown } from "./markdown.js";
export { renderJUnit } from "./junit.js";
export { renderHtml } from "./html.js";
export {
  parseBenchReport,
  BenchReportSchema,
  BENCH_VERSION,
  type BenchReport,
  type BenchTask,
  type BenchComparison,
} from "./bench-schema.js";
export { compareBench, DEFAULT_THRESHOLD_PERCENT } from "./bench-compare.js";
export { renderBenchMarkdown } from "./bench-markdown.js";
export { renderBenchHtml } from "./bench-html.js";
