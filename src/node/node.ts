import { LIMITS } from '../config/limits.js';
import { assert } from '../lib/assert.js';
import { RegistryError, unavailable } from '../lib/errors.js';
import type { Index, NodeId } from '../lib/ids.js';
import type { Logger } from '../lib/logger.js';
import type { Rng } from '../lib/rng.js';
import { BASELINE_VERSIONS, type FormatVersions } from '../lib/versions.js';
import {
  type ConfChange,
  type Entry,
  type InstallSnapshot,
  type Message,
  type NodeLogStorage,
  type NodeSnapshotStore,
  RAFT_DEFAULTS,
  RaftCore,
  type RaftStatus,
  type Ready,
  type SnapshotMeta,
  type StateMachine,
} from '../raft/index.js';
import type { RaftConfigDefaults } from '../raft/config.js';
import type { ForwardOutcome, PeerHandler } from '../transport/peer-handler.js';
import type { Transport } from '../transport/transport.js';
import { type NodeClock, SYSTEM_CLOCK, type TimerHandle, exitProcess } from './clock.js';
import { ClusterVersions, type VersionsStatus } from './cluster-versions.js';
import { decodeCommandEntry, encodeCommandEntry } from './entry-codec.js';
import { peerBatches } from './batches.js';
import { EntryClock } from './entry-clock.js';
import { Forwarder } from './forwarder.js';
import { Inbox } from './inbox.js';
import type { MemberContext } from './member-context.js';
import type { Member, MemberRole } from './members.js';
import { Membership, confChangeRefusal } from './membership.js';
import { Proposals } from './proposals.js';
import { Reads } from './reads.js';
import { type ExclusiveCapture, Snapshotter } from './snapshotter.js';
import { Staleness } from './staleness.js';

export interface RaftNodeOptions {
  readonly id: NodeId;
  /** voters: the configuration before index 1, when storage holds no snapshot (RaftConfig.voters). */
  readonly voters: readonly NodeId[];
  /**
   * memberAddresses: where the config file says each node listens; a member whose config
   * change carried no readable context is dialed there, and a node with no configuration
   * yet (waiting to be added) dials these (DESIGN §11). Empty in tests that need no addresses.
   */
  readonly memberAddresses?: ReadonlyMap<NodeId, MemberContext>;
  readonly storage: NodeLogStorage;
  readonly snapshots: NodeSnapshotStore;
  readonly stateMachine: StateMachine;
  readonly transport: Transport;
  readonly logger: Logger;
  readonly random: Rng;
  /** electionTimeoutTicks overrides the default (tests shorten it). */
  readonly electionTimeoutTicks?: number;
  readonly snapshotIntervalEntries?: number;
  /** snapshotIntervalBytes overrides LIMITS.snapshotIntervalBytes (tests shorten it). */
  readonly snapshotIntervalBytes?: number;
  readonly tickIntervalMs?: number;
  /** quotaBytes: the state quota this node stamps into the entries it proposes as leader (default LIMITS.quotaBytesDefault). */
  readonly quotaBytes?: number;
  /** beforePersist runs before every log write (chaos tests stall the disk here). */
  readonly beforePersist?: () => Promise<void>;
  /**
   * validateCommand checks a command before it is proposed, from this node's callers and from
   * followers' Forward calls alike (the API's rules; none in tests of other state machines).
   */
  readonly validateCommand?: (payload: Uint8Array) => RegistryError | null;
  /** clock supplies time, timers and turns (default SYSTEM_CLOCK; the simulator passes its own). */
  readonly clock?: NodeClock;
  /**
   * onFatal runs once when a turn fails (default: exit the process, which recovers from its WAL),
   * and when this node applies its own removal from the cluster (a MemberRemovedError).
   */
  readonly onFatal?: (error: unknown) => void;
  /** raftTuning overrides more core bounds (the simulator shrinks them so every limit is hit). */
  readonly raftTuning?: Partial<RaftConfigDefaults>;
  /** versions: the formats this node applies, advertised to peers (default BASELINE_VERSIONS; serve passes the registry's). */
  readonly versions?: FormatVersions;
  /**
   * commandVersion: the command format version a replica needs to apply a command (the
   * registry's commandVersionOf; the baseline when absent). The leader proposes a command only
   * when every member advertises at least that version (DESIGN §12).
   */
  readonly commandVersion?: (payload: Uint8Array) => number;
}

