import { assert } from '../lib/assert.js';
import { type Index, type Term, index } from '../lib/ids.js';
import type { Logger } from '../lib/logger.js';
import {
  EMPTY_HARD_STATE,
  type Entry,
  type HardState,
  MemoryLogStorage,
  type NodeLogStorage,
  type SnapshotMeta,
} from '../raft/index.js';
import { ensureDir, removeTempFiles, syncDataDir } from './files.js';
import { HARD_STATE_FILE, readHardState, writeHardState } from './hard-state-file.js';
import { ReplayedLog } from './log-recovery.js';
import { StorageCorruptionError } from './record.js';
import { DiskSnapshotStore } from './snapshot-store.js';
import { type StorageFs, nodeStorageFs } from './storage-fs.js';
import { Wal } from './wal.js';

export interface DiskStorageOptions {
  readonly dir: string;
  /** fsync: false (--fsync=never) skips every fsync: faster, and a machine crash may lose acknowledged writes. */
  readonly fsync: boolean;
  readonly logger: Logger;
  /** walSegmentBytesMax overrides STORAGE_LIMITS.walSegmentBytesMax (tests use small segments). */
  readonly walSegmentBytesMax?: number;
  /** fs is the storage seam every file operation goes through (nodeStorageFs when absent). */
  readonly fs?: StorageFs;
}

/**
 * DiskLogStorage is the node's durable log: a WAL for entries, a hard-state file for term and
 * vote, snapshot files, and in memory the entries after the newest snapshot (the core reads
 * them synchronously). Every write is durable before its promise resolves.
 */
export class DiskLogStorage implements NodeLogStorage {
  /** housekeeping: deletions of covered segments and snapshots, in order, off the write path. */
  private housekeeping: Promise<void> = Promise.resolve();

  private constructor(
    private readonly opts: DiskStorageOptions,
    private readonly mem: MemoryLogStorage,
    private readonly wal: Wal,
    readonly snapshots: DiskSnapshotStore,
    /** written: the term and vote the hard-state file holds. */
    private written: HardState,
    /** commitWritten: the commit index last written to the WAL (or recovered). */
    private commitWritten: Index,
  ) {}

  /**
   * open recovers the newest usable snapshot plus the log after it, or initializes an empty
   * dir. Damage that could hide acknowledged data throws StorageCorruptionError.
   */
  static async open(opts: DiskStorageOptions): Promise<DiskLogStorage> {
    const startMs = performance.now();
    const fs = opts.fs ?? nodeStorageFs;
    await ensureDir(fs, opts.dir, opts.fsync);
    await removeTempFiles(fs, opts.dir);
    if (opts.fsync) await syncDataDir(fs, opts.dir);
    const snapshots = new DiskSnapshotStore(opts.dir, opts.fsync, fs);
    const candidates = await snapshots.list();
    const replay = new ReplayedLog();
    const wal = await Wal.open(
      {
        dir: opts.dir,
        fsync: opts.fsync,
        logger: opts.logger,
        fs,
        ...(opts.walSegmentBytesMax === undefined ? {} : { segmentBytesMax: opts.walSegmentBytesMax }),
      },
      (e, at) => replay.on(e, at),
    );
    let hs = await readHardState(fs, opts.dir);
    if (hs === null) {
      if (!replay.isEmpty() || candidates.length > 0) {
        throw new StorageCorruptionError(
          `${opts.dir}/${HARD_STATE_FILE}`,
          0,
          'the hard-state file is missing but the log holds entries; the vote it held is lost',
        );
      }
      hs = EMPTY_HARD_STATE;
      await writeHardState(fs, opts.dir, hs, opts.fsync);
    }
    const base = replay.chooseBase(candidates, opts.dir);
    const mem = new MemoryLogStorage();
    if (base.index > 0) mem.applySnapshot(base);
    mem.append(replay.entriesAfter(base));
    const commit = index(Math.min(Math.max(hs.commit, replay.commit, base.index), replay.lastIndexAfter(base)));
    mem.setHardState({ ...hs, commit });
    opts.logger.info('storage_recovered', {
      dir: opts.dir,
      snapshotIndex: base.index,
      lastIndex: mem.lastIndex(),
      commit,
      term: hs.term,
      walSegments: wal.segmentCount(),
      durationMs: Math.round(performance.now() - startMs),
    });
    return new DiskLogStorage(opts, mem, wal, snapshots, hs, commit);
  }

