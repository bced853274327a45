import { CrashStateError } from "./crash-state-error.js";
import { Track, type Entries, type Target, type Unit } from "./object-versions.js";
import { EMPTY, truncateTo, writeAt } from "./sector-bytes.js";
import type { InitialState, TraceOp } from "./trace.js";
import type { PersistenceModel } from "../../protocol/messages.js";

// The abstract persistence model (pessimistic POSIX, after ALICE): every object (a file's
// data, a directory's entries) has a durable version and a list of pending units, the ops
// that changed it since its last fsync (dirsync for a directory). A unit changes exactly
// one object, so units of different objects commute, and a sync makes all of an object's
// units durable at once: the state a crash leaves is, object by object, the durable
// version with some of its pending units applied in trace order.
//
// Files and directories have internal ids: a `create` makes a new inode even when the
// file system recycles an inode number, and a renamed directory keeps its entries. Entry
// ops are resolved to (directory id, name) when they are replayed, so applying them later
// to any crash state needs no path lookup, and a directory whose own entry was lost takes
// everything under it along.
//
// The persistence model (docs/power-loss.md) changes one thing here: under ext4-ordered an
// fsync of a file also makes durable the pending directory units that gave it its entry
// (jbd2 commits the running transaction, which holds them), and a directory fsync that makes
// a rename of a file durable makes the file's data durable first (data=ordered). The other
// differences between models are in which variants of the pending units a crash may leave
// (crash-variants.ts).

/** The directory being recorded has directory id 0. */
export const ROOT_DIR = 0;

const invalid = (op: TraceOp, why: string) =>
  new CrashStateError("POWER_TRACE_INVALID", `power trace line #${op.i} (${op.op}): ${why}`, op.i);

/** An initial state and a trace replayed op by op into durable versions and pending units. */
export class Replay {
  readonly files = new Map<number, Track<Buffer>>();
  readonly dirs = new Map<number, Track<Entries>>();
  /** The pending units, in trace order. */
  pending: Unit[] = [];
  /** Trace ops replayed: the cut the replay stands at. */
  cut = 0;
  /** The last op replayed, for a person: "fsync of seg-1.wal". */
  lastLabel = "";
  /** Trace inode number → internal inode id. */
  private readonly inodes = new Map<number, number>();
  /** Internal inode id → its latest name, for labels. */
  private readonly names = new Map<number, string>();
  private readonly rootPrefix: string;
  private nextId = ROOT_DIR + 1;

  constructor(
    initial: InitialState,
    readonly model: PersistenceModel = "posix-pessimistic",
  ) {
    this.rootPrefix = initial.root.endsWith("/") ? initial.root : `${initial.root}/`;
    const entries = new Map<number, Map<string, Target>>([[ROOT_DIR, new Map()]]);
    // The initial state is durable: its entries go straight into the durable versions.
    const place = (path: string, target: Target) => {
      const rel = this.relative(path);
      const slash = rel.lastIndexOf("/");
      const parent = slash < 0 ? ROOT_DIR : this.initialDir(entries, rel.slice(0, slash));
      entries.get(parent)!.set(rel.slice(slash + 1), target);
    };
    for (const d of initial.dirs) {
      const dir = this.nextId++;
      entries.set(dir, new Map());
      place(d, { kind: "dir", dir });
    }
    for (const f of initial.files) {
      let inode = this.inodes.get(f.ino);
      if (inode === undefined) {
        inode = this.nextId++;
        this.inodes.set(f.ino, inode);
        this.files.set(inode, new Track(f.data));
      }
      this.names.set(inode, this.relative(f.path));
      place(f.path, { kind: "file", inode });
    }
    for (const [id, map] of entries) this.dirs.set(id, new Track<Entries>(map));
  }

