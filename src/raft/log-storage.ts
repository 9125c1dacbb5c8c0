import { assert } from '../lib/assert.js';
import { type Index, type Term, index } from '../lib/ids.js';
import { PackedLog } from './packed-log.js';
import type { Entry, HardState, SnapshotMeta } from './types.js';
import { EMPTY_HARD_STATE } from './types.js';

/**
 * LogStorage is the core's read-only view of what is durable: the snapshot base, the entries
 * after it, and the hard state at start-up. The node writes to it (after persisting) through
 * the concrete class; the core only reads. Entries from firstIndex() to lastIndex() must be
 * readable synchronously, so implementations keep the tail after the last snapshot in memory.
 */
export interface LogStorage {
  /** initialHardState is the hard state recovered at start-up. */
  initialHardState(): HardState;
  /** snapshotMeta is the newest snapshot the log is based on (index 0 when there is none). */
  snapshotMeta(): SnapshotMeta;
  /** firstIndex is snapshotMeta().index + 1: the first entry still held. */
  firstIndex(): Index;
  /** lastIndex is the last entry held, or the snapshot index when no entry follows it. */
  lastIndex(): Index;
  /** term returns the term of entry i for snapshotMeta().index <= i <= lastIndex(), else null. */
  term(i: Index): Term | null;
  /** entries returns [lo, hi) with firstIndex() <= lo <= hi <= lastIndex() + 1, at most maxBytes (at least one). */
  entries(lo: Index, hi: Index, maxBytes: number): readonly Entry[];
}

/**
 * MemoryLogStorage is LogStorage's in-memory twin, used by the simulator and the unit tests,
 * and the in-memory tail of the node's DiskLogStorage. Appended entries are copied into a
 * PackedLog: `entries` returns new Entry objects on each call, with data that are views of
 * shared slabs, valid for good (never written over) but not to be written into.
 */
export class MemoryLogStorage implements LogStorage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private snapshot: SnapshotMeta = { index: index(0), term: 0 as Term, voters: [], learners: [], contexts: {} };
  /** log: position k holds the entry at index snapshot.index + 1 + k. */
  private readonly log = new PackedLog();

  constructor(voters: readonly SnapshotMeta['voters'][number][] = []) {
    this.snapshot = { ...this.snapshot, voters };
  }

  initialHardState(): HardState {
    return this.hardState;
  }

  snapshotMeta(): SnapshotMeta {
    return this.snapshot;
  }

  firstIndex(): Index {
    return index(this.snapshot.index + 1);
  }

  lastIndex(): Index {
    return index(this.snapshot.index + this.log.length);
  }

  term(i: Index): Term | null {
    if (i === this.snapshot.index) return this.snapshot.term;
    if (i < this.snapshot.index || i > this.lastIndex()) return null;
    const k = i - this.snapshot.index - 1;
    assert(k >= 0 && k < this.log.length, `memory log: entry ${i} misplaced`);
    return this.log.term(k);
  }

  entries(lo: Index, hi: Index, maxBytes: number): readonly Entry[] {
    assert(
      lo >= this.firstIndex() && hi <= this.lastIndex() + 1 && lo <= hi,
      () => `entries [${lo},${hi}) out of range`,
    );
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const k = i - this.snapshot.index - 1;
      assert(k >= 0 && k < this.log.length, `memory log: missing entry ${i}`);
      bytes += this.log.byteLength(k);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(this.log.entry(k, i));
    }
    assert(out.length > 0 || lo === hi, 'memory log: entries returned none');
    return out;
  }

  // Writes, called by the owner after the core's Ready says so.

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  /**
   * append stores copies of entries, replacing any held entries at the same or higher indexes
   * (the caller's buffers are not kept: on a follower they are views of whole received batches).
   */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert(first.index > this.snapshot.index, () => `append at ${first.index} below snapshot ${this.snapshot.index}`);
    assert(
      first.index <= this.lastIndex() + 1,
      () => `append at ${first.index} leaves a gap after ${this.lastIndex()}`,
    );
    this.log.truncate(first.index - this.snapshot.index - 1);
    for (const entry of entries) {
      assert(entry.index === this.lastIndex() + 1, 'append: entries not contiguous');
      this.log.push(entry);
    }
  }

  /**
   * applySnapshot makes `meta` the base of an empty log. The core installs a snapshot only
   * when its log does not already hold the snapshot's last entry, so nothing after it can be
   * trusted (Raft thesis §5.3: discard the entire log).
   */
  applySnapshot(meta: SnapshotMeta): void {
    assert(meta.index > this.snapshot.index, () => `applySnapshot ${meta.index} not after ${this.snapshot.index}`);
    this.snapshot = meta;
    this.log.clear();
  }

  /** compact drops entries up to and including meta.index, which a snapshot taken at `meta` covers. */
  compact(meta: SnapshotMeta): void {
    assert(meta.index <= this.lastIndex(), () => `compact ${meta.index} past last ${this.lastIndex()}`);
    if (meta.index <= this.snapshot.index) return;
    assert(this.term(meta.index) === meta.term, 'compact: snapshot term does not match the log');
    this.log.dropFirst(meta.index - this.snapshot.index);
    this.snapshot = meta;
  }
}