  // ---- LogStorage: the core's read view ------------------------------------------------

  initialHardState(): HardState {
    return this.mem.initialHardState();
  }

  snapshotMeta(): SnapshotMeta {
    return this.mem.snapshotMeta();
  }

  firstIndex(): Index {
    return this.mem.firstIndex();
  }

  lastIndex(): Index {
    return this.mem.lastIndex();
  }

  term(i: Index): Term | null {
    return this.mem.term(i);
  }

  entries(lo: Index, hi: Index, maxBytes: number): readonly Entry[] {
    return this.mem.entries(lo, hi, maxBytes);
  }

  // ---- NodeLogStorage: the writes a Ready asks for ------------------------------------

  /**
   * persist appends the entries and the commit index in one WAL write with one fdatasync, and
   * rewrites the hard-state file when term or vote changed (both before anything is answered).
   * A batch that only moves the commit index is written without a sync: losing it in a crash
   * only means re-learning the commit index from the leader.
   */
  async persist(entries: readonly Entry[], hardState: HardState | null): Promise<void> {
    this.checkPersist(entries, hardState);
    const commit = hardState !== null && hardState.commit !== this.commitWritten ? hardState.commit : null;
    const voteChanged =
      hardState !== null && (hardState.term !== this.written.term || hardState.vote !== this.written.vote);
    const writes = [this.wal.append(entries, commit, entries.length > 0)];
    if (voteChanged)
      writes.push(writeHardState(this.opts.fs ?? nodeStorageFs, this.opts.dir, hardState, this.opts.fsync));
    await Promise.all(writes);
    if (voteChanged) this.written = hardState;
    if (commit !== null) this.commitWritten = commit;
    this.mem.append(entries);
    if (hardState !== null) this.mem.setHardState(hardState);
  }

  /**
   * checkPersist asserts, before a byte reaches the WAL, what the in-memory log asserts again after (pair
   * assertions): the entries are contiguous and join the log (above its snapshot, no gap); the term never goes
   * back; a vote once written is not changed within its term (Raft's one vote per term).
   */
  private checkPersist(entries: readonly Entry[], hardState: HardState | null): void {
    const first = entries[0];
    if (first !== undefined) {
      assert(first.index > this.mem.snapshotMeta().index, () => `persist at ${first.index} below the snapshot`);
      assert(first.index <= this.mem.lastIndex() + 1, () => `persist at ${first.index} leaves a gap`);
      entries.forEach((e, k) => assert(e.index === first.index + k, 'persist: entries not contiguous'));
    }
    if (hardState === null) return;
    const was = this.written;
    assert(hardState.term >= was.term, () => `term ${hardState.term} written after term ${was.term}`);
    assert(
      hardState.term > was.term || was.vote === null || hardState.vote === was.vote,
      () => `vote changed from ${was.vote} to ${hardState.vote} within term ${was.term}`,
    );
  }

  /** applySnapshot rebases the log on an installed snapshot, durably, before the core acknowledges it. */
  async applySnapshot(meta: SnapshotMeta): Promise<void> {
    await this.wal.appendSnapshotBase(meta);
    this.mem.applySnapshot(meta);
    this.tidy(meta);
  }

  /** compact drops the entries a durable snapshot covers, from memory now and from disk soon. */
  compact(meta: SnapshotMeta): void {
    this.mem.compact(meta);
    this.tidy(meta);
  }

  async close(): Promise<void> {
    await this.housekeeping;
    await this.wal.close();
  }

  private tidy(base: SnapshotMeta): void {
    assert(base.index === this.mem.snapshotMeta().index, 'tidy below a snapshot the log does not rest on');
    this.housekeeping = this.housekeeping
      .then(async () => {
        await this.wal.deleteCovered(base.index);
        await this.snapshots.deleteOlderThan(base);
      })
      .catch((e: unknown) => this.opts.logger.warn('storage_cleanup_failed', { error: e }));
  }
}
