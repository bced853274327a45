import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { crc32c } from "@node-rs/crc32";
import { execa } from "execa";
import { pino } from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import { assertDistFresh, tempDir, walErrorOf } from "../helpers.js";
import { writeFully } from "../../reference-impl/durable-fs.js";
import { WalError } from "../../reference-impl/errors.js";
import {
  EventLog,
  encodeEvent,
  loadEvents,
  walPath,
  type Event,
  type EventLogIo,
} from "../../reference-impl/event-log.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const appender = path.join(root, "test/fixtures/event-appender.mjs");

const RUN = "run-1";

/** Appends a fixed scenario with explicit timestamps; returns the events. */
async function writeScenario(walDir: string): Promise<Event[]> {
  const log = await EventLog.open(RUN, walDir);
  const events = [
    (await log.append("task.accepted", { task_id: "t1", trace_id: "tr-1" }, 1_000)).event,
    (await log.append("task.started", { task_id: "t1" }, 1_001)).event,
    (await log.append("result.applied", { task_id: "t1", result: { ok: true, items: [1, 2, "три"] } }, 1_002)).event,
  ];
  await log.close();
  return events;
}

describe("walPath", () => {
  it("puts the log at <walDir>/<runId>.wal.jsonl", () => {
    expect(walPath("run_2024.01-a", "/var/wal")).toBe("/var/wal/run_2024.01-a.wal.jsonl");
  });

  it.each(["../etc/passwd", "a/b", "..", ".hidden", "", "a\\b", "a b", "run\u0000", "x".repeat(201)])(
    "rejects the unsafe run id %j with TypeError",
    async (runId) => {
      expect(() => walPath(runId, "/var/wal")).toThrow(TypeError);
      expect(() => walPath(runId, "/var/wal")).toThrow(`got ${JSON.stringify(runId)}`);
      const walDir = await tempDir();
      await expect(EventLog.open(runId, walDir)).rejects.toThrow(TypeError);
      await expect(loadEvents(runId, walDir)).rejects.toThrow(TypeError);
      expect(fs.readdirSync(walDir)).toEqual([]);
    },
  );
});

describe("serialization", () => {
  it("writes sorted-key JSON lines with a CRC32C of the event without crc", async () => {
    const walDir = await tempDir();
    const log = await EventLog.open(RUN, walDir);
    const { event, durable } = await log.append("task.accepted", { trace_id: "tr-1", task_id: "t1" }, 1_000);
    await log.close();

    expect(durable).toBe(true);
    expect(event).toEqual({
      run_id: RUN,
      type: "task.accepted",
      seq: 1,
      ts: 1_000,
      payload: { task_id: "t1", trace_id: "tr-1" },
    });
    const body =
      '{"payload":{"task_id":"t1","trace_id":"tr-1"},"run_id":"run-1","seq":1,"ts":1000,"type":"task.accepted"}';
    const crc = crc32c(Buffer.from(body)).toString(16).padStart(8, "0");
    expect(fs.readFileSync(walPath(RUN, walDir), "utf8")).toBe(`{"crc":"${crc}",${body.slice(1)}\n`);
  });

  it("gives byte-identical files for the same events in two runs, whatever the payload key order", async () => {
    const a = await tempDir();
    const b = await tempDir();
    await writeScenario(a);
    const log = await EventLog.open(RUN, b);
    await log.append("task.accepted", { trace_id: "tr-1", task_id: "t1" }, 1_000);
    await log.append("task.started", { task_id: "t1" }, 1_001);
    await log.append("result.applied", { result: { items: [1, 2, "три"], ok: true }, task_id: "t1" }, 1_002);
    await log.close();

    const bytesA = fs.readFileSync(walPath(RUN, a));
    expect(bytesA.toString("utf8").split("\n")).toHaveLength(4);
    expect(fs.readFileSync(walPath(RUN, b)).equals(bytesA)).toBe(true);
  });

  it("returns events exactly as they read back, unaffected by later changes to the payload", async () => {
    const walDir = await tempDir();
    const log = await EventLog.open(RUN, walDir, { now: () => 42 });
    const payload = { task_id: "t1", skipped: undefined, nested: { z: 1, a: [true, null] } };
    const { event } = await log.append("custom.thing_done", payload as never);
    payload.nested.z = 2;
    await log.close();
    expect(event).toEqual({
      run_id: RUN,
      type: "custom.thing_done",
      seq: 1,
      ts: 42,
      payload: { task_id: "t1", nested: { z: 1, a: [true, null] } },
    });
    expect(await loadEvents(RUN, walDir)).toEqual([event]);
  });
});

