import { assert } from '../../src/lib/assert.js';
import type { Index, NodeId, Term } from '../../src/lib/ids.js';
import type { Result } from '../../src/lib/result.js';
import type { SeededRng } from '../../src/lib/rng.js';
import {
  type Entry,
  type Message,
  type ProposeError,
  type Proposed,
  RAFT_DEFAULTS,
  RaftCore,
  type ReadContext,
  type Ready,
  describeMessage,
  describeReady,
} from '../../src/raft/index.js';
import type { SafetyChecker } from './checkers/safety.js';
import { SimDisk } from './disk.js';
import type { SimOptions } from './faults.js';
import { SimKv } from './kv.js';
import type { DropReason, Packet, PacketSimulator } from './network.js';
import type { Trace } from './trace.js';

/**
 * The simulated cluster: N nodes, each the real RaftCore over a SimDisk, with a SimKv state
 * machine. Each node runs the loop src/node/node.ts runs (STYLE rule 20): inputs that arrive
 * while it is busy queue up; a turn drains them into the core (ticks first, then messages and
 * client requests in arrival order) and carries out one Ready in the order ready.ts documents.
 * Only three things differ from production: time is the simulator's step counter, the network
 * is the PacketSimulator, and the disk is a SimDisk whose persist may take several steps.
 */

/** NodeInput is something that arrived at a node and waits for its next turn. */
export type NodeInput =
  | { readonly kind: 'message'; readonly message: Message }
  | { readonly kind: 'propose'; readonly data: Uint8Array; readonly done: (r: Result<Proposed, ProposeError> | null) => void }
  | { readonly kind: 'read'; readonly context: ReadContext; readonly done: (kv: SimKv | null) => void }
  | { readonly kind: 'transfer'; readonly to: NodeId }
  | { readonly kind: 'snapshotReport'; readonly to: NodeId; readonly delivered: boolean }
  | { readonly kind: 'unreachable'; readonly to: NodeId };

/** ClusterHooks lets the client workload follow what nodes apply and lose. */
export interface ClusterHooks {
  applied(id: NodeId, e: Entry): void;
  /** restored: the node's state machine jumped to a snapshot, skipping entries up to `at`. */
  restored(id: NodeId, at: Index): void;
  crashed(id: NodeId): void;
}

interface PendingRead {
  /** index is where the read may be served, once known from a ReadState. */
  index: Index | null;
  readonly done: (kv: SimKv | null) => void;
}

/** InProgress is a Ready whose persist is under way; `leaderTerm` is the term the node led when it took it. */
interface InProgress {
  readonly rd: Ready;
  readonly doneAt: number;
  /** crash: the node dies before the persist is durable; `restartSteps` later a supervisor restarts it (null: the nemesis decides). */
  readonly crash: { readonly restartSteps: number | null } | null;
  readonly leaderTerm: Term | null;
}

/** TURNS_PER_STEP_MAX bounds a node's turns in one step; a real loop yields between turns too. */
const TURNS_PER_STEP_MAX = 4;

export class SimNode {
  core: RaftCore | null = null;
  kv = new SimKv();
  /** incarnation counts restarts, so nothing addressed to an old process reaches a new one. */
  incarnation = 0;
  inbox: NodeInput[] = [];
  ticksPending = 0;
  nextTickStep: number;
  /** inProgress is the Ready being persisted, the step its persist completes, and whether the node dies first. */
  inProgress: InProgress | null = null;
  reads = new Map<ReadContext, PendingRead>();
  /** downSince is the step the node last crashed at. */
  downSince = 0;
  /** restartAt: a supervisor restarts the crashed node at this step (the nemesis may restart it sooner). */
  restartAt = Number.POSITIVE_INFINITY;
  /**
   * pausedUntil: the process is frozen (SIGSTOP) until this step: it neither ticks nor runs
   * turns, while packets and client requests pile up in its inbox.
   */
  pausedUntil = 0;

