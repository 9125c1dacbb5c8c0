import { assert, unreachable } from '../lib/assert.js';
import { type Index, type NodeId, type Term, index, term } from '../lib/ids.js';
import { type Result, err, ok } from '../lib/result.js';
import { type ConfChange, applyConfChange, decodeConfChange, encodeConfChange, isMember } from './conf-change.js';
import type { RaftConfig } from './config.js';
import { validateRaftConfig } from './config.js';
import type { Append, AppendResponse, Heartbeat, InstallSnapshot, Message, VoteRequest } from './messages.js';
import { Progress } from './progress.js';
import { committedIndex, quorumMin, quorumSize, voteResult } from './quorum.js';
import { RaftLog } from './raft-log.js';
import { ReadOnly } from './read-only.js';
import type { ConfState, Entry, HardState, ReadContext, ReadState, Role } from './types.js';

/** ProposeError: why a proposal was not appended (it is definitely not in the log). */
export type ProposeError =
  | { readonly type: 'notLeader'; readonly leader: NodeId | null }
  | { readonly type: 'transferring'; readonly to: NodeId }
  | { readonly type: 'overloaded'; readonly uncommittedEntries: number; readonly limit: number }
  | { readonly type: 'overloadedBytes'; readonly uncommittedBytes: number; readonly limitBytes: number };

/** ConfChangeError: why a membership change was not appended (it is definitely not in the log). */
export type ConfChangeError =
  | { readonly type: 'notLeader'; readonly leader: NodeId | null }
  | { readonly type: 'transferring'; readonly to: NodeId }
  | { readonly type: 'changeInFlight'; readonly index: Index }
  | { readonly type: 'invalid'; readonly reason: string };

/** ReadIndexError: why a read cannot be confirmed now. */
export type ReadIndexError = { readonly type: 'noLeader' };

export type TransferError =
  | { readonly type: 'notLeader'; readonly leader: NodeId | null }
  | { readonly type: 'unknownMember'; readonly id: NodeId };

/** Proposed locates an appended proposal: it succeeded iff the entry applied at `index` has `term`. */
export interface Proposed {
  readonly index: Index;
  readonly term: Term;
}

/**
 * Raft is the protocol state of one member (Raft paper §5, thesis §3, §4.2.3, §6.4, §9.6).
 * `step` settles terms once, then hands the message to the current role's handler; `tick`
 * likewise. Everything it wants done accumulates in the outbox fields, which RaftCore turns
 * into a Ready.
 */
export class Raft {
  readonly id: NodeId;
  /** conf is the configuration as applied: config entries take effect when handed out in a Ready. */
  conf: ConfState;
  readonly log: RaftLog;
  term: Term;
  vote: NodeId | null;
  leader: NodeId | null = null;
  role: Role = 'follower';
  /** progress is the leader's view of every voter and learner, itself included. */
  readonly progress = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();
  private electionElapsedTicks = 0;
  private heartbeatElapsedTicks = 0;
  private randomizedElectionTimeoutTicks = 0;
  /** leadTransferee is the member leadership is being handed to; proposals wait meanwhile. */
  leadTransferee: NodeId | null = null;
  private readonly readOnly = new ReadOnly();
  /**
   * pendingConfIndex: no membership change may be proposed until this index is applied. It is
   * the latest config entry this leader appended, or its first noop: a new leader proposes no
   * change before an entry of its own term is applied (the single-server-change bug of 2015).
   */
  private pendingConfIndex: Index = index(0);
  /**
   * transferCampaignTerm: a TimeoutNow of this term arrived while committed config entries
   * waited to be applied (a leader that removed itself sends it right after committing its
   * removal); the campaign starts once they are applied, if this member is still a voter.
   */
  private transferCampaignTerm: Term | null = null;
  /** snapshotRequestedAt is the applied index of the last snapshot request. */
  private snapshotRequestedAt: Index;
  /** durableTerm / durableCommit: of the hard state last persisted (what a restart begins from). */
  private durableTerm: Term;
  private durableCommit: Index;
  /**
   * configGuard (leader only): the lowest config entry above durableCommit, or null. Appends and
   * heartbeats whose commit covers it wait until that commit is durable here, and so does
   * handing it out to be applied (handOutLimit). Why: a member that learns its own removal
   * applies it and leaves, and an operator who sees the leader apply a removal stops the member;
   * were this leader then to restart from an older commit, it would still count the departed
   * member in its majority and wait for its vote forever (found by the simulator: voters
   * {2, 6}, 2 removes 6 and loses power mid-fsync).
   */
  private configGuard: Index | null = null;

