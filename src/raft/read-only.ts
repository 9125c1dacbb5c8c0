import type { Index, NodeId } from '../lib/ids.js';
import type { ReadContext } from './types.js';

/** PendingRead is a ReadIndex request waiting for a quorum to confirm this leader. */
export interface PendingRead {
  readonly contexts: readonly ReadContext[];
  /** from is the member that asked: the leader itself or a follower that forwarded it. */
  readonly from: NodeId;
  /** index is the commit index when the request arrived: safe to read once confirmed. */
  readonly index: Index;
  /** seq is the heartbeat round that must be acknowledged by a quorum. */
  readonly seq: number;
}

/**
 * ReadOnly tracks ReadIndex requests on a leader (Raft thesis §6.4). Each request records the
 * commit index and the next heartbeat round; once a quorum has answered that round, no newer
 * leader can have existed when the request arrived, so reading at that index is linearizable.
 * Requests that arrive before the leader commits an entry of its own term wait in `deferred`.
 */
export class ReadOnly {
  /** seq is the latest heartbeat round that carries read confirmations. */
  seq = 0;
  private pending: PendingRead[] = [];
  private deferred: Array<{ contexts: readonly ReadContext[]; from: NodeId }> = [];

  get size(): number {
    return this.pending.length + this.deferred.length;
  }

  defer(contexts: readonly ReadContext[], from: NodeId): void {
    this.deferred.push({ contexts, from });
  }

  takeDeferred(): Array<{ contexts: readonly ReadContext[]; from: NodeId }> {
    const d = this.deferred;
    this.deferred = [];
    return d;
  }

  /** add registers a request at commit index `at` and returns the round to confirm it with. */
  add(contexts: readonly ReadContext[], from: NodeId, at: Index): number {
    // One heartbeat broadcast per Ready carries the newest round, so many requests share it.
    this.seq++;
    this.pending.push({ contexts, from, index: at, seq: this.seq });
    return this.seq;
  }

  /** confirm removes and returns every request whose round `confirmedSeq` covers. */
  confirm(confirmedSeq: number): PendingRead[] {
    let n = 0;
    while (n < this.pending.length && (this.pending[n]?.seq ?? Infinity) <= confirmedSeq) n++;
    return this.pending.splice(0, n);
  }

  /** drain removes everything: the leader is stepping down and must fail them all. */
  drain(): Array<{ contexts: readonly ReadContext[]; from: NodeId }> {
    const all = [...this.pending, ...this.deferred];
    this.pending = [];
    this.deferred = [];
    return all;
  }
}
