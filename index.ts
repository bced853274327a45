// walcheck's public entry point.
export * from "./reference-impl/index.js";
export * from "./harness/index.js";