  constructor(
    readonly id: NodeId,
    readonly disk: SimDisk,
    readonly tickPeriodSteps: number,
    firstTickStep: number,
  ) {
    this.nextTickStep = firstTickStep;
  }

  get up(): boolean {
    return this.core !== null;
  }
}

export class Cluster {
  readonly ids: readonly NodeId[];
  readonly nodes = new Map<NodeId, SimNode>();
  readyCount = 0;
  crashCount = 0;
  snapshotsSent = 0;
  snapshotsInstalled = 0;
  /** healed: the convergence phase; no more crashes. */
  healed = false;
  /** onNewLeader is told when a node reports becoming leader (the nemesis may target it). */
  onNewLeader: ((id: NodeId, incarnation: number) => void) | null = null;

  constructor(
    private readonly opts: SimOptions,
    private readonly rng: SeededRng,
    private readonly network: PacketSimulator,
    private readonly safety: SafetyChecker,
    private readonly trace: Trace,
    ids: readonly NodeId[],
    private hooks: ClusterHooks,
  ) {
    this.ids = ids;
    for (const id of ids) {
      const skew = 1 + (rng.nextFloat() * 2 - 1) * opts.clock.skewMax;
      const period = Math.max(1, Math.round(opts.clock.stepsPerTick * skew));
      const node = new SimNode(id, new SimDisk(id, ids, opts.disk), period, 1 + rng.nextInt(period));
      this.nodes.set(id, node);
      this.start(node, 0);
    }
  }

  setHooks(hooks: ClusterHooks): void {
    this.hooks = hooks;
  }

  node(id: NodeId): SimNode {
    const n = this.nodes.get(id);
    assert(n !== undefined, () => `no node ${id}`);
    return n;
  }

  /** leader is the running leader with the highest term, as a client-side oracle for the nemesis. */
  leader(): NodeId | null {
    let best: { id: NodeId; term: number } | null = null;
    for (const n of this.nodes.values()) {
      const st = n.core?.status();
      if (st?.role === 'leader' && (best === null || st.term > best.term)) best = { id: n.id, term: st.term };
    }
    return best?.id ?? null;
  }

  upCount(): number {
    let n = 0;
    for (const node of this.nodes.values()) if (node.up) n++;
    return n;
  }

  /** step advances every node by one step: deliver due packets, tick clocks, run turns. */
  step(now: number): void {
    for (const { packet, dropped } of this.network.due(now)) {
      if (dropped !== null) this.onDrop(packet, dropped);
      else this.deliver(packet);
    }
    for (const node of this.nodes.values()) {
      if (now < node.nextTickStep) continue;
      node.nextTickStep += node.tickPeriodSteps;
      if (node.up && now >= node.pausedUntil) node.ticksPending++;
    }
    for (const node of this.nodes.values()) this.runNode(node, now);
  }

  /** submit queues a client request at a node; false when the node is down (connection refused). */
  submit(id: NodeId, input: NodeInput): boolean {
    const node = this.node(id);
    if (!node.up) return false;
    node.inbox.push(input);
    return true;
  }

  crash(id: NodeId, now: number, why: string): void {
    const node = this.node(id);
    if (!node.up) return;
    if (this.trace.enabled) this.trace.add(`${id} CRASH (${why})`);
    const inbox = node.inbox;
    const reads = [...node.reads.values()];
    node.core = null;
    node.inbox = [];
    node.inProgress = null;
    node.ticksPending = 0;
    node.downSince = now;
    node.restartAt = Number.POSITIVE_INFINITY;
    node.reads.clear();
    // Requests still queued never reached the core: they definitely had no effect.
    for (const input of inbox) if (input.kind === 'propose' || input.kind === 'read') input.done(null);
    for (const r of reads) r.done(null);
    this.crashCount++;
    this.safety.crashed(id);
    this.hooks.crashed(id);
  }

  /** pause freezes a running node for `steps` steps (SIGSTOP, then SIGCONT); a new pause replaces the current one's end. */
  pause(id: NodeId, now: number, steps: number): void {
    const node = this.node(id);
    if (!node.up) return;
    node.pausedUntil = now + steps;
    if (this.trace.enabled) this.trace.add(`${id} PAUSED for ${steps} steps`);
  }