/** NodeEvents lets observers (metrics, logs) listen without reaching in (STYLE rule 23). */
export interface NodeEvents {
  onLeaderChange?(leader: NodeId | null, term: number): void;
  onPersist?(entries: number, durationMs: number): void;
  onApply?(entries: number): void;
  onSnapshot?(meta: SnapshotMeta, bytes: number, durationMs: number): void;
  /** onMembership: the applied configuration changed, at log index `index` (the table holds the new one). */
  onMembership?(members: readonly Member[], index: Index): void;
}

/** MemberRemovedError is what onFatal gets when this node applied its own removal: it leaves. */
export class MemberRemovedError extends Error {
  override readonly name = 'MemberRemovedError';
}

/**
 * RaftNode owns the event loop of one member (STYLE rule 20): inputs that arrive during a turn
 * (ticks, peer messages, proposals, reads) queue up; each turn drains them into the core, then
 * carries out one Ready in the order ready.ts documents: install snapshot → persist (one WAL
 * write, one fsync) while messages that need no durability go out and committed entries that
 * were already durable are applied → messages after persist → apply the rest → serve reads →
 * advance. Proposals that arrive during an fsync batch into the next one.
 */
export class RaftNode implements PeerHandler {
  readonly id: NodeId;
  private readonly core: RaftCore;
  private readonly clock: NodeClock;
  private readonly proposals: Proposals;
  private readonly reads: Reads;
  private readonly forwarder: Forwarder;
  private readonly snapshotter: Snapshotter;
  /** entryClock keeps the entry times this node stamps from going backwards (finding 7). */
  private readonly entryClock: EntryClock;
  private readonly inbox = new Inbox();
  private snapshotReports: Array<{ to: NodeId; delivered: boolean }> = [];
  private unreachable = new Set<NodeId>();
  private ticksPending = 0;
  /** transferTo: a leadership transfer asked for, started at the next turn. */
  private transferTo: NodeId | null = null;
  private turnScheduled = false;
  private turnRunning: Promise<void> | null = null;
  private ticker: TimerHandle | null = null;
  private stopped = false;
  private lastLeader: NodeId | null = null;
  /** staleness bounds how old the state served to LOCAL reads may be (finding 5). */
  private readonly staleness: Staleness;
  /** persistStartedAtMs: when the log write in flight began; null when none is. */
  private persistStartedAtMs: number | null = null;
  /** machineApplied: the last index the state machine holds (it runs ahead of the core's applied index within a turn). */
  private machineApplied: Index;
  private readonly membership: Membership;
  /** versions: what each member advertised it can apply (etcd's cluster version). */
  private readonly versions: ClusterVersions;
  /** leaving: this node applied its own removal and is on its way out. */
  private leaving = false;
  readonly events: NodeEvents = {};

  constructor(private readonly opts: RaftNodeOptions) {
    this.id = opts.id;
    this.clock = opts.clock ?? SYSTEM_CLOCK;
    this.proposals = new Proposals(this.clock);
    this.core = new RaftCore({
      ...RAFT_DEFAULTS,
      ...opts.raftTuning,
      ...(opts.electionTimeoutTicks === undefined ? {} : { electionTimeoutTicks: opts.electionTimeoutTicks }),
      ...(opts.snapshotIntervalEntries === undefined ? {} : { snapshotIntervalEntries: opts.snapshotIntervalEntries }),
      id: opts.id,
      voters: opts.voters,
      storage: opts.storage,
      random: opts.random,
    });
    this.reads = new Reads(opts.id, opts.random, this.clock);
    this.forwarder = new Forwarder(opts.transport);
    this.entryClock = EntryClock.fromLog(opts.storage);
    this.machineApplied = opts.storage.snapshotMeta().index;
    this.membership = new Membership(opts.id, opts.memberAddresses ?? new Map(), this.clock);
    this.versions = new ClusterVersions(opts.id, opts.versions ?? BASELINE_VERSIONS);
    this.membership.refresh(this.core.confState());
    this.opts.transport.setMembers?.(this.membership.table.peers());
    this.staleness = new Staleness(opts.id, () => this.membership.table.voters(), this.clock.nowMs());
    this.snapshotter = new Snapshotter(
      opts.storage,
      opts.snapshots,
      opts.stateMachine,
      opts.logger,
      this.clock,
      (meta, bytes, ms) => this.events.onSnapshot?.(meta, bytes, ms),
      opts.snapshotIntervalBytes ?? LIMITS.snapshotIntervalBytes,
    );
  }

