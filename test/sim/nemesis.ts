import { RegistryError } from '../../src/lib/errors.js';
import type { NodeId } from '../../src/lib/ids.js';
import type { ConfChange } from '../../src/raft/index.js';
import type { SeededRng } from '../../src/lib/rng.js';
import type { Cluster } from './cluster.js';
import type { SimOptions } from './faults.js';
import type { PacketSimulator } from './network.js';
import { MS_PER_STEP } from './scheduler.js';
import type { Trace } from './trace.js';

/**
 * Nemesis carries out the run's fault schedule, one seeded decision per step: partitions
 * start and heal, nodes crash (at most `crashedMax` at once, leaders preferred half the time,
 * since a leader crash is what loses uncommitted work) and restart, nodes pause, young leaders
 * are killed, and the leader is now and then asked to hand over. It also changes the
 * membership through the leader (stepMembership). `heal` ends it all for the convergence phase.
 */

/** MembershipOp: what the nemesis asks the leader for; replace is a removal followed by an add. */
type MembershipOp = 'add' | 'promote' | 'remove' | 'replace';

/** CHANGE_DEADLINE_STEPS: a change with no outcome by then is unknown (it may still apply). */
const CHANGE_DEADLINE_STEPS = 400;
/** RETIRE_DELAY_STEPS_MAX: a removed node keeps running up to this long, to show it stays quiet. */
const RETIRE_DELAY_STEPS_MAX = 300;
/** JOIN_TIMEOUT_STEPS: a joiner not in the configuration this long after its add is stopped. */
const JOIN_TIMEOUT_STEPS = 3000;
export class Nemesis {
  partitionsStarted = 0;
  transfersAsked = 0;
  membershipChangesAsked = 0;
  membershipChangesApplied = 0;
  /**
   * changeInFlightUntil: a change was asked for and has no outcome yet, at the latest until this
   * step (a leader that crashes never answers). The core refuses a second change anyway.
   */
  private changeInFlightUntil = 0;
  /** changeSeq numbers the changes asked for, so a late answer does not clear a newer one. */
  private changeSeq = 0;
  /** replaceAdds: a replacement's removal applied; its fresh node is added next. */
  private replaceAdds = 0;
  /** retireAt: removed nodes and the step at which they are stopped. */
  private readonly retireAt = new Map<NodeId, number>();
  /** joinedAt: joiners and the step they were started at. */
  private readonly joinedAt = new Map<NodeId, number>();
  /** kills are planned crashes of young leaders: node, incarnation, step. */
  private kills: Array<{ readonly id: NodeId; readonly incarnation: number; readonly at: number }> = [];
  private now = 0;

  constructor(
    private readonly opts: SimOptions,
    private readonly rng: SeededRng,
    private readonly cluster: Cluster,
    private readonly network: PacketSimulator,
    private readonly trace: Trace,
  ) {
    cluster.onNewLeader = (id, incarnation) => this.planLeaderKill(id, incarnation);
  }

  step(now: number): void {
    this.now = now;
    this.stepKills(now);
    this.stepPartitions();
    this.stepCrashes(now);
    this.stepPauses(now);
    this.stepMembership(now);
    if (this.opts.nodes.transfersPerStep > 0 && this.rng.chance(this.opts.nodes.transfersPerStep)) this.askTransfer();
  }

  /** stepHealed runs in the convergence phase: nodes that left are stopped at once, as production ones exit. */
  stepHealed(now: number): void {
    if (this.opts.membership.changesPerStep > 0) this.retireGone(now, true);
  }

  /** heal restores every link and restarts every crashed node. */
  heal(now: number): void {
    this.stepHealed(now);
    this.network.heal();
    this.cluster.healed = true;
    if (this.trace.enabled) this.trace.add('HEAL: network whole, faults off, every node restarting');
    for (const id of this.cluster.ids) {
      this.cluster.unpause(id);
      this.cluster.restart(id, now);
    }
  }

