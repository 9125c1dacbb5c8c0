import type { NodeId } from '../../src/lib/ids.js';
import type { SeededRng } from '../../src/lib/rng.js';
import type { Cluster } from './cluster.js';
import type { SimOptions } from './faults.js';
import type { PacketSimulator } from './network.js';
import type { Trace } from './trace.js';

/**
 * Nemesis carries out the run's fault schedule, one seeded decision per step: partitions
 * start and heal, nodes crash (at most `crashedMax` at once, leaders preferred half the time,
 * since a leader crash is what loses uncommitted work) and restart, nodes pause, young leaders
 * are killed, and the leader is now and then asked to hand over. `heal` ends it all for the
 * convergence phase.
 */
export class Nemesis {
  partitionsStarted = 0;
  transfersAsked = 0;
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
    if (this.opts.nodes.transfersPerStep > 0 && this.rng.chance(this.opts.nodes.transfersPerStep)) this.askTransfer();
  }

  /** heal restores every link and restarts every crashed node. */
  heal(now: number): void {
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
    const others: NodeId[] = this.cluster.ids.filter((id) => id !== leader);
    const to = this.rng.pick(others);
    this.transfersAsked++;
    this.cluster.transfer(leader, to);
  }
}