describe("append", () => {
  it.each([
    ["type without a dot", "accepted", {}, 1],
    ["upper-case type", "Task.accepted", {}, 1],
    ["type with a trailing dot", "task.", {}, 1],
    ["array payload", "task.accepted", [], 1],
    ["null payload", "task.accepted", null, 1],
    ["fractional ts", "task.accepted", {}, 1.5],
    ["negative ts", "task.accepted", {}, -1],
    ["non-JSON payload value", "task.accepted", { n: Number.NaN }, 1],
  ])("rejects a %s with TypeError and writes nothing", async (_label, type, payload, ts) => {
    const walDir = await tempDir();
    const log = await EventLog.open(RUN, walDir);
    await expect(log.append(type as string, payload as never, ts as number)).rejects.toThrow(TypeError);
    expect((await log.append("task.started", { task_id: "t1" }, 5)).event.seq).toBe(1);
    await log.close();
    expect(await loadEvents(RUN, walDir)).toHaveLength(1);
  });

  it("continues the seq after a reopen and replays the run state", async () => {
    const walDir = await tempDir();
    const written = await writeScenario(walDir);
    const log = await EventLog.open(RUN, walDir);
    expect(log.recovery).toMatchObject({ eventsReplayed: 3, bytesDiscarded: 0 });
    expect(log.recovery.elapsedMs).toBeGreaterThanOrEqual(0);
    expect(log.seq).toBe(3);
    const { event } = await log.append("task.completed", { task_id: "t1" }, 1_003);
    expect(event.seq).toBe(4);
    await log.close();
    expect(await loadEvents(RUN, walDir)).toEqual([...written, event]);
  });

  it("refuses to append after close with WAL_CLOSED", async () => {
    const walDir = await tempDir();
    const log = await EventLog.open(RUN, walDir);
    await log.close();
    await log.close();
    expect((await walErrorOf(log.append("task.started", { task_id: "t1" }))).code).toBe("WAL_CLOSED");
  });
});

describe("lifecycle helpers and snapshot", () => {
  it("emit the documented event types and payloads", async () => {
    const walDir = await tempDir();
    const log = await EventLog.open(RUN, walDir, { now: () => 7 });
    await log.taskAccepted("t1", "trace-1");
    await log.taskStarted("t1");
    await log.resultApplied("t1", { answer: 42 });
    await log.resultApplied("t1");
    await log.taskCompleted("t1");
    await log.recordCancellation("t2", "user asked");
    await log.close();
    const events = await loadEvents(RUN, walDir);
    expect(events.map((e) => [e.seq, e.type, e.payload])).toEqual([
      [1, "task.accepted", { task_id: "t1", trace_id: "trace-1" }],
      [2, "task.started", { task_id: "t1" }],
      [3, "result.applied", { task_id: "t1", result: { answer: 42 } }],
      [4, "result.applied", { task_id: "t1" }],
      [5, "task.completed", { task_id: "t1" }],
      [6, "task.cancelled", { task_id: "t2", reason: "user asked" }],
    ]);
  });

  it("counts queued tasks and applied results, live and after a reopen", async () => {
    const walDir = await tempDir();
    const log = await EventLog.open(RUN, walDir, { now: () => 100 });
    expect(log.snapshot(5)).toEqual({
      run_id: RUN,
      seq: 0,
      ts: 5,
      state: { tasks: { queued: 0 }, results: { applied_count: 0 }, context_version: 0 },
    });
    await log.taskAccepted("t1", "tr");
    await log.taskAccepted("t2", "tr");
    await log.taskAccepted("t3", "tr");
    await log.taskStarted("t1");
    await log.resultApplied("t1", "r1");
    await log.resultApplied("t3", "r3");
    await log.taskCompleted("t1");
    await log.recordCancellation("t2", "timeout");
    const expected = {
      run_id: RUN,
      seq: 8,
      ts: 9_999,
      state: { tasks: { queued: 1 }, results: { applied_count: 2 }, context_version: 0 },
    };
    expect(log.snapshot(9_999)).toEqual(expected);
    expect(log.snapshot().ts).toBe(100);
    await log.close();

    const reopened = await EventLog.open(RUN, walDir);
    expect(reopened.snapshot(9_999)).toEqual(expected);
    await reopened.close();
  });
});

