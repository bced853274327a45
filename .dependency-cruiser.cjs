// The layering of walcheck, checked by test/layout.test.ts (npm test) with dependency-cruiser.
// Imports flow one way: a folder imports only the folders listed beside it (and itself), never
// a folder above it. From the bottom:
//   harness/protocol   the adapter and outbox protocols, both sides; a leaf
//   reference-impl     the reference WAL and outbox          -> protocol
//   reports            report schemas and renderers          -> protocol
//   harness/checks     invariants, the prefix model          -> protocol
//   harness/faults     fs preload, power-loss simulation     -> protocol, checks
//                      (the fs preload, fs-preload.ts and fs/, -> only fs/: it runs in the adapter)
//   harness/engine     campaigns, cases, adapter processes   -> protocol, checks, faults
//   harness/adapters   built-in adapters                     -> protocol, reference-impl
//   harness/outbox     the outbox chaos driver               -> protocol, checks, faults, engine, reference-impl
//   scenarios          the catalogue                         -> protocol, checks, faults, engine, outbox
//   bench              walcheck bench                        -> everything but cli
//   harness/cli, harness/index.ts, harness/vitest-suite.ts, index.ts: the entry points, -> anything
const SOURCE = "^(harness|scenarios|reference-impl|reports|bench)/|^index\\.ts$";

/** A rule: files under `from` may import, of walcheck's own sources, only those under `allowed`. */
function layer(name, from, allowed, comment) {
  return {
    name,
    comment,
    severity: "error",
    from: { path: from },
    to: { path: SOURCE, pathNot: `^(${allowed.join("|")})` },
  };
}

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "No import cycles, type-only imports included: a cycle hides which module is the lower one.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    layer(
      "fs-preload-standalone",
      "^harness/faults/(fs-preload\\.ts$|fs/)",
      ["harness/faults/fs/"],
      "The fs preload runs inside the adapter's process (node --import): fs-preload.ts and its parts in harness/faults/fs/ import nothing else of walcheck.",
    ),
    {
      name: "sources-never-import-tests",
      severity: "error",
      from: { path: SOURCE },
      to: { path: "^test/" },
    },
    layer(
      "protocol-is-a-leaf",
      "^harness/protocol/",
      ["harness/protocol/"],
      "The contract imports nothing else of walcheck.",
    ),
    layer(
      "reference-impl",
      "^reference-impl/",
      ["reference-impl/", "harness/protocol/"],
      "The reference WAL is an adapter like anyone's: it sees only the protocol.",
    ),
    layer(
      "reports",
      "^reports/",
      ["reports/", "harness/protocol/"],
      "Renderers read report.json, never today's catalogue or engine.",
    ),
    layer("checks", "^harness/checks/", ["harness/checks/", "harness/protocol/"]),
    layer("faults", "^harness/faults/", ["harness/faults/", "harness/checks/", "harness/protocol/"]),
    layer(
      "engine",
      "^harness/engine/",
      ["harness/engine/", "harness/faults/", "harness/checks/", "harness/protocol/"],
      "The engine runs scenarios through the Scenario contract; it never imports the catalogue.",
    ),
    layer("adapters", "^harness/adapters/", ["harness/adapters/", "harness/protocol/", "reference-impl/"]),
    layer("outbox", "^harness/outbox/", [
      "harness/outbox/",
      "harness/engine/",
      "harness/faults/",
      "harness/checks/",
      "harness/protocol/",
      "reference-impl/",
    ]),
    layer("scenarios", "^scenarios/", [
      "scenarios/",
      "harness/outbox/",
      "harness/engine/",
      "harness/faults/",
      "harness/checks/",
      "harness/protocol/",
    ]),
    layer("bench", "^bench/", [
      "bench/",
      "scenarios/",
      "reports/",
      "reference-impl/",
      "harness/(protocol|checks|faults|engine|adapters)/",
    ]),
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(dist|node_modules)/" },
    tsPreCompilationDeps: true,
    parser: "swc",
    tsConfig: { fileName: "tsconfig.json" },
  },
};
