import { LIMITS } from '../config/limits.js';
import { RegistryError, unavailable } from '../lib/errors.js';
import type { Index, NodeId, Term } from '../lib/ids.js';
import type { ConfChange, ConfChangeError, ConfState, Entry, RaftStatus } from '../raft/index.js';
import type { NodeClock } from './clock.js';
import type { MemberContext } from './member-context.js';
import { MemberTable } from './members.js';
import { Waiter } from './waiter.js';

interface QueuedChange {
  readonly cc: ConfChange;
  readonly waiter: Waiter<Index>;
}

/**
 * Membership is the node's side of membership changes (DESIGN §11): the member table it keeps
 * from the applied configuration, the one change a caller waits on (the core allows one in
 * flight), and the leader's decision to promote a caught-up learner.
 */
export class Membership {
  readonly table: MemberTable;
  private queued: QueuedChange | null = null;
  private inFlight: { index: Index; term: Term; waiter: Waiter<Index> } | null = null;
  /** wasMember: this node has been in an applied configuration (so leaving it is a removal). */
  private wasMember = false;

  constructor(
    private readonly selfId: NodeId,
    fallback: ReadonlyMap<NodeId, MemberContext>,
    private readonly clock: NodeClock,
  ) {
    this.table = new MemberTable(selfId, fallback);
  }

  /**
   * refresh takes the applied configuration; `removed` is true when this node was a member and
   * no longer is: it applied its own removal.
   */
  refresh(conf: ConfState): { changed: boolean; removed: boolean } {
    const changed = this.table.update(conf);
    const member = this.table.roleOf(this.selfId) !== 'none';
    const removed = this.wasMember && !member;
    this.wasMember ||= member;
    return { changed, removed };
  }

  /** enqueue accepts a change for the next turn; one at a time per node. */
  enqueue(cc: ConfChange, deadlineMs: number): Promise<Index> {
    if (this.queued !== null || this.inFlight !== null)
      return Promise.reject(unavailable('a membership change is already in flight; retry once it is applied', null));
    const waiter = new Waiter<Index>(
      deadlineMs,
      'the membership change was not applied before its deadline; it may still be (members list shows it)',
      this.clock,
    );
    this.queued = { cc, waiter };
    return waiter.promise;
  }

  hasQueued(): boolean {
    return this.queued !== null;
  }

  takeQueued(): QueuedChange | null {
    const q = this.queued;
    this.queued = null;
    return q === null || q.waiter.settled ? null : q;
  }

  track(index: Index, term: Term, waiter: Waiter<Index>): void {
    this.inFlight = { index, term, waiter };
  }

  /** applied settles the caller waiting on the config entry `e`, if one waits there. */
  applied(e: Entry): void {
    const p = this.inFlight;
    if (p === null || p.index !== e.index) return;
    this.inFlight = null;
    if (p.term === e.term) p.waiter.resolve(e.index);
    else
      p.waiter.reject(
        unavailable('leadership changed before the membership change committed; it was not applied', null),
      );
  }

  /** failInFlight: this node lost leadership; the change may or may not apply under the next leader. */
  failInFlight(error: RegistryError): void {
    this.inFlight?.waiter.reject(error);
    this.inFlight = null;
  }

  failAll(error: RegistryError): void {
    this.failInFlight(error);
    this.takeQueued()?.waiter.reject(error);
  }

  /**
   * promotionDue: as leader, a learner that asked to be promoted (promote:true in its context)
   * whose match is within LIMITS.promoteLagEntriesMax of the leader's last index; null when none.
   */
  promotionDue(status: RaftStatus): NodeId | null {
    if (status.role !== 'leader' || status.progress === null || this.queued !== null || this.inFlight !== null)
      return null;
    for (const m of this.table.all()) {
      if (m.role !== 'learner' || m.context?.promote !== true) continue;
      const match = status.progress[m.id]?.match ?? 0;
      if (status.lastIndex - match <= LIMITS.promoteLagEntriesMax) return m.id;
    }
    return null;
  }
}

/** confChangeRefusal turns the core's refusal of a change into the caller's error. */
export function confChangeRefusal(e: ConfChangeError, selfId: NodeId): RegistryError {
  switch (e.type) {
    case 'notLeader':
      return unavailable('only the leader changes membership', e.leader);
    case 'transferring':
      return unavailable('leadership is being transferred; retry', e.to);
    case 'changeInFlight':
      return unavailable(
        `the membership change at index ${e.index} is not applied yet; retry once it is (one change at a time)`,
        selfId,
      );
    case 'invalid':
      return new RegistryError('INVALID_ARGUMENT', `membership change refused: ${e.reason}`);
  }
}