  /** start begins ticking; the state machine must already be restored from the newest snapshot. */
  start(): void {
    assert(this.ticker === null, 'node started twice');
    this.ticker = this.clock.every(this.opts.tickIntervalMs ?? LIMITS.tickIntervalMs, () => this.onTick());
    this.scheduleTurn();
  }

  status(): RaftStatus {
    return this.core.status();
  }

  /** members: the applied configuration, with each member's addresses. */
  members(): readonly Member[] {
    return this.membership.table.all();
  }

  /** versionsStatus: this node's formats, the lowest among the applied configuration's members, and each member's. */
  versionsStatus(): VersionsStatus {
    return this.versions.status(this.membership.table.all().map((m) => m.id));
  }

  /** peerVersions: the peer server heard `peer` advertise its formats (null: its stream ended, forget them). */
  peerVersions(peer: NodeId, versions: FormatVersions | null): void {
    this.versions.peerVersions(peer, versions);
  }

  /** memberRole: this node's place in the applied configuration ('none': waiting to be added). */
  memberRole(): MemberRole | 'none' {
    return this.membership.table.roleOf(this.id);
  }

  /**
   * changeMembership proposes one configuration change (leader only: elsewhere UNAVAILABLE
   * naming the leader) and resolves with its index once it is applied here.
   */
  changeMembership(cc: ConfChange, deadlineMs: number): Promise<Index> {
    const status = this.core.status();
    if (this.stopped || this.leaving) return Promise.reject(unavailable('this node is shutting down', status.leader));
    if (status.role !== 'leader')
      return Promise.reject(unavailable('only the leader changes membership', status.leader));
    const p = this.membership.enqueue(cc, deadlineMs);
    this.scheduleTurn();
    return p;
  }

  /** load counts the callers waiting on this node (for metrics). */
  load(): { proposals: number; reads: number } {
    return { proposals: this.proposals.pendingCount, reads: this.reads.pendingCount };
  }

  /**
   * propose replicates a command and resolves with its result once applied here. A follower
   * forwards it to the leader. Fails with UNAVAILABLE (leader hint) when no leader can take
   * it, RESOURCE_EXHAUSTED when full, DEADLINE_EXCEEDED when the deadline passes first,
   * INVALID_ARGUMENT when the command is too big or not valid (see `refusal`).
   */
  propose(payload: Uint8Array, deadlineMs: number): Promise<Uint8Array> {
    if (this.stopped) return Promise.reject(unavailable('this node is shutting down', this.core.status().leader));
    const stalled = this.stalledDiskError();
    if (stalled !== null) return Promise.reject(stalled);
    const refused = this.refusal(payload);
    if (refused !== null) return Promise.reject(refused);
    const p = this.proposals.enqueue(payload, deadlineMs, false);
    this.scheduleTurn();
    return p;
  }

  /** readBarrier resolves with an applied index at which a local read is linearizable. */
  readBarrier(deadlineMs: number): Promise<Index> {
    if (this.stopped) return Promise.reject(unavailable('this node is shutting down', this.core.status().leader));
    const stalled = this.stalledDiskError();
    if (stalled !== null) return Promise.reject(stalled);
    const p = this.reads.enqueue(deadlineMs);
    this.scheduleTurn();
    return p;
  }

  /**
   * captureBackup captures the whole state, on the leader only, after a read barrier: every
   * write acknowledged before the call is in it. The capture is O(1) (copy-on-write); the caller
   * streams it in slices and must `release` it. Elsewhere: UNAVAILABLE with the leader hint.
   */
  async captureBackup(deadlineMs: number): Promise<ExclusiveCapture> {
    const status = this.core.status();
    if (status.role !== 'leader') throw unavailable('backups are taken on the leader', status.leader);
    await this.readBarrier(deadlineMs);
    return this.snapshotter.captureExclusive(() => {
      const at = this.machineApplied;
      const term = this.opts.storage.term(at);
      assert(term !== null, () => `backup at ${at}: the log has no term there`);
      // The applied configuration: restore seeds a new cluster's own, so this one only informs.
      return { index: at, term, ...this.core.confState() };
    });
  }

