import { assert } from '../lib/assert.js';
import { type Index, type Term, index } from '../lib/ids.js';
import type { LogStorage } from './log-storage.js';
import type { Entry, SnapshotMeta } from './types.js';

/**
 * RaftLog is the core's whole log: what storage holds durably, plus an unstable tail of
 * entries (and possibly a snapshot) handed out in Ready but not yet acknowledged as persisted.
 *
 * Invariants: applied <= committed <= lastIndex(); unstable entries start at `offset`; when an
 * unstable snapshot is set, storage's content is superseded and the log is that snapshot
 * followed by the unstable entries.
 */
export class RaftLog {
  /** unstableSnapshot is a received snapshot not yet persisted. */
  unstableSnapshot: SnapshotMeta | null = null;
  /** unstable holds entries from `offset` on that are not yet durable. */
  private unstable: Entry[] = [];
  private offset: Index;
  // The three indexes below move only forward, through commitTo/restore, handOutTo and appliedTo, which
  // assert applied <= handedOut <= committed <= lastIndex() on every write.
  /** commitIndex is the highest index known to be committed. */
  private commitIndex: Index;
  /** appliedIndex is the highest index the state machine has acknowledged applying. */
  private appliedIndex: Index;
  /** handedOutIndex is the highest committed index given out in a Ready. */
  private handedOutIndex: Index;

  constructor(readonly storage: LogStorage) {
    this.offset = index(storage.lastIndex() + 1);
    const snap = storage.snapshotMeta();
    const commit = storage.initialHardState().commit;
    this.commitIndex = index(Math.max(commit, snap.index));
    this.appliedIndex = snap.index;
    this.handedOutIndex = snap.index;
    assert(this.committed <= this.lastIndex(), () => `log: commit ${this.committed} past last ${this.lastIndex()}`);
  }

  get committed(): Index {
    return this.commitIndex;
  }

  get applied(): Index {
    return this.appliedIndex;
  }

  get handedOut(): Index {
    return this.handedOutIndex;
  }

  /** handOutTo: committed entries up to i were given out in a Ready (or a snapshot covering them was). */
  handOutTo(i: Index): void {
    assert(i >= this.handedOutIndex, () => `log: handing out ${i} behind ${this.handedOutIndex}`);
    assert(i <= this.commitIndex, () => `log: handing out ${i} beyond commit ${this.commitIndex}`);
    this.handedOutIndex = i;
  }

  /** appliedTo: the state machine applied everything up to i, all of it handed out before. */
  appliedTo(i: Index): void {
    assert(i >= this.appliedIndex, () => `log: applied ${i} behind ${this.appliedIndex}`);
    assert(i <= this.handedOutIndex, () => `log: applied ${i} never handed out (${this.handedOutIndex})`);
    this.appliedIndex = i;
  }

  firstIndex(): Index {
    if (this.unstableSnapshot !== null) return index(this.unstableSnapshot.index + 1);
    return this.storage.firstIndex();
  }

  lastIndex(): Index {
    if (this.unstable.length > 0) return index(this.offset + this.unstable.length - 1);
    if (this.unstableSnapshot !== null) return this.unstableSnapshot.index;
    return this.storage.lastIndex();
  }

  lastTerm(): Term {
    const t = this.term(this.lastIndex());
    assert(t !== null, 'log: last entry has no term');
    return t;
  }

  /** snapshotMeta is the snapshot the log currently starts after. */
  snapshotMeta(): SnapshotMeta {
    return this.unstableSnapshot ?? this.storage.snapshotMeta();
  }

  /** term of entry i, or null when i is compacted away or beyond the last entry. */
  term(i: Index): Term | null {
    if (i >= this.offset && i < this.offset + this.unstable.length) {
      const e = this.unstable[i - this.offset];
      assert(e !== undefined && e.index === i, 'log: unstable entry misplaced');
      return e.term;
    }
    if (i > this.lastIndex()) return null;
    const snap = this.snapshotMeta();
    if (i === snap.index) return snap.term;
    if (i < snap.index || this.unstableSnapshot !== null) return null;
    return this.storage.term(i);
  }

  matchTerm(i: Index, t: Term): boolean {
    return this.term(i) === t;
  }

  /** isUpToDate: a candidate's log ending at (lastIdx, lastT) is at least as up to date as ours (§5.4.1). */
  isUpToDate(lastIdx: Index, lastT: Term): boolean {
    const ourTerm = this.lastTerm();
    return lastT > ourTerm || (lastT === ourTerm && lastIdx >= this.lastIndex());
  }

