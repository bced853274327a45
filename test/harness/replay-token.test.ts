import { describe, expect, it } from "vitest";
import { decodeReplayToken, encodeReplayToken, type ReplayToken } from "../../harness/engine/replay-token.js";
import { UsageError } from "../../harness/protocol/errors.js";

// A replay token is what a failed case prints and `walcheck run --replay <token>` takes back:
// every field must survive the trip, and anything that is not a token walcheck made must be
// refused as a usage error (exit 2, the token named) rather than run some other case.

type TokenFields = Omit<ReplayToken, "v">;

const SHAPES: [string, TokenFields][] = [
  ["a commands case", { seed: 7, path: "3:1:0", crash: ["named", "signal", "fs"], maxCommands: 25 }],
  [
    "a commands case with the arbitrary's replay path and its scenario",
    {
      seed: 2 ** 31 - 1,
      path: "0",
      replayPath: "AAACBA:F",
      crash: ["named"],
      maxCommands: 1,
      scenario: "crash-append",
    },
  ],
  [
    "a case from before the catalogue (no scenario: crash-mixed)",
    { seed: 0, path: "", crash: ["named", "signal"], maxCommands: 25 },
  ],
  ...(["before", "after", "mid"] as const).map((when): [string, TokenFields] => [
    `an exhaustive fs crash point (${when})`,
    { seed: 42, path: "", crash: ["fs"], maxCommands: 0, exhaustive: { call: 12, when } },
  ]),
  [
    "a sampled power-loss case with the state that failed",
    {
      seed: 9,
      path: "1:0",
      crash: ["signal"],
      maxCommands: 25,
      scenario: "power-loss",
      powerState: { cut: 0, variant: "torn-prefix:3:512", op: "write of 1000 bytes at 128 of wal.log" },
    },
  ],
  [
    "a pipelined power-loss case with the shape of its life at the failing cut",
    {
      seed: 9,
      path: "0",
      crash: ["signal"],
      maxCommands: 25,
      scenario: "power-loss",
      powerState: { cut: 12, variant: "none", op: "write of 283 bytes at 5847 of wal.log", shape: "pMk7ZKXBhf9a5qD4" },
      pipeline: 4,
    },
  ],
  [
    "an exhaustive power-loss case",
    { seed: 9, path: "1:0", crash: ["signal"], maxCommands: 25, scenario: "power-loss", power: "exhaustive" },
  ],
  [
    "an exhaustive power-loss case with the state that failed (non-ASCII in the op)",
    {
      seed: 9,
      path: "1:0",
      crash: ["signal"],
      maxCommands: 25,
      scenario: "power-loss",
      power: "exhaustive",
      powerState: { cut: 17, variant: "omit:2", op: "rename of snapshot→snap-000002.bin" },
    },
  ],
  [
    "a power-loss case that failed under a persistence model",
    {
      seed: 9,
      path: "1:0",
      crash: ["signal"],
      maxCommands: 25,
      scenario: "power-loss",
      powerState: { cut: 4, variant: "omit:1", op: "fsync of seg-000001.log" },
      persistence: "sector-atomic",
    },
  ],
  [
    "a power-loss case of a run with pipelined lives",
    {
      seed: 9,
      path: "0:0",
      crash: ["signal"],
      maxCommands: 25,
      scenario: "power-loss",
      powerState: { cut: 7, variant: "none", op: "write of 60 bytes at 119 of wal.log" },
      persistence: "posix-pessimistic",
      pipeline: 4,
    },
  ],
];

/** A token whose JSON is `json`, as a damaged or hand-made one would be. */
const tokenOf = (json: string) => Buffer.from(json, "utf8").toString("base64url");