  /**
   * transferLeadership hands leadership to `to` (or the most caught-up follower). It checks
   * what it can now and leaves the core to the loop's next turn: a core changed between
   * ready() and advance() breaks the Ready contract.
   */
  transferLeadership(to: NodeId | null): NodeId {
    const status = this.core.status();
    if (status.role !== 'leader') throw unavailable('only the leader can transfer leadership', status.leader);
    const target = to ?? this.bestTransferTarget();
    if (target === null) throw new RegistryError('UNAVAILABLE', 'no follower to transfer leadership to');
    if (!this.membership.table.voters().includes(target))
      throw new RegistryError('INVALID_ARGUMENT', `${target} is not a voter`);
    this.transferTo = target;
    this.scheduleTurn();
    return target;
  }

  // ---- PeerHandler -------------------------------------------------------------------------

  deliver(messages: readonly Message[]): void {
    if (this.stopped) return;
    this.staleness.heard(messages, this.clock.nowMs());
    this.inbox.push(messages);
    this.scheduleTurn();
  }

  /** inboxStats: peer messages queued for the next turn, and those dropped because it was full. */
  inboxStats(): { messages: number; bytes: number; dropped: number } {
    return { messages: this.inbox.size, bytes: this.inbox.sizeBytes, dropped: this.inbox.dropped };
  }

  /**
   * stalenessMs bounds how old this node's state may be, for LOCAL reads: on a leader, the time
   * since a majority last heard it in its term; on a follower, since the leader's last message
   * whose commit index it has applied (node/staleness.ts says what is and is not counted).
   */
  stalenessMs(): number {
    return this.staleness.ms(this.clock.nowMs());
  }

  async receiveSnapshot(message: InstallSnapshot, chunks: AsyncIterable<Uint8Array>): Promise<boolean> {
    await this.opts.snapshots.save(message.snapshot, chunks);
    if (this.stopped || this.inbox.push([message]) > 0) return false; // the leader will send it again
    this.scheduleTurn();
    return true;
  }

  forward(commands: readonly Uint8Array[], deadlineMs: number): Promise<ForwardOutcome[]> {
    const stalled = this.stalledDiskError();
    if (stalled !== null) return Promise.resolve(commands.map((): ForwardOutcome => ({ ok: false, error: stalled })));
    const capped = Math.min(deadlineMs, this.clock.nowMs() + LIMITS.requestDeadlineMaxMs);
    const outcomes = commands.map((c): ForwardOutcome | Promise<ForwardOutcome> => {
      const refused = this.refusal(c);
      if (refused !== null) return { ok: false, error: refused };
      return this.proposals.enqueue(c, capped, true).then(
        (result): ForwardOutcome => ({ ok: true, result }),
        (error: unknown): ForwardOutcome => ({ ok: false, error: asRegistryError(error) }),
      );
    });
    this.scheduleTurn();
    return Promise.all(outcomes);
  }

  /**
   * refusal is why a command may not be proposed (null: it may): over LIMITS.commandBytesMax,
   * or refused by the validator. A forwarded command gets the same check as a local one, so a
   * peer cannot put into the log what would fail on every replica when applied.
   */
  private refusal(payload: Uint8Array): RegistryError | null {
    if (payload.byteLength > LIMITS.commandBytesMax) {
      return new RegistryError(
        'INVALID_ARGUMENT',
        `command of ${payload.byteLength} bytes is over the limit of ${LIMITS.commandBytesMax} (commandBytesMax)`,
      );
    }
    return this.opts.validateCommand?.(payload) ?? null;
  }

  /** reportUnreachable is called by the transport when a send to `peer` failed. */
  reportUnreachable(peer: NodeId): void {
    this.unreachable.add(peer);
    this.scheduleTurn();
  }

  // ---- The loop ----------------------------------------------------------------------------

  private onTick(): void {
    this.ticksPending++;
    // The loop is stuck in a log write, so queued work would wait for it: refuse it now.
    const stalled = this.stalledDiskError();
    if (stalled !== null) {
      this.proposals.failQueued(stalled);
      this.reads.failQueued(stalled);
    }
    this.scheduleTurn();
  }

