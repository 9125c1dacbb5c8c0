import { LIMITS } from '../config/limits.js';
import { assert } from '../lib/assert.js';
import { RegistryError } from '../lib/errors.js';
import type { Index, Term } from '../lib/ids.js';
import type { NodeClock } from './clock.js';
import { Waiter } from './waiter.js';

/** QueuedProposal is a write accepted in this event-loop turn, not yet handed to the core. */
export interface QueuedProposal {
  readonly payload: Uint8Array;
  /** forwarded: it came from a follower; never forward it again (no forwarding chains). */
  readonly forwarded: boolean;
  readonly waiter: Waiter<Uint8Array>;
}

/** InFlight is a proposal in the log, waiting at its index; at most one waits at an index. */
interface InFlight {
  readonly term: Term;
  readonly waiter: Waiter<Uint8Array>;
}

/**
 * Proposals tracks writes from acceptance to their entry's apply. Each is resolved with the
 * state machine's result when the entry at its index applies with its term; an entry of
 * another term at that index means it was overwritten and never applied.
 */
export class Proposals {
  private queued: QueuedProposal[] = [];
  private readonly inFlight = new Map<Index, InFlight>();
  /** pendingBytesNow: command bytes of the writes whose callers still wait (released as each settles). */
  private pendingBytesNow = 0;

  constructor(private readonly clock: NodeClock) {}

  get pendingCount(): number {
    return this.queued.length + this.inFlight.size;
  }

  get pendingBytes(): number {
    return this.pendingBytesNow;
  }

  /**
   * enqueue accepts a write for the next turn, or refuses it at once when the node is full in
   * count (proposalsPendingMax) or in bytes (proposalsPendingBytesMax).
   */
  enqueue(payload: Uint8Array, deadlineMs: number, forwarded: boolean): Promise<Uint8Array> {
    if (this.pendingCount >= LIMITS.proposalsPendingMax) {
      return Promise.reject(
        new RegistryError(
          'RESOURCE_EXHAUSTED',
          `too many writes in flight on this node (limit ${LIMITS.proposalsPendingMax})`,
        ),
      );
    }
    const bytes = payload.byteLength;
    if (this.pendingBytesNow + bytes > LIMITS.proposalsPendingBytesMax) {
      return Promise.reject(
        new RegistryError(
          'RESOURCE_EXHAUSTED',
          `too many bytes of writes in flight on this node (${this.pendingBytesNow} + ${bytes}, limit ${LIMITS.proposalsPendingBytesMax})`,
        ),
      );
    }
    const waiter = new Waiter<Uint8Array>(
      deadlineMs,
      'the write was not applied before its deadline; it may still be applied',
      this.clock,
    );
    this.pendingBytesNow += bytes;
    const release = (): void => {
      this.pendingBytesNow -= bytes;
    };
    void waiter.promise.then(release, release);
    this.queued.push({ payload, forwarded, waiter });
    return waiter.promise;
  }

  takeQueued(): QueuedProposal[] {
    const q = this.queued;
    this.queued = [];
    return q.filter((p) => !p.waiter.settled);
  }

  hasQueued(): boolean {
    return this.queued.length > 0;
  }

  /**
   * track waits for the entry the core just appended at `index` in `term`. Nothing may wait there already: a
   * proposal is settled when its index applies, and all are failed when this node stops leading, so a second
   * proposal at one index means the core reused an index within one leadership; replacing the first silently
   * would leave its caller waiting for an outcome no one reports.
   */
  track(index: Index, term: Term, waiter: Waiter<Uint8Array>): void {
    const there = this.inFlight.get(index);
    assert(there === undefined, () => `a proposal already waits at index ${index} (term ${there?.term}, now ${term})`);
    this.inFlight.set(index, { term, waiter });
  }

  /** applied settles the proposal at `index`, if one waits there. */
  applied(index: Index, term: Term, result: Uint8Array): void {
    const p = this.inFlight.get(index);
    if (p === undefined) return;
    this.inFlight.delete(index);
    if (p.term === term) p.waiter.resolve(result);
    else
      p.waiter.reject(
        new RegistryError('UNAVAILABLE', 'leadership changed before the write committed; it was not applied', {}),
      );
  }

  /** failInFlight fails every write this node proposed: it lost leadership, the outcome is unknown. */
  failInFlight(error: RegistryError): void {
    for (const p of this.inFlight.values()) p.waiter.reject(error);
    this.inFlight.clear();
  }

  /** failQueued refuses the writes not yet proposed: they were never in the log. */
  failQueued(error: RegistryError): void {
    for (const p of this.takeQueued()) p.waiter.reject(error);
  }

  failAll(error: RegistryError): void {
    this.failInFlight(error);
    this.failQueued(error);
  }
}
