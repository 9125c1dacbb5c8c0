import { assert } from '../lib/assert.js';
import type { Index, NodeId, Term } from '../lib/ids.js';
import type { Message } from '../raft/index.js';

/** stalenessPointsMax bounds the follower's pending (time, commit) points; past it the newest is merged, which only overstates. */
const stalenessPointsMax = 64;

/**
 * Staleness bounds how old the state this node serves to LOCAL reads may be (issue 13 finding
 * 5): the time since the latest moment at which this node's applied state is known to have
 * held every write committed anywhere.
 *
 * On a follower: a message of the current leader, in its term, carrying commit index c and
 * received at t shows that at t every write that leader had committed is at or below c (an
 * append carries the leader's commit; a heartbeat carries it clamped to our match, so a
 * heartbeat below a commit already seen from this leader says nothing and is skipped). Once
 * this node has applied c, its state is fresh as of t. A stalled disk or a slow apply keeps c
 * out of reach, so the figure grows; so does silence from the leader.
 *
 * On a leader: fresh as of the time by which a majority (itself included) had last been heard
 * from in its term (no other leader can have committed anything before that), counted only
 * once it has applied an entry of its own term (before that its state may lack entries the
 * last leader committed: it keeps its figure from before). A leader with a stalled disk or
 * deposed without knowing stops hearing a majority in its term, so the figure grows.
 *
 * Not counted: the one-way network delay of the message that made us fresh, and, on a
 * follower, how stale the leader itself was when it sent it (a leader deposed without knowing
 * keeps heartbeating its followers until CheckQuorum steps it down, within two election
 * timeouts). Before this process heard any leader, the figure counts from its start.
 */
export class Staleness {
  private leader: NodeId | null = null;
  private term: Term = 0 as Term;
  private isLeader = false;
  /** freshAtMs: the follower-side (and pre-leadership) time as of which our state is known complete. */
  private freshAtMs: number;
  /** points: (received at, commit) from the leader not yet applied, commit non-decreasing. */
  private points: Array<{ atMs: number; commit: Index }> = [];
  /** commitSeen: the highest commit index known to be the leader's own (applied or from an append). */
  private commitSeen = 0;
  private applied = 0;
  /** heardAtMs: as leader, when each voter was last heard from in our term. */
  private readonly heardAtMs = new Map<NodeId, number>();
  /** leaderReady: as leader, an entry of our term has been applied. */
  private leaderReady = false;

  constructor(
    private readonly selfId: NodeId,
    /** voters reads the applied configuration's voters: membership changes online (issue 14). */
    private readonly voters: () => readonly NodeId[],
    startMs: number,
  ) {
    this.freshAtMs = startMs;
  }

  /** leaderChanged is told each new leader (null: none known) and the term it leads. */
  leaderChanged(leader: NodeId | null, term: Term, nowMs: number): void {
    if (this.isLeader && this.leaderReady) this.freshAtMs = Math.max(this.freshAtMs, this.quorumHeardAtMs(nowMs));
    this.leader = leader;
    this.term = term;
    this.isLeader = leader === this.selfId;
    this.points = [];
    this.commitSeen = this.applied;
    this.leaderReady = false;
    this.heardAtMs.clear();
    if (this.isLeader) for (const id of this.voters()) if (id !== this.selfId) this.heardAtMs.set(id, this.freshAtMs);
  }

  /** heard takes note of peer messages as they arrive (before the loop steps them). */
  heard(messages: readonly Message[], nowMs: number): void {
    for (const m of messages) {
      if (m.term !== this.term) continue;
      if (this.isLeader) {
        // A member added while we lead counts once heard from; until then it counts as never heard.
        if (this.heardAtMs.has(m.from) || this.voters().includes(m.from)) this.heardAtMs.set(m.from, nowMs);
      } else if (m.from === this.leader && (m.type === 'append' || m.type === 'heartbeat')) {
        this.point(m.type === 'append', m.commit, nowMs);
      }
    }
  }

  private point(fromAppend: boolean, commit: Index, nowMs: number): void {
    if (!fromAppend && commit < this.commitSeen) return; // a clamped heartbeat: not the leader's commit
    this.commitSeen = Math.max(this.commitSeen, commit);
    if (commit <= this.applied) {
      this.freshAtMs = Math.max(this.freshAtMs, nowMs);
      return;
    }
    const last = this.points[this.points.length - 1];
    if (last !== undefined && (last.commit >= commit || this.points.length >= stalenessPointsMax)) {
      this.points[this.points.length - 1] = {
        atMs: last.commit >= commit ? last.atMs : nowMs,
        commit: last.commit >= commit ? last.commit : commit,
      };
      return;
    }
    assert(last === undefined || last.commit < commit, 'staleness points must have increasing commits');
    this.points.push({ atMs: nowMs, commit });
  }

  /** appliedTo is told the applied index after each Ready, with the term of the last entry applied (if any). */
  appliedTo(applied: Index, lastTerm: Term | null): void {
    this.applied = Math.max(this.applied, applied);
    this.commitSeen = Math.max(this.commitSeen, this.applied);
    if (this.isLeader && lastTerm === this.term) this.leaderReady = true;
    let n = 0;
    for (; n < this.points.length && (this.points[n]?.commit ?? Infinity) <= this.applied; n++) {
      this.freshAtMs = Math.max(this.freshAtMs, this.points[n]?.atMs ?? 0);
    }
    if (n > 0) this.points.splice(0, n);
  }

  /** ms is how old the state served now may be. */
  ms(nowMs: number): number {
    const freshMs = this.isLeader && this.leaderReady ? this.quorumHeardAtMs(nowMs) : this.freshAtMs;
    return Math.max(0, nowMs - freshMs);
  }

  /** quorumHeardAtMs: the latest time by which a majority of voters (this leader at nowMs) had been heard. */
  private quorumHeardAtMs(nowMs: number): number {
    const voters = this.voters();
    const times = voters
      .map((id) => (id === this.selfId ? nowMs : (this.heardAtMs.get(id) ?? 0)))
      .sort((a, b) => b - a);
    const t = times[Math.floor(voters.length / 2)];
    assert(t !== undefined, 'no voters');
    return t;
  }
}
