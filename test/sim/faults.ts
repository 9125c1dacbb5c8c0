import { LIMITS } from '../../src/config/limits.js';
import { SeededRng } from '../../src/lib/rng.js';
import { MS_PER_STEP } from './scheduler.js';

/**
 * Fault options for one simulator run: what the network, the disks, the clocks and the nemesis
 * may do. Every field is chosen from the run's seed by `chooseSimOptions`, so a seed names a
 * whole schedule; a test may also pin fields to aim at one failure mode (STYLE rule 19).
 */

/**
 * PartitionMode names one shape of network partition:
 * - none: links are never cut.
 * - symmetric: the nodes split into two random groups that cannot reach each other.
 * - minority: a random minority is cut off from the rest, both ways.
 * - isolateLeader: the current leader is cut off from everyone, both ways.
 * - oneWay: a random set of directed links drops everything (asymmetric links, DESIGN §3a.2).
 * - leaderOneWay: the leader can send but not hear, or hear but not send.
 * - bridge: two groups that cannot reach each other, and one node that reaches both.
 */
export const PARTITION_MODES = [
  'none',
  'symmetric',
  'minority',
  'isolateLeader',
  'oneWay',
  'leaderOneWay',
  'bridge',
] as const;
export type PartitionMode = (typeof PARTITION_MODES)[number];

export interface NetworkFaults {
  /** lossProbability: each packet is dropped with this probability. */
  readonly lossProbability: number;
  /** duplicateProbability: each packet is delivered twice (each copy with its own delay). */
  readonly duplicateProbability: number;
  /** delayStepsMin/Max: a packet's delay is uniform in [min, max] steps; random delays reorder. */
  readonly delayStepsMin: number;
  readonly delayStepsMax: number;
  /** longDelayProbability: a packet is instead held for up to longDelayStepsMax (heavy reordering). */
  readonly longDelayProbability: number;
  readonly longDelayStepsMax: number;
  /** partitionModes: the shapes a partition may take; one is picked each time a partition starts. */
  readonly partitionModes: readonly PartitionMode[];
  /** partitionStartsPerStep: probability per step that a partition starts while the network is whole. */
  readonly partitionStartsPerStep: number;
  /** partitionStepsMean: a partition heals with probability 1/mean per step. */
  readonly partitionStepsMean: number;
  /** unreachableReportProbability: a dropped packet is reported back to its sender (reportUnreachable). */
  readonly unreachableReportProbability: number;
  /** snapshotFailReportProbability: a dropped snapshot is reported as failed (else its retry timer fires). */
  readonly snapshotFailReportProbability: number;
}

export interface NodeFaults {
  /** crashesPerStep: probability per step that one running node crashes. */
  readonly crashesPerStep: number;
  /** crashStepsMean: a crashed node restarts with probability 1/mean per step. */
  readonly crashStepsMean: number;
  /**
   * crashedMax: how many nodes may be down at once. A minority keeps the cluster available;
   * a majority stops all commits, and safety must still hold.
   */
  readonly crashedMax: number;
  /** crashAfterPersistProbability: per Ready, crash right after persisting, before sending or applying. */
  readonly crashAfterPersistProbability: number;
  /**
   * crashDuringPersistProbability: per log write that takes time, the machine loses power
   * before it is durable: the write is lost or torn (a prefix of its entries kept), while the
   * Ready's early `messages` are already out. This is what punishes a node that sends a vote
   * or an acknowledgement before persisting.
   */
  readonly crashDuringPersistProbability: number;
  /**
   * voteCrashProbability: the same, for a Ready that records a new vote. With a quick restart,
   * a node that answered before its vote was durable would vote twice in one term.
   */
  readonly voteCrashProbability: number;
  /** transfersPerStep: probability per step that the leader is asked to hand over to a random member. */
  readonly transfersPerStep: number;
  /**
   * leaderKillProbability: a new leader is crashed within leaderKillStepsMax steps of its
   * election with this probability. Leaders that die young leave entries of their term on a
   * minority, the raw material of the paper's Figure 8.
   */
  readonly leaderKillProbability: number;
  readonly leaderKillStepsMax: number;
  /**
   * commitKillProbability: a leader crashes right after persisting a new commit index, before
   * anyone else hears of it: the moment a write is committed but not yet acknowledged (DESIGN §3a.8).
   */
  readonly commitKillProbability: number;
  /**
   * pausesPerStep: probability per step that a running node is frozen (SIGSTOP) for about
   * pauseStepsMean steps: a GC pause or a stalled VM. A leader that wakes up must not serve
   * reads from its old view (DESIGN §3a.7).
   */
  readonly pausesPerStep: number;
  readonly pauseStepsMean: number;
}