describe("loadEvents", () => {
  it("returns [] for a missing log", async () => {
    expect(await loadEvents(RUN, await tempDir())).toEqual([]);
  });

  it("orders events by (seq, ts) whatever the file order, where open insists on 1, 2, 3", async () => {
    const walDir = await tempDir();
    const ev = (seq: number, ts: number): Event => ({
      run_id: RUN,
      type: "test.tick",
      seq,
      ts,
      payload: { n: seq * 100 + ts },
    });
    const lines = [ev(3, 10), ev(1, 90), ev(2, 50), ev(2, 20)].map(encodeEvent).join("");
    fs.writeFileSync(walPath(RUN, walDir), lines);

    const events = await loadEvents(RUN, walDir);
    expect(events.map((e) => [e.seq, e.ts])).toEqual([
      [1, 90],
      [2, 20],
      [2, 50],
      [3, 10],
    ]);
    const error = await walErrorOf(EventLog.open(RUN, walDir));
    expect(error.code).toBe("WAL_CORRUPT");
    expect(error.details.offset).toBe(0);
    expect(error.message).toContain("seq 3 where 1 was expected");
  });

  it("ignores a torn last line without changing the file", async () => {
    const walDir = await tempDir();
    const written = await writeScenario(walDir);
    const file = walPath(RUN, walDir);
    fs.appendFileSync(file, '{"crc":"0000');
    const size = fs.statSync(file).size;
    expect(await loadEvents(RUN, walDir)).toEqual(written);
    expect(fs.statSync(file).size).toBe(size);
  });

  it("rejects a line of another run as corruption", async () => {
    const walDir = await tempDir();
    fs.writeFileSync(
      walPath(RUN, walDir),
      encodeEvent({ run_id: "other", type: "test.tick", seq: 1, ts: 1, payload: {} }),
    );
    expect((await walErrorOf(loadEvents(RUN, walDir))).code).toBe("WAL_CORRUPT");
    expect((await walErrorOf(EventLog.open(RUN, walDir))).code).toBe("WAL_CORRUPT");
  });
});

