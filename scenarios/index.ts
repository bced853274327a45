export { SCENARIOS, selectScenarios, scenarioByName } from "./catalogue.js";
export { SAMPLED_STATES, EXHAUSTIVE_STEPS, MAX_POWER_PIPELINE } from "./power-loss.js";
export {
  applicability,
  describeRequirement,
  DEFAULT_THRESHOLDS,
  type Scenario,
  type InvariantSpec,
  type ScenarioEnv,
  type Requirement,
  type Thresholds,
  type Level,
  type LatencyOp,
} from "../harness/engine/scenario.js";
export { crashScenario, runCommands, PROTOCOL_INVARIANTS } from "./crash-scenario.js";
