/**
 * Nemesis breaks a real cluster on a seeded schedule, one fault at a time: inject, hold, heal,
 * let the cluster recover, then the next. The kinds are DESIGN §8's: kill -9 of the leader or
 * a follower (restarted from its data dir), SIGSTOP/SIGCONT pauses longer than the election
 * timeout, partitions through the peer fault hook (symmetric, one-way, delay toward chosen
 * peers), a stalled disk (every log write of one node hangs until healed), kill -9 of a
 * majority, and power loss (what a node's disk had not made durable is dropped or torn, then
 * it dies) of one node or of a majority at the same moment. A schedule draws its kinds from a shuffled bag, so every
 * kind of the schedule is injected once before any repeats.
 */
import type { SeededRng } from '../../src/lib/rng.js';
import type { FaultRuleJson, ProcessCluster } from '../harness/process-cluster.js';
import { MembershipFaults } from './membership-nemesis.js';

/** MEMBERSHIP_KINDS: the kinds that change the membership; a schedule with one runs with two spare nodes. */
export const MEMBERSHIP_KINDS: readonly string[] = ['replace', 'grow-shrink'];

export const FAULT_KINDS = [
  'kill-leader',
  'kill-follower',
  'pause',
  'partition',
  'one-way',
  'delay',
  'disk-stall',
  'kill-majority',
  'power-loss',
  'power-loss-majority',
  'replace',
  'grow-shrink',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/**
 * SCHEDULES: which kinds a named schedule draws from. Power loss runs in `crashes` (part of
 * `make chaos`) and its own schedules; `mixed` keeps the eight kinds the CI run fits in 30 s.
 */
export const SCHEDULES: Readonly<Record<string, readonly FaultKind[]>> = {
  mixed: FAULT_KINDS.filter((k) => k !== 'power-loss' && k !== 'power-loss-majority' && !MEMBERSHIP_KINDS.includes(k)),
  crashes: [
    'kill-leader',
    'kill-follower',
    'pause',
    'disk-stall',
    'kill-majority',
    'power-loss',
    'power-loss-majority',
  ],
  partitions: ['partition', 'one-way', 'delay', 'pause'],
  'power-loss': ['power-loss', 'power-loss-majority'],
  // Membership changes (issue 14) between crashes, pauses and partitions; the run adds two spares.
  // grow-shrink twice a bag: it grows to five, then shrinks back to three.
  membership: [
    'replace',
    'grow-shrink',
    'kill-leader',
    'pause',
    'grow-shrink',
    'replace',
    'partition',
    'kill-follower',
  ],
  'power-loss-majority': ['power-loss-majority'],
};

export interface NemesisTiming {
  /** holdMsMin/holdMsMax: how long a fault lasts before it is healed. */
  readonly holdMsMin: number;
  readonly holdMsMax: number;
  /** pauseMsMin: a SIGSTOP lasts at least this; above the 1-2 s randomized election timeout. */
  readonly pauseMsMin: number;
  /** quietMsMin/quietMsMax: calm after a heal (after every node answers again) before the next fault. */
  readonly quietMsMin: number;
  readonly quietMsMax: number;
  /** recoverMsMax: how long to wait for every node to answer /status after a heal. */
  readonly recoverMsMax: number;
}

export const NEMESIS_TIMING_DEFAULTS: NemesisTiming = Object.freeze({
  holdMsMin: 1_500,
  holdMsMax: 3_500,
  pauseMsMin: 2_500,
  quietMsMin: 800,
  quietMsMax: 2_000,
  recoverMsMax: 10_000,
});

/** delayOutboundMsMin/Max: injected peer delay; the upper end is above the heartbeat and near the election timeout. */
const delayOutboundMsMin = 100;
const delayOutboundMsMax = 1_500;
/** isolateBeforePowerLossMs: how long the minority misses the writes before a majority loses power; writes go on meanwhile. */
const isolateBeforePowerLossMs = 1_000;
/** diskStallUntilHealedMs: a disk stall's length; far past every hold, so the heal ends it. */
const diskStallUntilHealedMs = 60_000;

/** NemesisEvent is one injected fault, for the summary and the kept history. */
export interface NemesisEvent {
  readonly kind: FaultKind;
  readonly targets: readonly string[];
  readonly detail: string;
  readonly startMs: number;
  endMs: number | null;
  error: string;
}

export class Nemesis {
  readonly events: NemesisEvent[] = [];
  private stopping = false;
  private everyKind = false;
  /** roundsDone: how many times every kind of the schedule was drawn (one shuffled bag each). */
  private roundsDone = 0;
  private readonly membership: MembershipFaults;

  constructor(
    private readonly cluster: ProcessCluster,
    private readonly rng: SeededRng,
    private readonly kinds: readonly FaultKind[],
    private readonly timing: NemesisTiming = NEMESIS_TIMING_DEFAULTS,
  ) {
    if (kinds.length === 0) throw new Error('a schedule needs at least one fault kind');
    this.membership = new MembershipFaults(cluster, rng);
  }

  /** members: the nodes that are members now (the founders, unless the schedule changes membership). */
  members(): string[] {
    return [...this.membership.active];
  }

  /**
   * run injects faults until stop(); each fault is healed before the next. With `everyKind`,
   * stop() waits until each kind was drawn once: a slow machine stretches the run instead of
   * leaving kinds out.
   */
  async run(everyKind = false): Promise<void> {
    this.everyKind = everyKind;
    let bag: FaultKind[] = [];
    while (!this.done()) {
      if (bag.length === 0) bag = shuffle([...this.kinds], this.rng);
      const kind = bag.pop() as FaultKind;
      const event = await this.inject(kind);
      const spreadMs = this.timing.holdMsMax - this.timing.holdMsMin;
      const holdMs =
        kind === 'pause'
          ? this.between(this.timing.pauseMsMin, this.timing.pauseMsMin + spreadMs)
          : this.between(this.timing.holdMsMin, this.timing.holdMsMax);
      await this.sleepUnlessStopping(holdMs);
      await this.healAll();
      event.endMs = performance.now();
      await this.waitForAllAnswering();
      await this.sleepUnlessStopping(this.between(this.timing.quietMsMin, this.timing.quietMsMax));
      if (bag.length === 0) this.roundsDone++;
    }
  }

  /** done: stop() was called, and with `everyKind` each kind was drawn at least once. */
  private done(): boolean {
    return this.stopping && (!this.everyKind || this.roundsDone > 0);
  }

  stop(): void {
    this.stopping = true;
  }

  counts(): Record<FaultKind, number> {
    const c = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
    for (const e of this.events) if (e.error === '') c[e.kind]++;
    return c;
  }

  /** pausedIntervals: when each node was stopped, to tell a frozen process from a server that hangs. */
  pausedIntervals(): Array<{ node: string; startMs: number; endMs: number }> {
    return this.events
      .filter((e) => e.kind === 'pause')
      .map((e) => ({ node: e.targets[0] ?? '', startMs: e.startMs, endMs: e.endMs ?? Number.POSITIVE_INFINITY }));
  }

  /** healAll clears every fault: rules off, paused nodes continued, dead nodes restarted. */
  async healAll(): Promise<void> {
    const members = this.members();
    for (const n of this.cluster.nodes) {
      if (n.process === null && members.includes(n.id)) this.cluster.start(n.id);
      else this.cluster.resume(n.id);
    }
    await Promise.all(members.map((id) => this.cluster.clearFaults(id).catch(() => undefined)));
  }

  private async inject(kind: FaultKind): Promise<NemesisEvent> {
    const ids = this.members();
    const leader = await this.findLeader();
    const event: NemesisEvent = { kind, targets: [], detail: '', startMs: performance.now(), endMs: null, error: '' };
    this.events.push(event);
    try {
      Object.assign(event, await this.apply(kind, ids, leader));
    } catch (e) {
      event.error = (e as Error).message;
    }
    return event;
  }

  private async apply(
    kind: FaultKind,
    ids: readonly string[],
    leader: string | null,
  ): Promise<{ targets: string[]; detail: string }> {
    switch (kind) {
      case 'kill-leader': {
        const target = leader ?? this.pick(ids);
        await this.cluster.kill(target, 'SIGKILL');
        return { targets: [target], detail: leader === null ? 'no leader known: a random node' : 'the leader' };
      }
      case 'kill-follower': {
        const target = this.pick(ids.filter((id) => id !== leader));
        await this.cluster.kill(target, 'SIGKILL');
        return { targets: [target], detail: 'a follower' };
      }
      case 'pause': {
        const target = leader !== null && this.rng.nextInt(2) === 0 ? leader : this.pick(ids);
        this.cluster.pause(target);
        return { targets: [target], detail: target === leader ? 'the leader' : 'a node' };
      }
      case 'partition':
        return this.partition(ids, leader);
      case 'one-way':
        return this.oneWay(ids, leader);
      case 'delay':
        return this.delay(ids, leader);
      case 'disk-stall': {
        // Longer than any hold: the write hangs until healAll clears the faults.
        const target = leader !== null && this.rng.nextInt(2) === 0 ? leader : this.pick(ids);
        await this.cluster.setFaults(target, { disk: { stallMs: diskStallUntilHealedMs } });
        return { targets: [target], detail: target === leader ? 'the leader' : 'a node' };
      }
      case 'kill-majority': {
        const targets = shuffle([...ids], this.rng).slice(0, Math.floor(ids.length / 2) + 1);
        await Promise.all(targets.map((id) => this.cluster.kill(id, 'SIGKILL')));
        return { targets, detail: `${targets.length} of ${ids.length}` };
      }
      case 'power-loss': {
        const target = leader !== null && this.rng.nextInt(2) === 0 ? leader : this.pick(ids);
        await this.cluster.powerLoss(target);
        return { targets: [target], detail: target === leader ? 'the leader' : 'a node' };
      }
      case 'power-loss-majority':
        return this.powerLossMajority(ids, leader);
      case 'replace':
        return this.membership.replace(leader);
      case 'grow-shrink':
        return this.membership.growOrShrink();
    }
  }

  /**
   * powerLossMajority cuts the power of a majority that includes the leader, at the same moment.
   * The minority is cut off from it for a moment first, so the writes acknowledged last live
   * only on the disks that lose power: they survive only if those disks made them durable.
   */
  private async powerLossMajority(
    ids: readonly string[],
    leader: string | null,
  ): Promise<{ targets: string[]; detail: string }> {
    const others = shuffle(
      ids.filter((id) => id !== leader),
      this.rng,
    );
    const targets = [...(leader === null ? [] : [leader]), ...others].slice(0, Math.floor(ids.length / 2) + 1);
    const minority = ids.filter((id) => !targets.includes(id));
    const cut: Partial<FaultRuleJson> = { dropOutbound: true, dropInbound: true };
    await Promise.all([
      ...minority.map((id) => this.cluster.setFaults(id, Object.fromEntries(targets.map((p) => [p, cut])))),
      ...targets.map((id) => this.cluster.setFaults(id, Object.fromEntries(minority.map((p) => [p, cut])))),
    ]);
    await this.sleepUnlessStopping(isolateBeforePowerLossMs);
    await Promise.all(targets.map((id) => this.cluster.powerLoss(id)));
    return {
      targets,
      detail: `${targets.length} of ${ids.length} at the same moment, [${minority.join(',')}] cut off for ${isolateBeforePowerLossMs} ms first`,
    };
  }

  /** partition cuts a minority (1 .. (n-1)/2 nodes, the leader half the time) off from the rest, both ways. */
  private async partition(
    ids: readonly string[],
    leader: string | null,
  ): Promise<{ targets: string[]; detail: string }> {
    const size = 1 + this.rng.nextInt(Math.floor((ids.length - 1) / 2));
    let minority = shuffle([...ids], this.rng).slice(0, size);
    if (leader !== null && this.rng.nextInt(2) === 0 && !minority.includes(leader))
      minority = [leader, ...minority.slice(1)];
    const majority = ids.filter((id) => !minority.includes(id));
    const cut: Partial<FaultRuleJson> = { dropOutbound: true, dropInbound: true };
    await Promise.all([
      ...minority.map((id) => this.cluster.setFaults(id, Object.fromEntries(majority.map((p) => [p, cut])))),
      ...majority.map((id) => this.cluster.setFaults(id, Object.fromEntries(minority.map((p) => [p, cut])))),
    ]);
    return { targets: minority, detail: `[${minority.join(',')}] | [${majority.join(',')}]` };
  }

  /** oneWay makes one node deaf to, or mute toward, some of its peers; the other direction still works. */
  private async oneWay(ids: readonly string[], leader: string | null): Promise<{ targets: string[]; detail: string }> {
    const node = leader !== null && this.rng.nextInt(2) === 0 ? leader : this.pick(ids);
    const peers = this.somePeers(ids, node);
    const mute = this.rng.nextInt(2) === 0;
    const rule: Partial<FaultRuleJson> = mute ? { dropOutbound: true } : { dropInbound: true };
    await this.cluster.setFaults(node, Object.fromEntries(peers.map((p) => [p, rule])));
    return { targets: [node], detail: `${node} ${mute ? 'cannot send to' : 'cannot hear'} [${peers.join(',')}]` };
  }

  /** delay holds what one node (the leader half the time) sends to some peers. */
  private async delay(ids: readonly string[], leader: string | null): Promise<{ targets: string[]; detail: string }> {
    const node = leader !== null && this.rng.nextInt(2) === 0 ? leader : this.pick(ids);
    const peers = this.somePeers(ids, node);
    const delayOutboundMs = this.between(delayOutboundMsMin, delayOutboundMsMax);
    await this.cluster.setFaults(node, Object.fromEntries(peers.map((p) => [p, { delayOutboundMs }])));
    return { targets: [node], detail: `${node} -> [${peers.join(',')}] +${delayOutboundMs} ms` };
  }

  /** findLeader asks every running node once; the leader of the highest term wins. */
  private async findLeader(): Promise<string | null> {
    const running = this.cluster.nodes.filter((n) => n.process !== null).map((n) => n.id);
    const statuses = await Promise.all(running.map((id) => this.cluster.status(id)));
    let best: { id: string; term: number } | null = null;
    for (const s of statuses)
      if (s?.role === 'leader' && (best === null || s.term > best.term)) best = { id: s.id, term: s.term };
    return best?.id ?? null;
  }

  private async waitForAllAnswering(): Promise<void> {
    const endMs = Date.now() + this.timing.recoverMsMax;
    while (Date.now() < endMs) {
      const statuses = await Promise.all(this.members().map((id) => this.cluster.status(id)));
      if (statuses.every((s) => s !== null)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private somePeers(ids: readonly string[], node: string): string[] {
    const others = shuffle(
      ids.filter((id) => id !== node),
      this.rng,
    );
    return others.slice(0, 1 + this.rng.nextInt(others.length));
  }

  private pick(ids: readonly string[]): string {
    const id = ids[this.rng.nextInt(ids.length)];
    if (id === undefined) throw new Error('no node to pick');
    return id;
  }

  private between(minMs: number, maxMs: number): number {
    return minMs + this.rng.nextInt(Math.max(1, maxMs - minMs + 1));
  }

  private async sleepUnlessStopping(ms: number): Promise<void> {
    const endMs = Date.now() + ms;
    while (!this.done() && Date.now() < endMs)
      await new Promise((r) => setTimeout(r, Math.min(100, endMs - Date.now())));
  }
}

function shuffle<T>(xs: T[], rng: SeededRng): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
  }
  return xs;
}
