import type { Message } from './messages.js';
import type { Entry, HardState, ReadContext, ReadState, SnapshotMeta, SoftState } from './types.js';

/**
 * Ready is everything the core wants done, as data. The caller carries it out in this order,
 * then calls `advance()`:
 *
 * 1. Persist: if `snapshot` is set, install its bytes (already received by the transport) and
 *    make it the base of the log; then append `entries` (they replace any stored entries at
 *    the same or higher indexes) and write `hardState` if set. All of it must be durable
 *    (fsynced) before step 2 sends `messagesAfterPersist`.
 * 2. Send `messages` (may go out before or during persist) and `messagesAfterPersist`
 *    (votes and append acknowledgements: only after persist, or a crash could forget them).
 * 3. Apply `committed` to the state machine in order. They are durable here or in step 1:
 *    those the log already held durably (same index and term) before this Ready may be
 *    applied while step 1 is in flight; the others only after it.
 *    If `snapshot` is set, restore the state machine from it before applying.
 * 4. Serve `readStates` once the applied index reaches each one's index.
 * 5. If `snapshotWanted` is set, snapshot the state machine at its applied index (after
 *    step 3) when convenient, then compact storage up to that index.
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  readonly snapshot: SnapshotMeta | null;
  readonly entries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly messagesAfterPersist: readonly Message[];
  readonly committed: readonly Entry[];
  readonly readStates: readonly ReadState[];
  /** readsFailed: ReadIndex requests that cannot be confirmed (leadership lost); fail them now. */
  readonly readsFailed: readonly ReadContext[];
  /** snapshotWanted: enough entries were applied since the last snapshot; take one (step 5). */
  readonly snapshotWanted: boolean;
}

export function readyIsEmpty(rd: Ready): boolean {
  return (
    rd.softState === null &&
    rd.hardState === null &&
    rd.snapshot === null &&
    rd.entries.length === 0 &&
    rd.messages.length === 0 &&
    rd.messagesAfterPersist.length === 0 &&
    rd.committed.length === 0 &&
    rd.readStates.length === 0 &&
    rd.readsFailed.length === 0 &&
    !rd.snapshotWanted
  );
}