function refusal(raw: string): UsageError {
  try {
    decodeReplayToken(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error(`decodeReplayToken accepted ${raw}`);
}

describe("replay tokens", () => {
  it.each(SHAPES)("round-trip: %s", (_, fields) => {
    const token = encodeReplayToken(fields);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeReplayToken(token)).toEqual({ v: 1, ...fields });
  });

  // Tokens are pasted from old CI logs and bug reports: a token walcheck printed must decode to
  // the same case in every later version. This one was made once with encodeReplayToken and is
  // kept as a literal; if it stops decoding to this case, the format changed, and old tokens
  // need a new `v` and a reader for v1 rather than a silent change.
  it("a token made before decodes to the same case", () => {
    const V1_POWER_TOKEN =
      "eyJ2IjoxLCJzZWVkIjoxODk3NDMyLCJwYXRoIjoiNDoyOjI6MCIsImNyYXNoIjpbInNpZ25hbCJdLCJtYXhDb21tYW5kcyI6MjUsInNjZW5hcmlvIjoicG93ZXItbG9zcyIsInBvd2VyIjoiZXhoYXVzdGl2ZSIsInBvd2VyU3RhdGUiOnsiY3V0IjoxNywidmFyaWFudCI6Im9taXQ6MiIsIm9wIjoidW5saW5rIG9mIHNlZy0wMDAwMDEubG9nIn19";
    expect(decodeReplayToken(V1_POWER_TOKEN)).toEqual({
      v: 1,
      seed: 1897432,
      path: "4:2:2:0",
      crash: ["signal"],
      maxCommands: 25,
      scenario: "power-loss",
      power: "exhaustive",
      powerState: { cut: 17, variant: "omit:2", op: "unlink of seg-000001.log" },
    });
  });

  it("a token wrapped or padded by a log viewer still decodes", () => {
    const token = encodeReplayToken(SHAPES[0]![1]);
    const expected = { v: 1, ...SHAPES[0]![1] };
    expect(decodeReplayToken(`${token.slice(0, 20)}\n${token.slice(20)}\n`)).toEqual(expected);
    expect(decodeReplayToken(`${token}==`)).toEqual(expected);
  });

  it("text that is not a token is a usage error naming it", () => {
    for (const raw of ["not-a-token", "", "%%%", encodeReplayToken(SHAPES[0]![1]).slice(0, 30)]) {
      const error = refusal(raw);
      expect(error.message).toBe(`--replay: not a walcheck replay token: ${raw}`);
    }
  });

  it("names at most the first 40 characters of a long token", () => {
    const raw = `x${encodeReplayToken(SHAPES[1]![1])}`;
    expect(refusal(raw).message).toBe(`--replay: not a walcheck replay token: ${raw.slice(0, 40)}`);
  });

  const good = { v: 1, seed: 7, path: "3:1:0", crash: ["signal"], maxCommands: 25 };
  const DAMAGED: [string, unknown][] = [
    ["JSON null", null],
    ["a JSON array", [good]],
    ["a JSON string", "seed 7"],
    ["another format version", { ...good, v: 2 }],
    ["no version", { ...good, v: undefined }],
    ["a fractional seed", { ...good, seed: 7.5 }],
    ["a seed as a string", { ...good, seed: "7" }],
    ["no path", { ...good, path: undefined }],
    ["crash kinds that are not a list", { ...good, crash: "signal" }],
    ["an unknown crash kind", { ...good, crash: ["signal", "meteor"] }],
    ["no maxCommands", { ...good, maxCommands: undefined }],
    ["a replay path that is not a string", { ...good, replayPath: 3 }],
    ["a scenario that is not a string", { ...good, scenario: ["crash-append"] }],
    ["an exhaustive point that is null", { ...good, exhaustive: null }],
    ["an exhaustive point with an unknown when", { ...good, exhaustive: { call: 3, when: "during" } }],
    ["an exhaustive point with a fractional call", { ...good, exhaustive: { call: 1.5, when: "mid" } }],
    ["an unknown power mode", { ...good, power: "sampled" }],
    ["a power state that is null", { ...good, powerState: null }],
    ["a power state with a negative cut", { ...good, powerState: { cut: -1, variant: "all", op: "fsync" } }],
    ["a power state without its variant", { ...good, powerState: { cut: 3, op: "fsync" } }],
    ["a power state whose op is not a string", { ...good, powerState: { cut: 3, variant: "all", op: 4 } }],
    [
      "a power state whose shape is not a string",
      { ...good, powerState: { cut: 3, variant: "all", op: "x", shape: 7 } },
    ],
    ["an unknown persistence model", { ...good, persistence: "zfs" }],
    ["a pipeline depth of 0", { ...good, pipeline: 0 }],
    ["a pipeline depth that is a string", { ...good, pipeline: "4" }],
  ];

  it.each(DAMAGED)("a token with %s is a usage error naming it", (_, json) => {
    const raw = tokenOf(JSON.stringify(json));
    const error = refusal(raw);
    expect(error.message).toContain("--replay:");
    expect(error.message).toContain(raw.slice(0, 40));
  });

  it("the token the damaged cases start from is valid: each breaks only the field it names", () => {
    expect(decodeReplayToken(tokenOf(JSON.stringify(good)))).toEqual(good);
  });
});