  /** persistInFlightMs: how long the log write in flight has taken so far (0 when none is). */
  persistInFlightMs(): number {
    return this.persistStartedAtMs === null ? 0 : this.clock.monotonicMs() - this.persistStartedAtMs;
  }

  /**
   * stalledDiskError is the refusal for new work while a log write has taken longer than an
   * election timeout (DESIGN §3a.3): this node's loop cannot serve it until the disk answers,
   * and the other members elect a leader meanwhile, because a stuck loop sends no heartbeats.
   */
  private stalledDiskError(): RegistryError | null {
    const ms = this.persistInFlightMs();
    if (ms <= LIMITS.electionTimeoutMs) return null;
    return unavailable(
      `this node's disk has not finished a write for ${Math.round(ms)} ms; nothing was applied, retry on another node`,
      null,
    );
  }

  private scheduleTurn(): void {
    if (this.turnScheduled || this.stopped) return;
    this.turnScheduled = true;
    this.clock.soon(() => void this.runTurn());
  }

  private async runTurn(): Promise<void> {
    this.turnScheduled = false;
    if (this.turnRunning !== null) return; // the running turn reschedules when it ends
    this.turnRunning = this.turn();
    try {
      await this.turnRunning;
    } catch (e) {
      // A failed persist or a broken invariant: stop here, the process restarts from its WAL.
      this.opts.logger.error('node_turn_failed', { error: e });
      (this.opts.onFatal ?? exitProcess)(e);
      return;
    } finally {
      this.turnRunning = null;
    }
    if (this.hasInputs() || this.core.hasReady()) this.scheduleTurn();
  }

  private hasInputs(): boolean {
    return (
      this.ticksPending > 0 ||
      this.inbox.size > 0 ||
      this.transferTo !== null ||
      this.snapshotReports.length > 0 ||
      this.unreachable.size > 0 ||
      this.proposals.hasQueued() ||
      this.membership.hasQueued() ||
      this.reads.hasQueued()
    );
  }

  private async turn(): Promise<void> {
    this.drainInputs();
    this.proposeConfChange();
    this.proposeQueued();
    this.readQueued();
    if (!this.core.hasReady()) return;
    const rd = this.core.ready();
    await this.handleReady(rd);
    this.core.advance();
  }

  private drainInputs(): void {
    this.snapshotter.compactIfDue();
    if (this.ticksPending > 0) this.promoteIfDue();
    for (; this.ticksPending > 0; this.ticksPending--) this.core.tick();
    for (const m of this.inbox.take()) this.core.step(m);
    if (this.transferTo !== null) this.startTransfer(this.transferTo);
    for (const peer of this.unreachable) this.core.reportUnreachable(peer);
    this.unreachable.clear();
    for (const r of this.snapshotReports) this.core.reportSnapshot(r.to, r.delivered);
    this.snapshotReports = [];
  }

  /** proposeConfChange hands the change a caller asked for to the core. */
  private proposeConfChange(): void {
    const q = this.membership.takeQueued();
    if (q === null) return;
    const r = this.core.proposeConfChange(q.cc);
    if (!r.ok) {
      q.waiter.reject(confChangeRefusal(r.error, this.id));
      return;
    }
    this.opts.logger.info('membership_change_proposed', { op: q.cc.op, member: q.cc.id, index: r.value.index });
    this.membership.track(r.value.index, r.value.term, q.waiter);
  }

  /** promoteIfDue: as leader, promote a learner that asked for it once it has caught up (checked each tick). */
  private promoteIfDue(): void {
    const id = this.membership.promotionDue(this.core.status());
    if (id === null) return;
    const r = this.core.proposeConfChange({ op: 'promote', id, context: '' });
    if (r.ok) this.opts.logger.info('membership_change_proposed', { op: 'promote', member: id, index: r.value.index });
  }

  private startTransfer(to: NodeId): void {
    this.transferTo = null;
    const r = this.core.transferLeadership(to);
    if (!r.ok) this.opts.logger.warn('leadership_transfer_not_started', { to, reason: r.error.type });
  }