describe("recovery", () => {
  it("cuts a torn last line at every possible length and keeps the events before it", async () => {
    const source = await tempDir();
    const written = await writeScenario(source);
    const full = fs.readFileSync(walPath(RUN, source));
    const lastStart = full.lastIndexOf(0x0a, full.length - 2) + 1;
    const lastLength = full.length - lastStart;
    expect(lastLength).toBeGreaterThan(100);

    for (let cut = 0; cut < lastLength; cut += 1) {
      const walDir = await tempDir();
      const file = walPath(RUN, walDir);
      fs.writeFileSync(file, full.subarray(0, lastStart + cut));
      const log = await EventLog.open(RUN, walDir);
      expect({ cut, ...log.recovery, elapsedMs: 0 }).toEqual({
        cut,
        eventsReplayed: 2,
        bytesDiscarded: cut,
        elapsedMs: 0,
      });
      expect(fs.statSync(file).size).toBe(lastStart);
      const { event } = await log.append("task.completed", { task_id: "t1" }, 2_000);
      expect(event.seq).toBe(3);
      await log.close();
      expect(await loadEvents(RUN, walDir)).toEqual([written[0], written[1], event]);
    }
  });

  it("discards a complete last line whose crc does not match", async () => {
    const walDir = await tempDir();
    const written = await writeScenario(walDir);
    const file = walPath(RUN, walDir);
    const full = fs.readFileSync(file, "utf8");
    const lastStart = full.lastIndexOf("\n", full.length - 2) + 1;
    fs.writeFileSync(file, full.slice(0, lastStart) + full.slice(lastStart).replace('"ok":true', '"ok":false'));
    const bytes = fs.statSync(file).size - Buffer.byteLength(full.slice(0, lastStart));
    const log = await EventLog.open(RUN, walDir);
    expect(log.recovery).toMatchObject({ eventsReplayed: 2, bytesDiscarded: bytes });
    await log.close();
    expect(await loadEvents(RUN, walDir)).toEqual(written.slice(0, 2));
  });

  it("refuses a corrupt line in the middle with WAL_CORRUPT, naming the file and byte offset", async () => {
    const walDir = await tempDir();
    await writeScenario(walDir);
    const file = walPath(RUN, walDir);
    const original = fs.readFileSync(file);
    const secondLine = original.indexOf(0x0a) + 1;
    const damaged = Buffer.from(original);
    const at = damaged.indexOf('"t1"', secondLine) + 2; // the "1" of task_id "t1" in line 2
    damaged[at] = "2".charCodeAt(0);
    fs.writeFileSync(file, damaged);

    for (const attempt of [EventLog.open(RUN, walDir), loadEvents(RUN, walDir)]) {
      const error = await walErrorOf(attempt);
      expect(error.code).toBe("WAL_CORRUPT");
      expect(error.details).toMatchObject({ file, offset: secondLine, line: 2 });
      expect(error.message).toContain(file);
      expect(error.message).toContain(`byte offset ${secondLine}`);
      expect(error.message).toContain("crc mismatch");
    }
    expect(fs.readFileSync(file).equals(damaged)).toBe(true); // nothing truncated
  });

  it.each([
    ["the newline between events 2 and 3 (the last line holds two events)", 2, (good: Buffer) => good],
    [
      "the last newline, with a torn next append behind it",
      3,
      (good: Buffer) => Buffer.concat([good, Buffer.from('{"crc":"0')]),
    ],
  ])("refuses with WAL_CORRUPT, changing nothing, a log that lost %s", async (_label, seq, extend) => {
    const walDir = await tempDir();
    const written = await writeScenario(walDir);
    const file = walPath(RUN, walDir);
    const good = extend(fs.readFileSync(file));
    // One flipped bit turns the newline after event `seq` into "*": no interrupted append leaves a whole event and more.
    const lost = Buffer.byteLength(written.slice(0, seq).map(encodeEvent).join("")) - 1;
    const damaged = Buffer.from(good);
    expect(damaged[lost]).toBe(0x0a);
    damaged[lost] = 0x2a;
    fs.writeFileSync(file, damaged);

    const error = await walErrorOf(EventLog.open(RUN, walDir));
    expect(error.code).toBe("WAL_CORRUPT");
    expect(error.details).toEqual({ file, offset: lost });
    expect(error.message).toContain(`${file}: corrupt event log at byte offset ${lost}`);
    expect(error.message).toContain(`the whole event seq ${seq} and ${damaged.length - lost} more bytes`);
    expect(fs.readFileSync(file).equals(damaged)).toBe(true); // nothing cut off
  });

  it("refuses an unparsable line followed by a torn one", async () => {
    const walDir = await tempDir();
    await writeScenario(walDir);
    const file = walPath(RUN, walDir);
    const goodBytes = fs.statSync(file).size;
    fs.appendFileSync(file, 'garbage\n{"crc":');
    const error = await walErrorOf(EventLog.open(RUN, walDir));
    expect(error.code).toBe("WAL_CORRUPT");
    expect(error.details.offset).toBe(goodBytes);
  });
});

