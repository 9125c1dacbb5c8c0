import { assert } from '../lib/assert.js';
import { type Index, index, term } from '../lib/ids.js';
import type { Entry, SnapshotMeta } from '../raft/index.js';
import { StorageCorruptionError } from './record.js';
import type { WalEvent, WalPosition } from './wal.js';

/** EMPTY_SNAPSHOT is the base of a log that no snapshot covers yet. */
export const EMPTY_SNAPSHOT: SnapshotMeta = Object.freeze({
  index: index(0),
  term: term(0),
  voters: [],
  learners: [],
  contexts: {},
});

/**
 * ReplayedLog rebuilds the log from the WAL's records in the order they were written: an entry
 * at an index already held replaces it and everything after (a conflicting suffix), a
 * snapshotBase record voids everything before it, a commit record raises the commit index.
 */
export class ReplayedLog {
  /** start is the index of entries[0]. */
  private start = 1;
  private entries: Entry[] = [];
  /** base: the last installed snapshot the WAL records, or null. */
  base: SnapshotMeta | null = null;
  commit = 0;

  on(e: WalEvent, at: WalPosition): void {
    switch (e.type) {
      case 'entry':
        return this.onEntry(e.entry, at);
      case 'commit':
        this.commit = Math.max(this.commit, e.commit);
        return;
      case 'snapshotBase':
        this.base = e.meta;
        this.entries = [];
        this.start = e.meta.index + 1;
        return;
      default:
        return e satisfies never;
    }
  }

  private onEntry(entry: Entry, at: WalPosition): void {
    const i = entry.index;
    if ((this.entries.length === 0 && this.base === null) || i < this.start) {
      this.start = i; // the oldest segment left after compaction begins mid-log
      this.entries = [];
    } else if (i > this.start + this.entries.length) {
      throw new StorageCorruptionError(
        at.file,
        at.offset,
        `entry ${i} leaves a gap after entry ${this.start + this.entries.length - 1}`,
      );
    }
    this.entries.length = i - this.start;
    this.entries.push(entry);
  }

  isEmpty(): boolean {
    return this.entries.length === 0 && this.base === null;
  }

  termAt(i: number): number | null {
    return this.entries[i - this.start]?.term ?? null;
  }

  /**
   * chooseBase picks the snapshot to start from among the complete files (newest first): the
   * installed one the WAL names, or a newer one whose last entry the log holds with the same
   * term (a snapshot of this very log). A received snapshot that was never installed matches
   * neither and is ignored: the log after it may not agree with it.
   */
  chooseBase(candidates: readonly SnapshotMeta[], dir: string): SnapshotMeta {
    const baseIndex = this.base?.index ?? 0;
    for (const meta of candidates) {
      if (this.base !== null && meta.index === this.base.index && meta.term === this.base.term) return meta;
      if (meta.index >= baseIndex && this.termAt(meta.index) === meta.term) return meta;
    }
    if (this.base !== null)
      throw new StorageCorruptionError(
        dir,
        0,
        `the log rests on snapshot ${this.base.index} (term ${this.base.term}), whose file is missing or damaged`,
      );
    if (this.entries.length > 0 && this.start !== 1) {
      throw new StorageCorruptionError(
        dir,
        0,
        `the log starts at entry ${this.start} but no snapshot file covers the entries before it`,
      );
    }
    return EMPTY_SNAPSHOT;
  }

  /** entriesAfter returns the entries after the chosen base. */
  entriesAfter(base: SnapshotMeta): Entry[] {
    assert(base.index === 0 || this.start <= base.index + 1, 'the chosen snapshot is not contiguous with the log');
    return this.entries.slice(Math.max(0, base.index + 1 - this.start));
  }

  lastIndexAfter(base: SnapshotMeta): Index {
    return index(Math.max(base.index, this.start + this.entries.length - 1));
  }
}
