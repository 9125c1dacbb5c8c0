import type { Entry, HardState, LogStorage, SnapshotMeta } from '../raft/index.js';

/**
 * NodeLogStorage is the durable log as the node drives it: the core's read view plus the
 * writes a Ready asks for. src/storage's DiskLogStorage implements it.
 */
export interface NodeLogStorage extends LogStorage {
  /** persist appends entries (replacing any at the same or higher index) and the hard state, with one fsync. */
  persist(entries: readonly Entry[], hardState: HardState | null): Promise<void>;
  /** applySnapshot makes a received, already stored snapshot the base of an empty log, durably. */
  applySnapshot(meta: SnapshotMeta): Promise<void>;
  /** compact drops the entries a snapshot taken at `meta` covers. */
  compact(meta: SnapshotMeta): void;
}

/** NodeSnapshotStore holds snapshot bytes by meta; never a whole snapshot in memory. */
export interface NodeSnapshotStore {
  save(meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<void>;
  open(meta: SnapshotMeta): AsyncIterable<Uint8Array>;
}
