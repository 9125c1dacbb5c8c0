import { assert } from '../../src/lib/assert.js';
import { RegistryError } from '../../src/lib/errors.js';
import { type Index, type NodeId, type Term, index, nodeId, term } from '../../src/lib/ids.js';
import type { Logger } from '../../src/lib/logger.js';
import type { SeededRng } from '../../src/lib/rng.js';
import { MemberRemovedError, RaftNode } from '../../src/node/node.js';
import {
  type ConfState,
  EMPTY_CONF_STATE,
  type Entry,
  type HardState,
  type RaftCore,
  type RaftStatus,
  type SnapshotMeta,
  type StateMachine,
  applyConfChange,
  decodeConfChange,
  encodeConfChange,
} from '../../src/raft/index.js';
import type { ForwardOutcome } from '../../src/transport/peer-handler.js';
import type { SafetyChecker } from './checkers/safety.js';
import { type DiskEvents, SimDisk, SimNodeStorage, SimSnapshotStore, type WritePlan } from './disk.js';
import type { SimOptions } from './faults.js';
import { type DropReason, type Packet, type PacketSimulator, describePacket } from './network.js';
import { MS_PER_STEP, type SimProcess, type SimScheduler } from './scheduler.js';
import { SimTransport } from './sim-transport.js';
import type { Trace } from './trace.js';

/**
 * The simulated cluster: N members, each the production RaftNode (src/node/node.ts, with its
 * RaftCore, proposals, reads, forwarder and snapshotter) over a SimDisk, a SimTransport and a
 * replicated state machine (SimKv, or RoomRegistry in a share of the seeds). Only three things
 * differ from production (STYLE rule 19): the clock and event loop are the SimScheduler's, the
 * network is the PacketSimulator, and the disk is a SimDisk whose writes take seeded time and
 * may be torn by a power cut.
 */

/** SimMachine is a state machine the simulator can compare across nodes. */
export interface SimMachine extends StateMachine {
  /** digest is a canonical text of the whole state. */
  digest(): string;
}

/** MachineKind makes one node's state machine and names a snapshot's state. */
export interface MachineKind {
  readonly name: string;
  create(): SimMachine;
  snapshotDigest(chunks: readonly Uint8Array[]): string;
}

/** ClusterHooks lets the client workload follow what nodes apply and lose. */
export interface ClusterHooks {
  /** applied: node `id` applied entry `e` (commands and noops, in index order). */
  applied(id: NodeId, e: Entry): void;
  /** restored: the node's state machine jumped to a snapshot, skipping entries up to `at`. */
  restored(id: NodeId, at: Index): void;
  crashed(id: NodeId): void;
}

export class SimNode {
  proc: SimProcess | null = null;
  raft: RaftNode | null = null;
  machine: SimMachine | null = null;
  storage: SimNodeStorage | null = null;
  /** started: the state machine is restored and the node's loop runs (it accepts calls). */
  started = false;
  /** incarnation counts restarts, so nothing addressed to an old process reaches a new one. */
  incarnation = 0;
  /** appliedSeen: the last index the checker saw this incarnation apply (or its snapshot base). */
  appliedSeen = 0 as Index;
  /** writeStarted: the node began a log write (beforePersist) that is not yet durable. */
  writeStarted = false;
  downSince = 0;
  /** restartAt: a supervisor restarts the crashed node at this step (the nemesis may restart it sooner). */
  restartAt = Number.POSITIVE_INFINITY;
  /** retired: stopped for good after its removal (or a failed join); it never restarts. */
  retired = false;

  constructor(
    readonly id: NodeId,
    readonly disk: SimDisk,
    readonly tickIntervalMs: number,
  ) {}

  /** up: started and running; it accepts calls and packets. */
  get up(): boolean {
    return this.started && this.proc?.alive === true;
  }

  /** running: the process exists (it may still be restoring its state machine). */
  get running(): boolean {
    return this.proc?.alive === true;
  }