export interface DiskFaults {
  /** persistStepsMax: an ordinary Ready takes [0, max] steps to persist (the node waits, as on fsync). */
  readonly persistStepsMax: number;
  /** stallProbability: a Ready's persist instead stalls for up to stallStepsMax (a slow disk, DESIGN §3a.3). */
  readonly stallProbability: number;
  readonly stallStepsMax: number;
}

export interface ClockOptions {
  /** stepsPerTick: each node ticks once per this many steps, before skew. */
  readonly stepsPerTick: number;
  /** skewMax: each node's tick period is stepsPerTick × (1 ± up to skewMax), fixed per node. */
  readonly skewMax: number;
}

/**
 * RaftTuning overrides RAFT_DEFAULTS: bounds far below production so every limit is hit
 * (one-entry appends, a one-append pipeline, overload refusals, one-entry apply batches) and
 * snapshots come every few dozen entries, so compaction and InstallSnapshot happen in every run.
 */
export interface RaftTuning {
  readonly snapshotIntervalEntries: number;
  readonly inflightAppendsMax: number;
  readonly appendBytesPerMessageMax: number;
  readonly uncommittedEntriesMax: number;
  readonly committedBytesPerReadyMax: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
}

export interface WorkloadOptions {
  readonly clients: number;
  readonly keys: number;
  /** readFraction: share of operations that are reads; the rest split between put and append. */
  readonly readFraction: number;
  /** thinkStepsMax: a client waits [0, max] steps between operations. */
  readonly thinkStepsMax: number;
  /** opDeadlineSteps: an operation with no outcome by then is unknown (write) or dropped (read). */
  readonly opDeadlineSteps: number;
  /** leaderHintProbability: a client sends to the last leader it heard of, else to a random node. */
  readonly leaderHintProbability: number;
}

/**
 * MembershipOptions: the nemesis changes the membership online (issue 14), one change at a
 * time through the leader: it adds a fresh node (empty disk, started as a joiner) as a
 * learner, promotes a learner, removes a random member (the leader too), or replaces one
 * (removes it, then adds a fresh node).
 */
export interface MembershipOptions {
  /** changesPerStep: probability per step that the nemesis asks for a change (0: the membership is fixed). */
  readonly changesPerStep: number;
  /** votersMax: promotions stop at this many voters; removals never take the last one. */
  readonly votersMax: number;
  /** nodesMax: no node is added while this many run (members, joiners and removed nodes not yet stopped). */
  readonly nodesMax: number;
}

/**
 * MediaNodeFate: what a simulated media node (an SFU, issue 16) does during the faulty phase:
 * - steady: heartbeats throughout (its lease may still lapse when faults stall the cluster);
 * - pause: goes silent from `silentFromStep` for `silentSteps` (longer than its ttl), then resumes;
 * - dies: goes silent from `silentFromStep` for good.
 * Every media node stops for good by the end of the faulty phase (`stopStep`, up to a ttl before
 * it: some leases outlive the faults, some expire under them), so every lease must expire.
 */
export type MediaNodeFate = 'steady' | 'pause' | 'dies';

export interface MediaNodeSpec {
  /** id: the media node's id (`mn1`, …), as it names itself in heartbeats and share reports. */
  readonly id: string;
  readonly region: string;
  /** ttlS: the lease it asks for, in seconds (1 or 2: a few hundred steps, many sweep periods). */
  readonly ttlS: number;
  /** heartbeatPeriodSteps: it heartbeats this often while not silent (a quarter to half its ttl). */
  readonly heartbeatPeriodSteps: number;
  readonly fate: MediaNodeFate;
  readonly silentFromStep: number;
  /** silentSteps: how long it stays silent (Infinity for `dies`; 0 for `steady`). */
  readonly silentSteps: number;
  /** stopStep: it stops heartbeating for good at this step, whatever its fate. */
  readonly stopStep: number;
}

export interface MediaNodeOptions {
  readonly nodes: readonly MediaNodeSpec[];
  /** shareFraction: share of occupancy reports a media node makes for its share (the rest carry no node). */
  readonly shareFraction: number;
  /** hostedFraction: share of created rooms that name a media node as their node_id (the rest name none). */
  readonly hostedFraction: number;
}

/**
 * RegistryOptions: how a room run's registry is set up beyond its media nodes. The leader's
 * sweeper proposes SetCommandVersion from `commandVersionStep` on (Infinity: never), so a run
 * applies rooms in the quota's earlier unit, switches at that entry on every replica, or never
 * does; `quotaBytes` is the state quota the nodes stamp (small ones refuse some creates).
 */
