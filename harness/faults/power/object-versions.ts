import type { TraceOp } from "./trace.js";

// The versions of one object (a file's data or a directory's entries) a crash can leave:
// its durable version with some of its pending units applied, in trace order. Versions are
// immutable and shared between crash states.

/** What a directory entry names: a file (internal inode id) or a directory (internal directory id). */
export type Target = { kind: "file"; inode: number } | { kind: "dir"; dir: number };
export type Entries = ReadonlyMap<string, Target>;

/** A pending op on one object: kept or lost as a whole (a write may also tear). */
export interface Unit<V = unknown> {
  /** Its trace line. */
  i: number;
  op: TraceOp;
  /** The half of a cross-directory rename: the new name, or the removal of the old one. */
  part?: "new name" | "old name";
  /** For a person: "write of 43 bytes at 128 of wal.log (#15)". */
  label: string;
  track: Track<V>;
  /** Its index among its object's pending units. */
  pos: number;
  /** Its index in the replay's pending list (kept up to date while it is pending). */
  at: number;
  apply(v: V): V;
  /** A write's bytes, for tearing it. */
  write?: { offset: number; bytes: Buffer };
  /** A directory unit that gives a file or directory an entry (create, link, mkdir, a rename's new name): what it names. */
  entry?: Target;
  /** A directory unit of a rename of a file (either half): the file's data. */
  moves?: Track<unknown>;
}

/** One object: its durable version, its pending units, and every version a crash can leave of it. */
export class Track<V> {
  units: Unit<V>[] = [];
  /** prefixes[t]: the durable version with the first t pending units applied. */
  prefixes: V[];
  // omitted[t]: every pending unit applied but the t-th; built when first asked for (a
  // replay to one cut needs it only there), then kept up to date unit by unit.
  private omitted: V[] | undefined;

  constructor(durable: V) {
    this.prefixes = [durable];
  }

  get durable(): V {
    return this.prefixes[0]!;
  }

  /** Every pending unit applied: what the process sees. */
  get latest(): V {
    return this.prefixes[this.prefixes.length - 1]!;
  }

  /** Every pending unit applied but the t-th (0-based). */
  omit(t: number): V {
    if (!this.omitted) {
      this.omitted = [];
      for (let k = 0; k < this.units.length; k++) {
        let v: V = this.prefixes[k] as V;
        for (const u of this.units.slice(k + 1)) v = u.apply(v);
        this.omitted.push(v);
      }
    }
    return this.omitted[t]!;
  }

  // Versions are never changed in place (states built at earlier cuts hold them): each
  // unit makes new ones. An omit version gains the new unit; omitting the new unit leaves
  // what was latest.
  add(unit: Unit<V>): void {
    const latest = this.latest;
    if (this.omitted) {
      this.omitted = this.omitted.map((v) => unit.apply(v));
      this.omitted.push(latest);
    }
    this.prefixes.push(unit.apply(latest));
    this.units.push(unit);
  }

  /** Make every pending unit durable. */
  sync(): void {
    this.prefixes = [this.latest];
    this.omitted = undefined;
    this.units = [];
  }
}
