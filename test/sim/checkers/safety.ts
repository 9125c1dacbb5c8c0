import type { Index, NodeId, Term } from '../../../src/lib/ids.js';
import {
  EMPTY_HARD_STATE,
  type Entry,
  type HardState,
  type RaftCore,
  type SnapshotMeta,
} from '../../../src/raft/index.js';

/** SnapshotDigest names a snapshot's state by a canonical text, compared across nodes. */
export interface SnapshotDigest {
  readonly index: Index;
  readonly term: Term;
  readonly digest: string;
}

/**
 * SafetyChecker holds the Raft safety properties (Raft paper Figure 3) against everything the
 * simulated nodes do, as they do it:
 * - Election Safety: at most one leader per term, ever.
 * - Leader Append-Only: a leader only appends to its log.
 * - Log Matching: two durable logs holding an entry with the same index and term hold the same
 *   entries up to it. Each node's durable log is mirrored as a chain hash per index, so a
 *   check costs O(new entries), not O(log).
 * - Leader Completeness: a new leader's log holds every entry known committed: applied by any
 *   node, or covered by a commit index any node persisted.
 * - State Machine Safety: every node applies the same entry at each index, in order; every
 *   durable commit index covers the same entries; snapshots of one index hold the same state.
 * - Membership: only a voter of its own configuration campaigns or leads; a learner, a joiner
 *   and a member that applied its own removal never do (issue 14).
 * A violation throws SafetyViolation, which the simulator turns into a replayable failure.
 */
export class SafetyViolation extends Error {
  constructor(
    readonly checker: string,
    details: string,
  ) {
    super(details);
  }
}

/** KnownCommitted is an entry known to be committed: some node applied it, or persisted a commit index covering it. */
interface KnownCommitted {
  readonly term: Term;
  /**
   * commitTerm bounds the term in which the entry was committed: the lowest term at which a
   * node applied it or persisted a commit index covering it. Leader Completeness binds leaders
   * of later terms only: a stale leader of an older term may legitimately lack it.
   */
  commitTerm: number;
  /** chain is the chain hash of every committed entry up to and including this one. */
  readonly chain: number;
  readonly by: NodeId;
  readonly how: 'applied' | 'commit';
}

/** DurableLog mirrors one node's durable log as chain hashes; it survives crashes, like the disk. */
interface DurableLog {
  /** chains[i] is the chain hash at index i, for base <= i <= last. */
  readonly chains: number[];
  /** terms[i] is the term at index i, for base <= i <= last. */
  readonly terms: number[];
  base: number;
  /** leaderTerm is the term the node led when it last persisted, or null. */
  leaderTerm: number | null;
  /** hardState is the last durable hard state. */
  hardState: HardState;
}

interface RoleSeen {
  role: string;
  term: number;
}

export class SafetyChecker {
  /** leaders maps a term to the member that led it. */
  private readonly leaders = new Map<number, NodeId>();
  /** committed[i] for 1 <= i <= committedMax: always a prefix, since commit indexes cover prefixes. */
  private readonly committed: KnownCommitted[] = [];
  private readonly snapshotDigests = new Map<number, { digest: string; by: NodeId }>();
  /** seen maps "index/term" to the chain hash the first durable log holding it had there. */
  private readonly seen = new Map<string, { chain: number; node: NodeId }>();
  private readonly logs = new Map<NodeId, DurableLog>();
  private readonly roles = new Map<NodeId, RoleSeen>();
  leaderElections = 0;

  constructor(ids: readonly NodeId[]) {
    for (const id of ids) this.logs.set(id, emptyLog());
  }

  get committedMax(): number {
    return Math.max(0, this.committed.length - 1);
  }

  committedTermAt(i: number): Term | null {
    return this.committed[i]?.term ?? null;
  }