  get pausedUntilMs(): number {
    return this.proc?.pausedUntilMs ?? 0;
  }

  /** status is the core's status, or null when the node is down. */
  status(): RaftStatus | null {
    return this.up && this.raft !== null ? this.raft.status() : null;
  }

  /** busy: a log write is in flight. */
  get busy(): boolean {
    return (this.storage?.writesInFlight ?? 0) > 0;
  }
}

/** coreOf reaches the node's RaftCore for the checkers, which observe it as the paper states its properties. */
export function coreOf(raft: RaftNode): RaftCore {
  return (raft as unknown as { readonly core: RaftCore }).core;
}

export class Cluster {
  /**
   * ids are the nodes not retired, in the order they were created: the bootstrap members, then
   * each fresh node the nemesis adds. The network shares this array, so partitions cut new nodes too.
   */
  readonly ids: NodeId[];
  readonly nodes = new Map<NodeId, SimNode>();
  persistCount = 0;
  crashCount = 0;
  powerLossCount = 0;
  /** tornWrites: power cuts that kept part of a write (some entries, not all). */
  tornWrites = 0;
  snapshotsInstalled = 0;
  /** earlyApplied counts entries applied while the Ready that committed them was still being persisted. */
  earlyApplied = 0;
  private transports: SimTransport[] = [];
  /** healed: the convergence phase; no more crashes. */
  healed = false;
  /**
   * committedConf is the configuration as of the latest config entry any node applied (or the
   * newest snapshot taken), at committedConfIndex: an oracle for the nemesis, since committed
   * entries are the same everywhere. everMember holds every node it ever included.
   */
  committedConf: ConfState = EMPTY_CONF_STATE;
  private committedConfIndex = 0;
  readonly everMember = new Set<NodeId>();
  private nextNodeNumber: number;
  /** onNewLeader is told when a node reports becoming leader (the nemesis may target it). */
  onNewLeader: ((id: NodeId, incarnation: number) => void) | null = null;
  /**
   * failure is the first error a check raised inside node code or a promise continuation,
   * where throwing would reach the node (which may catch it) instead of the simulator; the
   * simulator throws it after the round of callbacks it happened in.
   */
  private failure: { readonly error: unknown } | null = null;

  constructor(
    private readonly opts: SimOptions,
    private readonly rng: SeededRng,
    private readonly scheduler: SimScheduler,
    private readonly network: PacketSimulator,
    private readonly safety: SafetyChecker,
    private readonly trace: Trace,
    ids: NodeId[],
    readonly machineKind: MachineKind,
    private hooks: ClusterHooks,
  ) {
    this.ids = ids;
    this.nextNodeNumber = ids.length + 1;
    for (const id of ids) this.createNode(id);
    // Bootstrapped as `serve --initial-cluster-state new` does: config entries 1..n, committed.
    for (const id of ids) this.bootstrap(this.node(id), ids);
    for (const e of bootstrapEntries(ids)) this.applyCommittedConfEntry(e);
    for (const id of ids) this.start(this.node(id), 0);
    scheduler.afterRound = () => this.throwIfFailed();
  }

  private createNode(id: NodeId): SimNode {
    const skew = 1 + (this.rng.nextFloat() * 2 - 1) * this.opts.clock.skewMax;
    const period = Math.max(1, Math.round(this.opts.clock.stepsPerTick * skew));
    const node = new SimNode(id, new SimDisk(id, [], this.opts.disk), period * MS_PER_STEP);
    this.nodes.set(id, node);
    return node;
  }

  /** bootstrap writes the initial members as committed addVoter entries (ids sorted), identical on every node. */
  private bootstrap(node: SimNode, members: readonly NodeId[]): void {
    const entries = bootstrapEntries(members);
    const hardState: HardState = { term: term(1), vote: null, commit: index(entries.length) };
    node.disk.log.append(entries);
    node.disk.log.setHardState(hardState);
    this.safety.persisted(node.id, null, null, entries, hardState);
  }