describe("I/O errors", () => {
  /**
   * An io.write that, while `failures` > 0, writes the first half of the line for real
   * and then throws EIO (a short write followed by an error); otherwise writes normally.
   */
  function faultyWrite(): { write: EventLogIo["write"]; failures: number; injected: Error[] } {
    const fault = {
      failures: 0,
      injected: [] as Error[],
      write(fd: number, data: Uint8Array, position: number): void {
        if (fault.failures > 0) {
          fault.failures -= 1;
          writeFully(fd, data.subarray(0, data.length >>> 1), position);
          const error = Object.assign(new Error("EIO: injected write failure"), { code: "EIO" });
          fault.injected.push(error);
          throw error;
        }
        writeFully(fd, data, position);
      },
    };
    return fault;
  }

  it("fail-closed (default): throws WAL_IO with the cause, removes the partial line, and refuses later appends until a reopen", async () => {
    const walDir = await tempDir();
    const file = walPath(RUN, walDir);
    const fault = faultyWrite();
    const log = await EventLog.open(RUN, walDir, { io: { write: fault.write } });
    await log.taskAccepted("t1", "tr");
    const sizeBefore = fs.statSync(file).size;

    fault.failures = 1;
    const error = await walErrorOf(log.taskAccepted("t2", "tr"));
    expect(error.code).toBe("WAL_IO");
    expect(error.cause).toBe(fault.injected[0]);
    expect(error.details).toMatchObject({ file, offset: sizeBefore, seq: 2, op: "write" });
    expect(fs.statSync(file).size).toBe(sizeBefore);
    expect(log.snapshot(1)).toMatchObject({ seq: 1, state: { tasks: { queued: 1 } } });
    expect((await walErrorOf(log.taskAccepted("t3", "tr"))).code).toBe("WAL_FAILED");
    await log.close();

    const reopened = await EventLog.open(RUN, walDir);
    expect(reopened.recovery).toMatchObject({ eventsReplayed: 1, bytesDiscarded: 0 });
    const { event, durable } = await reopened.taskAccepted("t3", "tr");
    expect({ seq: event.seq, durable }).toEqual({ seq: 2, durable: true });
    await reopened.close();
    expect((await loadEvents(RUN, walDir)).map((e) => e.payload.task_id)).toEqual(["t1", "t3"]);
  });

  it("fail-open: logs the error, resolves durable: false until a reopen, and the next durable event reuses the seq", async () => {
    const walDir = await tempDir();
    const file = walPath(RUN, walDir);
    const logged: Array<Record<string, unknown>> = [];
    const logger = pino({ level: "error" }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const fault = faultyWrite();
    const log = await EventLog.open(RUN, walDir, { failOpen: true, logger, io: { write: fault.write } });
    await log.taskAccepted("t1", "tr");
    const sizeBefore = fs.statSync(file).size;

    fault.failures = 1;
    const result = await log.taskAccepted("t2", "tr");
    expect(result.durable).toBe(false);
    expect(result.event).toMatchObject({ seq: 2, type: "task.accepted", payload: { task_id: "t2", trace_id: "tr" } });
    expect(result.error?.code).toBe("WAL_IO");
    expect(result.error?.cause).toBe(fault.injected[0]);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({
      level: 50,
      seq: 2,
      file,
      err: { message: expect.stringContaining("failed in write") },
    });
    expect(fs.statSync(file).size).toBe(sizeBefore);
    expect(log.snapshot(1)).toMatchObject({ seq: 1, state: { tasks: { queued: 1 } } });

    const refused = await log.taskAccepted("t3", "tr");
    expect({ seq: refused.event.seq, durable: refused.durable, code: refused.error?.code }).toEqual({
      seq: 2,
      durable: false,
      code: "WAL_FAILED",
    });
    expect(refused.error?.cause).toBe(result.error);
    expect(logged).toHaveLength(2);
    expect(fs.statSync(file).size).toBe(sizeBefore);
    await log.close();

    const reopened = await EventLog.open(RUN, walDir, { failOpen: true, logger, io: { write: fault.write } });
    const next = await reopened.taskAccepted("t3", "tr");
    expect({ seq: next.event.seq, durable: next.durable }).toEqual({ seq: 2, durable: true });
    expect(logged).toHaveLength(2);
    await reopened.close();
    expect((await loadEvents(RUN, walDir)).map((e) => e.payload.task_id)).toEqual(["t1", "t3"]);
  });

  it("rolls back a line whose fdatasync failed", async () => {
    const walDir = await tempDir();
    const file = walPath(RUN, walDir);
    let failSync = true;
    const io: Partial<EventLogIo> = {
      fdatasync(fd) {
        if (failSync) {
          failSync = false;
          throw Object.assign(new Error("EIO: injected fdatasync failure"), { code: "EIO" });
        }
        fs.fdatasyncSync(fd);
      },
    };
    const log = await EventLog.open(RUN, walDir, { io });
    const error = await walErrorOf(log.taskStarted("t1"));
    expect(error.details.op).toBe("fdatasync");
    expect(fs.statSync(file).size).toBe(0);
    await log.close();
  });

  it("fail-stop: after a failed fdatasync every later append rejects with WAL_FAILED, naming the file and the first error, until a reopen", async () => {
    const walDir = await tempDir();
    const file = walPath(RUN, walDir);
    // The second fdatasync (that of the second append) fails; every other one is real.
    const eio = Object.assign(new Error("EIO: injected fdatasync failure"), { code: "EIO" });
    let syncs = 0;
    const io: Partial<EventLogIo> = {
      fdatasync(fd) {
        syncs += 1;
        if (syncs === 2) throw eio;
        fs.fdatasyncSync(fd);
      },
    };
    const log = await EventLog.open(RUN, walDir, { io });
    await log.taskAccepted("t1", "tr");
    const sizeBefore = fs.statSync(file).size;
    const first = await walErrorOf(log.taskAccepted("t2", "tr"));
    expect(first).toMatchObject({ code: "WAL_IO", details: { op: "fdatasync", seq: 2 } });
    expect(first.cause).toBe(eio);

    // Every fdatasync would succeed again, but the failed one may have dropped more than its own line.
    for (const append of [() => log.taskAccepted("t2", "tr"), () => log.taskStarted("t1")]) {
      const refused = await walErrorOf(append());
      expect(refused.code).toBe("WAL_FAILED");
      expect(refused.message).toContain(file);
      expect(refused.details.file).toBe(file);
      expect(refused.cause).toBe(first);
    }
    expect(fs.statSync(file).size).toBe(sizeBefore);
    expect(log.seq).toBe(1);
    await log.close();

    const reopened = await EventLog.open(RUN, walDir);
    expect(reopened.recovery).toMatchObject({ eventsReplayed: 1, bytesDiscarded: 0 });
    expect(await reopened.taskAccepted("t2", "tr")).toMatchObject({ durable: true, event: { seq: 2 } });
    await reopened.close();
    expect((await loadEvents(RUN, walDir)).map((e) => e.payload.task_id)).toEqual(["t1", "t2"]);
  });

  it("marks the log broken when the rollback itself fails", async () => {
    const walDir = await tempDir();
    const io: Partial<EventLogIo> = {
      write: () => {
        throw Object.assign(new Error("ENOSPC: injected"), { code: "ENOSPC" });
      },
      ftruncate: () => {
        throw Object.assign(new Error("EIO: injected ftruncate failure"), { code: "EIO" });
      },
    };
    const log = await EventLog.open(RUN, walDir, { io });
    expect((await walErrorOf(log.taskStarted("t1"))).code).toBe("WAL_IO");
    const later = await walErrorOf(log.taskStarted("t1"));
    expect(later.code).toBe("WAL_FAILED");
    expect((later.cause as Error).message).toContain("ftruncate");
    await log.close();

    // Fail-open: the broken log keeps answering, without writing.
    const logged: unknown[] = [];
    const logger = pino({ level: "error" }, { write: (line: string) => void logged.push(line) });
    const open = await EventLog.open("run-2", walDir, { io, failOpen: true, logger });
    expect((await open.taskStarted("t1")).error?.code).toBe("WAL_IO");
    const result = await open.taskStarted("t1");
    expect({ durable: result.durable, code: result.error?.code }).toEqual({ durable: false, code: "WAL_FAILED" });
    expect(logged).toHaveLength(2);
    await open.close();
  });
});

describe("crash (SIGKILL in a child process)", () => {
  beforeAll(() =>
    assertDistFresh([
      "event-log",
      "harness/protocol/crashpoint",
      "crc32c",
      "durable-fs",
      "errors",
      "harness/protocol/stable-json",
    ]),
  );

  it.each([
    ["event.after-write", 4, 4],
    ["event.before-write", 4, 3],
    ["event.before-write", 1, 0],
  ])("killed at %s:%i keeps every acknowledged event (%i on disk)", async (point, nth, onDisk) => {
    const walDir = await tempDir();
    const child = await execa(process.execPath, [appender, walDir, RUN, "10"], {
      env: { WALCHECK_CRASH_AT: `${point}:${nth}` },
      reject: false,
    });
    expect(child.signal).toBe("SIGKILL");
    const acked = child.stdout.split("\n").filter(Boolean).map(Number);
    expect(acked).toEqual(Array.from({ length: nth - 1 }, (_, i) => i + 1));

    const log = await EventLog.open(RUN, walDir);
    expect(log.recovery).toMatchObject({ eventsReplayed: onDisk, bytesDiscarded: 0 });
    await log.close();
    const events = await loadEvents(RUN, walDir);
    expect(events).toEqual(
      Array.from({ length: onDisk }, (_, i) => ({
        run_id: RUN,
        type: "test.tick",
        seq: i + 1,
        ts: 1_001 + i,
        payload: { i: i + 1 },
      })),
    );
    for (const seq of acked) expect(events.some((e) => e.seq === seq)).toBe(true);
  });

  it("runs to the end without a crash point", async () => {
    const walDir = await tempDir();
    const child = await execa(process.execPath, [appender, walDir, RUN, "5"], { env: { WALCHECK_CRASH_AT: "" } });
    expect(child.stdout.split("\n").filter(Boolean)).toEqual(["1", "2", "3", "4", "5"]);
    expect(await loadEvents(RUN, walDir)).toHaveLength(5);
  });
});
