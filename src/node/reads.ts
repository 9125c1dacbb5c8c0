import { LIMITS } from '../config/limits.js';
import { RegistryError, unavailable } from '../lib/errors.js';
import type { Index, NodeId } from '../lib/ids.js';
import type { ReadContext, ReadState } from '../raft/index.js';
import type { NodeClock } from './clock.js';
import { Waiter } from './waiter.js';

/**
 * Reads batches linearizable reads: every read that arrives in one event-loop turn shares one
 * ReadIndex request; when its ReadState arrives, they all wait until the node has applied that
 * index, then read local memory. A confirmation is never reused for a later read (DESIGN §3a.7).
 */
export class Reads {
  private queued: Waiter<Index>[] = [];
  private readonly awaitingIndex = new Map<ReadContext, Waiter<Index>[]>();
  /** awaitingApply: confirmed reads, waiting for the applied index to reach theirs. */
  private awaitingApply: Array<{ index: Index; waiters: Waiter<Index>[] }> = [];
  private seq = 0;

  constructor(
    private readonly selfId: NodeId,
    private readonly clock: NodeClock,
  ) {}

  get pendingCount(): number {
    let n = this.queued.length;
    for (const w of this.awaitingIndex.values()) n += w.length;
    for (const r of this.awaitingApply) n += r.waiters.length;
    return n;
  }

  enqueue(deadlineMs: number): Promise<Index> {
    if (this.pendingCount >= LIMITS.readsPendingMax) {
      return Promise.reject(new RegistryError('RESOURCE_EXHAUSTED', `too many reads in flight on this node (limit ${LIMITS.readsPendingMax})`));
    }
    const waiter = new Waiter<Index>(deadlineMs, 'the read could not be confirmed by a quorum before its deadline', this.clock);
    this.queued.push(waiter);
    return waiter.promise;
  }

  hasQueued(): boolean {
    return this.queued.length > 0;
  }

  /** takeBatch returns this turn's reads under one new context, or null when there are none. */
  takeBatch(): { context: ReadContext; waiters: Waiter<Index>[] } | null {
    const waiters = this.queued.filter((w) => !w.settled);
    this.queued = [];
    if (waiters.length === 0) return null;
    this.seq++;
    return { context: `${this.selfId}:${this.seq}`, waiters };
  }

  awaitConfirmation(context: ReadContext, waiters: Waiter<Index>[]): void {
    this.awaitingIndex.set(context, waiters);
  }

  confirmed(rs: ReadState): void {
    const waiters = this.awaitingIndex.get(rs.context);
    if (waiters === undefined) return;
    this.awaitingIndex.delete(rs.context);
    this.awaitingApply.push({ index: rs.index, waiters });
  }

  failed(context: ReadContext, leader: NodeId | null): void {
    const waiters = this.awaitingIndex.get(context);
    if (waiters === undefined) return;
    this.awaitingIndex.delete(context);
    for (const w of waiters) w.reject(unavailable('leadership changed while confirming the read; retry', leader));
  }

  /** serveApplied resolves every confirmed read whose index is applied. */
  serveApplied(applied: Index): void {
    if (this.awaitingApply.length === 0) return;
    const still: typeof this.awaitingApply = [];
    for (const r of this.awaitingApply) {
      if (r.index <= applied) for (const w of r.waiters) w.resolve(applied);
      else still.push(r);
    }
    this.awaitingApply = still;
  }

  /** failUnconfirmed fails reads still waiting for a leader's confirmation (leader lost). */
  failUnconfirmed(error: RegistryError): void {
    for (const waiters of this.awaitingIndex.values()) for (const w of waiters) w.reject(error);
    this.awaitingIndex.clear();
  }

  /** failQueued refuses the reads not yet sent for confirmation. */
  failQueued(error: RegistryError): void {
    for (const w of this.queued) w.reject(error);
    this.queued = [];
  }

  failAll(error: RegistryError): void {
    this.failUnconfirmed(error);
    for (const r of this.awaitingApply) for (const w of r.waiters) w.reject(error);
    this.awaitingApply = [];
    this.failQueued(error);
  }
}