  restart(id: NodeId, now: number): void {
    const node = this.node(id);
    if (node.up) return;
    this.start(node, now);
  }

  private start(node: SimNode, now: number): void {
    node.kv = new SimKv();
    node.pausedUntil = 0;
    const base = node.disk.baseSnapshot();
    if (base !== null) node.kv.restore(base);
    node.incarnation++;
    node.nextTickStep = now + 1 + this.rng.nextInt(node.tickPeriodSteps);
    node.core = new RaftCore({
      ...RAFT_DEFAULTS,
      ...this.opts.raft,
      snapshotRetryTicks: 3 * RAFT_DEFAULTS.electionTimeoutTicks,
      id: node.id,
      voters: this.ids,
      storage: node.disk.storage,
      random: this.rng,
    });
    if (this.trace.enabled && now > 0) {
      const st = node.core.status();
      this.trace.add(`${node.id} RESTART term=${st.term} commit=${st.commitIndex} snapshot=${st.snapshotIndex} last=${st.lastIndex}`);
    }
    this.safety.observeRole(node.id, node.core);
  }

  private runNode(node: SimNode, now: number): void {
    if (now < node.pausedUntil) return;
    if (node.inProgress !== null) {
      if (now < node.inProgress.doneAt) {
        // An etcd-style loop with asynchronous storage keeps stepping the core meanwhile.
        if (this.opts.disk.stepDuringPersist && node.core !== null) this.drainInputs(node, node.core);
        return;
      }
      const crash = node.inProgress.crash;
      if (crash !== null && this.canCrash()) {
        this.crash(node.id, now, 'during persist');
        if (crash.restartSteps !== null) node.restartAt = now + crash.restartSteps;
        return;
      }
      this.finishReady(node, node.inProgress, now);
    }
    for (let turn = 0; turn < TURNS_PER_STEP_MAX; turn++) {
      const core = node.core;
      if (core === null || node.inProgress !== null) return;
      this.drainInputs(node, core);
      if (!core.hasReady()) return;
      this.startReady(node, core, now);
    }
  }

  private drainInputs(node: SimNode, core: RaftCore): void {
    for (; node.ticksPending > 0; node.ticksPending--) {
      core.tick();
      this.safety.observeRole(node.id, core);
    }
    const inbox = node.inbox;
    node.inbox = [];
    for (const input of inbox) {
      this.handleInput(node, core, input);
      this.safety.observeRole(node.id, core);
    }
  }

  private handleInput(node: SimNode, core: RaftCore, input: NodeInput): void {
    switch (input.kind) {
      case 'message':
        core.step(input.message);
        return;
      case 'propose':
        input.done(core.propose(input.data));
        return;
      case 'read': {
        const r = core.readIndex(input.context);
        if (r.ok) node.reads.set(input.context, { index: null, done: input.done });
        else input.done(null);
        return;
      }
      case 'transfer': {
        const r = core.transferLeadership(input.to);
        if (this.trace.enabled) this.trace.add(`${node.id} transfer leadership to ${input.to}: ${r.ok ? 'started' : r.error.type}`);
        return;
      }
      case 'snapshotReport':
        core.reportSnapshot(input.to, input.delivered);
        return;
      case 'unreachable':
        core.reportUnreachable(input.to);
        return;
    }
  }

  /** startReady takes a Ready, sends what may go before persist, and starts the persist. */
  private startReady(node: SimNode, core: RaftCore, now: number): void {
    const rd = core.ready();
    this.readyCount++;
    if (this.trace.enabled) this.trace.addLines(`${node.id} ready`, describeReady(rd));
    if (rd.softState?.role === 'leader') this.onNewLeader?.(node.id, node.incarnation);
    this.sendAll(node, rd.messages, now);
    // A Ready with nothing to write needs no fsync (as in node.ts), so only writes take time.
    const writes = rd.entries.length > 0 || rd.hardState !== null || rd.snapshot !== null;
    const persistSteps = writes ? node.disk.persistSteps(this.rng) : 0;
    const crash = persistSteps > 0 ? this.crashDuringPersist(node, rd) : null;
    const st = core.status();
    node.inProgress = { rd, doneAt: now + persistSteps, crash, leaderTerm: st.role === 'leader' ? st.term : null };
    if (persistSteps === 0) this.finishReady(node, node.inProgress, now);
    else if (this.trace.enabled && persistSteps > 3) this.trace.add(`${node.id} disk slow: persist takes ${persistSteps} steps`);
  }

