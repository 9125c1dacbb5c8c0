import type { Index, Term } from '../lib/ids.js';
import type { LogStorage } from './log-storage.js';
import type { Entry, HardState, SnapshotMeta } from './types.js';

// The seams the node drives beside the core's read-only LogStorage (STYLE rule 11): the durable
// log's writes, the snapshot store and the replicated state machine. They live here, in the layer
// below both their users and their implementations, so storage/ and registry/ implement them
// without importing node/ (as hashicorp/raft keeps FSM, LogStore and SnapshotStore in package raft).

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

/**
 * StateMachine is what the node replicates (the room registry; a small key-value machine in
 * tests). It is deterministic: the same entries in the same order give the same results.
 */
export interface StateMachine {
  /**
   * apply runs one committed command and returns its encoded result for the proposer.
   * quotaBytes is the state quota the leader stamped into the entry (Infinity: none); term is
   * the entry's term (the registry extends media-node leases when it rises: a leader change).
   */
  apply(index: Index, payload: Uint8Array, entryTimeMs: number, quotaBytes: number, term: Term): Uint8Array;
  /** captureSnapshot freezes the current state cheaply; the source serializes it in slices. */
  captureSnapshot(): SnapshotSource;
  /** restore replaces the whole state with a snapshot's bytes. */
  restore(chunks: AsyncIterable<Uint8Array>): Promise<void>;
}

/** SnapshotSource yields a captured state in slices of at most maxBytes (about), null at the end. */
export interface SnapshotSource {
  nextChunk(maxBytes: number): Uint8Array | null;
  /** close ends the capture early (the snapshot could not be written), freeing what it kept. */
  close(): void;
}
