import { assert } from '../lib/assert.js';
import type { Index, NodeId, Term } from '../lib/ids.js';
import type { Result } from '../lib/result.js';
import type { ConfChange } from './conf-change.js';
import type { RaftConfig } from './config.js';
import type { Message } from './messages.js';
import type { ProgressState } from './progress.js';
import {
  type ConfChangeError,
  type ProposeError,
  type Proposed,
  Raft,
  type ReadIndexError,
  type TransferError,
} from './raft.js';
import type { Ready } from './ready.js';
import type { ConfState, HardState, ReadContext, Role, SoftState } from './types.js';
import { hardStateEqual } from './types.js';

/** RaftStatus is a read-only picture of one member, for /status, metrics and tests. */
export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly vote: NodeId | null;
  readonly leader: NodeId | null;
  readonly commitIndex: Index;
  readonly appliedIndex: Index;
  readonly firstIndex: Index;
  readonly lastIndex: Index;
  readonly snapshotIndex: Index;
  readonly leadTransferee: NodeId | null;
  /** voters and learners: the applied configuration. */
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /** progress is the leader's view of each member, learners included; null on other roles. */
  readonly progress: Readonly<Record<string, { match: Index; next: Index; state: ProgressState }>> | null;
}

/**
 * RaftCore is the whole public surface of the consensus core (≈ etcd's RawNode). It is pure:
 * time comes in as tick(), peer messages as step(), client work as propose() and readIndex();
 * everything it wants done comes out of ready(), which the caller carries out in the order
 * Ready documents and acknowledges with advance(). Exactly one Ready may be outstanding.
 *
 * A proposal's path: propose() appends an entry to the unstable tail (raft-log.ts) and marks
 * appends pending; ready() broadcasts them once (Raft.flushPending → sendAppend) and hands the
 * entry out to persist; followers answer appendResp after persisting; step() of those answers
 * moves match indexes (Raft.handleAppendResponse) and, with the leader's own advance(), the
 * commit index (Raft.maybeCommit); the next ready() hands the entry out in `committed`.
 */
