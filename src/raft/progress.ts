import { assert } from '../lib/assert.js';
import { type Index, index } from '../lib/ids.js';
import { Inflights } from './inflights.js';

/**
 * ProgressState is how the leader replicates to one follower:
 * - probe: the follower's position is unknown; send one append at a time and back off on reject.
 * - replicate: the follower is keeping up; pipeline appends within the inflights window.
 * - snapshot: the entries it needs are compacted; a snapshot is on its way, send nothing else.
 */
export const PROGRESS_STATES = ['probe', 'replicate', 'snapshot'] as const;
export type ProgressState = (typeof PROGRESS_STATES)[number];

/** Progress is the leader's view of one member. Invariant: match < next, asserted on every write (setPosition). */
export class Progress {
  state: ProgressState = 'probe';
  /** matchIndex is the highest index known to be durable on the member. */
  private matchIndex: Index = index(0);
  /** nextIndex is the index of the next entry to send. */
  private nextIndex: Index;
  /** probeSent pauses a probing follower after one append, until it answers or a heartbeat returns. */
  probeSent = false;
  /** pendingSnapshot is the index of the snapshot being sent, in state snapshot. */
  pendingSnapshot: Index = index(0);
  /** snapshotElapsedTicks counts ticks since the snapshot was sent, to retry a lost one. */
  snapshotElapsedTicks = 0;
  /** recentActive: heard from within the current CheckQuorum window. */
  recentActive = false;
  /** readSeqAcked is the highest ReadIndex round this member confirmed in the current term. */
  readSeqAcked = 0;
  readonly inflights: Inflights;

  constructor(next: Index, inflightAppendsMax: number) {
    this.nextIndex = next;
    assert(next > 0, 'progress: next starts at 1 or later');
    this.inflights = new Inflights(inflightAppendsMax);
  }

  get match(): Index {
    return this.matchIndex;
  }

  get next(): Index {
    return this.nextIndex;
  }

  becomeProbe(): void {
    // After a snapshot, the follower has at least the snapshot's entries.
    const floor = this.state === 'snapshot' ? Math.max(this.match, this.pendingSnapshot) : this.match;
    this.resetState('probe');
    this.setPosition(this.match, index(floor + 1));
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.setPosition(this.match, index(this.match + 1));
  }

  becomeSnapshot(snapshotIndex: Index): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** maybeUpdate records an acknowledgement of `n`; false when it says nothing new. */
  maybeUpdate(n: Index): boolean {
    const updated = this.match < n;
    if (updated) this.probeSent = false;
    this.setPosition(index(Math.max(this.match, n)), index(Math.max(this.next, n + 1)));
    return updated;
  }

  /**
   * maybeDecrTo handles a rejected append of prevLogIndex `rejected`; `hintNext` is where the
   * leader's own log says the follower's log may diverge. Returns false for a stale reject.
   */
  maybeDecrTo(rejected: Index, hintNext: Index): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.setPosition(this.match, index(this.match + 1));
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.setPosition(this.match, index(Math.max(Math.min(rejected, hintNext), this.match + 1)));
    this.probeSent = false;
    return true;
  }

  /** sentEntries records an append whose last entry is `last` (or a bare probe when none). */
  sentEntries(last: Index | null): void {
    if (this.state === 'replicate' && last !== null) {
      assert(last >= this.next, () => `progress: sent up to ${last}, but next was ${this.next}`);
      this.setPosition(this.match, index(last + 1));
      this.inflights.add(last);
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /** paused: nothing more may be sent now. */
  paused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  private setPosition(match: Index, next: Index): void {
    assert(match >= this.matchIndex, () => `progress: match going back from ${this.matchIndex} to ${match}`);
    assert(match < next, () => `progress: match ${match} must stay below next ${next}`);
    this.matchIndex = match;
    this.nextIndex = next;
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = index(0);
    this.snapshotElapsedTicks = 0;
    this.inflights.reset();
  }
}