  /** Replay one more trace op. */
  step(op: TraceOp): void {
    switch (op.op) {
      case "create": {
        const at = this.entryAt(op, op.path);
        if (this.lookup(at)) throw invalid(op, `${at.rel} already exists`);
        const inode = this.nextId++;
        this.inodes.set(op.ino, inode);
        this.files.set(inode, new Track(EMPTY));
        this.names.set(inode, at.rel);
        this.lastLabel = `create of ${at.rel}`;
        this.addEntries(op, at.dir, [[at.name, { kind: "file", inode }]], undefined, {
          entry: { kind: "file", inode },
        });
        break;
      }
      case "truncate": {
        const inode = this.inodeOf(op, op.ino);
        this.lastLabel = `truncate of ${this.nameOf(inode)} to ${op.size} bytes`;
        this.addUnit(op, this.files.get(inode)!, (v) => truncateTo(v, op.size));
        break;
      }
      case "write": {
        const inode = this.inodeOf(op, op.ino);
        const bytes = Buffer.from(op.data, "base64");
        this.lastLabel = `write of ${bytes.length} bytes at ${op.offset} of ${this.nameOf(inode)}`;
        this.addUnit(op, this.files.get(inode)!, (v) => writeAt(v, op.offset, bytes), {
          write: { offset: op.offset, bytes },
        });
        break;
      }
      case "fsync": {
        const inode = this.inodeOf(op, op.ino);
        this.lastLabel = `${op.kind} of ${this.nameOf(inode)}`;
        this.sync(this.files.get(inode)!);
        if (this.model === "ext4-ordered") this.syncEntriesOf({ kind: "file", inode });
        break;
      }
      case "dirsync": {
        const rel = this.relative(op.path, op);
        this.lastLabel = `dirsync of ${rel || "."}`;
        this.sync(this.dirs.get(this.dirAt(op, rel))!);
        break;
      }
      case "rename": {
        const from = this.entryAt(op, op.from);
        const to = this.entryAt(op, op.to);
        const target = this.existing(op, from, op.ino);
        const replaced = this.lookup(to);
        if (op.replaced !== undefined && replaced?.kind === "file" && this.inodes.get(op.replaced) !== replaced.inode)
          throw invalid(op, `${to.rel} is not inode ${op.replaced}`);
        this.lastLabel = `rename of ${from.rel} → ${to.rel}`;
        // rename(2) of a name onto itself, or onto another link of the same file, does nothing.
        if (
          op.from === op.to ||
          (target.kind === "file" && replaced?.kind === "file" && replaced.inode === target.inode)
        )
          break;
        if (target.kind === "file") this.names.set(target.inode, to.rel);
        const moves = target.kind === "file" ? { moves: this.files.get(target.inode)! } : {};
        if (from.dir === to.dir) {
          this.addEntries(
            op,
            from.dir,
            [
              [from.name, null],
              [to.name, target],
            ],
            undefined,
            { entry: target, ...moves },
          );
        } else {
          // Across directories the halves persist separately, each with its directory's sync.
          this.addEntries(op, to.dir, [[to.name, target]], "new name", { entry: target, ...moves });
          this.addEntries(op, from.dir, [[from.name, null]], "old name", moves);
        }
        break;
      }
      case "unlink": {
        const at = this.entryAt(op, op.path);
        this.existing(op, at, op.ino);
        this.lastLabel = `unlink of ${at.rel}`;
        this.addEntries(op, at.dir, [[at.name, null]]);
        break;
      }
      case "mkdir": {
        const at = this.entryAt(op, op.path);
        if (this.lookup(at)) throw invalid(op, `${at.rel} already exists`);
        const dir = this.nextId++;
        this.dirs.set(dir, new Track<Entries>(new Map()));
        this.lastLabel = `mkdir of ${at.rel}`;
        this.addEntries(op, at.dir, [[at.name, { kind: "dir", dir }]], undefined, { entry: { kind: "dir", dir } });
        break;
      }
      case "rmdir": {
        const at = this.entryAt(op, op.path);
        if (this.existing(op, at).kind !== "dir") throw invalid(op, `${at.rel} is not a directory`);
        this.lastLabel = `rmdir of ${at.rel}`;
        this.addEntries(op, at.dir, [[at.name, null]]);
        break;
      }
      case "link": {
        const from = this.entryAt(op, op.from);
        const to = this.entryAt(op, op.to);
        const target = this.existing(op, from, op.ino);
        if (this.lookup(to)) throw invalid(op, `${to.rel} already exists`);
        this.lastLabel = `link of ${from.rel} → ${to.rel}`;
        this.addEntries(op, to.dir, [[to.name, target]], undefined, { entry: target });
        break;
      }
      case "unsupported":
        throw unsupportedError(op);
      default:
        throw invalid(op, `unknown op ${JSON.stringify((op as { op: unknown }).op)}`);
    }
    this.cut += 1;
  }

  private addUnit<V>(op: TraceOp, track: Track<V>, apply: (v: V) => V, extra: Partial<Unit<V>> = {}): void {
    const label = `${this.lastLabel}${extra.part ? `, its ${extra.part === "new name" ? "new name" : "removal of the old name"}` : ""} (#${op.i})`;
    const unit: Unit<V> = {
      i: op.i,
      op,
      label,
      track,
      pos: track.units.length,
      at: this.pending.length,
      apply,
      ...extra,
    };
    track.add(unit);
    this.pending.push(unit as Unit);
  }

  private addEntries(
    op: TraceOp,
    dir: number,
    effects: [string, Target | null][],
    part?: Unit["part"],
    extra: Pick<Unit, "entry" | "moves"> = {},
  ): void {
    const apply = (v: Entries): Entries => {
      const next = new Map(v);
      for (const [name, target] of effects) {
        if (target) next.set(name, target);
        else next.delete(name);
      }
      return next;
    };
    this.addUnit(op, this.dirs.get(dir)!, apply, part ? { part, ...extra } : extra);
  }

