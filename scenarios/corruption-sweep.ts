import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import fc from "fast-check";
import { AdapterError } from "../harness/protocol/adapter-error.js";
import type { AdapterClient } from "../harness/protocol/adapter-client.js";
import type { BatchOp } from "../harness/protocol/messages.js";
import { Prng } from "../harness/engine/prng.js";
import type { CaseSession } from "../harness/engine/case-session.js";
import type { SweepCellRef } from "../harness/engine/replay-token.js";
import type { Scenario, ScenarioEnv } from "../harness/engine/scenario.js";
import { RecoveryPool, type Recovered } from "../harness/faults/power/check-states.js";
import {
  emptyCounts,
  emptySweep,
  judgeSweep,
  SWEEP_FAULTS,
  type Damage,
  type SweepAnswer,
  type SweepEnding,
  type SweepFault,
  type SweepMatrix,
  type SweepRow,
  type SweptBatch,
  type SweepVerdict,
} from "../harness/checks/sweep.js";
import { LOCK_FILE, snapshotDir } from "./dir-files.js";

// The corruption sweep (CORDS, FAST'17; PAR, FAST'18): one life of appends, swept after its
// clean close and after its crash. For each ending, every block of every file of the WAL
// directory is damaged in a copy, one fault at a time, and the copy recovered and classified
// (harness/checks/sweep.ts). docs/faults.md, "The corruption sweep", is the user's account.

/** Batches of the life: the first half ends in a clean close, the second in a SIGKILL. */
const BATCHES_PER_HALF = 8;
/** Blocks are 512 bytes in files up to this size, 4 KiB above it. */
const SMALL_FILE = 16 * 1024;
/** Recoveries one ending may cost (the case: twice this); beyond it blocks are left out evenly. */
export const RECOVERIES_PER_ENDING = 150;
/** Rows of the matrix per file: a file with more blocks has them grouped into this many regions. */
const REGIONS_PER_FILE = 8;

interface Input {
  /** Everything of the case (the life's batches, junk, bits, swap partners) comes from it. */
  seed: number;
}

export const blockSizeOf = (bytes: number): number => (bytes <= SMALL_FILE ? 512 : 4096);