  private proposeQueued(): void {
    const queued = this.proposals.takeQueued();
    if (queued.length === 0) return;
    const toForward = [];
    const entryTimeMs = this.entryClock.stamp(this.clock.nowMs());
    const leading = this.core.status().role === 'leader';
    for (const p of queued) {
      const tooNew = leading ? this.versionRefusal(p.payload) : null;
      if (tooNew !== null) {
        p.waiter.reject(tooNew);
        continue;
      }
      const r = this.core.propose(
        encodeCommandEntry(entryTimeMs, p.payload, this.opts.quotaBytes ?? LIMITS.quotaBytesDefault),
      );
      if (r.ok) {
        this.proposals.track(r.value.index, r.value.term, p.waiter);
        continue;
      }
      const e = r.error;
      if (e.type === 'overloaded') {
        p.waiter.reject(
          new RegistryError(
            'RESOURCE_EXHAUSTED',
            `the log has ${e.uncommittedEntries} uncommitted entries (limit ${e.limit})`,
          ),
        );
      } else if (e.type === 'overloadedBytes') {
        p.waiter.reject(
          new RegistryError(
            'RESOURCE_EXHAUSTED',
            `the log has ${e.uncommittedBytes} uncommitted bytes (limit ${e.limitBytes})`,
          ),
        );
      } else if (e.type === 'transferring') {
        p.waiter.reject(unavailable('leadership is being transferred; retry', e.to));
      } else if (e.leader === null || e.leader === this.id || p.forwarded) {
        p.waiter.reject(unavailable('no leader can take this write now', e.leader));
      } else {
        toForward.push(p);
      }
    }
    const leader = this.core.status().leader;
    if (toForward.length > 0 && leader !== null) this.forwarder.forward(leader, toForward);
  }

  /**
   * versionRefusal: as leader, a command goes into the log only if every member of the applied
   * configuration (voters and learners) can apply it; a member that cannot would stop on it.
   * Null when it may be proposed, else FAILED_PRECONDITION naming the member that holds it back.
   */
  private versionRefusal(payload: Uint8Array): RegistryError | null {
    const needed = this.opts.commandVersion?.(payload) ?? BASELINE_VERSIONS.command;
    if (needed <= BASELINE_VERSIONS.command) return null;
    const lowest = this.versions.lowest(
      this.membership.table.all().map((m) => m.id),
      'command',
    );
    if (needed <= lowest.version) return null;
    const who = lowest.heldBackBy === null ? `this node (${this.id})` : `member ${lowest.heldBackBy}`;
    return new RegistryError(
      'FAILED_PRECONDITION',
      `this command needs command format ${needed}, but ${who} applies only ${lowest.version}; ` +
        'upgrade every member (a member not heard from counts as 1) before using it',
    );
  }

  private readQueued(): void {
    const nowMs = this.clock.nowMs();
    this.reads.leaderIs(this.core.status().leader);
    this.reads.retryLost(nowMs);
    const batch = this.reads.takeBatch();
    if (batch === null) return;
    const r = this.core.readIndex(batch.context);
    if (!r.ok) {
      const error = unavailable('no leader to confirm a linearizable read', this.core.status().leader);
      for (const w of batch.waiters) w.reject(error);
      return;
    }
    this.reads.awaitConfirmation(batch.context, batch.waiters, nowMs);
  }

  private async handleReady(rd: Ready): Promise<void> {
    // The core applied the configuration of these entries as it handed them out, so their callers
    // are answered before a step-down in this same Ready (a leader removing itself) fails them.
    const configs = rd.committed.filter((e) => e.kind === 'config');
    for (const e of configs) this.membership.applied(e);
    if (rd.softState !== null) this.onSoftState(rd);
    const confIndex = configs[configs.length - 1]?.index ?? rd.snapshot?.index;
    if (confIndex !== undefined) this.refreshMembers(confIndex); // dial new members before sending

    if (rd.snapshot !== null) {
      await this.snapshotter.install(rd.snapshot);
      this.machineApplied = rd.snapshot.index;
    }
    this.entryClock.observe(rd.entries);
    this.sendAll(rd.messages);
    // Committed entries this node held durably before this Ready are applied (and their
    // writers answered) while this Ready's write and fsync are in flight; the rest wait for it.
    const durable = this.durablePrefix(rd.committed);
    const persisting = rd.entries.length > 0 || rd.hardState !== null ? this.persist(rd) : null;
    this.applyCommitted(rd.committed.slice(0, durable));
    await persisting;
    this.sendAll(rd.messagesAfterPersist);
    this.applyCommitted(rd.committed.slice(durable));
    for (const rs of rd.readStates) this.reads.confirmed(rs);
    for (const ctx of rd.readsFailed) this.reads.failed(ctx, this.core.status().leader);
    this.reads.serveApplied(this.appliedIndex(rd));
    this.staleness.appliedTo(this.appliedIndex(rd), rd.committed[rd.committed.length - 1]?.term ?? null);
    if (rd.snapshotWanted || this.snapshotter.dueOnBytes())
      this.snapshotter.take(this.appliedIndex(rd), this.core.confState());
  }

