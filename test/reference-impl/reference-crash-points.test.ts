import { describe, expect, it } from "vitest";
import { AdapterError, PrefixModel } from "../../harness/index.js";
import { CRASH_POINTS } from "../../reference-impl/index.js";
import { ok, startServe } from "../harness/serve-client.js";
import { tempDir } from "../helpers.js";

// Real processes, real SIGKILL: the reference WAL is served by `walcheck serve`, killed at
// a named crash point, and a fresh process must recover every acknowledged batch.

interface Plan {
  point: string;
  nth: number;
  mode: "passive" | "truncate";
  config?: Record<string, unknown>;
}

async function crashAndRecover(plan: Plan) {
  const dir = await tempDir();
  // The prefix model: batch i must get seq i, and recovery must return exactly a prefix.
  const model = new PrefixModel();
  const append = async (client: ReturnType<typeof startServe>, ops: { key: string; value: string }[]) => {
    const expected = model.send(ops);
    const { seq } = ok(await client.request("append", { ops }));
    expect(seq).toBe(expected);
    model.ack(seq);
  };

  // A first life without crashes: some data and a snapshot, so a checkpoint has an old one to replace.
  const setup = startServe({ config: plan.config ?? {} });
  ok(await setup.request("open", { dir, config: {} }));
  for (let i = 0; i < 8; i++) {
    await append(setup, [{ key: `k${i % 3}`, value: `setup${i}` }]);
  }
  ok(await setup.request("checkpoint", { mode: "truncate" }));
  ok(await setup.request("close", {}));
  await setup.exited;

  const child = startServe({ crashAt: `${plan.point}:${plan.nth}`, config: plan.config ?? {} });
  let died: AdapterError | undefined;
  try {
    ok(await child.request("open", { dir, config: {} }));
    for (let round = 0; round < 6; round++) {
      const appends = Array.from({ length: 4 }, (_, j) => {
        const key = `k${(round * 4 + j) % 5}`;
        const value = `r${round}-${j}`;
        return append(child, [
          { key, value },
          { key: `x${round}`, value },
        ]);
      });
      const checkpoint = child.request("checkpoint", { mode: plan.mode }).then(ok);
      const settled = await Promise.allSettled([...appends, checkpoint]);
      const failed = settled.find((s) => s.status === "rejected");
      if (failed) throw failed.reason;
    }
  } catch (error) {
    if (!(error instanceof AdapterError)) throw error;
    died = error;
  }
  const exit = await child.kill();
  return { dir, died, exit, model };
}

describe("named crash points (real SIGKILL, fresh process recovers)", () => {
  const plans: Plan[] = [
    ...[
      "checkpoint.before-snapshot",
      "checkpoint.snapshot-half-written",
      "checkpoint.snapshot-synced",
      "checkpoint.after-rename",
      "checkpoint.before-truncate",
      "checkpoint.mid-truncate",
    ].flatMap((point) =>
      [1, 2].map((nth) => ({ point, nth, mode: "truncate" as const, config: { maxSegmentBytes: 300 } })),
    ),
    ...["checkpoint.before-snapshot", "checkpoint.snapshot-half-written", "checkpoint.after-rename", "compact.mid"].map(
      (point) => ({ point, nth: 2, mode: "passive" as const, config: { maxSegmentBytes: 300 } }),
    ),
    ...["append.before-write", "append.after-write", "append.after-fsync"].map((point) => ({
      point,
      nth: 5,
      mode: "passive" as const,
    })),
    { point: "rotate.after-create", nth: 2, mode: "passive", config: { maxSegmentBytes: 200 } },
  ];

  it("every named point of the reference WAL is covered here", () => {
    const covered = new Set(plans.map((p) => p.point));
    // The recovery points are crashed by the crash-recovery scenario (test/scenarios/catches-recovery.test.ts).
    const missing = CRASH_POINTS.filter((p) => !covered.has(p) && !p.startsWith("recovery."));
    expect(missing).toEqual([]);
  });

  it.each(plans)(
    "$point #$nth ($mode checkpoint): the process dies by SIGKILL and every acked batch is recovered",
    async (plan) => {
      const { dir, died, exit, model } = await crashAndRecover(plan);
      expect(died?.code).toBe("ADAPTER_EXITED");
      expect(exit.signal, `exit ${JSON.stringify(exit)}: ${died?.message}`).toBe("SIGKILL");

      const fresh = startServe();
      const opened = ok(await fresh.request("open", { dir, config: {} }));
      expect(opened.lastSeq).toBeGreaterThanOrEqual(model.lastAcked);
      const read = ok(await fresh.request("read", {}));
      expect(read.lastSeq).toBe(opened.lastSeq);
      expect(model.judge(read.lastSeq, read.state)).toEqual({ status: "ok", k: read.lastSeq });
      expect(ok(await fresh.request("check", {})).result).toEqual(["ok"]);
      // The WAL goes on: the next batch takes the next seq and survives a clean reopen.
      const next = ok(await fresh.request("append", { ops: [{ key: "after", value: "crash" }] }));
      expect(next.seq).toBe(opened.lastSeq + 1);
      ok(await fresh.request("close", {}));
      expect((await fresh.exited).exitCode).toBe(0);

      const again = startServe();
      ok(await again.request("open", { dir, config: {} }));
      const final = ok(await again.request("read", {}));
      expect(final.lastSeq).toBe(next.seq);
      expect(final.state.after).toBe("crash");
      ok(await again.request("close", {}));
    },
  );
});