  /**
   * ext4-ordered: the fsync of a file commits the journal's running transaction, which holds
   * the pending directory units that gave the file its entries (its create, links, a rename's
   * new name, and the removal of the old name of a rename across directories): their
   * directories' pending units become durable, and so, in turn, those of the directories that
   * gave those directories their entries.
   */
  private syncEntriesOf(target: Target): void {
    const data = target.kind === "file" ? this.files.get(target.inode) : undefined;
    const same = (a: Target | undefined) =>
      a !== undefined &&
      a.kind === target.kind &&
      (a.kind === "file" ? a.inode === (target as { inode: number }).inode : a.dir === (target as { dir: number }).dir);
    const dirs = new Set(
      this.pending.filter((u) => same(u.entry) || (data && u.moves === data)).map((u) => u.track as Track<Entries>),
    );
    for (const track of dirs) {
      if (track.units.length === 0) continue;
      this.sync(track);
      for (const [id, t] of this.dirs) if (t === track && id !== ROOT_DIR) this.syncEntriesOf({ kind: "dir", dir: id });
    }
  }

  private sync(track: Track<unknown>): void {
    if (track.units.length === 0) return;
    // ext4-ordered: the journal commit that makes a rename of a file durable first writes out
    // that file's data (data=ordered): its pending units become durable with it.
    if (this.model === "ext4-ordered")
      for (const u of track.units) if (u.moves && u.moves !== track) this.sync(u.moves);
    track.sync();
    this.pending = this.pending.filter((u) => u.track !== track);
    this.pending.forEach((u, at) => (u.at = at));
  }

  /** `path` relative to the recorded directory ("" for the directory itself). */
  private relative(path: string, op?: TraceOp): string {
    if (path === this.rootPrefix.slice(0, -1)) return "";
    if (path.startsWith(this.rootPrefix)) return path.slice(this.rootPrefix.length);
    const why = `${path} is outside the recorded directory ${this.rootPrefix}`;
    throw op ? invalid(op, why) : new CrashStateError("POWER_TRACE_INVALID", `power initial state: ${why}`);
  }

  private initialDir(entries: Map<number, Map<string, Target>>, rel: string): number {
    let dir = ROOT_DIR;
    for (const name of rel.split("/")) {
      const t = entries.get(dir)!.get(name);
      if (t?.kind !== "dir")
        throw new CrashStateError(
          "POWER_TRACE_INVALID",
          `power initial state: ${rel} is not one of its directories (or comes after its children)`,
        );
      dir = t.dir;
    }
    return dir;
  }

  /** The directory at `rel` as the process sees it. */
  private dirAt(op: TraceOp, rel: string): number {
    let dir = ROOT_DIR;
    if (rel === "") return dir;
    for (const name of rel.split("/")) {
      const t = this.dirs.get(dir)!.latest.get(name);
      if (t?.kind !== "dir") throw invalid(op, `${rel} is not a directory`);
      dir = t.dir;
    }
    return dir;
  }

  private entryAt(op: TraceOp, path: string): { dir: number; name: string; rel: string } {
    const rel = this.relative(path, op);
    if (rel === "") throw invalid(op, "an entry op on the recorded directory itself");
    const slash = rel.lastIndexOf("/");
    return { dir: slash < 0 ? ROOT_DIR : this.dirAt(op, rel.slice(0, slash)), name: rel.slice(slash + 1), rel };
  }

  private lookup(at: { dir: number; name: string }): Target | undefined {
    return this.dirs.get(at.dir)!.latest.get(at.name);
  }

  /** The entry's target, which must exist (and, for a file, be inode `ino`). */
  private existing(op: TraceOp, at: { dir: number; name: string; rel: string }, ino?: number): Target {
    const target = this.lookup(at);
    if (!target) throw invalid(op, `${at.rel} does not exist`);
    if (ino !== undefined && target.kind === "file" && this.inodes.get(ino) !== target.inode)
      throw invalid(op, `${at.rel} is not inode ${ino}`);
    return target;
  }

  private inodeOf(op: TraceOp, ino: number): number {
    const inode = this.inodes.get(ino);
    if (inode === undefined)
      throw invalid(op, `inode ${ino} was neither created in the trace nor in the initial state`);
    return inode;
  }

  private nameOf(inode: number): string {
    return this.names.get(inode) ?? `inode ${inode}`;
  }
}

export function unsupportedError(op: Extract<TraceOp, { op: "unsupported" }>): CrashStateError {
  return new CrashStateError(
    "POWER_UNSUPPORTED",
    `power trace line #${op.i}: ${op.what}${op.path ? ` on ${op.path}` : ""} cannot be replayed by the power-loss model`,
    op.i,
  );
}