  /** refreshMembers takes the core's applied configuration into the member table and the transport. */
  private refreshMembers(index: Index): void {
    const { changed, removed } = this.membership.refresh(this.core.confState());
    if (!changed) return;
    const table = this.membership.table;
    this.opts.transport.setMembers?.(table.peers());
    this.opts.logger.info('membership_applied', {
      voters: table.voters(),
      learners: table.learners(),
      role: table.roleOf(this.id),
    });
    this.events.onMembership?.(table.all(), index);
    if (removed && !this.leaving) {
      this.leaving = true;
      void this.leaveAfterRemoval();
    }
  }

  /**
   * removedByPeer: `peer` applied this node's removal and refuses it (the leader stops
   * replicating to a removed follower, so it may never apply the removal itself).
   */
  removedByPeer(peer: NodeId, removedAt: Index): void {
    if (this.leaving || this.stopped) return;
    // Having applied the removal's index, this node is a later incarnation of the id (added back since).
    if (this.core.status().appliedIndex >= removedAt) return;
    this.leaving = true;
    void this.leaveAfterRemoval(`${peer} applied this node's removal and refuses its calls`);
  }

  /**
   * leaveAfterRemoval: this node applied its own removal. A leader first lets the core hand over
   * (bounded wait), then the node stops and reports through onFatal, which exits the process.
   */
  private async leaveAfterRemoval(how = 'this node applied its own removal'): Promise<void> {
    this.opts.logger.warn('removed_from_cluster', {
      how,
      detail:
        'this node leaves the cluster; its data dir cannot rejoin. ' +
        'To bring it back, add it as a new member with an empty data dir (serve --join).',
    });
    const untilMs = this.clock.nowMs() + LIMITS.shutdownTransferWaitMs;
    while (this.core.status().role === 'leader' && this.clock.nowMs() < untilMs) {
      await new Promise<void>((r) => this.clock.after(20, r));
    }
    // One more tick, so the answer to the change and the hand-over's messages leave first.
    await new Promise<void>((r) => this.clock.after(this.opts.tickIntervalMs ?? LIMITS.tickIntervalMs, r));
    (this.opts.onFatal ?? exitProcess)(new MemberRemovedError(`${this.id} was removed from the cluster: ${how}`));
  }

  private async persist(rd: Ready): Promise<void> {
    const startMs = this.clock.monotonicMs();
    this.persistStartedAtMs = startMs;
    try {
      await this.opts.beforePersist?.();
      await this.opts.storage.persist(rd.entries, rd.hardState);
    } finally {
      this.persistStartedAtMs = null;
    }
    this.events.onPersist?.(rd.entries.length, this.clock.monotonicMs() - startMs);
  }

  /**
   * durablePrefix counts the leading committed entries that the log already holds durably,
   * the same entry (index and term) as the one committed: a stored entry of another term at
   * that index is about to be replaced by this Ready and is not the committed one.
   */
  private durablePrefix(committed: readonly Entry[]): number {
    const storage = this.opts.storage;
    const last = storage.lastIndex();
    let n = 0;
    for (const e of committed) {
      if (e.index > last || storage.term(e.index) !== e.term) break;
      n++;
    }
    return n;
  }

  private appliedIndex(rd: Ready): Index {
    const last = rd.committed[rd.committed.length - 1];
    if (last !== undefined) return last.index;
    return rd.snapshot !== null ? rd.snapshot.index : this.core.status().appliedIndex;
  }