  /** observeRole runs after every input a core handles: Election Safety and Leader Completeness. */
  observeRole(id: NodeId, core: RaftCore): void {
    const st = core.status();
    const prev = this.roles.get(id);
    if (prev !== undefined && prev.role === st.role && prev.term === st.term) return;
    this.roles.set(id, { role: st.role, term: st.term });
    if (st.role === 'follower') return;
    // Only voters campaign: a learner, a joiner, or a member that applied its own removal never does.
    if (!core.confState().voters.includes(id)) {
      throw new SafetyViolation(
        'membership',
        `${id} became ${st.role} in term ${st.term} but is not a voter of its configuration (voters ${core.confState().voters.join(',') || '-'})`,
      );
    }
    if (st.role !== 'leader') return;
    const other = this.leaders.get(st.term);
    if (other !== undefined && other !== id) {
      throw new SafetyViolation('election safety', `${id} and ${other} both lead term ${st.term}`);
    }
    this.leaders.set(st.term, id);
    this.leaderElections++;
    this.checkLeaderCompleteness(id, core, st.term, st.snapshotIndex);
  }

  /** crashed forgets the role a node had: its next core starts as a follower. */
  crashed(id: NodeId): void {
    this.roles.delete(id);
    this.logOf(id).leaderTerm = null;
  }

  /**
   * persisted mirrors a node's Ready persist (snapshot base, entries, hard state) and checks Log
   * Matching; `leaderTerm` is the term the node led when it took the Ready, or null.
   */
  persisted(
    id: NodeId,
    leaderTerm: Term | null,
    snapshot: SnapshotMeta | null,
    entries: readonly Entry[],
    hardState: HardState | null,
  ): void {
    const log = this.logOf(id);
    this.checkLeaderAppendOnly(id, leaderTerm, log, entries);
    if (snapshot !== null) this.rebase(id, log, snapshot);
    for (const e of entries) this.persistEntry(id, log, e);
    if (hardState !== null) {
      this.checkHardState(id, log.hardState, hardState);
      log.hardState = hardState;
      this.persistedCommit(id, log, hardState.commit, hardState.term);
    }
  }

  /** checkHardState: a durable term and commit never go back, and a vote once cast in a term stays. */
  private checkHardState(id: NodeId, prev: HardState, next: HardState): void {
    if (next.term < prev.term)
      throw new SafetyViolation('hard state', `${id} persisted term ${next.term} after ${prev.term}`);
    if (next.commit < prev.commit)
      throw new SafetyViolation('hard state', `${id} persisted commit ${next.commit} after ${prev.commit}`);
    if (next.term === prev.term && prev.vote !== null && next.vote !== prev.vote) {
      throw new SafetyViolation(
        'election safety',
        `${id} voted for ${prev.vote} and then ${next.vote ?? 'nobody'} in term ${next.term}`,
      );
    }
  }

  /**
   * checkLeaderAppendOnly: a leader never overwrites or deletes entries in its own log (Raft
   * Figure 3). A node that led the same term at its previous persist may only append.
   */
  private checkLeaderAppendOnly(id: NodeId, leaderTerm: Term | null, log: DurableLog, entries: readonly Entry[]): void {
    const first = entries[0];
    if (
      leaderTerm !== null &&
      log.leaderTerm === leaderTerm &&
      first !== undefined &&
      first.index < log.chains.length
    ) {
      throw new SafetyViolation(
        'leader append-only',
        `${id}, leading term ${leaderTerm}, overwrote its log from ${first.index} (last ${log.chains.length - 1})`,
      );
    }
    log.leaderTerm = leaderTerm;
  }

  /** compacted: the node dropped its log up to a snapshot it took; the chain below is no longer held. */
  compacted(id: NodeId, meta: SnapshotMeta): void {
    const log = this.logOf(id);
    if (meta.index > log.base) log.base = meta.index;
  }

