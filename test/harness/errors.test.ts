import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { BenchInterrupted } from "../../bench/bench-run.js";
import { BenchError } from "../../bench/protocol-suites.js";
import {
  AdapterClient,
  AdapterError,
  ERROR_CODES,
  errorCodeInfo,
  EXIT,
  InvariantViolation,
  ProtocolFault,
  resolveAdapter,
  UsageError,
  Violation,
  WalcheckError,
} from "../../harness/index.js";
import { CaseAbandoned, CrashHappened } from "../../harness/engine/case-session.js";
import { CrashStateError } from "../../harness/faults/power/crash-state-error.js";
import { OpenRefused } from "../../harness/faults/power/record-life.js";
import {
  ChaosOutboxError,
  ChaosViolation,
  OutboxClient,
  OutboxFault,
  OutboxRefusal,
} from "../../harness/outbox/index.js";
import { errorCode as protocolErrorCode } from "../../harness/protocol/errors.js";
import { errorCode, parseReferenceConfig, WalError } from "../../reference-impl/index.js";
import { OutboxError, SinkUnavailableError, SqliteSink } from "../../reference-impl/outbox/index.js";
import { tempDir } from "../helpers.js";

const failureOf = async (work: () => unknown): Promise<unknown> => {
  try {
    await work();
  } catch (error) {
    return error;
  }
  throw new Error("expected a failure");
};

/** What every walcheck error promises a user: the family, its class's name, a registered code. */
function expectFamily(error: unknown, name: string, code: string): void {
  expect(error).toBeInstanceOf(WalcheckError);
  expect(error).toBeInstanceOf(Error);
  const e = error as WalcheckError;
  expect(e.name).toBe(name);
  expect(e.code).toBe(code);
  expect(errorCodeInfo(e.code), `${name}'s code ${e.code} is in ERROR_CODES`).toBeDefined();
  expect(typeof e.details).toBe("object");
}