  private onSoftState(rd: Ready): void {
    const soft = rd.softState;
    assert(soft !== null, 'onSoftState without a soft state');
    if (soft.role !== 'leader') {
      // Writes proposed here may or may not commit under the next leader: their outcome is unknown.
      this.proposals.failInFlight(
        unavailable(
          'this node lost leadership; the write may or may not be applied, retry with the same request id',
          soft.leader,
        ),
      );
      this.membership.failInFlight(
        unavailable('this node lost leadership; the membership change may or may not be applied', soft.leader),
      );
    }
    if (soft.leader !== this.lastLeader) {
      this.lastLeader = soft.leader;
      const term = this.core.status().term;
      this.staleness.leaderChanged(soft.leader, term, this.clock.nowMs());
      this.opts.logger.info('leader_changed', { leader: soft.leader, role: soft.role, term });
      this.events.onLeaderChange?.(soft.leader, term);
    }
  }

  private applyCommitted(entries: readonly Entry[]): void {
    for (const e of entries) {
      this.machineApplied = e.index;
      if (e.kind === 'noop') continue;
      if (e.kind === 'config') {
        this.snapshotter.applied(e.data.byteLength);
        // An entry a write of an older term waited on was overwritten by this one: it fails now.
        this.proposals.applied(e.index, e.term, new Uint8Array(0));
        continue;
      }
      const decoded = decodeCommandEntry(e.data);
      // A committed entry this node cannot read would diverge the replicas: stop instead.
      assert(decoded.ok, () => `committed entry ${e.index} is unreadable: ${decoded.ok ? '' : decoded.error}`);
      this.entryClock.observeMs(decoded.value.entryTimeMs);
      const result = this.opts.stateMachine.apply(
        e.index,
        decoded.value.payload,
        decoded.value.entryTimeMs,
        decoded.value.quotaBytes,
        e.term,
      );
      this.proposals.applied(e.index, e.term, result);
      this.snapshotter.applied(e.data.byteLength);
    }
    if (entries.length > 0) this.events.onApply?.(entries.length);
  }

  private sendAll(messages: readonly Message[]): void {
    if (messages.length === 0) return;
    const byPeer = new Map<NodeId, Message[]>();
    for (const m of messages) {
      if (m.type === 'snapshot') {
        this.sendSnapshot(m);
        continue;
      }
      const list = byPeer.get(m.to);
      if (list === undefined) byPeer.set(m.to, [m]);
      else list.push(m);
    }
    for (const [to, list] of byPeer) for (const batch of peerBatches(list)) this.opts.transport.send(to, batch);
  }

  private sendSnapshot(m: InstallSnapshot): void {
    const chunks = this.opts.snapshots.open(m.snapshot);
    void this.opts.transport.sendSnapshot(m.to, m, chunks).then(
      (delivered) => this.queueSnapshotReport(m.to, delivered),
      () => this.queueSnapshotReport(m.to, false),
    );
  }

  private queueSnapshotReport(to: NodeId, delivered: boolean): void {
    this.snapshotReports.push({ to, delivered });
    this.scheduleTurn();
  }

  private bestTransferTarget(): NodeId | null {
    const progress = this.core.status().progress;
    if (progress === null) return null;
    let best: NodeId | null = null;
    let bestMatch = -1;
    const voters = this.membership.table.voters();
    for (const [id, p] of Object.entries(progress)) {
      if (id === this.id || p.match <= bestMatch || !voters.includes(id as NodeId)) continue;
      best = id as NodeId;
      bestMatch = p.match;
    }
    return best;
  }

  /**
   * stop shuts down gracefully: a leader first hands over (bounded wait), then the loop drains
   * its current turn, pending callers get UNAVAILABLE, and the timers stop.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    if (this.core.status().role === 'leader' && this.membership.table.voters().length > 1) await this.handOver();
    this.stopped = true;
    this.ticker?.cancel();
    this.ticker = null;
    await this.turnRunning;
    await this.snapshotter.idle();
    const error = unavailable('this node is shutting down', this.core.status().leader);
    this.proposals.failAll(error);
    this.membership.failAll(error);
    this.reads.failAll(error);
  }

  private async handOver(): Promise<void> {
    try {
      const to = this.transferLeadership(null);
      this.opts.logger.info('leadership_transfer_started', { to, reason: 'shutdown' });
    } catch {
      return;
    }
    const untilMs = this.clock.nowMs() + LIMITS.shutdownTransferWaitMs;
    while (this.core.status().role === 'leader' && this.clock.nowMs() < untilMs) {
      await new Promise<void>((r) => this.clock.after(20, r));
    }
  }
}

function asRegistryError(e: unknown): RegistryError {
  return e instanceof RegistryError ? e : new RegistryError('INTERNAL', String(e));
}