  // Outbox, drained by RaftCore.ready().
  msgs: Message[] = [];
  msgsAfterPersist: Message[] = [];
  readStates: ReadState[] = [];
  readsFailed: ReadContext[] = [];
  /** appendsPending: new entries wait to be broadcast once per Ready, not once per proposal. */
  appendsPending = false;
  /** heartbeatPending: a ReadIndex round waits to be broadcast once per Ready. */
  heartbeatPending = false;
  /**
   * sendsAfterPersist: from the first send held back until this Ready is persisted (send: a
   * commit over configGuard, or a term not yet durable) on, every send of the Ready waits too, so
   * none overtakes a held one (a TimeoutNow the commit it follows, say).
   */
  sendsAfterPersist = false;
  snapshotWanted = false;
  /**
   * uncommittedBytes: data bytes this leader proposed that are not yet applied (etcd's
   * uncommittedSize): raised by propose, lowered as entries are applied, 0 on becoming leader.
   */
  private uncommittedBytes = 0;

  private stepRole: (m: Message) => void = (m) => this.stepFollower(m);
  private tickRole: () => void = () => this.tickElection();

  constructor(readonly cfg: RaftConfig) {
    const problems = validateRaftConfig(cfg);
    assert(problems.length === 0, () => `invalid raft config: ${problems.join('; ')}`);
    this.id = cfg.id;
    const snap = cfg.storage.snapshotMeta();
    // Without a snapshot, the configuration before index 1 is the config's; committed config
    // entries after the base are applied again as the log is handed out.
    this.conf =
      snap.index > 0 || snap.voters.length > 0 ? confOf(snap) : { voters: cfg.voters, learners: [], contexts: {} };
    this.log = new RaftLog(cfg.storage);
    const hs = cfg.storage.initialHardState();
    this.term = hs.term;
    this.vote = hs.vote;
    this.durableTerm = hs.term;
    this.durableCommit = this.log.committed;
    this.snapshotRequestedAt = this.log.applied;
    this.becomeFollower(this.term, null);
  }

  get voters(): readonly NodeId[] {
    return this.conf.voters;
  }

  // ---- Inputs ------------------------------------------------------------------------------

  tick(): void {
    this.tickRole();
  }

  step(m: Message): void {
    assert(m.to === this.id, () => `message for ${m.to} stepped into ${this.id}`);
    // Any sender is heard: a joining node hears from a leader it has no configuration for yet.
    if (!this.settleTerm(m)) return;
    switch (m.type) {
      case 'preVote':
      case 'vote':
        this.handleVoteRequest(m);
        return;
      default:
        this.stepRole(m);
    }
  }