  /** finishReady: the persist is durable; send, apply, serve reads, snapshot, advance. */
  private finishReady(node: SimNode, work: InProgress, now: number): void {
    const rd = work.rd;
    const core = node.core;
    assert(core !== null, 'finishReady on a crashed node');
    node.inProgress = null;
    const commitBefore = node.disk.storage.initialHardState().commit;
    node.disk.persist(rd);
    this.safety.persisted(node.id, work.leaderTerm, rd.snapshot, rd.entries, rd.hardState);
    const crashWhy = this.crashAfterPersist(core, rd, commitBefore);
    if (crashWhy !== null) {
      this.crash(node.id, now, crashWhy);
      return;
    }
    this.sendAll(node, rd.messagesAfterPersist, now);
    if (rd.snapshot !== null) this.restoreSnapshot(node, rd.snapshot.index);
    const term = core.status().term;
    for (const e of rd.committed) {
      this.safety.appliedEntry(node.id, term, node.kv.applied, e);
      node.kv.apply(e.index, e.kind === 'command' ? e.data : null);
      this.hooks.applied(node.id, e);
    }
    for (const rs of rd.readStates) {
      const r = node.reads.get(rs.context);
      if (r !== undefined) r.index = rs.index;
    }
    for (const context of rd.readsFailed) this.failRead(node, context);
    this.serveReads(node);
    if (rd.snapshotWanted) this.takeSnapshot(node);
    core.advance();
    this.safety.observeRole(node.id, core);
  }

  /**
   * crashDuringPersist decides whether the node dies before this Ready is durable. A Ready that
   * records a new vote is a favourite target, restarted at once, while the election it voted
   * in may still be running: a node that answered before its vote was durable votes twice.
   */
  private crashDuringPersist(node: SimNode, rd: Ready): InProgress['crash'] {
    const f = this.opts.nodes;
    const durableVote = node.disk.storage.initialHardState().vote;
    const votes = rd.hardState !== null && rd.hardState.vote !== null && rd.hardState.vote !== durableVote;
    if (votes && f.voteCrashProbability > 0 && this.rng.chance(f.voteCrashProbability)) {
      return { restartSteps: 1 + this.rng.nextInt(10) };
    }
    if (f.crashDuringPersistProbability === 0 || !this.rng.chance(f.crashDuringPersistProbability)) return null;
    return { restartSteps: this.rng.chance(0.5) ? 1 + this.rng.nextInt(20) : null };
  }

  /** crashAfterPersist decides whether the node dies between persist and send (a crash mid-Ready). */
  private crashAfterPersist(core: RaftCore, rd: Ready, commitBefore: Index): string | null {
    if (!this.canCrash()) return null;
    const f = this.opts.nodes;
    const committed = rd.hardState !== null && rd.hardState.commit > commitBefore && core.status().role === 'leader';
    if (committed && f.commitKillProbability > 0 && this.rng.chance(f.commitKillProbability)) return 'leader, just committed';
    return f.crashAfterPersistProbability > 0 && this.rng.chance(f.crashAfterPersistProbability) ? 'after persist, before send' : null;
  }

  canCrash(): boolean {
    return !this.healed && this.ids.length - this.upCount() < this.opts.nodes.crashedMax;
  }

  private restoreSnapshot(node: SimNode, at: Index): void {
    node.kv.restore(node.disk.snapshotAt(at));
    this.snapshotsInstalled++;
    if (this.trace.enabled) this.trace.add(`${node.id} restored state machine from snapshot ${at}`);
    this.hooks.restored(node.id, at);
  }