export interface RegistryOptions {
  readonly commandVersionStep: number;
  readonly quotaBytes: number;
}

/** MachineName: the replicated state machine of a run: the simulator's key-value map, or RoomRegistry. */
export type MachineName = 'kv' | 'rooms';

export interface SimOptions {
  readonly clusterSize: 3 | 5;
  readonly machine: MachineName;
  readonly weather: Weather;
  /** steps: length of the faulty phase; then faults heal and the cluster must converge. */
  readonly steps: number;
  /** convergeStepsMax: the healed cluster must converge within this many steps. */
  readonly convergeStepsMax: number;
  readonly network: NetworkFaults;
  readonly nodes: NodeFaults;
  readonly disk: DiskFaults;
  readonly clock: ClockOptions;
  readonly raft: RaftTuning;
  readonly workload: WorkloadOptions;
  readonly membership: MembershipOptions;
  /** media: the simulated media nodes of a room run (null in key-value runs). */
  readonly media: MediaNodeOptions | null;
  /** registry: a room run's command version and quota (null in key-value runs). */
  readonly registry: RegistryOptions | null;
}

/**
 * Weather sets how hard one run's faults hit:
 * - calm: no faults but slow-ish disks and clock skew; checks the happy path.
 * - rough: every fault at moderate rates.
 * - storm: crashes, short partitions and slow disks every few hundred steps.
 * - churn: leaders are isolated while clients keep writing to them, and new leaders are killed
 *   young or right after they commit, with one entry per append. Old-term entries then sit on
 *   minorities next to newer conflicting ones, which is what exposes committing an older
 *   term's entry by counting (Raft paper Figure 8). Without one-entry appends a new leader's
 *   first append carries its noop along with the old entries, and that bug cannot show.
 */
export const WEATHERS = ['calm', 'rough', 'storm', 'churn'] as const;
export type Weather = (typeof WEATHERS)[number];

/** ROOMS_SHARE: the share of seeds that run RoomRegistry; the rest run SimKv (faster, simpler failures). */
const ROOMS_SHARE = 0.3;

/** chooseSimOptions draws one run's options from its seed's generator: size, fault mix and length vary. */
export function chooseSimOptions(rng: SeededRng): SimOptions {
  const weather = rng.pick([
    'calm',
    'rough',
    'rough',
    'rough',
    'storm',
    'storm',
    'storm',
    'churn',
    'churn',
    'churn',
  ] as const);
  // Churn finds its bugs mostly in 3-node clusters, where a minority is one node.
  const clusterSize = rng.chance(weather === 'churn' ? 0.75 : 0.5) ? 3 : 5;
  const options: Omit<SimOptions, 'media' | 'registry'> = {
    clusterSize,
    // A share of the runs replicate the production state machine, with room clients and expiry.
    machine: rng.chance(ROOMS_SHARE) ? 'rooms' : 'kv',
    weather,
    steps: weather === 'churn' ? 8000 + rng.nextInt(8000) : 3000 + rng.nextInt(12000),
    convergeStepsMax: 6000,
    network: chooseNetworkFaults(rng, weather),
    nodes: chooseNodeFaults(rng, clusterSize, weather),
    disk: chooseDiskFaults(rng, weather),
    clock: { stepsPerTick: 10, skewMax: rng.pick([0.1, 0.3, 0.5]) },
    raft: chooseRaftTuning(rng, weather),
    workload: chooseWorkload(rng, weather),
    membership: chooseMembership(rng, weather),
  };
  // Drawn last and only for room runs, so a key-value seed replays the schedule it always had.
  const media = options.machine === 'rooms' ? chooseMediaNodes(rng, options.steps) : null;
  // From a generator of its own (seeded by the run's length), so no other draw of the seed moves.
  const registry = options.machine === 'rooms' ? chooseRegistry(new SeededRng(options.steps), options.steps) : null;
  return { ...options, media, registry };
}

/** chooseRegistry draws when a room run sets the command version and how large its quota is. */
function chooseRegistry(rng: SeededRng, steps: number): RegistryOptions {
  return {
    commandVersionStep: rng.pick([0, rng.nextInt(steps), Infinity]),
    // A room of the simulated clients occupies 100 to 250 bytes: 1 500 holds a few of the 3 to 8.
    quotaBytes: rng.pick([LIMITS.quotaBytesDefault, 1_500, 3_000]),
  };
}

/** MEDIA_NODES_MAX: a room run has 2 or 3 media nodes, enough for rooms that span nodes. */
const MEDIA_NODES_MAX = 3;