  /** entries returns [lo, hi) capped at maxBytes (always at least one entry), or null if lo is compacted. */
  entries(lo: Index, hi: Index, maxBytes: number): readonly Entry[] | null {
    assert(lo <= hi && hi <= this.lastIndex() + 1, () => `log: entries [${lo},${hi}) beyond last ${this.lastIndex()}`);
    if (lo < this.firstIndex()) return null;
    if (lo === hi) return [];
    const out: Entry[] = [];
    let bytes = 0;
    if (lo < this.offset) {
      const stored = this.storage.entries(lo, index(Math.min(hi, this.offset)), maxBytes);
      for (const e of stored) {
        bytes += e.data.byteLength;
        out.push(e);
      }
      if (out.length < Math.min(hi, this.offset) - lo) return out;
    }
    for (let i = Math.max(lo, this.offset); i < hi; i++) {
      const e = this.unstable[i - this.offset];
      assert(e !== undefined, 'log: unstable entry missing');
      bytes += e.data.byteLength;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /** append adds entries at their indexes, truncating any unstable or stored entries from there. */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert(
      first.index > this.committed,
      () => `log: overwriting committed entry ${first.index} (commit ${this.committed})`,
    );
    assert(
      first.index <= this.lastIndex() + 1,
      () => `log: append at ${first.index} leaves a gap after ${this.lastIndex()}`,
    );
    if (first.index >= this.offset) {
      this.unstable.length = first.index - this.offset;
    } else {
      // The stored entries from first.index on are superseded; storage replaces them on persist.
      this.unstable = [];
      this.offset = first.index;
    }
    this.unstable.push(...entries);
  }

  /**
   * maybeAppend is a follower's append: if our log holds (prevIndex, prevTerm), keep the entries
   * that agree, replace from the first conflict on, and advance commit. Returns the last index
   * this append vouches for, or null when prevIndex/prevTerm does not match.
   */
  maybeAppend(prevIndex: Index, prevTerm: Term, commit: Index, entries: readonly Entry[]): Index | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = index(prevIndex + entries.length);
    const conflictAt = this.findConflict(entries);
    if (conflictAt !== null) {
      assert(conflictAt > this.committed, () => `log: entry ${conflictAt} conflicts with committed ${this.committed}`);
      this.append(entries.slice(conflictAt - prevIndex - 1));
    }
    this.commitTo(index(Math.min(commit, lastNew)));
    return lastNew;
  }

  /** findConflict returns the index of the first entry that is new or disagrees in term, or null. */
  private findConflict(entries: readonly Entry[]): Index | null {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return null;
  }

  /**
   * findConflictByTerm returns the largest index <= i whose term is <= t (the fast back-off hint):
   * every entry after it up to i has a term above t, so it cannot match the other log there.
   */
  findConflictByTerm(i: Index, t: Term): Index {
    const floor = this.snapshotMeta().index;
    let at = Math.min(i, this.lastIndex());
    while (at > floor) {
      const at_term = this.term(index(at));
      if (at_term === null || at_term <= t) break;
      at--;
    }
    return index(at);
  }

  commitTo(i: Index): void {
    if (i <= this.committed) return;
    assert(i <= this.lastIndex(), () => `log: commit ${i} beyond last index ${this.lastIndex()}`);
    this.commitIndex = i;
  }

  /** restore replaces the log with a received snapshot (persisted by the next Ready). */
  restore(meta: SnapshotMeta): void {
    assert(meta.index > this.committed, 'log: restoring a snapshot at or below commit');
    this.unstableSnapshot = meta;
    this.unstable = [];
    this.offset = index(meta.index + 1);
    this.commitIndex = meta.index;
  }

  /** unstableEntries are entries to persist in the next Ready. */
  unstableEntries(): readonly Entry[] {
    return this.unstable;
  }

  /** stableTo: the caller persisted entries up to (i, t); drop them from the unstable tail if still there. */
  stableTo(i: Index, t: Term): void {
    if (i < this.offset || !this.matchTerm(i, t)) return;
    this.unstable = this.unstable.slice(i + 1 - this.offset);
    this.offset = index(i + 1);
  }

  stableSnapshotTo(i: Index): void {
    if (this.unstableSnapshot !== null && this.unstableSnapshot.index === i) this.unstableSnapshot = null;
  }

  /** stableLastIndex is the last index durable in storage (and not superseded by the unstable tail). */
  stableLastIndex(): Index {
    if (this.unstableSnapshot !== null) return index(0);
    return index(Math.min(this.storage.lastIndex(), this.offset - 1));
  }

  /** nextCommitted returns committed entries not yet handed out, up to maxBytes and index upTo. */
  nextCommitted(maxBytes: number, upTo: Index = this.committed): readonly Entry[] {
    const last = Math.min(upTo, this.committed);
    if (this.handedOut >= last || this.unstableSnapshot !== null) return [];
    const lo = index(Math.max(this.handedOut + 1, this.firstIndex()));
    const got = this.entries(lo, index(last + 1), maxBytes);
    assert(got !== null, 'log: committed entries compacted before being applied');
    return got;
  }

  hasNextCommitted(upTo: Index = this.committed): boolean {
    return this.handedOut < Math.min(upTo, this.committed) && this.unstableSnapshot === null;
  }
}