  private failRead(node: SimNode, context: ReadContext): void {
    const r = node.reads.get(context);
    if (r === undefined) return;
    node.reads.delete(context);
    r.done(null);
  }

  /** serveReads answers every read whose ReadState index the state machine has reached. */
  private serveReads(node: SimNode): void {
    for (const [context, r] of node.reads) {
      if (r.index === null || r.index > node.kv.applied) continue;
      node.reads.delete(context);
      r.done(node.kv);
    }
  }

  /** takeSnapshot copies the state machine at its applied index and compacts the log (ready.ts step 5). */
  private takeSnapshot(node: SimNode): void {
    const at = node.kv.applied;
    const storage = node.disk.storage;
    if (at <= storage.snapshotMeta().index) return;
    const t = storage.term(at);
    assert(t !== null, () => `${node.id}: no term at applied index ${at}`);
    const snap = node.kv.snapshot(t);
    this.safety.snapshot(node.id, snap);
    node.disk.saveSnapshot(snap);
    const compactAt = this.opts.disk.compactToPreviousSnapshot ? node.disk.previousSnapshotIndex(at) : at;
    if (compactAt === null || compactAt <= storage.snapshotMeta().index) return;
    const meta = { index: compactAt, term: node.disk.snapshotAt(compactAt).term, voters: this.ids };
    node.disk.compactTo(meta);
    this.safety.compacted(node.id, meta);
    if (this.trace.enabled) this.trace.add(`${node.id} snapshot at ${at}, log compacted to ${compactAt}`);
  }

  private sendAll(node: SimNode, messages: readonly Message[], now: number): void {
    for (const m of messages) {
      const snapshot = m.type === 'snapshot' ? node.disk.heldSnapshot(m.snapshot.index) : null;
      if (m.type === 'snapshot' && snapshot === null) {
        // Queued before a newer snapshot pruned its bytes (possible with stepDuringPersist): the
        // transport cannot open it, fails the send, and says so.
        if (this.trace.enabled) this.trace.add(`${node.id} cannot send ${describeMessage(m)}: bytes pruned`);
        node.inbox.push({ kind: 'snapshotReport', to: m.to, delivered: false });
        continue;
      }
      if (snapshot !== null) this.snapshotsSent++;
      const packet: Packet = { message: m, snapshot, senderIncarnation: node.incarnation };
      const dropped = this.network.send(now, packet);
      if (dropped !== null) this.onDrop(packet, dropped);
    }
  }

  private deliver(packet: Packet): void {
    const m = packet.message;
    const to = this.node(m.to);
    if (!to.up) {
      this.onDrop(packet, 'partition');
      return;
    }
    if (this.trace.enabled) this.trace.add(`deliver ${describeMessage(m)}`);
    if (packet.snapshot !== null) {
      // The transport stores the streamed bytes before handing the message to the core.
      to.disk.saveSnapshot(packet.snapshot);
      this.report(packet, { kind: 'snapshotReport', to: m.to, delivered: true });
    }
    to.inbox.push({ kind: 'message', message: m });
  }

  /** onDrop tells the sender, sometimes, that a packet did not arrive, as a transport might. */
  private onDrop(packet: Packet, reason: DropReason): void {
    const m = packet.message;
    if (this.trace.enabled) this.trace.add(`drop (${reason}) ${describeMessage(m)}`);
    const f = this.opts.network;
    if (m.type === 'snapshot') {
      if (this.rng.chance(f.snapshotFailReportProbability)) this.report(packet, { kind: 'snapshotReport', to: m.to, delivered: false });
    } else if (this.rng.chance(f.unreachableReportProbability)) {
      this.report(packet, { kind: 'unreachable', to: m.to });
    }
  }

  private report(packet: Packet, input: NodeInput): void {
    const sender = this.node(packet.message.from);
    if (sender.up && sender.incarnation === packet.senderIncarnation) sender.inbox.push(input);
  }
}