  /** appliedEntry checks State Machine Safety for one entry a node in term `t` applies after `appliedBefore`. */
  appliedEntry(id: NodeId, t: Term, appliedBefore: Index, e: Entry): void {
    if (e.index !== appliedBefore + 1) {
      throw new SafetyViolation('state machine safety', `${id} applied ${e.index}/${e.term} after ${appliedBefore}`);
    }
    const prev = e.index === 1 ? 0 : this.committed[e.index - 1]?.chain;
    if (prev === undefined) {
      throw new SafetyViolation(
        'state machine safety',
        `${id} applied ${e.index} but ${e.index - 1} is not known committed`,
      );
    }
    const chain = chainNext(prev, e.term, hashEntry(e));
    const held = this.committed[e.index];
    if (held === undefined) {
      this.committed[e.index] = { term: e.term, commitTerm: t, chain, by: id, how: 'applied' };
      this.lowerCommitTerm(e.index - 1, t);
    } else if (held.chain !== chain) {
      throw new SafetyViolation(
        'state machine safety',
        `${id} applied ${e.index}/${e.term}, but ${held.by} ${held.how} ${e.index}/${held.term} (a different entry)`,
      );
    } else {
      this.lowerCommitTerm(e.index, t);
    }
  }

  /** snapshot checks that every snapshot of one index holds the same state, and that its index was committed. */
  snapshot(id: NodeId, s: SnapshotDigest): void {
    const held = this.snapshotDigests.get(s.index);
    if (held !== undefined && held.digest !== s.digest) {
      throw new SafetyViolation(
        'state machine safety',
        `snapshots at ${s.index} differ: ${id} has ${s.digest}, ${held.by} has ${held.digest}`,
      );
    }
    if (held === undefined) this.snapshotDigests.set(s.index, { digest: s.digest, by: id });
    if (this.committedTermAt(s.index) !== s.term) {
      throw new SafetyViolation(
        'state machine safety',
        `${id} has a snapshot at ${s.index}/${s.term} that matches no committed entry`,
      );
    }
  }

  /**
   * checkLeaderCompleteness: the leader of term `leaderTerm` holds every entry above its
   * snapshot that was committed in an earlier term (commit terms never decrease with the index).
   */
  private checkLeaderCompleteness(id: NodeId, core: RaftCore, leaderTerm: number, snapshotIndex: number): void {
    const snapTerm = core.termAt(snapshotIndex as Index);
    if (snapshotIndex > 0 && snapTerm !== this.committedTermAt(snapshotIndex)) {
      throw new SafetyViolation(
        'leader completeness',
        `${id} leads from snapshot ${snapshotIndex}/${snapTerm}, which is not committed`,
      );
    }
    for (let i = snapshotIndex + 1; i <= this.committedMax; i++) {
      const want = this.committed[i];
      if (want === undefined || want.commitTerm >= leaderTerm) break;
      const t = core.termAt(i as Index);
      if (t !== want.term) {
        throw new SafetyViolation(
          'leader completeness',
          `${id} leads term ${leaderTerm} with ${i}/${t ?? '-'}, but ${i}/${want.term} was committed by term ${want.commitTerm} (${want.by} ${want.how} it)`,
        );
      }
    }
  }

  /** lowerCommitTerm records that entries up to `i` were committed by term `t` at the latest. */
  private lowerCommitTerm(i: number, t: number): void {
    for (let j = i; j >= 1; j--) {
      const k = this.committed[j];
      if (k === undefined || k.commitTerm <= t) return;
      k.commitTerm = t;
    }
  }

  private rebase(id: NodeId, log: DurableLog, snapshot: SnapshotMeta): void {
    const entry = this.committed[snapshot.index];
    if (entry === undefined || entry.term !== snapshot.term) {
      throw new SafetyViolation(
        'state machine safety',
        `${id} installs snapshot ${snapshot.index}/${snapshot.term}, which is not committed`,
      );
    }
    log.base = snapshot.index;
    log.chains.length = snapshot.index + 1;
    log.terms.length = snapshot.index + 1;
    log.chains[snapshot.index] = entry.chain;
    log.terms[snapshot.index] = snapshot.term;
  }