  propose(data: Uint8Array): Result<Proposed, ProposeError> {
    if (this.role !== 'leader') return err({ type: 'notLeader', leader: this.leader });
    if (this.leadTransferee !== null) return err({ type: 'transferring', to: this.leadTransferee });
    const uncommitted = this.log.lastIndex() - this.log.committed;
    if (uncommitted >= this.cfg.uncommittedEntriesMax) {
      return err({ type: 'overloaded', uncommittedEntries: uncommitted, limit: this.cfg.uncommittedEntriesMax });
    }
    // One entry always fits in an empty window, so a large command is never refused forever.
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + data.byteLength > this.cfg.uncommittedBytesMax) {
      return err({
        type: 'overloadedBytes',
        uncommittedBytes: this.uncommittedBytes,
        limitBytes: this.cfg.uncommittedBytesMax,
      });
    }
    this.uncommittedBytes += data.byteLength;
    const entry: Entry = { index: index(this.log.lastIndex() + 1), term: this.term, kind: 'command', data };
    this.appendEntry(entry);
    return ok({ index: entry.index, term: entry.term });
  }

  /** proposeConfChange appends one membership change if this member leads and none is in flight. */
  proposeConfChange(cc: ConfChange): Result<Proposed, ConfChangeError> {
    if (this.role !== 'leader') return err({ type: 'notLeader', leader: this.leader });
    if (this.leadTransferee !== null) return err({ type: 'transferring', to: this.leadTransferee });
    if (this.pendingConfIndex > this.log.applied) return err({ type: 'changeInFlight', index: this.pendingConfIndex });
    // No change is in flight, so the applied configuration is the one this change will meet.
    const next = applyConfChange(this.conf, cc);
    if (!next.ok) return err({ type: 'invalid', reason: next.error });
    const data = encodeConfChange(cc);
    this.uncommittedBytes += data.byteLength;
    const entry: Entry = { index: index(this.log.lastIndex() + 1), term: this.term, kind: 'config', data };
    this.appendEntry(entry);
    this.pendingConfIndex = entry.index;
    this.configGuard ??= entry.index;
    return ok({ index: entry.index, term: entry.term });
  }

  readIndex(context: ReadContext): Result<void, ReadIndexError> {
    if (this.role === 'leader') {
      this.handleReadRequest([context], this.id);
      return ok(undefined);
    }
    if (this.leader === null || this.role !== 'follower') return err({ type: 'noLeader' });
    this.send({ type: 'readIndex', from: this.id, to: this.leader, term: this.term, contexts: [context] });
    return ok(undefined);
  }

  transferLeadership(to: NodeId): Result<void, TransferError> {
    if (this.role !== 'leader') return err({ type: 'notLeader', leader: this.leader });
    if (!this.voters.includes(to)) return err({ type: 'unknownMember', id: to });
    if (to === this.id || this.leadTransferee === to) return ok(undefined);
    this.leadTransferee = to;
    // The transfer must finish within an election timeout, or it is abandoned (thesis §3.10).
    this.electionElapsedTicks = 0;
    const pr = this.progressOf(to);
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to, true);
    return ok(undefined);
  }

  /** reportUnreachable: the transport failed to deliver to `to`; probe it instead of pipelining. */
  reportUnreachable(to: NodeId): void {
    const pr = this.role === 'leader' ? this.progress.get(to) : undefined;
    if (pr?.state === 'replicate') pr.becomeProbe();
  }

  /** reportSnapshot: the transport finished (or failed) streaming a snapshot to `to`. */
  reportSnapshot(to: NodeId, delivered: boolean): void {
    const pr = this.role === 'leader' ? this.progress.get(to) : undefined;
    if (pr?.state !== 'snapshot') return;
    if (!delivered) pr.pendingSnapshot = index(0);
    // Wait for the follower's answer before sending more (probeSent), whatever the outcome.
    pr.becomeProbe();
    pr.probeSent = true;
  }

  // ---- Persistence acknowledgements (from RaftCore.advance) -------------------------------

  /** persisted: entries up to `last` are durable here; a leader counts itself toward commit. */
  persisted(last: Index): void {
    if (this.role !== 'leader') return;
    const self = this.progressOf(this.id);
    if (self.maybeUpdate(last) && this.maybeCommit()) this.appendsPending = true;
  }

  /** reduceUncommittedBytes: entries of `bytes` were applied (entries of earlier leaders may take it below 0: clamp). */
  reduceUncommittedBytes(bytes: number): void {
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - bytes);
  }

  /** applied: the state machine applied up to `i`; maybe ask for a snapshot. */
  appliedTo(i: Index): void {
    this.log.appliedTo(i);
    if (this.transferCampaignTerm !== null) this.maybeDeferredTransferCampaign();
    const sinceSnapshot = i - this.log.snapshotMeta().index;
    const sinceRequest = i - this.snapshotRequestedAt;
    if (sinceSnapshot >= this.cfg.snapshotIntervalEntries && sinceRequest >= this.cfg.snapshotIntervalEntries) {
      this.snapshotRequestedAt = i;
      this.snapshotWanted = true;
    }
  }

  /** flushPending turns the per-Ready batched work into messages. */
  flushPending(): void {
    if (this.role !== 'leader') {
      this.appendsPending = false;
      this.heartbeatPending = false;
      return;
    }
    if (this.appendsPending) {
      this.appendsPending = false;
      this.bcastAppend();
    }
    if (this.heartbeatPending) {
      this.heartbeatPending = false;
      this.bcastHeartbeat();
    }
  }

  // ---- Terms and votes ---------------------------------------------------------------------

  /**
   * settleTerm handles a message's term before any role sees it (§5.1). Returns false when the
   * message must be dropped.
   */
  private settleTerm(m: Message): boolean {
    if (m.term > this.term) return this.settleHigherTerm(m);
    if (m.term < this.term) {
      this.answerStaleTerm(m);
      return false;
    }
    return true;
  }

  private settleHigherTerm(m: Message): boolean {
    if (m.type === 'preVote' || m.type === 'vote') {
      // Leader stickiness: while we hear from a live leader, a disruptive campaign is ignored
      // (thesis §9.6). A transfer campaign (TimeoutNow) is deliberate and goes through.
      const inLease =
        this.cfg.checkQuorum && this.leader !== null && this.electionElapsedTicks < this.cfg.electionTimeoutTicks;
      if (inLease && !m.transfer) return false;
      if (m.type === 'preVote') return true; // a pre-vote never changes our term
    }
    if (m.type === 'preVoteResp' && !m.reject) return true; // it carries the term we would campaign in
    const leaderIsSender = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot';
    // Only hearing from a leader or granting a vote restarts the election timer (Raft Figure 2).
    // A candidate we may refuse must not: without PreVote, a stale node whose clock runs fast
    // would otherwise keep every up-to-date member from ever campaigning.
    const elapsedTicks = this.electionElapsedTicks;
    this.becomeFollower(m.term, leaderIsSender ? m.from : null);
    if (m.type === 'vote') this.electionElapsedTicks = elapsedTicks;
    return true;
  }

  /** answerStaleTerm tells a stale sender our term, so a deposed leader or precandidate learns it. */
  private answerStaleTerm(m: Message): void {
    if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'append' || m.type === 'heartbeat')) {
      // Without this, a leader cut off by CheckQuorum on our side could never learn the new term.
      this.send(appendResponse(this, m.from, index(0), false));
    } else if (m.type === 'preVote') {
      this.send({
        type: 'preVoteResp',
        from: this.id,
        to: m.from,
        term: this.term,
        reject: true,
        ...this.commitHint(),
      });
    }
  }

  private handleVoteRequest(m: VoteRequest): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === null && this.leader === null) ||
      (m.type === 'preVote' && m.term > this.term);
    const grant = canVote && this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm);
    const respType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
    if (grant && m.type === 'vote') {
      this.electionElapsedTicks = 0;
      this.vote = m.from;
    }
    // A granted answer carries the campaign's term; a refusal carries ours, so a stale candidate learns it.
    const reply: Message = {
      type: respType,
      from: this.id,
      to: m.from,
      term: grant ? m.term : this.term,
      reject: !grant,
      ...this.commitHint(),
    };
    if (respType === 'voteResp') this.msgsAfterPersist.push(reply);
    else this.msgs.push(reply);
  }

  // ---- Role transitions --------------------------------------------------------------------

  becomeFollower(t: Term, leader: NodeId | null): void {
    if (t !== this.term) {
      this.term = t;
      this.vote = null;
    }
    this.failPendingReads();
    this.role = 'follower';
    this.leader = leader;
    this.leadTransferee = null;
    this.configGuard = null;
    this.stepRole = (m) => this.stepFollower(m);
    this.tickRole = () => this.tickElection();
    this.resetTimers();
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become a precandidate');
    this.role = 'precandidate';
    this.leader = null;
    this.votes.clear();
    this.stepRole = (m) => this.stepCandidate(m);
    this.tickRole = () => this.tickElection();
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become a candidate');
    this.failPendingReads();
    this.term = term(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
    this.leader = null;
    this.votes.clear();
    this.stepRole = (m) => this.stepCandidate(m);
    this.tickRole = () => this.tickElection();
    this.resetTimers();
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', () => `only a candidate becomes leader, not a ${this.role}`);
    this.role = 'leader';
    this.leader = this.id;
    this.stepRole = (m) => this.stepLeader(m);
    this.tickRole = () => this.tickHeartbeat();
    this.resetTimers();
    this.progress.clear();
    this.uncommittedBytes = 0;
    const last = this.log.lastIndex();
    for (const id of [...this.conf.voters, ...this.conf.learners]) this.addProgress(id);
    const self = this.progressOf(this.id);
    self.maybeUpdate(this.log.stableLastIndex());
    self.becomeReplicate();
    // A leader commits entries of earlier terms only by committing one of its own (§5.4.2).
    this.appendEntry({ index: index(last + 1), term: this.term, kind: 'noop', data: new Uint8Array(0) });
    // Config entries of earlier leaders may sit uncommitted before the noop: no change until it applies.
    this.pendingConfIndex = index(last + 1);
    this.configGuard = this.lowestConfigEntryAbove(this.durableCommit);
  }

  /** handOutLimit: the last committed index a Ready may hand out (just before an unpersisted config commit). */
  handOutLimit(): Index {
    return this.configGuard === null ? this.log.committed : index(this.configGuard - 1);
  }

  /** hardStatePersisted: `hs` is durable (RaftCore.advance). */
  hardStatePersisted(hs: HardState): void {
    this.durableTerm = hs.term;
    this.durableCommit = hs.commit;
    if (this.configGuard !== null && this.configGuard <= hs.commit) {
      this.configGuard = this.lowestConfigEntryAbove(hs.commit);
    }
  }

  /** lowestConfigEntryAbove scans the log after `i` (rare: at election and once per config change). */
  private lowestConfigEntryAbove(i: Index): Index | null {
    const from = index(Math.max(i, this.log.firstIndex() - 1) + 1);
    const entries = this.log.entries(from, index(this.log.lastIndex() + 1), Infinity) ?? [];
    return entries.find((e) => e.kind === 'config')?.index ?? null;
  }

  private addProgress(id: NodeId): void {
    const pr = new Progress(index(this.log.lastIndex() + 1), this.cfg.inflightAppendsMax);
    // A new member counts as active, so CheckQuorum does not depose the leader that just added it.
    pr.recentActive = true;
    this.progress.set(id, pr);
  }

  private resetTimers(): void {
    this.electionElapsedTicks = 0;
    this.heartbeatElapsedTicks = 0;
    const e = this.cfg.electionTimeoutTicks;
    this.randomizedElectionTimeoutTicks = e + this.cfg.random.nextInt(e);
  }

  // ---- Elections ---------------------------------------------------------------------------

  private tickElection(): void {
    this.electionElapsedTicks++;
    // A member that may not campaign lets the timer run on: restarting it would keep renewing a
    // leader lease that refuses every other candidate's votes (thesis §9.6) long after the leader left.
    if (this.electionElapsedTicks >= this.randomizedElectionTimeoutTicks && this.promotable()) {
      this.electionElapsedTicks = 0;
      this.campaign(this.cfg.preVote ? 'preVote' : 'vote', false);
    }
  }

  /**
   * promotable: this member may campaign. Only voters do, and not while committed config
   * entries wait to be applied: its configuration may be about to change (etcd-raft's rule).
   */
  private promotable(): boolean {
    return this.voters.includes(this.id) && !this.hasUnappliedConf();
  }

  private maybeDeferredTransferCampaign(): void {
    const due = this.transferCampaignTerm === this.term && this.role === 'follower';
    if (due && this.hasUnappliedConf()) return;
    this.transferCampaignTerm = null;
    if (due && this.promotable()) this.campaign('vote', true);
  }

  private commitHint(): { commit: Index; commitTerm: Term } {
    const commit = this.log.committed;
    return { commit, commitTerm: this.log.term(commit) ?? term(0) };
  }

  /**
   * takeCommitHint: a voter's commit index covers an entry we hold with the same term, so our
   * log up to it is the committed one (Log Matching): commit it. A candidate that did not know
   * its removal-of-a-peer committed learns it here and applies it before campaigning again.
   */
  private takeCommitHint(commit: Index, commitTerm: Term): void {
    if (commit > this.log.committed && this.log.matchTerm(commit, commitTerm)) this.log.commitTo(commit);
  }

  private hasUnappliedConf(): boolean {
    if (this.log.committed <= this.log.handedOut) return false;
    const lo = index(Math.max(this.log.handedOut + 1, this.log.firstIndex()));
    if (lo > this.log.committed) return false;
    const entries = this.log.entries(lo, index(this.log.committed + 1), Number.MAX_SAFE_INTEGER) ?? [];
    return entries.some((e) => e.kind === 'config');
  }

  /** campaign starts a pre-vote or a real election; `transfer` marks a TimeoutNow campaign. */
  private campaign(kind: 'preVote' | 'vote', transfer: boolean): void {
    if (kind === 'preVote') this.becomePreCandidate();
    else this.becomeCandidate();
    const campaignTerm = kind === 'preVote' ? term(this.term + 1) : this.term;
    this.votes.set(this.id, true);
    if (this.pollVotes()) return;
    const lastLogIndex = this.log.lastIndex();
    const lastLogTerm = this.log.lastTerm();
    for (const to of this.voters) {
      if (to === this.id) continue;
      const req: VoteRequest = {
        type: kind,
        from: this.id,
        to,
        term: campaignTerm,
        lastLogIndex,
        lastLogTerm,
        transfer,
      };
      // A vote request relies on our persisted term and self-vote, so it waits for persist.
      if (kind === 'vote') this.msgsAfterPersist.push(req);
      else this.msgs.push(req);
    }
  }

  /** pollVotes acts on the votes so far; true when the campaign is decided. */
  private pollVotes(): boolean {
    const result = voteResult(this.voters, this.votes);
    if (result === 'pending') return false;
    // A commit hint in an answer may have shown committed config entries not yet applied: the
    // configuration this campaign counted votes in may be about to change (or drop us). Stand down.
    if (result === 'lost' || !this.promotable()) {
      this.becomeFollower(this.term, null);
    } else if (this.role === 'precandidate') {
      this.campaign('vote', false);
    } else {
      this.becomeLeader();
    }
    return true;
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // Someone won this term: follow it and handle the message as a follower.
        this.becomeFollower(this.term, m.from);
        this.stepFollower(m);
        return;
      case 'preVoteResp':
      case 'voteResp': {
        const expected = this.role === 'precandidate' ? 'preVoteResp' : 'voteResp';
        const expectedTerm = this.role === 'precandidate' ? this.term + 1 : this.term;
        this.takeCommitHint(m.commit, m.commitTerm);
        if (m.type !== expected || (!m.reject && m.term !== expectedTerm)) return;
        if (!this.votes.has(m.from)) this.votes.set(m.from, !m.reject);
        this.pollVotes();
        return;
      }
      case 'readIndex':
        this.rejectReads(m.from, m.contexts);
        return;
      case 'appendResp':
      case 'heartbeatResp':
      case 'timeoutNow':
      case 'readIndexResp':
      case 'preVote':
      case 'vote':
        return;
      default:
        unreachable(m);
    }
  }

  // ---- Follower ----------------------------------------------------------------------------

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'append':
        this.heardFromLeader(m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.heardFromLeader(m.from);
        this.handleHeartbeat(m);
        return;
      case 'snapshot':
        this.heardFromLeader(m.from);
        this.handleSnapshot(m);
        return;
      case 'timeoutNow':
        // The leader hands over: campaign at once, skipping PreVote and the leader lease.
        if (this.promotable()) this.campaign('vote', true);
        else if (this.hasUnappliedConf()) this.transferCampaignTerm = this.term;
        return;
      case 'readIndex':
        this.rejectReads(m.from, m.contexts);
        return;
      case 'readIndexResp':
        if (m.reject) this.readsFailed.push(...m.contexts);
        else for (const context of m.contexts) this.readStates.push({ context, index: m.index });
        return;
      case 'preVoteResp':
      case 'voteResp':
        // The answer to a campaign we have since left (a refusal in a higher term made us follow).
        this.takeCommitHint(m.commit, m.commitTerm);
        return;
      case 'appendResp':
      case 'heartbeatResp':
      case 'preVote':
      case 'vote':
        return;
      default:
        unreachable(m);
    }
  }

  private heardFromLeader(from: NodeId): void {
    assert(
      this.leader === null || this.leader === from,
      () => `two leaders in term ${this.term}: ${this.leader} and ${from}`,
    );
    this.electionElapsedTicks = 0;
    this.leader = from;
  }

  private handleAppend(m: Append): void {
    if (m.prevLogIndex < this.log.committed) {
      this.msgsAfterPersist.push(appendResponse(this, m.from, this.log.committed, false));
      return;
    }
    const lastNew = this.log.maybeAppend(m.prevLogIndex, m.prevLogTerm, m.commit, m.entries);
    if (lastNew !== null) {
      this.msgsAfterPersist.push(appendResponse(this, m.from, lastNew, false));
      return;
    }
    const hintIndex = this.log.findConflictByTerm(index(Math.min(m.prevLogIndex, this.log.lastIndex())), m.prevLogTerm);
    const hintTerm = this.log.term(hintIndex) ?? term(0);
    this.msgsAfterPersist.push({ ...appendResponse(this, m.from, m.prevLogIndex, true), hintIndex, hintTerm });
  }

  private handleHeartbeat(m: Heartbeat): void {
    // The leader sends min(our match, its commit), so our log holds this index.
    this.log.commitTo(m.commit);
    this.send({ type: 'heartbeatResp', from: this.id, to: m.from, term: this.term, readSeq: m.readSeq });
  }

  private handleSnapshot(m: InstallSnapshot): void {
    const snap = m.snapshot;
    if (snap.index <= this.log.committed) {
      this.msgsAfterPersist.push(appendResponse(this, m.from, this.log.committed, false));
      return;
    }
    if (this.log.matchTerm(snap.index, snap.term)) {
      // We hold its last entry, so the entries before it match too: fast-forward commit. Vouch
      // only for the snapshot's index; nothing after it was checked against the leader.
      this.log.commitTo(snap.index);
    } else {
      this.log.restore(snap);
      // The snapshot's state includes every change up to its index: adopt its configuration.
      this.conf = confOf(snap);
    }
    this.msgsAfterPersist.push(appendResponse(this, m.from, snap.index, false));
  }

  // ---- Leader ------------------------------------------------------------------------------

  private tickHeartbeat(): void {
    this.heartbeatElapsedTicks++;
    this.electionElapsedTicks++;
    if (this.electionElapsedTicks >= this.cfg.electionTimeoutTicks) {
      this.electionElapsedTicks = 0;
      if (this.cfg.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, null);
        return;
      }
      this.leadTransferee = null; // a transfer that did not finish in time is abandoned
      // A removed leader tries again, perhaps with another voter: it must hand over.
      if (!this.voters.includes(this.id)) this.handOverOnRemoval();
      if (this.role !== 'leader') return;
    }
    this.retryLostSnapshots();
    if (this.heartbeatElapsedTicks >= this.cfg.heartbeatIntervalTicks) {
      this.heartbeatElapsedTicks = 0;
      this.bcastHeartbeat();
    }
  }

  /** quorumActive: a majority was heard from in this window; resets the window. */
  private quorumActive(): boolean {
    let active = 0;
    for (const [id, pr] of this.progress) {
      if (this.voters.includes(id) && (id === this.id || pr.recentActive)) active++;
      if (id !== this.id) pr.recentActive = false;
    }
    return active >= quorumSize(this.voters.length);
  }

  private retryLostSnapshots(): void {
    for (const pr of this.progress.values()) {
      if (pr.state !== 'snapshot') continue;
      pr.snapshotElapsedTicks++;
      if (pr.snapshotElapsedTicks >= this.cfg.snapshotRetryTicks) {
        pr.pendingSnapshot = index(0);
        pr.becomeProbe();
      }
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) {
      // A member removed (or not yet added) here: it retries its reads elsewhere.
      if (m.type === 'readIndex') this.rejectReads(m.from, m.contexts);
      return;
    }
    pr.recentActive = true;
    switch (m.type) {
      case 'appendResp':
        this.handleAppendResponse(m, pr);
        return;
      case 'heartbeatResp':
        this.handleHeartbeatResponse(m.from, m.readSeq, pr);
        return;
      case 'readIndex':
        this.handleReadRequest(m.contexts, m.from);
        return;
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        assert(false, () => `two leaders in term ${this.term}: ${this.id} and ${m.from}`);
        return;
      case 'preVoteResp':
      case 'voteResp':
      case 'timeoutNow':
      case 'readIndexResp':
      case 'preVote':
      case 'vote':
        return;
      default:
        unreachable(m);
    }
  }

  private handleAppendResponse(m: AppendResponse, pr: Progress): void {
    if (m.reject) {
      const hintNext = index(this.log.findConflictByTerm(m.hintIndex, m.hintTerm) + 1);
      if (pr.maybeDecrTo(m.index, hintNext)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from, true);
      }
      return;
    }
    const oldPaused = pr.paused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) pr.becomeReplicate();
    else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);
    if (this.maybeCommit()) this.appendsPending = true;
    else if (oldPaused) this.sendAppend(m.from, false);
    // Fill the pipeline with what is already in the log.
    while (pr.next <= this.log.lastIndex() && this.sendAppend(m.from, false)) {
      /* keep sending */
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      if (this.voters.includes(this.id)) this.sendTimeoutNow(m.from);
      else this.finishRemovalHandOver(m.from);
    }
  }

  private handleHeartbeatResponse(from: NodeId, readSeq: number, pr: Progress): void {
    pr.probeSent = false;
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex()) this.sendAppend(from, true);
    if (readSeq > pr.readSeqAcked) {
      pr.readSeqAcked = readSeq;
      this.confirmReads();
    }
  }

  /** maybeCommit advances commit to what a quorum holds, if that entry is of our term (§5.4.2). */
  private maybeCommit(): boolean {
    const matches = this.voters.map((id) => this.progressOf(id).match);
    const candidate = committedIndex(matches);
    if (candidate <= this.log.committed || this.log.term(candidate) !== this.term) return false;
    const hadCommittedInTerm = this.committedInTerm();
    this.log.commitTo(candidate);
    if (!hadCommittedInTerm) this.releaseDeferredReads();
    return true;
  }

  private committedInTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  private appendEntry(entry: Entry): void {
    this.log.append([entry]);
    this.appendsPending = true;
  }

  private bcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id, true);
  }

  private bcastHeartbeat(): void {
    const readSeq = this.readOnly.seq;
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      const commit = index(Math.min(pr.match, this.log.committed));
      this.send({ type: 'heartbeat', from: this.id, to: id, term: this.term, commit, readSeq });
    }
  }

  /**
   * sendAppend sends `to` the entries from its next index (or a snapshot when they are
   * compacted). `sendIfEmpty` also sends an append with no entries, to probe or carry commit.
   * Returns false when nothing was sent.
   */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progressOf(to);
    if (pr.paused()) return false;
    const prevLogIndex = index(pr.next - 1);
    const prevLogTerm = this.log.term(prevLogIndex);
    const entries =
      prevLogTerm === null
        ? null
        : this.log.entries(pr.next, index(this.log.lastIndex() + 1), this.cfg.appendBytesPerMessageMax);
    if (prevLogTerm === null || entries === null) return this.sendSnapshot(to, pr);
    if (entries.length === 0 && !sendIfEmpty) return false;
    const last = entries[entries.length - 1];
    this.send({
      type: 'append',
      from: this.id,
      to,
      term: this.term,
      prevLogIndex,
      prevLogTerm,
      entries,
      commit: this.log.committed,
    });
    pr.sentEntries(last === undefined ? null : last.index);
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) return false; // don't stream a snapshot at a member that may be down
    const snapshot = this.log.snapshotMeta();
    assert(snapshot.index > 0, 'sendSnapshot: entries compacted but no snapshot');
    pr.becomeSnapshot(snapshot.index);
    this.send({ type: 'snapshot', from: this.id, to, term: this.term, snapshot });
    return true;
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send({ type: 'timeoutNow', from: this.id, to, term: this.term });
  }

  // ---- Membership --------------------------------------------------------------------------

  /**
   * applyConfEntry applies a committed config entry as it is handed out in a Ready. A change
   * that does not apply is skipped on every member alike (they all apply the same sequence).
   */
  applyConfEntry(e: Entry): void {
    const cc = decodeConfChange(e.data);
    // A committed entry this member cannot read would split the configurations: stop instead.
    assert(cc.ok, () => `committed config entry ${e.index} is unreadable: ${cc.ok ? '' : cc.error}`);
    const next = applyConfChange(this.conf, cc.value);
    if (!next.ok) return;
    this.conf = next.value;
    if (this.role === 'leader') this.leaderConfChanged();
  }

  /** leaderConfChanged brings the leader's Progress, commit and reads in line with a new configuration. */
  private leaderConfChanged(): void {
    const added = [...this.conf.voters, ...this.conf.learners].filter((id) => !this.progress.has(id));
    for (const id of added) this.addProgress(id);
    for (const id of [...this.progress.keys()])
      if (!isMember(this.conf, id) && id !== this.id) this.progress.delete(id);
    if (this.leadTransferee !== null && !this.voters.includes(this.leadTransferee)) this.leadTransferee = null;
    if (!this.voters.includes(this.id)) {
      this.handOverOnRemoval();
      return;
    }
    // Fewer voters may make a quorum already (a removed laggard no longer holds commit back).
    if (this.maybeCommit()) this.appendsPending = true;
    this.confirmReads();
    for (const id of added) this.sendAppend(id, true); // a first probe, not a heartbeat later
  }

  /**
   * handOverOnRemoval: this leader applied its own removal. It goes on leading, refusing new
   * work (leadTransferee is set) and counting only the remaining voters, until the most
   * caught-up voter holds its whole log; then it tells that voter to campaign at once and
   * steps down. Stepping down at once would strand a cluster whose only members that know the
   * removal committed, or hold the newest entries, are this leader (a two-voter cluster
   * removing its leader). As a non-voter it never campaigns again.
   */
  private handOverOnRemoval(): void {
    const best = this.mostCaughtUpVoter();
    if (best === null) {
      this.becomeFollower(this.term, null);
      return;
    }
    this.leadTransferee = best;
    this.electionElapsedTicks = 0;
    if (this.progressOf(best).match === this.log.lastIndex()) this.finishRemovalHandOver(best);
    else this.sendAppend(best, true);
  }

  /** mostCaughtUpVoter prefers voters heard from in this CheckQuorum window, then the highest match. */
  private mostCaughtUpVoter(): NodeId | null {
    let best: { id: NodeId; active: boolean; match: number } | null = null;
    for (const id of this.voters) {
      const pr = this.progress.get(id);
      if (pr === undefined || id === this.id) continue;
      const better =
        best === null ||
        (pr.recentActive && !best.active) ||
        (pr.recentActive === best.active && pr.match > best.match);
      if (better) best = { id, active: pr.recentActive, match: pr.match };
    }
    return best?.id ?? null;
  }

  /** finishRemovalHandOver: `to` holds our whole log; an append carries our commit index, then TimeoutNow. */
  private finishRemovalHandOver(to: NodeId): void {
    this.sendAppend(to, true);
    this.sendTimeoutNow(to);
    this.becomeFollower(this.term, null);
    this.progress.clear();
  }

  // ---- ReadIndex (thesis §6.4) -------------------------------------------------------------

  private handleReadRequest(contexts: readonly ReadContext[], from: NodeId): void {
    if (!this.committedInTerm()) {
      // Until an entry of this term commits, our commit index may be behind the last leader's.
      this.readOnly.defer(contexts, from);
      return;
    }
    if (this.voters.length === 1 && this.voters[0] === this.id) {
      this.answerRead(contexts, from, this.log.committed);
      return;
    }
    this.readOnly.add(contexts, from, this.log.committed);
    this.heartbeatPending = true;
  }

  private releaseDeferredReads(): void {
    for (const r of this.readOnly.takeDeferred()) this.handleReadRequest(r.contexts, r.from);
  }

  private confirmReads(): void {
    const acked = this.voters.map((id) => (id === this.id ? this.readOnly.seq : this.progressOf(id).readSeqAcked));
    for (const r of this.readOnly.confirm(quorumMin(acked))) this.answerRead(r.contexts, r.from, r.index);
  }

  private answerRead(contexts: readonly ReadContext[], from: NodeId, at: Index): void {
    if (from === this.id) {
      for (const context of contexts) this.readStates.push({ context, index: at });
    } else {
      this.send({
        type: 'readIndexResp',
        from: this.id,
        to: from,
        term: this.term,
        contexts,
        index: at,
        reject: false,
      });
    }
  }

  /** failPendingReads: leadership is lost, so pending confirmations can never complete. */
  private failPendingReads(): void {
    if (this.role !== 'leader') return;
    for (const r of this.readOnly.drain()) {
      if (r.from === this.id) this.readsFailed.push(...r.contexts);
      else this.rejectReads(r.from, r.contexts);
    }
  }

  /** rejectReads tells a member its ReadIndex requests cannot be served here (it retries elsewhere). */
  private rejectReads(to: NodeId, contexts: readonly ReadContext[]): void {
    this.send({ type: 'readIndexResp', from: this.id, to, term: this.term, contexts, index: index(0), reject: true });
  }

  // ---- Helpers -----------------------------------------------------------------------------

  private send(m: Message): void {
    assert(m.from === this.id && m.to !== this.id, () => `bad envelope ${m.from}->${m.to}`);
    const guard = this.configGuard;
    if (guard !== null && (m.type === 'append' || m.type === 'heartbeat') && m.commit >= guard) {
      this.sendsAfterPersist = true;
    }
    // A sole voter leads the moment it campaigns: nothing of its term may leave before the term is
    // on disk, or a crash lets it lead that term again with other entries at the same indexes.
    if (this.role === 'leader' && this.term > this.durableTerm) this.sendsAfterPersist = true;
    if (this.sendsAfterPersist) this.msgsAfterPersist.push(m);
    else this.msgs.push(m);
  }

  private progressOf(id: NodeId): Progress {
    const pr = this.progress.get(id);
    assert(pr !== undefined, () => `no progress for ${id}`);
    return pr;
  }
}

function confOf(c: ConfState): ConfState {
  return { voters: c.voters, learners: c.learners, contexts: c.contexts };
}

function appendResponse(r: Raft, to: NodeId, at: Index, reject: boolean): AppendResponse {
  return {
    type: 'appendResp',
    from: r.id,
    to,
    term: r.term,
    index: at,
    reject,
    hintIndex: index(0),
    hintTerm: term(0),
  };
}
