import { LIMITS } from '../config/limits.js';
import { RegistryError, unavailable } from '../lib/errors.js';
import type { Index, NodeId } from '../lib/ids.js';
import type { Rng } from '../lib/rng.js';
import type { ReadContext, ReadState } from '../raft/index.js';
import type { NodeClock } from './clock.js';
import { Waiter } from './waiter.js';

/** AwaitingIndex is one ReadIndex request in flight: its reads and when it was sent. */
interface AwaitingIndex {
  readonly waiters: Waiter<Index>[];
  readonly sentAtMs: number;
}

/**
 * Reads batches linearizable reads: every read that arrives in one event-loop turn shares one
 * ReadIndex request; when its ReadState arrives, they all wait until the node has applied that
 * index, then read local memory. A confirmation is never reused for a later read (DESIGN §3a.7).
 *
 * A context is `<id>:<nonce>:<seq>`, the nonce drawn at start from the injected Rng: a reply the
 * leader sent to an earlier process of this member (same id, seq restarting at 1) names a
 * context this process never issued, so it cannot confirm a new read at an old index.
 * A request or reply the network loses is sent again under a new context after
 * LIMITS.readIndexRetryMs, and reads whose deadline passed are dropped from the books, so lost
 * messages never pin readsPendingMax.
 */
export class Reads {
  private queued: Waiter<Index>[] = [];
  private readonly awaitingIndex = new Map<ReadContext, AwaitingIndex>();
  /** awaitingApply: confirmed reads, waiting for the applied index to reach theirs. */
  private awaitingApply: Array<{ index: Index; waiters: Waiter<Index>[] }> = [];
  private seq = 0;
  /** leader is the member the requests in awaitingIndex went to. */
  private leader: NodeId | null = null;
  /** contextPrefix is `<id>:<nonce>`, the nonce 64 random bits unique to this process. */
  private readonly contextPrefix: string;

  constructor(
    selfId: NodeId,
    random: Rng,
    private readonly clock: NodeClock,
  ) {
    const word = (): string => random.nextInt(0x1_0000_0000).toString(16).padStart(8, '0');
    this.contextPrefix = `${selfId}:${word()}${word()}`;
  }

  /** pendingCount counts the reads still waiting (a read settled by its deadline no longer counts). */
  get pendingCount(): number {
    let n = 0;
    for (const w of this.queued) if (!w.settled) n++;
    for (const a of this.awaitingIndex.values()) for (const w of a.waiters) if (!w.settled) n++;
    for (const r of this.awaitingApply) for (const w of r.waiters) if (!w.settled) n++;
    return n;
  }

  enqueue(deadlineMs: number): Promise<Index> {
    if (this.pendingCount >= LIMITS.readsPendingMax) {
      return Promise.reject(
        new RegistryError(
          'RESOURCE_EXHAUSTED',
          `too many reads in flight on this node (limit ${LIMITS.readsPendingMax})`,
        ),
      );
    }
    const waiter = new Waiter<Index>(
      deadlineMs,
      'the read could not be confirmed by a quorum before its deadline',
      this.clock,
    );
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
    return { context: `${this.contextPrefix}:${this.seq}`, waiters };
  }

  awaitConfirmation(context: ReadContext, waiters: Waiter<Index>[], nowMs: number): void {
    this.awaitingIndex.set(context, { waiters, sentAtMs: nowMs });
  }

  /**
   * leaderIs is told the current leader before each batch: requests sent to another one (also
   * when this node itself just won) will never be answered, so they fail.
   */
  leaderIs(leader: NodeId | null): void {
    if (leader === this.leader) return;
    this.leader = leader;
    this.failUnconfirmed(unavailable('leadership changed while confirming the read; retry', leader));
  }

  /**
   * retryLost forgets requests unanswered for LIMITS.readIndexRetryMs (the request or its reply
   * was lost) and queues their live reads again, to go out under a new context; a late reply
   * to the old one then matches nothing. It also drops reads settled by their deadline.
   */
  retryLost(nowMs: number): void {
    for (const [context, a] of this.awaitingIndex) {
      const live = a.waiters.filter((w) => !w.settled);
      if (live.length > 0 && nowMs - a.sentAtMs < LIMITS.readIndexRetryMs) continue;
      this.awaitingIndex.delete(context);
      this.queued.push(...live);
    }
    if (this.awaitingApply.some((r) => r.waiters.every((w) => w.settled))) {
      this.awaitingApply = this.awaitingApply.filter((r) => r.waiters.some((w) => !w.settled));
    }
  }

  confirmed(rs: ReadState): void {
    const a = this.awaitingIndex.get(rs.context);
    if (a === undefined) return;
    this.awaitingIndex.delete(rs.context);
    this.awaitingApply.push({ index: rs.index, waiters: a.waiters });
  }

  failed(context: ReadContext, leader: NodeId | null): void {
    const a = this.awaitingIndex.get(context);
    if (a === undefined) return;
    this.awaitingIndex.delete(context);
    for (const w of a.waiters) w.reject(unavailable('leadership changed while confirming the read; retry', leader));
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
    for (const a of this.awaitingIndex.values()) for (const w of a.waiters) w.reject(error);
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