  private persistEntry(id: NodeId, log: DurableLog, e: Entry): void {
    const prev = log.chains[e.index - 1];
    if (e.index - 1 < log.base || prev === undefined) {
      throw new SafetyViolation(
        'log matching',
        `${id} persisted ${e.index}/${e.term} after a gap (base ${log.base}, last ${log.chains.length - 1})`,
      );
    }
    const chain = chainNext(prev, e.term, hashEntry(e));
    log.chains.length = e.index;
    log.terms.length = e.index;
    log.chains.push(chain);
    log.terms.push(e.term);
    const key = `${e.index}/${e.term}`;
    const other = this.seen.get(key);
    if (other === undefined) this.seen.set(key, { chain, node: id });
    else if (other.chain !== chain) {
      throw new SafetyViolation(
        'log matching',
        `${id} and ${other.node} both hold ${key} but their logs differ at or before it`,
      );
    }
  }

  /**
   * persistedCommit: a durable commit index vouches for the node's log up to it. It must agree
   * with what is known committed, and extends it (a node's commit index covers only entries
   * its own log holds).
   */
  private persistedCommit(id: NodeId, log: DurableLog, commit: number, t: Term): void {
    const last = log.chains.length - 1;
    if (commit > last)
      throw new SafetyViolation('log matching', `${id} persisted commit ${commit} beyond its last entry ${last}`);
    if (commit <= log.base) return;
    const known = this.committed[commit];
    if (known !== undefined) {
      if (known.chain !== log.chains[commit]) {
        throw new SafetyViolation(
          'state machine safety',
          `${id} persisted commit ${commit} over ${commit}/${log.terms[commit]}, but ${known.by} ${known.how} ${commit}/${known.term} (logs differ at or before ${commit})`,
        );
      }
      this.lowerCommitTerm(commit, t);
      return;
    }
    const from = this.committed.length;
    if (from - 1 < log.base) return; // cannot happen: a log's base is a committed snapshot
    const prevKnown = this.committed[from - 1];
    if (from > 1 && prevKnown !== undefined && prevKnown.chain !== log.chains[from - 1]) {
      throw new SafetyViolation(
        'state machine safety',
        `${id} persisted commit ${commit}, but its log differs from what is committed at or before ${from - 1}`,
      );
    }
    for (let i = Math.max(from, 1); i <= commit; i++) {
      this.committed[i] = {
        term: log.terms[i] as Term,
        commitTerm: t,
        chain: log.chains[i] ?? 0,
        by: id,
        how: 'commit',
      };
    }
    this.lowerCommitTerm(from - 1, t);
  }

  /** logOf is a node's mirror; a node added to the cluster starts with an empty one. */
  private logOf(id: NodeId): DurableLog {
    let log = this.logs.get(id);
    if (log === undefined) {
      log = emptyLog();
      this.logs.set(id, log);
    }
    return log;
  }
}

function emptyLog(): DurableLog {
  return { chains: [0], terms: [0], base: 0, leaderTerm: null, hardState: EMPTY_HARD_STATE };
}

/** hashEntry is a 32-bit FNV-1a of an entry's kind and bytes. */
function hashEntry(e: Entry): number {
  let h = e.kind === 'noop' ? 0x811c9dc5 : 0x01000193;
  for (const b of e.data) h = Math.imul(h ^ b, 0x01000193);
  return h >>> 0;
}

/**
 * chainNext folds (term, dataHash) into a 52-bit chain value made of two independent 26-bit
 * mixes, so a false match needs two unrelated collisions (about 1 in 2^52 per comparison).
 */
function chainNext(prev: number, t: number, dataHash: number): number {
  const hi = Math.floor(prev / 0x4000000);
  const lo = prev % 0x4000000;
  const a = mix(mix(mix(hi ^ 0x9e3779b9, lo), t), dataHash);
  const b = mix(mix(mix(lo ^ 0x85ebca6b, hi), dataHash), t + 0x27d4eb2f);
  return (a >>> 6) * 0x4000000 + (b >>> 6);
}

function mix(h: number, x: number): number {
  h = Math.imul(h ^ x, 0x5bd1e995);
  h ^= h >>> 15;
  h = Math.imul(h, 0x27d4eb2f);
  return (h ^ (h >>> 13)) >>> 0;
}