/** FNV-1a of a cell's name: its own PRNG, so one cell replays without the others. */
function cellSeed(seed: number, ending: SweepEnding, file: string, block: number, fault: SweepFault): number {
  let h = 0x811c9dc5;
  for (const c of `${seed}:${ending}:${file}:${block}:${fault}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

function makeBatch(rng: Prng, seq: number): { ops: BatchOp[]; puts: Record<string, string> } {
  const puts: Record<string, string> = {};
  const n = rng.int(1, 3);
  for (let j = 0; j < n; j++) {
    let value = "";
    const len = rng.int(24, 96);
    for (let i = 0; i < len; i++) value += String.fromCharCode(rng.int(97, 122));
    puts[`s${seq}k${j}`] = value;
  }
  return { ops: Object.entries(puts).map(([key, value]) => ({ key, value })), puts };
}

type Snapshot = Map<string, Buffer>;
interface Appended {
  file: string;
  start: number;
  end: number;
  bytes: Buffer;
}

/** What one ack added: pure appends to files (undefined if any file changed otherwise). */
function appendedBy(before: Snapshot, after: Snapshot): Appended[] | undefined {
  const out: Appended[] = [];
  for (const [file, now] of after) {
    if (LOCK_FILE.test(file)) continue;
    const old = before.get(file) ?? Buffer.alloc(0);
    if (old.equals(now)) continue;
    if (now.length <= old.length || !now.subarray(0, old.length).equals(old)) return undefined;
    out.push({ file, start: old.length, end: now.length, bytes: now.subarray(old.length) });
  }
  return out;
}

/** The batch's bytes if they are still in place in `final`. */
function locate(added: Appended[] | undefined, final: Snapshot): SweptBatch["at"] {
  if (!added || added.length === 0) return undefined;
  const still = added.every((a) => final.get(a.file)?.subarray(a.start, a.end).equals(a.bytes));
  return still ? added.map(({ file, start, end }) => ({ file, start, end })) : undefined;
}

/** One damaged copy to recover. */
interface Cell extends SweepCellRef {
  blockSize: number;
  start: number;
  end: number;
}

/** The cells of one ending, within the budget: every block of every file, or evenly spaced blocks. */
export function planCells(
  final: Snapshot,
  ending: SweepEnding,
  faults: readonly SweepFault[],
): { cells: Cell[]; leftOut: number; files: { file: string; size: number; blockSize: number; blocks: number }[] } {
  const files = [...final]
    .filter(([file, bytes]) => !LOCK_FILE.test(file) && bytes.length > 0)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([file, bytes]) => {
      const blockSize = blockSizeOf(bytes.length);
      return { file, size: bytes.length, blockSize, blocks: Math.ceil(bytes.length / blockSize) };
    });
  const total = files.reduce((n, f) => n + f.blocks, 0);
  const step = Math.max(1, Math.ceil((total * faults.length) / RECOVERIES_PER_ENDING));
  const cells: Cell[] = [];
  let leftOut = 0;
  let i = 0;
  for (const f of files) {
    for (let block = 0; block < f.blocks; block++, i++) {
      if (i % step !== 0) {
        leftOut += 1;
        continue;
      }
      for (const fault of faults) {
        if (fault === "swap" && f.blocks < 2) continue; // no other block to swap with
        const start = block * f.blockSize;
        cells.push({
          ending,
          file: f.file,
          block,
          fault,
          blockSize: f.blockSize,
          start,
          end: Math.min(f.size, start + f.blockSize),
        });
      }
    }
  }
  return { cells, leftOut, files };
}

/** Writes the damaged copy of `final` for `cell` into `dir`; returns the damage and, for eio-read, the fault spec. */
function damageCopy(
  seed: number,
  final: Snapshot,
  cell: Cell,
  dir: string,
): { damage: Damage; eio?: string; what: string } {
  fs.rmSync(dir, { recursive: true, force: true });
  for (const [file, bytes] of final) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), bytes);
  }
  const rng = new Prng(cellSeed(seed, cell.ending, cell.file, cell.block, cell.fault));
  const bytes = Buffer.from(final.get(cell.file)!);
  const { start, end } = cell;
  const where = `block ${cell.block} (bytes ${start}-${end - 1}) of ${cell.file}`;
  let damage: Damage = { file: cell.file, ranges: [[start, end]] };
  let what: string;
  let eio: string | undefined;
  switch (cell.fault) {
    case "zeros":
      bytes.fill(0, start, end);
      what = `${where} zeroed`;
      break;
    case "junk":
      for (let i = start; i < end; i++) bytes[i] = rng.int(0, 255);
      what = `${where} overwritten with junk`;
      break;
    case "bitflip": {
      const at = rng.int(start, end - 1);
      const bit = rng.int(0, 7);
      bytes[at]! ^= 1 << bit;
      damage = { file: cell.file, ranges: [[at, at + 1]] };
      what = `bit ${bit} of byte ${at} in ${where} flipped`;
      break;
    }
    case "swap": {
      const blocks = Math.ceil(bytes.length / cell.blockSize);
      let other = rng.int(0, blocks - 2);
      if (other >= cell.block) other += 1;
      const os = other * cell.blockSize;
      const len = Math.min(end - start, Math.min(bytes.length, os + cell.blockSize) - os);
      const mine = Buffer.from(bytes.subarray(start, start + len));
      bytes.copy(bytes, start, os, os + len);
      mine.copy(bytes, os);
      damage = {
        file: cell.file,
        ranges: [
          [start, start + len],
          [os, os + len],
        ],
      };
      what = `${where} swapped with block ${other} (bytes ${os}-${os + len - 1}): a misdirected write`;
      break;
    }
    case "eio-read":
      eio = eioSpec(cell, dir);
      what = `EIO on every read of ${where}`;
      break;
  }
  fs.writeFileSync(path.join(dir, cell.file), bytes);
  return { damage, what, ...(eio ? { eio } : {}) };
}

/** The eio-read spec of `cell` in the copy at `dir`. */
const eioSpec = (cell: Cell, dir: string) =>
  `eio-read:${cell.start}:${cell.end - cell.start}:${path.join(dir, cell.file)}`;

/** A process with the read fault of `cell` in the copy at `dir` armed, started (its hello asked) ahead of use. */
function spawnWithFault(
  session: CaseSession,
  cell: Cell,
  dir: string,
): { client: AdapterClient; ready: Promise<unknown> } {
  const client = session.spawnExtra(session.envFor({ kind: "fault", spec: eioSpec(cell, dir) }, dir));
  session.stats.faultLives += 1;
  const ready = client.hello();
  ready.catch(() => undefined); // answered when it is used
  return { client, ready };
}

/** Recovery in a process with the read fault armed: open, read, check, SIGKILL. A death while recovering is a refusal. */
async function recoverWithFault(
  session: CaseSession,
  dir: string,
  started: { client: AdapterClient; ready: Promise<unknown> },
): Promise<Recovered> {
  const { client } = started;
  const t = performance.now();
  try {
    await started.ready;
    const open = await client.request("open", { dir, config: session.openConfig });
    if (!open.ok)
      return { open: "failed", code: open.error.code, message: open.error.message, ms: performance.now() - t };
    const read = await client.request("read", {});
    if (!read.ok)
      return {
        open: "failed",
        code: read.error.code,
        message: `read: ${read.error.message}`,
        ms: performance.now() - t,
      };
    let check: string[] | undefined;
    if (session.features.includes("check")) {
      const c = await client.request("check", {});
      check = c.ok ? c.result : [`check answered ${c.error.code}`];
    }
    return {
      open: "ok",
      lastSeq: read.lastSeq,
      state: read.state,
      ...(check ? { check } : {}),
      ms: performance.now() - t,
    };
  } catch (error) {
    if (error instanceof AdapterError && error.code === "ADAPTER_EXITED" && !client.killedByWalcheck)
      return { open: "failed", code: "ADAPTER_DIED_RECOVERING", message: error.message, ms: performance.now() - t };
    throw error;
  } finally {
    await client.kill("SIGKILL");
  }
}

/** The matrix rows of one ending: each file's blocks grouped into at most REGIONS_PER_FILE regions. */
function rowsFor(
  ending: SweepEnding,
  files: { file: string; size: number; blockSize: number; blocks: number }[],
): { rows: SweepRow[]; rowOf: (file: string, block: number) => SweepRow } {
  const rows: SweepRow[] = [];
  const index = new Map<string, { per: number; first: number }>();
  for (const f of files) {
    const per = Math.ceil(f.blocks / REGIONS_PER_FILE);
    index.set(f.file, { per, first: rows.length });
    for (let b = 0; b < f.blocks; b += per) {
      const blocks = Math.min(per, f.blocks - b);
      rows.push({
        ending,
        file: f.file,
        fromByte: b * f.blockSize,
        toByte: Math.min(f.size, (b + blocks) * f.blockSize),
        blockSize: f.blockSize,
        blocks,
        counts: {},
        violations: 0,
      });
    }
  }
  return {
    rows,
    rowOf: (file, block) => {
      const { per, first } = index.get(file)!;
      return rows[first + Math.floor(block / per)]!;
    },
  };
}

interface Failure {
  cell: Cell;
  what: string;
  verdict: SweepVerdict;
  /** The damaged copy as recovery found it, kept for a person. */
  files: Snapshot;
}

/** Sweep one ending: every cell recovered and judged into `matrix`; the first violation is returned. */
async function sweepEnding(
  session: CaseSession,
  env: ScenarioEnv,
  seed: number,
  ending: SweepEnding,
  final: Snapshot,
  batches: SweptBatch[],
  matrix: SweepMatrix,
): Promise<{ failure?: Failure; violations: number }> {
  // Through the Node fs preload or the C preload (a copy's own directory either way).
  const reach = env.faults ?? (env.fsCallsPerLife !== undefined ? { ok: true } : undefined);
  const readFaults = reach?.ok === true;
  const faults = SWEEP_FAULTS.filter((f) => f !== "eio-read" || readFaults);
  if (!readFaults && !matrix.skipped.some((s) => s.fault === "eio-read"))
    matrix.skipped.push({
      fault: "eio-read",
      reason: `EIO on read cannot be injected into this adapter: ${reach && !reach.ok ? reach.why : "fs faults do not reach it"}`,
    });
  const plan = planCells(final, ending, faults);
  const only = env.sweepOnly;
  const cells = only
    ? plan.cells.filter(
        (c) => c.ending === only.ending && c.file === only.file && c.block === only.block && c.fault === only.fault,
      )
    : plan.cells;
  const { rows, rowOf } = rowsFor(ending, plan.files);
  matrix.blocksLeftOut += only ? 0 : plan.leftOut;
  const checksums = session.features.includes("checksums");
  const pool = new RecoveryPool(() => session.spawnExtra(), {
    openConfig: session.openConfig,
    check: session.features.includes("check"),
    mode: session.features.includes("recover") ? "reuse" : "fresh",
    ahead: 1,
  });
  const work = path.join(path.dirname(session.dirPath), "sweep-copy");
  // Two copies in turn: an eio-read process is started for the next copy while this one recovers.
  const copyOf = (i: number) => path.join(work, `c${i % 2}`, "wal");
  // Read faults last, each process started one ahead (a fresh process per copy: the fault is in its environment).
  const ordered = [...cells.filter((c) => c.fault !== "eio-read"), ...cells.filter((c) => c.fault === "eio-read")];
  let failure: Failure | undefined;
  let violations = 0;
  let ahead: ReturnType<typeof spawnWithFault> | undefined;
  try {
    for (const [i, cell] of ordered.entries()) {
      session.step = `sweep ${ending}: ${cell.fault} in block ${cell.block} of ${cell.file}`;
      const copy = copyOf(i);
      const { damage, what, eio } = damageCopy(seed, final, cell, copy);
      const damaged = failure ? undefined : snapshotDir(copy);
      const t = performance.now();
      let recovered: Recovered;
      if (eio) {
        const started = ahead ?? spawnWithFault(session, cell, copy);
        const next = ordered[i + 1];
        ahead = next ? spawnWithFault(session, next, copyOf(i + 1)) : undefined;
        recovered = await recoverWithFault(session, copy, started);
      } else recovered = await pool.recover(copy);
      matrix.ms += performance.now() - t;
      matrix.recoveries += 1;
      const answer: SweepAnswer =
        recovered.open === "failed"
          ? { open: "failed", code: recovered.code, message: recovered.message }
          : {
              open: "ok",
              lastSeq: recovered.lastSeq,
              state: recovered.state,
              ...(recovered.check ? { check: recovered.check } : {}),
            };
      const verdict = judgeSweep(batches, damage, cell.fault, answer, checksums);
      const row = rowOf(cell.file, cell.block);
      (row.counts[cell.fault] ??= emptyCounts())[verdict.outcome] += 1;
      if (verdict.violation) {
        row.violations += 1;
        violations += 1;
        failure ??= { cell, what, verdict, files: damaged! };
      } else if (verdict.finding) {
        if (verdict.outcome === "changed") matrix.findings.changed += 1;
        else matrix.findings.missing += 1;
      }
    }
  } finally {
    await Promise.all([pool.close(), ahead?.client.kill("SIGKILL")]);
    fs.rmSync(work, { recursive: true, force: true });
  }
  matrix.rows.push(...rows);
  matrix.violations += violations;
  return { ...(failure ? { failure } : {}), violations };
}

/** One half of the life: `count` batches appended one at a time, a snapshot of the directory after each ack. */
async function appendHalf(
  session: CaseSession,
  rng: Prng,
  from: number,
  count: number,
  batches: { seq: number; puts: Record<string, string>; added: Appended[] | undefined }[],
): Promise<void> {
  let before = snapshotDir(session.dirPath);
  for (let seq = from; seq < from + count; seq++) {
    const { ops, puts } = makeBatch(rng, seq);
    await session.appendBurst([ops]);
    if (session.model.lastAcked < seq) return; // refused: the life stops here
    const after = snapshotDir(session.dirPath);
    batches.push({ seq, puts, added: appendedBy(before, after) });
    before = after;
    if (seq === from + Math.floor(count / 2) - 1 && session.features.includes("checkpoint")) {
      await session.checkpoint("passive"); // so a snapshot file is swept too
      before = snapshotDir(session.dirPath);
    }
  }
}

export const corruptionSweep: Scenario<Input> = {
  name: "corruption-sweep",
  summary:
    "every block of every WAL file zeroed, junked, bit-flipped, unreadable (EIO) or swapped, after a clean close and after a crash: acked batches outside the damage never silently lost",
  description:
    "CORDS (FAST'17) put one corrupt or unreadable block into each file of real systems; PAR (FAST'18) found WALs that take damage in the middle of the log for a torn tail and silently cut off the acknowledged records after it. walcheck appends a few KiB of batches (with a checkpoint among them where the adapter has one), closes cleanly, appends more and SIGKILLs; after each ending it damages a copy of the directory, one fault in one block (512 B in files up to 16 KiB, 4 KiB above) at a time (zeros, seeded junk, one flipped bit, EIO on every read of the block, the block swapped with another of the same file), recovers the copy (the `recover` op where the adapter has it, else a fresh process) and classifies the outcome: refused, recovered every acked batch, recovered with a silently changed value, recovered with acked batches missing. An acked batch whose bytes lie wholly outside the damaged block missing while recovery did not refuse is a violation for every adapter (after a bit flip, only for adapters that declare `checksums`); a changed value is a violation for adapters that declare `checksums` and a counted finding otherwise. The report draws the matrix (file and region by fault). Opt-in: `walcheck run --sweep`, or `--scenarios corruption-sweep`.",
  needs: [],
  optIn: true,
  usesFsFaults: true,
  workload: `${2 * BATCHES_PER_HALF} single-batch appends of 1-3 new keys (a passive checkpoint in each half where supported); a clean close after the first half, a SIGKILL after the second`,
  faults: `per ending, per block of every file: zeros, junk, one bit flipped, EIO on read (Node.js adapters), a swap with another block; at most ${RECOVERIES_PER_ENDING} recoveries per ending`,
  invariants: [
    {
      id: "no-loss-after-damage",
      text: "recovery refuses, or keeps every acked batch whose bytes lie wholly after the damaged block (damage is not a torn tail)",
    },
    {
      id: "no-loss-outside-damage",
      text: "recovery refuses, or keeps every acked batch whose bytes lie before the damaged block or in another file",
    },
    {
      id: "no-silent-change",
      text: "an adapter that declares checksums refuses (or check reports) rather than serve a value that differs from the acked one",
    },
  ],
  defaultCases: 1,
  caseTimeoutMs: () => 600_000,
  // One seed, never shrunk: a smaller seed is another life, and the sweep is too dear to run twice.
  arbitrary: () => fc.noShrink(fc.integer({ min: 0, max: 2 ** 31 - 1 }).map((seed) => ({ seed }))),
  async execute(input, session, env) {
    const rng = new Prng(input.seed);
    const lived: { seq: number; puts: Record<string, string>; added: Appended[] | undefined }[] = [];
    await session.start();
    await appendHalf(session, rng, 1, BATCHES_PER_HALF, lived);
    await session.closeClean();
    const clean = snapshotDir(session.dirPath);
    const cleanAcked = lived.length;
    await session.start();
    if (cleanAcked === BATCHES_PER_HALF) await appendHalf(session, rng, cleanAcked + 1, BATCHES_PER_HALF, lived);
    await session.crash();
    const crashed = snapshotDir(session.dirPath);

    const matrix = (session.stats.sweep = emptySweep());
    const batchesOf = (final: Snapshot, n: number): SweptBatch[] =>
      lived.slice(0, n).map((b) => ({ seq: b.seq, puts: b.puts, at: locate(b.added, final) }));
    const a = await sweepEnding(session, env, input.seed, "clean", clean, batchesOf(clean, cleanAcked), matrix);
    const b = await sweepEnding(session, env, input.seed, "crash", crashed, batchesOf(crashed, lived.length), matrix);
    const failure = a.failure ?? b.failure;
    if (!failure) return;
    // Keep the damaged copy for a person (the case runner keeps the session's directory).
    fs.rmSync(session.dirPath, { recursive: true, force: true });
    for (const [file, bytes] of failure.files) {
      fs.mkdirSync(path.dirname(path.join(session.dirPath, file)), { recursive: true });
      fs.writeFileSync(path.join(session.dirPath, file), bytes);
    }
    const { ending, file, block, fault } = failure.cell;
    session.sweepCell = { ending, file, block, fault };
    session.tampered({
      kind: "fault",
      at: `${failure.what}, after the ${ending === "clean" ? "clean close" : "crash"}`,
    });
    const total = a.violations + b.violations;
    const v = failure.verdict.violation!;
    session.fail(
      v.invariant,
      `${v.message}; ${failure.what}${total > 1 ? ` (${total} damaged copies violated the sweep's invariants in this case; the matrix is in the report)` : ""}`,
    );
  },
};