  /** addNode starts a fresh node on an empty disk as a joiner (no configuration): it waits to be added. */
  addNode(now: number): NodeId {
    const id = nodeId(`n${this.nextNodeNumber++}`);
    this.createNode(id);
    this.ids.push(id);
    if (this.trace.enabled) this.trace.add(`${id} STARTED as a joiner`);
    this.start(this.node(id), now);
    return id;
  }

  /** retire stops a node for good: it was removed, or never joined. */
  retire(id: NodeId, now: number, why: string): void {
    const node = this.node(id);
    if (node.retired) return;
    this.crash(id, now, `retired: ${why}`);
    node.retired = true;
    this.ids.splice(this.ids.indexOf(id), 1);
  }

  /**
   * noteAppliedConfs advances the oracle to the applied configuration of the running node that
   * applied the most. A config entry reaches observeCommittedConf only when a later entry or
   * snapshot is applied; until then a member added and promoted looked never added (seed 65).
   */
  noteAppliedConfs(): void {
    let best: SimNode | null = null;
    for (const n of this.nodes.values()) {
      const applied = n.status()?.appliedIndex;
      if (applied !== undefined && (best === null || applied > (best.status()?.appliedIndex ?? -1))) best = n;
    }
    const raft = best?.status() === null ? null : (best?.raft ?? null);
    if (raft !== null) this.observeCommittedConf(raft.status().appliedIndex, coreOf(raft).confState());
  }

  /** observeCommittedConf follows the committed configuration from the entries and snapshots nodes apply. */
  private observeCommittedConf(at: number, conf: ConfState): void {
    if (at <= this.committedConfIndex) return;
    this.committedConfIndex = at;
    this.committedConf = conf;
    for (const id of [...conf.voters, ...conf.learners]) this.everMember.add(id);
  }