  private stepPartitions(): void {
    const f = this.opts.network;
    if (this.network.partitioned || this.network.mode !== 'none') {
      if (!this.rng.chance(1 / f.partitionStepsMean)) return;
      this.network.partition('none', null);
      if (this.trace.enabled) this.trace.add('PARTITION healed');
      return;
    }
    if (f.partitionModes.length === 1 && f.partitionModes[0] === 'none') return;
    if (!this.rng.chance(f.partitionStartsPerStep)) return;
    const mode = this.rng.pick(f.partitionModes);
    const shape = this.network.partition(mode, this.cluster.leader());
    this.partitionsStarted++;
    if (this.trace.enabled) this.trace.add(`PARTITION ${mode}: ${shape}`);
  }

  private stepCrashes(now: number): void {
    const f = this.opts.nodes;
    for (const id of this.cluster.ids) {
      const node = this.cluster.node(id);
      if (!node.running && (now >= node.restartAt || this.rng.chance(1 / f.crashStepsMean)))
        this.cluster.restart(id, now);
    }
    if (f.crashesPerStep === 0 || !this.rng.chance(f.crashesPerStep) || !this.cluster.canCrash()) return;
    const leader = this.cluster.leader();
    const up = this.cluster.ids.filter((id) => this.cluster.node(id).running);
    if (up.length === 0) return;
    const victim = leader !== null && this.rng.chance(0.5) ? leader : this.rng.pick(up);
    this.cluster.crash(victim, now, victim === leader ? 'nemesis, leader' : 'nemesis');
  }

  private stepPauses(now: number): void {
    const f = this.opts.nodes;
    if (f.pausesPerStep === 0 || !this.rng.chance(f.pausesPerStep)) return;
    const leader = this.cluster.leader();
    const victim = leader !== null && this.rng.chance(0.5) ? leader : this.rng.pick(this.cluster.ids);
    this.cluster.pause(victim, now, 1 + this.rng.nextInt(2 * f.pauseStepsMean));
  }

  // ---- Membership (issue 14) -----------------------------------------------------------------

  private stepMembership(now: number): void {
    if (this.opts.membership.changesPerStep === 0) return;
    this.retireGone(now);
    if (now < this.changeInFlightUntil) return;
    if (this.replaceAdds === 0 && !this.rng.chance(this.opts.membership.changesPerStep)) return;
    const leader = this.cluster.leader();
    const raft = leader === null ? null : this.cluster.node(leader).raft;
    if (leader === null || raft === null) return;
    const conf = raft.status();
    const live = (id: NodeId): boolean => this.cluster.ids.includes(id);
    const ops: MembershipOp[] = [];
    const canAdd = this.cluster.ids.length < this.opts.membership.nodesMax;
    if (canAdd && this.replaceAdds > 0) {
      this.replaceAdds--;
      this.add(leader, now);
      return;
    }
    if (canAdd) ops.push('add');
    if (conf.learners.some(live) && conf.voters.length < this.opts.membership.votersMax) ops.push('promote');
    if (conf.voters.length > 1 || conf.learners.length > 0) ops.push('remove');
    if (conf.voters.length > 1 && canAdd) ops.push('replace');
    if (ops.length === 0) return;
    const op = this.rng.pick(ops);
    if (op === 'add') this.add(leader, now);
    else if (op === 'promote')
      this.ask(leader, { op: 'promote', id: this.rng.pick(conf.learners.filter(live)), context: '' }, now);
    else {
      // Any member may go, the leader included; a voter only while another voter remains.
      const candidates = conf.voters.length > 1 ? [...conf.voters, ...conf.learners] : [...conf.learners];
      const id = this.rng.pick(candidates);
      this.ask(leader, { op: 'remove', id, context: '' }, now, op === 'replace');
    }
  }

  /** add starts a fresh node as a joiner and asks the leader to add it as a learner. */
  private add(leader: NodeId, now: number): void {
    const id = this.cluster.addNode(now);
    this.joinedAt.set(id, now);
    this.ask(leader, { op: 'addLearner', id, context: '' }, now);
  }