export class RaftCore {
  private readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  private outstanding: Ready | null = null;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevSoftState = this.softState();
    this.prevHardState = this.hardState();
  }

  tick(): void {
    this.raft.tick();
  }

  step(m: Message): void {
    this.raft.step(m);
  }

  /** propose appends `data` if this member leads; the result says where to watch for it. */
  propose(data: Uint8Array): Result<Proposed, ProposeError> {
    return this.raft.propose(data);
  }

  /**
   * proposeConfChange appends one membership change if this member leads, no other change is
   * in flight and it applies to the current configuration. It takes effect when applied.
   */
  proposeConfChange(cc: ConfChange): Result<Proposed, ConfChangeError> {
    return this.raft.proposeConfChange(cc);
  }

  /** confState is the applied configuration (config entries count once handed out in a Ready). */
  confState(): ConfState {
    return this.raft.conf;
  }

  /** readIndex asks for a linearizable read point; it arrives as a ReadState (or in readsFailed). */
  readIndex(context: ReadContext): Result<void, ReadIndexError> {
    return this.raft.readIndex(context);
  }

  transferLeadership(to: NodeId): Result<void, TransferError> {
    return this.raft.transferLeadership(to);
  }

  reportUnreachable(to: NodeId): void {
    this.raft.reportUnreachable(to);
  }

  reportSnapshot(to: NodeId, delivered: boolean): void {
    this.raft.reportSnapshot(to, delivered);
  }

  hasReady(): boolean {
    const r = this.raft;
    return (
      r.appendsPending ||
      r.heartbeatPending ||
      r.snapshotWanted ||
      r.msgs.length > 0 ||
      r.msgsAfterPersist.length > 0 ||
      r.readStates.length > 0 ||
      r.readsFailed.length > 0 ||
      r.log.unstableSnapshot !== null ||
      r.log.unstableEntries().length > 0 ||
      r.log.hasNextCommitted(r.handOutLimit()) ||
      !softStateEqual(this.softState(), this.prevSoftState) ||
      !hardStateEqual(this.hardState(), this.prevHardState)
    );
  }

  ready(): Ready {
    assert(this.outstanding === null, 'ready() called again before advance()');
    const r = this.raft;
    r.flushPending();
    const committed = r.log.nextCommitted(r.cfg.committedBytesPerReadyMax, r.handOutLimit());
    const lastCommitted = committed[committed.length - 1];
    if (lastCommitted !== undefined) r.log.handOutTo(lastCommitted.index);
    // A change takes effect as it is handed out (the node applies it with this Ready); it may
    // move commit, send messages or step this leader down, so the rest of the Ready comes after.
    for (const e of committed) if (e.kind === 'config') r.applyConfEntry(e);
    const soft = this.softState();
    const hard = this.hardState();
    const rd: Ready = {
      softState: softStateEqual(soft, this.prevSoftState) ? null : soft,
      hardState: hardStateEqual(hard, this.prevHardState) ? null : hard,
      snapshot: r.log.unstableSnapshot,
      entries: r.log.unstableEntries().slice(),
      messages: r.msgs,
      messagesAfterPersist: r.msgsAfterPersist,
      committed,
      readStates: r.readStates,
      readsFailed: r.readsFailed,
      snapshotWanted: r.snapshotWanted,
    };
    r.msgs = [];
    r.msgsAfterPersist = [];
    r.sendsAfterPersist = false;
    r.readStates = [];
    r.readsFailed = [];
    r.snapshotWanted = false;
    this.prevSoftState = soft;
    this.prevHardState = hard;
    this.outstanding = rd;
    return rd;
  }

  /** advance acknowledges that the outstanding Ready was carried out. */
  advance(): void {
    const rd = this.outstanding;
    assert(rd !== null, 'advance() without an outstanding ready()');
    this.outstanding = null;
    const log = this.raft.log;
    if (rd.snapshot !== null) {
      log.stableSnapshotTo(rd.snapshot.index);
      if (rd.snapshot.index > log.handedOut) log.handOutTo(rd.snapshot.index);
      this.raft.appliedTo(log.handedOut);
    }
    const lastEntry = rd.entries[rd.entries.length - 1];
    if (lastEntry !== undefined) {
      log.stableTo(lastEntry.index, lastEntry.term);
      this.raft.persisted(log.stableLastIndex());
    }
    if (rd.hardState !== null) this.raft.hardStatePersisted(rd.hardState);
    const lastCommitted = rd.committed[rd.committed.length - 1];
    if (lastCommitted !== undefined) this.raft.appliedTo(lastCommitted.index);
    let appliedBytes = 0;
    for (const e of rd.committed) appliedBytes += e.data.byteLength;
    this.raft.reduceUncommittedBytes(appliedBytes);
  }

  status(): RaftStatus {
    const r = this.raft;
    let progress: RaftStatus['progress'] = null;
    if (r.role === 'leader') {
      const p: Record<string, { match: Index; next: Index; state: ProgressState }> = {};
      for (const [id, pr] of r.progress) p[id] = { match: pr.match, next: pr.next, state: pr.state };
      progress = p;
    }
    return {
      id: r.id,
      role: r.role,
      term: r.term,
      vote: r.vote,
      leader: r.leader,
      commitIndex: r.log.committed,
      appliedIndex: r.log.applied,
      firstIndex: r.log.firstIndex(),
      lastIndex: r.log.lastIndex(),
      snapshotIndex: r.log.snapshotMeta().index,
      leadTransferee: r.leadTransferee,
      voters: r.conf.voters,
      learners: r.conf.learners,
      progress,
    };
  }

  /** termAt reads the log (durable and unstable) for checkers: the term at `i`, or null. */
  termAt(i: Index): Term | null {
    return this.raft.log.term(i);
  }

  private softState(): SoftState {
    return { role: this.raft.role, leader: this.raft.leader };
  }

  private hardState(): HardState {
    return { term: this.raft.term, vote: this.raft.vote, commit: this.raft.log.committed };
  }
}

function softStateEqual(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leader === b.leader;
}