/** chooseMediaNodes draws the media nodes of a room run of `steps` faulty steps. */
function chooseMediaNodes(rng: SeededRng, steps: number): MediaNodeOptions {
  const nodes: MediaNodeSpec[] = [];
  const count = 2 + rng.nextInt(MEDIA_NODES_MAX - 1);
  for (let i = 1; i <= count; i++) {
    const ttlS = rng.pick([1, 2]);
    const ttlSteps = (ttlS * 1000) / MS_PER_STEP;
    const fate = rng.pick(['steady', 'steady', 'pause', 'pause', 'dies'] as const);
    const silentFromStep = rng.nextInt(fate === 'dies' ? Math.floor(steps * 0.8) : steps);
    const silentSteps = fate === 'steady' ? 0 : fate === 'dies' ? Infinity : ttlSteps + 200 + rng.nextInt(2000);
    nodes.push({
      id: `mn${i}`,
      region: i % 2 === 1 ? 'eu' : 'us',
      ttlS,
      heartbeatPeriodSteps: Math.floor(ttlSteps / 4) + rng.nextInt(Math.floor(ttlSteps / 4)),
      fate,
      silentFromStep,
      silentSteps,
      stopStep: steps - rng.nextInt(ttlSteps + 1),
    });
  }
  return { nodes, shareFraction: rng.pick([0.5, 0.8]), hostedFraction: rng.pick([0, 0.5]) };
}

function chooseMembership(rng: SeededRng, weather: Weather): MembershipOptions {
  // A third of the runs keep their membership, so the fixed-cluster paths stay exercised.
  const rates = weather === 'calm' ? [0, 1 / 200] : [0, 1 / 80, 1 / 300];
  return { changesPerStep: rng.pick(rates), votersMax: 5, nodesMax: 7 };
}

function chooseNetworkFaults(rng: SeededRng, weather: Weather): NetworkFaults {
  const calm = weather === 'calm';
  const faulty = PARTITION_MODES.filter((m) => m !== 'none');
  const churn = weather === 'churn';
  const modes: PartitionMode[] = calm ? ['none'] : churn ? ['isolateLeader'] : pickSome(rng, faulty);
  // A cut-off leader whose clock runs slow is where reads go stale; make it common.
  if (!calm && !modes.includes('isolateLeader') && rng.chance(0.5)) modes.push('isolateLeader');
  const frequent = weather === 'storm' || churn;
  return {
    lossProbability: calm ? 0 : churn ? 0.05 : rng.pick([0, 0.01, 0.05, 0.15]),
    duplicateProbability: calm ? 0 : rng.pick([0, 0.02, 0.1]),
    delayStepsMin: 1,
    delayStepsMax: churn ? rng.pick([15, 40]) : rng.pick([2, 5, 15, 40]),
    longDelayProbability: calm ? 0 : rng.pick([0, 0.005, 0.03]),
    longDelayStepsMax: 400,
    partitionModes: modes,
    partitionStartsPerStep: churn ? 1 / 100 : frequent ? rng.pick([1 / 150, 1 / 400]) : rng.pick([1 / 500, 1 / 1500]),
    partitionStepsMean: weather === 'churn' ? 150 : weather === 'storm' ? rng.pick([40, 150]) : rng.pick([200, 800]),
    unreachableReportProbability: rng.pick([0, 0.5]),
    snapshotFailReportProbability: rng.pick([0, 0.5, 1]),
  };
}

function chooseNodeFaults(rng: SeededRng, clusterSize: number, weather: Weather): NodeFaults {
  const minority = Math.floor((clusterSize - 1) / 2);
  const calm = weather === 'calm';
  const churn = weather === 'churn';
  const storm = weather === 'storm';
  return {
    crashesPerStep: calm || churn ? 0 : storm ? rng.pick([1 / 150, 1 / 400]) : rng.pick([0, 1 / 500, 1 / 1500]),
    crashStepsMean: churn ? 100 : storm ? rng.pick([20, 100]) : rng.pick([50, 300, 1000]),
    crashedMax: !churn && rng.chance(0.2) ? clusterSize : minority,
    crashAfterPersistProbability: calm ? 0 : rng.pick([0, 0.002, 0.01]),
    crashDuringPersistProbability: calm ? 0 : storm ? rng.pick([0.01, 0.05]) : rng.pick([0, 0.01]),
    voteCrashProbability: calm || churn ? 0 : storm ? rng.pick([0.2, 0.5]) : rng.pick([0, 0.1]),
    transfersPerStep: rng.pick([0, 1 / 300, 1 / 1000]),
    leaderKillProbability: churn ? 0.5 : storm ? rng.pick([0.2, 0.5]) : calm ? 0 : rng.pick([0, 0.1]),
    leaderKillStepsMax: churn ? rng.pick([5, 30]) : rng.pick([5, 30, 100]),
    commitKillProbability: churn ? 0.3 : storm ? rng.pick([0.02, 0.1]) : calm ? 0 : rng.pick([0, 0.01]),
    pausesPerStep: calm || churn ? 0 : rng.pick([0, 1 / 300, 1 / 1000]),
    pauseStepsMean: rng.pick([50, 200, 500]),
  };
}