  /** guard runs a check where an exception must not reach the node; the simulator rethrows it. */
  guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.failure ??= { error: e };
    }
  }

  throwIfFailed(): void {
    if (this.failure !== null) throw this.failure.error;
  }

  setHooks(hooks: ClusterHooks): void {
    this.hooks = hooks;
  }

  node(id: NodeId): SimNode {
    const n = this.nodes.get(id);
    assert(n !== undefined, () => `no node ${id}`);
    return n;
  }

  get snapshotsSent(): number {
    let n = 0;
    for (const t of this.transports) n += t.snapshotsSent;
    return n;
  }

  /** leader is the running leader with the highest term, as a client-side oracle for the nemesis. */
  leader(): NodeId | null {
    let best: { id: NodeId; term: number } | null = null;
    for (const n of this.nodes.values()) {
      const st = n.status();
      if (st?.role === 'leader' && (best === null || st.term > best.term)) best = { id: n.id, term: st.term };
    }
    return best?.id ?? null;
  }

  /**
   * members are the nodes (not retired) that the leader's configuration holds, the ones that
   * must converge; every node not retired when there is no leader.
   */
  members(): SimNode[] {
    const leaderId = this.leader();
    const st = leaderId === null ? null : this.node(leaderId).status();
    const active = [...this.nodes.values()].filter((n) => !n.retired);
    if (st === null) return active;
    return active.filter((n) => st.voters.includes(n.id) || st.learners.includes(n.id));
  }

  upCount(): number {
    let n = 0;
    for (const node of this.nodes.values()) if (node.proc?.alive === true) n++;
    return n;
  }

  canCrash(): boolean {
    return !this.healed && this.ids.length - this.upCount() < this.opts.nodes.crashedMax;
  }

  /** step delivers the packets due now; the scheduler then runs the nodes' timers and turns. */
  step(now: number): void {
    for (const node of this.nodes.values()) if (!node.running && now >= node.restartAt) this.restart(node.id, now);
    for (const { packet, dropped } of this.network.due(now)) {
      if (dropped !== null) this.onDrop(packet, dropped);
      else this.deliver(packet);
    }
  }

  /**
   * call runs `fn` on a running node in its own event loop (a client request arriving), or
   * returns null when the node is down (connection refused). If the node dies first, the
   * promise never settles: the client's deadline decides.
   */
  call<T>(id: NodeId, fn: (node: RaftNode, machine: SimMachine) => Promise<T>): Promise<T> | null {
    const n = this.node(id);
    const { proc, raft, machine } = n;
    if (!n.up || proc === null || raft === null || machine === null) return null;
    return new Promise<T>((resolve, reject) => proc.soon(() => void fn(raft, machine).then(resolve, reject)));
  }

  transfer(leader: NodeId, to: NodeId): void {
    const p = this.call(leader, async (raft) => raft.transferLeadership(to));
    p?.then(
      () => this.trace.enabled && this.trace.add(`${leader} transfer leadership to ${to}: started`),
      (e: unknown) => this.trace.enabled && this.trace.add(`${leader} transfer leadership to ${to}: ${String(e)}`),
    );
  }

  crash(id: NodeId, now: number, why: string): void {
    const node = this.node(id);
    if (node.proc === null || !node.proc.alive) return;
    if (this.trace.enabled) this.trace.add(`${id} CRASH (${why})`);
    node.proc.kill();
    node.started = false;
    node.downSince = now;
    node.restartAt = Number.POSITIVE_INFINITY;
    this.crashCount++;
    this.safety.crashed(id);
    this.hooks.crashed(id);
  }

  /** pause freezes a running node for `steps` steps (SIGSTOP, then SIGCONT); a new pause replaces the current one's end. */
  pause(id: NodeId, now: number, steps: number): void {
    const node = this.node(id);
    if (!node.up || node.proc === null) return;
    node.proc.pausedUntilMs = (now + steps) * MS_PER_STEP;
    if (this.trace.enabled) this.trace.add(`${id} PAUSED for ${steps} steps`);
  }

  unpause(id: NodeId): void {
    const proc = this.node(id).proc;
    if (proc !== null) proc.pausedUntilMs = 0;
  }

  restart(id: NodeId, now: number): void {
    const node = this.node(id);
    if (node.proc?.alive === true || node.retired) return;
    this.start(node, now);
  }

  /**
   * start boots a node as serve.ts does: restore the state machine from the newest snapshot
   * on disk, then build the RaftNode and start its loop. Until the restore finishes the node
   * refuses calls and packets, as a booting process has no listener yet.
   */
  private start(node: SimNode, now: number): void {
    node.incarnation++;
    const proc = this.scheduler.process(`${node.id}#${node.incarnation}`);
    const storage = new SimNodeStorage(node.disk, proc, this.diskEvents(node, proc));
    const snapshots = new SimSnapshotStore(node.disk, (meta, chunks) =>
      this.guard(() => this.snapshotSaved(node, meta, chunks)),
    );
    const transport = new SimTransport(node.id, node.incarnation, { send: (p) => this.send(p) });
    this.transports.push(transport);
    const machine = this.machineKind.create();
    const raft = new RaftNode({
      id: node.id,
      // Every node starts with no configuration before index 1: the log (or a snapshot) holds it.
      voters: [],
      storage,
      snapshots,
      stateMachine: this.observed(node, machine),
      transport,
      logger: this.logger(node.id),
      random: this.rng,
      clock: proc,
      // A turn that fails is a broken invariant in the node: the run fails (production exits).
      // A node that applied its own removal leaves through the same seam: the run retires it.
      onFatal: (e) =>
        e instanceof MemberRemovedError
          ? undefined
          : this.guard(() => {
              throw e;
            }),
      tickIntervalMs: node.tickIntervalMs,
      // Marks the write begun before the node applies the durable prefix (node.ts handleReady).
      beforePersist: () => {
        node.writeStarted = true;
        return Promise.resolve();
      },
      snapshotIntervalEntries: this.opts.raft.snapshotIntervalEntries,
      raftTuning: { ...this.opts.raft, snapshotRetryTicks: 30 },
      ...(this.opts.registry === null ? {} : { quotaBytes: this.opts.registry.quotaBytes }),
    });
    raft.events.onLeaderChange = (leader) => {
      if (leader === node.id && proc.alive) this.onNewLeader?.(node.id, node.incarnation);
    };
    Object.assign(node, { proc, raft, machine, storage, started: false, appliedSeen: storage.snapshotMeta().index });
    const base = node.disk.baseSnapshot();
    const restored = base === null ? Promise.resolve() : machine.restore(snapshots.open(base));
    const started = (): void => {
      if (!proc.alive) return;
      node.started = true;
      raft.start();
      this.safety.observeRole(node.id, coreOf(raft));
      if (this.trace.enabled && now > 0) {
        const st = raft.status();
        this.trace.add(
          `${node.id} RESTART term=${st.term} commit=${st.commitIndex} snapshot=${st.snapshotIndex} last=${st.lastIndex}`,
        );
      }
    };
    restored.then(
      () => this.guard(started),
      (e: unknown) =>
        this.guard(() => {
          throw e;
        }),
    );
  }

  /**
   * observeRoles lets the safety checker see every running core; the simulator calls it after
   * each step (a leader that both wins and loses its term within one millisecond goes unseen).
   */
  observeRoles(): void {
    for (const n of this.nodes.values()) if (n.up && n.raft !== null) this.safety.observeRole(n.id, coreOf(n.raft));
  }

  private logger(id: NodeId): Logger {
    const trace = this.trace;
    const log = (level: string, event: string, fields?: Record<string, unknown>): void => {
      if (trace.enabled)
        trace.add(
          `${id} ${level} ${event} ${fields === undefined ? '' : JSON.stringify(fields, (_k, v: unknown) => (v instanceof Error ? v.message : v))}`,
        );
    };
    return {
      log,
      info: (e, f) => log('info', e, f),
      warn: (e, f) => log('warn', e, f),
      error: (e, f) => log('error', e, f),
    };
  }

  // ---- The state machine, as the checkers see it ---------------------------------------------

  /**
   * observed wraps a node's state machine so the checkers see every entry it applies, noops
   * included (the node skips those): State Machine Safety, and the workload's outcomes.
   */
  private observed(node: SimNode, machine: SimMachine): StateMachine {
    return {
      apply: (index, payload, entryTimeMs, quotaBytes, term) => {
        this.guard(() => this.catchUp(node, index));
        return machine.apply(index, payload, entryTimeMs, quotaBytes, term);
      },
      captureSnapshot: () => machine.captureSnapshot(),
      restore: (chunks) => machine.restore(chunks),
    };
  }

  /** catchUp shows the checkers the entries this node applied up to `upTo`, read back from its log. */
  private catchUp(node: SimNode, upTo: number): void {
    const raft = node.raft;
    const storage = node.storage;
    if (raft === null || storage === null) return;
    const term = raft.status().term;
    const durableLast = storage.lastIndex();
    for (let i = node.appliedSeen + 1; i <= upTo; i++) {
      const e = storage.entries(i as Index, (i + 1) as Index, Number.POSITIVE_INFINITY)[0];
      assert(e !== undefined, () => `${node.id}: applied ${i}, which its log does not hold`);
      // The write of the Ready that committed it is still in flight: the early-apply path.
      if (node.writeStarted && i <= durableLast) this.earlyApplied++;
      this.safety.appliedEntry(node.id, term, node.appliedSeen, e);
      node.appliedSeen = i as Index;
      if (e.kind === 'config') this.applyCommittedConfEntry(e);
      this.hooks.applied(node.id, e);
    }
  }

  private applyCommittedConfEntry(e: Entry): void {
    if (e.index <= this.committedConfIndex) return;
    const cc = decodeConfChange(e.data);
    assert(cc.ok, () => `config entry ${e.index} is unreadable`);
    const next = applyConfChange(this.committedConf, cc.value);
    // The core skips a change that does not apply; so does the oracle.
    this.observeCommittedConf(e.index, next.ok ? next.value : this.committedConf);
  }

  private snapshotSaved(node: SimNode, meta: SnapshotMeta, chunks: readonly Uint8Array[]): void {
    // The node applied noops up to its own snapshot without telling the state machine.
    if (node.raft !== null) this.catchUp(node, Math.min(meta.index, node.raft.status().appliedIndex));
    this.observeCommittedConf(meta.index, meta);
    this.safety.snapshot(node.id, {
      index: meta.index,
      term: meta.term,
      digest: this.machineKind.snapshotDigest(chunks),
    });
  }

  // ---- The disk ------------------------------------------------------------------------------

  private diskEvents(node: SimNode, proc: SimProcess): DiskEvents {
    return {
      planWrite: (entries, hardState) => {
        const st = node.raft?.status();
        this.persistCount++;
        return this.planWrite(node, st?.role === 'leader' ? st.term : null, entries, hardState);
      },
      durable: (snapshot, entries, hardState, leaderTerm) => {
        if (snapshot === null) node.writeStarted = false;
        this.guard(() => this.safety.persisted(node.id, leaderTerm, snapshot, entries, hardState));
        if (snapshot === null) return;
        node.appliedSeen = snapshot.index;
        this.snapshotsInstalled++;
        if (this.trace.enabled) this.trace.add(`${node.id} installed snapshot ${snapshot.index}/${snapshot.term}`);
        this.hooks.restored(node.id, snapshot.index);
      },
      compacted: (meta) => {
        this.safety.compacted(node.id, meta);
        if (this.trace.enabled) this.trace.add(`${node.id} log compacted to ${meta.index}`);
      },
      died: (why, restartSteps) => {
        if (!proc.alive) return;
        const now = this.scheduler.nowMs / MS_PER_STEP;
        this.crash(node.id, now, why);
        // A fate drawn before the healing may strike after it; then a supervisor restarts the node.
        const steps = restartSteps ?? (this.healed ? 1 : null);
        if (steps !== null) node.restartAt = now + steps;
      },
    };
  }

  /**
   * planWrite decides one log write's fate. A write that records a new vote is a favourite
   * target for a power cut, restarted at once, while the election it voted in may still be
   * running: a node that answered before its vote was durable would vote twice.
   */
  private planWrite(
    node: SimNode,
    leaderTerm: Term | null,
    entries: readonly Entry[],
    hardState: HardState | null,
  ): WritePlan {
    const steps = node.disk.persistSteps(this.rng);
    const f = this.opts.nodes;
    const durable = node.disk.log.initialHardState();
    const votes = hardState !== null && hardState.vote !== null && hardState.vote !== durable.vote;
    let restartSteps: number | null = null;
    if (steps > 0 && this.canCrash()) {
      if (votes && f.voteCrashProbability > 0 && this.rng.chance(f.voteCrashProbability))
        restartSteps = 1 + this.rng.nextInt(10);
      else if (f.crashDuringPersistProbability > 0 && this.rng.chance(f.crashDuringPersistProbability)) {
        restartSteps = this.rng.chance(0.5) ? 1 + this.rng.nextInt(20) : -1;
      }
    }
    if (restartSteps !== null) {
      const kept = this.rng.nextInt(entries.length + 1);
      const keepHardState = this.rng.chance(0.5);
      if (kept > 0 && kept < entries.length) this.tornWrites++;
      this.powerLossCount++;
      const why = `power loss during a write (${kept}/${entries.length} entries kept)`;
      return {
        steps,
        leaderTerm,
        powerLoss: { keptEntries: kept, keepHardState, why, restartSteps: restartSteps < 0 ? null : restartSteps },
        crashAfter: null,
      };
    }
    return {
      steps,
      leaderTerm,
      powerLoss: null,
      crashAfter: this.crashAfterWrite(leaderTerm, hardState, durable.commit),
    };
  }

  /** crashAfterWrite decides whether the process dies once the write is durable, before the node hears so. */
  private crashAfterWrite(leaderTerm: Term | null, hardState: HardState | null, commitBefore: Index): string | null {
    if (!this.canCrash()) return null;
    const f = this.opts.nodes;
    const committed = hardState !== null && hardState.commit > commitBefore && leaderTerm !== null;
    if (committed && f.commitKillProbability > 0 && this.rng.chance(f.commitKillProbability))
      return 'leader, just committed';
    return f.crashAfterPersistProbability > 0 && this.rng.chance(f.crashAfterPersistProbability)
      ? 'after persist, before the node heard'
      : null;
  }

  // ---- The network ---------------------------------------------------------------------------

  private send(packet: Packet): void {
    const now = this.scheduler.nowMs / MS_PER_STEP;
    const dropped = this.network.send(now, packet);
    if (dropped !== null) this.onDrop(packet, dropped);
  }

  /** deliver hands a packet to its node's current incarnation, as the peer server would. */
  private deliver(packet: Packet): void {
    const to = this.node(packet.to);
    const raft = to.raft;
    if (!to.up || raft === null) {
      this.onDrop(packet, 'partition');
      return;
    }
    if (this.trace.enabled) this.trace.add(`deliver ${describePacket(packet)}`);
    const b = packet.body;
    switch (b.kind) {
      case 'raft':
        raft.deliver([b.message]);
        return;
      case 'snapshot':
        void raft.receiveSnapshot(b.message, iterate(b.chunks)).then(b.done, () => b.done(false));
        return;
      case 'forward':
        void raft.forward(b.commands, b.deadlineMs).then((outcomes) => {
          if (to.raft === raft && to.up)
            this.send({
              from: packet.to,
              to: packet.from,
              body: { kind: 'forwardReply', outcomes, done: b.done },
              senderIncarnation: to.incarnation,
            });
        });
        return;
      case 'forwardReply':
        b.done([...b.outcomes]);
        return;
    }
  }

  /** onDrop settles what a real transport would settle when a packet is lost, sometimes. */
  private onDrop(packet: Packet, reason: DropReason): void {
    if (this.trace.enabled) this.trace.add(`drop (${reason}) ${describePacket(packet)}`);
    const f = this.opts.network;
    const b = packet.body;
    switch (b.kind) {
      case 'raft': {
        const sender = this.node(packet.from);
        if (
          !this.rng.chance(f.unreachableReportProbability) ||
          !sender.up ||
          sender.incarnation !== packet.senderIncarnation
        )
          return;
        sender.raft?.reportUnreachable(packet.to);
        return;
      }
      case 'snapshot':
        if (this.rng.chance(f.snapshotFailReportProbability)) b.done(false);
        return;
      case 'forward':
      case 'forwardReply': {
        const leader = b.kind === 'forward' ? packet.to : packet.from;
        const error = new RegistryError('UNAVAILABLE', `cannot reach leader ${leader}`, { leaderId: leader });
        b.done(forwardFailures(b.kind === 'forward' ? b.commands.length : b.outcomes.length, error));
        return;
      }
    }
  }
}

function bootstrapEntries(members: readonly NodeId[]): Entry[] {
  return [...members].sort().map((id, k) => ({
    index: index(k + 1),
    term: term(1),
    kind: 'config',
    data: encodeConfChange({ op: 'addVoter', id, context: '' }),
  }));
}

async function* iterate(chunks: readonly Uint8Array[]): AsyncIterable<Uint8Array> {
  yield* chunks;
}

function forwardFailures(n: number, error: RegistryError): ForwardOutcome[] {
  const out: ForwardOutcome[] = [];
  for (let i = 0; i < n; i++) out.push({ ok: false, error });
  return out;
}
