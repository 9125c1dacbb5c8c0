import type { Index } from '../lib/ids.js';

/**
 * StateMachine is what the node replicates (the room registry; a small key-value machine in
 * tests). It is deterministic: the same entries in the same order give the same results.
 */
export interface StateMachine {
  /**
   * apply runs one committed command and returns its encoded result for the proposer.
   * quotaBytes is the state quota the leader stamped into the entry (Infinity: none).
   */
  apply(index: Index, payload: Uint8Array, entryTimeMs: number, quotaBytes: number): Uint8Array;
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