function chooseDiskFaults(rng: SeededRng, weather: Weather): DiskFaults {
  return {
    persistStepsMax: weather === 'calm' ? rng.pick([0, 1]) : rng.pick([0, 1, 3, 8]),
    stallProbability: weather === 'calm' ? 0 : rng.pick([0, 0.002, 0.01]),
    stallStepsMax: rng.pick([50, 300]),
  };
}

function chooseRaftTuning(rng: SeededRng, weather: Weather): RaftTuning {
  const protectedElections = weather === 'churn' || rng.chance(0.85);
  return {
    snapshotIntervalEntries: 10 + rng.nextInt(31),
    inflightAppendsMax: weather === 'churn' ? 1 : rng.pick([1, 2, 4, 16]),
    appendBytesPerMessageMax: weather === 'churn' ? 1 : rng.pick([1, 64, 1024, 1 << 20]),
    uncommittedEntriesMax: weather === 'churn' ? 1000 : rng.pick([4, 20, 1000]),
    committedBytesPerReadyMax: rng.pick([1, 100, 1 << 20]),
    preVote: protectedElections || rng.chance(0.5),
    checkQuorum: protectedElections || rng.chance(0.5),
  };
}

function chooseWorkload(rng: SeededRng, weather: Weather): WorkloadOptions {
  const churn = weather === 'churn';
  return {
    clients: churn ? 4 + rng.nextInt(3) : 2 + rng.nextInt(7),
    keys: rng.pick([3, 5, 8]),
    readFraction: churn ? 0.2 : rng.pick([0.2, 0.5]),
    thinkStepsMax: churn ? 5 : rng.pick([2, 10, 40]),
    opDeadlineSteps: rng.pick([150, 400, 1000]),
    leaderHintProbability: churn ? 0.9 : rng.pick([0.5, 0.9]),
  };
}

/** pickSome returns a non-empty random subset of `items`, in their order. */
function pickSome<T>(rng: SeededRng, items: readonly T[]): T[] {
  const chosen = items.filter(() => rng.chance(0.5));
  return chosen.length > 0 ? chosen : [rng.pick(items)];
}

/** describeSimOptions is a one-line summary for the trace header. */
export function describeSimOptions(o: SimOptions): string {
  const n = o.network;
  return [
    `nodes=${o.clusterSize} machine=${o.machine} weather=${o.weather} steps=${o.steps}`,
    `partitions=${n.partitionModes.join('|')} loss=${n.lossProbability} dup=${n.duplicateProbability} delay=${n.delayStepsMin}..${n.delayStepsMax}`,
    `crashes/step=${o.nodes.crashesPerStep.toFixed(4)} crashedMax=${o.nodes.crashedMax} crashAfterPersist=${o.nodes.crashAfterPersistProbability}`,
    `stall=${o.disk.stallProbability} skew=${o.clock.skewMax} snapEvery=${o.raft.snapshotIntervalEntries}`,
    `inflight=${o.raft.inflightAppendsMax} preVote=${o.raft.preVote} checkQuorum=${o.raft.checkQuorum}`,
    `clients=${o.workload.clients} keys=${o.workload.keys} membership/step=${o.membership.changesPerStep.toFixed(4)}`,
    ...(o.media === null ? [] : [describeMediaNodes(o.media)]),
    ...(o.registry === null
      ? []
      : [`setCommandVersion@${o.registry.commandVersionStep} quota=${o.registry.quotaBytes}`]),
  ].join(' ');
}

function describeMediaNodes(m: MediaNodeOptions): string {
  const nodes = m.nodes.map((n) => {
    const silence = n.fate === 'steady' ? '' : `@${n.silentFromStep}+${n.silentSteps}`;
    return `${n.id}(ttl=${n.ttlS}s every ${n.heartbeatPeriodSteps} ${n.fate}${silence} stop@${n.stopStep})`;
  });
  return `media=${nodes.join(',')} shares=${m.shareFraction} hosted=${m.hostedFraction}`;
}
