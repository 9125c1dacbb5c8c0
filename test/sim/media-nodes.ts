import { RegistryError } from '../../src/lib/errors.js';
import type { NodeId } from '../../src/lib/ids.js';
import type { SeededRng } from '../../src/lib/rng.js';
import type { Cluster } from './cluster.js';
import type { MediaNodeOptions, MediaNodeSpec } from './faults.js';
import { decodeRoomResult, encodeRoomCommand } from './rooms.js';
import { MS_PER_STEP } from './scheduler.js';
import type { Trace } from './trace.js';

/**
 * MediaNodes are the simulated media nodes (SFUs) of a room run (issue 16): each heartbeats
 * through the cluster (a MediaNodeHeartbeat proposed like any client write, to the last node
 * that answered or a random one), except while its fate keeps it silent (faults.ts
 * MediaNodeFate) and after it stopped near the end of the faulty phase, so its lease lapses
 * and the sweeper expires it. The room clients ask them who reports a share of a room and which
 * node hosts a new room.
 */

/** HEARTBEAT_RETRY_STEPS: a media node whose heartbeat was refused tries again this soon (two ticks). */
const HEARTBEAT_RETRY_STEPS = 20;
/** LEADER_HINT_PROBABILITY: a media node sends to the node that last answered it this often. */
const LEADER_HINT_PROBABILITY = 0.9;
/** REPORTER_LIVE_PROBABILITY: a share report comes from a media node that is heartbeating this often. */
const REPORTER_LIVE_PROBABILITY = 0.9;

interface MediaNode {
  readonly spec: MediaNodeSpec;
  nextStep: number;
  /** inFlight: the heartbeat awaiting its outcome (its sequence number), or null. */
  inFlight: number | null;
  sentStep: number;
  leaderHint: NodeId | null;
}

export class MediaNodes {
  private readonly nodes: MediaNode[];
  private seq = 0;
  private now = 0;

  constructor(
    readonly opts: MediaNodeOptions,
    private readonly rng: SeededRng,
    private readonly cluster: Cluster,
    private readonly trace: Trace,
  ) {
    this.nodes = opts.nodes.map((spec) => ({
      spec,
      nextStep: rng.nextInt(spec.heartbeatPeriodSteps),
      inFlight: null,
      sentStep: 0,
      leaderHint: null,
    }));
  }

  /** step sends the heartbeats due at `now` (the workload stops calling it when the clients stop). */
  step(now: number): void {
    this.now = now;
    for (const n of this.nodes) {
      if (silent(n.spec, now) || now < n.nextStep) continue;
      // A heartbeat with no outcome within a period is given up; the next one goes out.
      if (n.inFlight !== null && now - n.sentStep < n.spec.heartbeatPeriodSteps) continue;
      this.heartbeat(n);
    }
  }

  /** reporter names the media node of a share report: usually one that is heartbeating now. */
  reporter(): string {
    const live = this.nodes.filter((n) => !silent(n.spec, this.now));
    const from = live.length > 0 && this.rng.chance(REPORTER_LIVE_PROBABILITY) ? live : this.nodes;
    return this.rng.pick(from).spec.id;
  }

  /** host names the media node a new room is created on, or "" for none. */
  host(): string {
    return this.rng.chance(this.opts.hostedFraction) ? this.rng.pick(this.nodes).spec.id : '';
  }

  private heartbeat(n: MediaNode): void {
    const seq = ++this.seq;
    const { id, region, ttlS, heartbeatPeriodSteps } = n.spec;
    const target =
      n.leaderHint !== null && this.rng.chance(LEADER_HINT_PROBABILITY)
        ? n.leaderHint
        : this.rng.pick(this.cluster.ids);
    const stats = { numRooms: this.rng.nextInt(5), numClients: this.rng.nextInt(20), cpuLoad: this.rng.nextInt(5) / 4 };
    const command = encodeRoomCommand('', { $case: 'mediaNodeHeartbeat', value: { nodeId: id, region, ttlS, stats } });
    const deadlineMs = (this.now + heartbeatPeriodSteps) * MS_PER_STEP;
    n.inFlight = seq;
    n.sentStep = this.now;
    n.nextStep = this.now + heartbeatPeriodSteps;
    if (this.trace.enabled) this.trace.add(`${id} -> ${target}: heartbeat ${seq} ttl=${ttlS}s`);
    const call = this.cluster.call(target, async (raft) => decodeRoomResult(await raft.propose(command, deadlineMs)));
    if (call === null) {
      this.refused(n, seq, null, `${target} is down`);
      return;
    }
    call.then(
      (result) => this.cluster.guard(() => this.answered(n, seq, target, result)),
      (e: unknown) =>
        this.cluster.guard(() => this.refused(n, seq, e instanceof RegistryError ? e.leaderId : null, String(e))),
    );
  }

  private answered(n: MediaNode, seq: number, target: NodeId, result: ReturnType<typeof decodeRoomResult>): void {
    if (n.inFlight !== seq) return;
    if (result?.$case !== 'lease') {
      this.refused(n, seq, null, JSON.stringify(result));
      return;
    }
    n.inFlight = null;
    n.leaderHint = target;
    if (this.trace.enabled) this.trace.add(`${n.spec.id}: heartbeat ${seq} -> lease until ${result.value.expiresAtMs}`);
  }

  private refused(n: MediaNode, seq: number, leaderHint: NodeId | null, why: string): void {
    if (n.inFlight !== seq) return;
    n.inFlight = null;
    n.leaderHint = leaderHint;
    n.nextStep = this.now + HEARTBEAT_RETRY_STEPS;
    if (this.trace.enabled) this.trace.add(`${n.spec.id}: heartbeat ${seq} refused (${why})`);
  }
}

/** silent: the media node's fate keeps it from heartbeating at step `now`, or it has stopped. */
function silent(spec: MediaNodeSpec, now: number): boolean {
  return now >= spec.stopStep || (now >= spec.silentFromStep && now < spec.silentFromStep + spec.silentSteps);
}