describe("walcheck's errors: one family, one registry of codes", () => {
  it("ERROR_CODES: unique codes, each with a one-sentence meaning, a raiser and an exit code of EXIT where given", () => {
    const codes = ERROR_CODES.map((e) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
    const exits = new Set<number>(Object.values(EXIT));
    for (const e of ERROR_CODES) {
      expect(e.code).toMatch(/^[A-Z][A-Z_]*(<code>)?$/);
      expect(e.meaning).toMatch(/^\S.*\.$/);
      expect(e.raisedBy.length).toBeGreaterThan(0);
      if ("exit" in e) expect(exits.has(e.exit)).toBe(true);
    }
    expect(errorCodeInfo("USAGE")?.exit).toBe(EXIT.usage);
    expect(errorCodeInfo("VIOLATION")?.exit).toBe(EXIT.violation);
    // A code the child answered falls in its family, the narrower family first.
    expect(errorCodeInfo("OUTBOX_REFUSED_EPROTO")?.code).toBe("OUTBOX_REFUSED_<code>");
    expect(errorCodeInfo("OUTBOX_WAL_LOCKED")?.code).toBe("OUTBOX_<code>");
    expect(errorCodeInfo("NO_SUCH_CODE")).toBeUndefined();
  });

  it("a usage error, as resolveAdapter throws it: UsageError, code USAGE, exit 2", () => {
    const error = (() => {
      try {
        resolveAdapter({ adapter: "/nope" });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expectFamily(error, "UsageError", "USAGE");
    expect((error as UsageError).message).toBe("--adapter /nope: no such file");
    const cause = new Error("EACCES");
    expect(new UsageError("cannot read", { cause }).cause).toBe(cause);
  });

  it("adapter and outbox protocol faults share ProtocolFault: code, details, stderr tail", async () => {
    const adapter = AdapterClient.start({ file: "/no/such/adapter", timeoutMs: 5000 });
    const started = await failureOf(() => adapter.request("hello", {}));
    await adapter.exited;
    expectFamily(started, "AdapterError", "ADAPTER_START");
    expect(started).toBeInstanceOf(ProtocolFault);
    expect((started as AdapterError).fault).toBe("START");
    expect((started as AdapterError).message).toMatch(/^cannot start the adapter: /);

    const outbox = OutboxClient.start({ file: "/no/such/outbox", timeoutMs: 5000 });
    const outboxStart = await failureOf(() => outbox.request("hello", {}));
    await outbox.exited;
    expectFamily(outboxStart, "OutboxFault", "OUTBOX_START");
    expect(outboxStart).toBeInstanceOf(ProtocolFault);

    const cause = new Error("EPIPE");
    const exited = new AdapterError(
      "ADAPTER_EXITED",
      "the adapter exited with code 3",
      {
        exitCode: 3,
        stderrTail: "boom\n",
      },
      cause,
    );
    expect(exited.message).toBe("the adapter exited with code 3\n--- adapter stderr (tail) ---\nboom");
    expect(exited.details).toMatchObject({ exitCode: 3, stderrTail: "boom\n" });
    expect(exited.cause).toBe(cause);
    const timeout = new OutboxFault("TIMEOUT", "no answer to sync (id 4) within 10 ms", { stderrTail: "slow" });
    expectFamily(timeout, "OutboxFault", "OUTBOX_TIMEOUT");
    expect(timeout.message).toBe("no answer to sync (id 4) within 10 ms\n--- stderr (tail) ---\nslow");
    expect(timeout.fault).toBe("TIMEOUT");
  });

  it("an outbox's refusal carries the code the report prints, OUTBOX_REFUSED_<code>", () => {
    const refusal = new OutboxRefusal("close", "EPROTO", "open must come first");
    expectFamily(refusal, "OutboxRefusal", "OUTBOX_REFUSED_EPROTO");
    expect(refusal.refusedWith).toBe("EPROTO");
    expect(refusal.message).toBe("the outbox refused close: EPROTO: open must come first");
    expectFamily(new ChaosOutboxError("OUTBOX_NO_FILL", "never filled"), "ChaosOutboxError", "OUTBOX_NO_FILL");
    expectFamily(new ChaosOutboxError("OUTBOX_WAL_LOCKED", "refused to open"), "ChaosOutboxError", "OUTBOX_WAL_LOCKED");
  });

  it("violations of the WAL and of the outbox share Violation: code VIOLATION (exit 1), an invariant", () => {
    const wal = new InvariantViolation("durability", "batch 3 was acknowledged", undefined, [], []);
    expectFamily(wal, "InvariantViolation", "VIOLATION");
    expect(wal).toBeInstanceOf(Violation);
    expect(wal.invariant).toBe("durability");
    expect(wal.message).toBe("durability: batch 3 was acknowledged");
    const outbox = new ChaosViolation("exactly-once", "op 7 applied twice", "after a crash", ["in-order"]);
    expectFamily(outbox, "ChaosViolation", "VIOLATION");
    expect(outbox).toBeInstanceOf(Violation);
    expect(outbox.invariant).toBe("exactly-once");
    expect(outbox.message).toBe("op 7 applied twice");
    expect(errorCodeInfo(outbox.code)?.exit).toBe(EXIT.violation);
  });

  it("the engine's, the power-loss model's and the benchmark's errors", () => {
    expectFamily(new CaseAbandoned("time limit"), "CaseAbandoned", "CASE_ABANDONED");
    expectFamily(new CrashHappened(), "CrashHappened", "CRASH_HAPPENED");
    const trace = new CrashStateError("POWER_TRACE_INVALID", "power trace line #4 (write): bad", 4);
    expectFamily(trace, "CrashStateError", "POWER_TRACE_INVALID");
    expect(trace.line).toBe(4);
    expectFamily(new OpenRefused("WAL_IO: no"), "OpenRefused", "POWER_OPEN_REFUSED");

    const interrupted = new BenchInterrupted("interrupted", { cause: new Error("aborted") });
    expectFamily(interrupted, "BenchInterrupted", "INTERRUPTED");
    expect((interrupted.cause as Error).message).toBe("aborted");
    expectFamily(new BenchError("RECOVERY_LOST", "recovered 3 of 4"), "BenchError", "RECOVERY_LOST");

    // A task that could not finish names the subject and the task; an adapter's code passes through.
    const died = new AdapterError("ADAPTER_EXITED", "the adapter exited with code 3", { stderrTail: "" });
    const task = BenchError.inTask("adapter", "adapter/append/b1/c1", died);
    expectFamily(task, "BenchError", "ADAPTER_EXITED");
    expect(task.message).toBe("subject adapter, task adapter/append/b1/c1: the adapter exited with code 3");
    expect(task.cause).toBe(died);
    expect(task.details).toEqual({ subject: "adapter", task: "adapter/append/b1/c1" });
    expect(BenchError.inTask("raw", "raw/append/b1/c1", new Error("EIO")).code).toBe("BENCH_FAILED");
  });

  it("the reference WAL's and outbox's errors, thrown by real code", async () => {
    const config = await failureOf(() => parseReferenceConfig({ sync: "sometimes" }));
    expectFamily(config, "WalError", "WAL_CONFIG");
    expect((config as WalError).message).toMatch(/^invalid reference WAL config: sync: /);

    const dir = await tempDir();
    const unavailable = await failureOf(() => SqliteSink.open(path.join(dir, "gone", "outbox.sqlite")));
    expectFamily(unavailable, "SinkUnavailableError", "SINK_UNAVAILABLE");

    const halted = new OutboxError("OUTBOX_HALTED", "the WAL cannot be written", { cause: config });
    expectFamily(halted, "OutboxError", "OUTBOX_HALTED");
    expect(halted.cause).toBe(config);
  });

  it("errorCode: a WalcheckError's code, a failed WAL's errno, an errno, else EINTERNAL; the reference WAL's is the same", () => {
    expect(errorCode).toBe(protocolErrorCode);
    const eio = Object.assign(new Error("fsync failed"), { code: "EIO" });
    expect(errorCode(new WalError("WAL_FAILED", "appends are refused", { cause: eio }))).toBe("EIO");
    expect(errorCode(new WalError("WAL_FAILED", "appends are refused"))).toBe("WAL_FAILED");
    expect(errorCode(new WalError("WAL_CORRUPT", "bad checksum"))).toBe("WAL_CORRUPT");
    expect(errorCode(new UsageError("bad flag"))).toBe("USAGE");
    expect(errorCode(Object.assign(new Error("full"), { code: "ENOSPC" }))).toBe("ENOSPC");
    expect(errorCode(new Error("what"))).toBe("EINTERNAL");
    expect(errorCode("not an error")).toBe("EINTERNAL");
  });

  it("no error class of walcheck extends Error but WalcheckError", () => {
    const found: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (entry.name.endsWith(".ts") && /\bextends Error\b/.test(fs.readFileSync(file, "utf8")))
          found.push(file);
      }
    };
    for (const dir of ["harness", "scenarios", "reports", "bench", "reference-impl"]) walk(dir);
    expect(found).toEqual([path.join("harness", "protocol", "errors.ts")]);
  });
});