  private ask(leader: NodeId, cc: ConfChange, now: number, thenAdd = false): void {
    const deadlineMs = (now + CHANGE_DEADLINE_STEPS) * MS_PER_STEP;
    const p = this.cluster.call(leader, (raft) => raft.changeMembership(cc, deadlineMs));
    const what = `${leader} ${cc.op} ${cc.id}`;
    if (p === null) return;
    const seq = ++this.changeSeq;
    const settled = (): void => {
      if (seq === this.changeSeq) this.changeInFlightUntil = 0;
    };
    this.changeInFlightUntil = now + CHANGE_DEADLINE_STEPS + 1;
    this.membershipChangesAsked++;
    if (this.trace.enabled) this.trace.add(`MEMBERSHIP ${what}: asked`);
    p.then(
      (at) => {
        settled();
        this.membershipChangesApplied++;
        if (thenAdd) this.replaceAdds++;
        if (this.trace.enabled) this.trace.add(`MEMBERSHIP ${what}: applied at ${at}`);
      },
      (e: unknown) => {
        settled();
        // A change refused before it reached the log leaves its joiner with nothing to join.
        const refused = e instanceof RegistryError && e.code === 'INVALID_ARGUMENT';
        if (refused && cc.op === 'addLearner') this.cluster.retire(cc.id, this.now, 'its add was refused');
        if (this.trace.enabled) this.trace.add(`MEMBERSHIP ${what}: ${String(e)}`);
      },
    );
  }

  /**
   * retireGone stops the nodes that left: a member whose removal is committed (after a random
   * delay, during which it must stay quiet), and a joiner never added.
   */
  private retireGone(now: number, atOnce = false): void {
    this.cluster.noteAppliedConfs();
    const conf = this.cluster.committedConf;
    const inConf = (id: NodeId): boolean => conf.voters.includes(id) || conf.learners.includes(id);
    // As an operator would, stop a removed node only once a leader runs without it: until the
    // others know the removal committed, they may need its vote (and its commit hint) to elect one.
    const leader = this.cluster.leader();
    const st = leader === null ? null : this.cluster.node(leader).status();
    // A removed leader that has not handed over yet does not count: the others may still need it.
    const established = (id: NodeId): boolean =>
      st !== null && leader !== id && !st.voters.includes(id) && !st.learners.includes(id);
    for (const id of this.cluster.ids) {
      if (this.cluster.everMember.has(id) && !inConf(id) && established(id) && !this.retireAt.has(id)) {
        this.retireAt.set(id, atOnce ? now : now + this.rng.nextInt(RETIRE_DELAY_STEPS_MAX));
      }
      const joined = this.joinedAt.get(id);
      if (joined !== undefined && !this.cluster.everMember.has(id) && now - joined > JOIN_TIMEOUT_STEPS) {
        this.cluster.retire(id, now, 'never added');
      }
    }
    for (const [id, at] of this.retireAt) {
      if (at > now && !atOnce) continue;
      this.retireAt.delete(id);
      this.cluster.retire(id, now, 'removed');
    }
  }

  private planLeaderKill(id: NodeId, incarnation: number): void {
    const f = this.opts.nodes;
    if (this.cluster.healed || f.leaderKillProbability === 0 || !this.rng.chance(f.leaderKillProbability)) return;
    this.kills.push({ id, incarnation, at: this.now + 1 + this.rng.nextInt(f.leaderKillStepsMax) });
  }

  private stepKills(now: number): void {
    if (this.kills.length === 0) return;
    const due = this.kills.filter((k) => k.at <= now);
    this.kills = this.kills.filter((k) => k.at > now);
    for (const k of due) {
      const node = this.cluster.node(k.id);
      if (node.running && node.incarnation === k.incarnation && this.cluster.canCrash())
        this.cluster.crash(k.id, now, 'nemesis, young leader');
    }
  }

  private askTransfer(): void {
    const leader = this.cluster.leader();
    if (leader === null) return;
    // Any other node: a learner, a joiner or a retired node refuses, as a real cluster would.
    const others: NodeId[] = this.cluster.ids.filter((id) => id !== leader);
    if (others.length === 0) return;
    const to = this.rng.pick(others);
    this.transfersAsked++;
    this.cluster.transfer(leader, to);
  }
}
