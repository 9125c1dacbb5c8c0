import { AssertionError } from '../../src/lib/assert.js';
import { type NodeId, nodeId } from '../../src/lib/ids.js';
import { SeededRng } from '../../src/lib/rng.js';
import { checkFinalState, converged, describeNodes } from './checkers/convergence.js';
import type { HistoryVerdict } from './checkers/history.js';
import { checkLeasesFinal } from './checkers/leases.js';
import { SafetyChecker, SafetyViolation } from './checkers/safety.js';
import { Workload, type WorkloadStats } from './clients.js';
import { RoomWorkload, SWEEP_PERIOD_STEPS } from './room-clients.js';
import { SimRooms, roomsMachine } from './rooms.js';
import { Cluster, type MachineKind } from './cluster.js';
import { SimKv } from './kv.js';
import { type SimOptions, chooseSimOptions, describeSimOptions } from './faults.js';
import { Nemesis } from './nemesis.js';
import { PacketSimulator } from './network.js';
import { MS_PER_STEP, SimScheduler } from './scheduler.js';
import { Trace } from './trace.js';

/**
 * runSimulation runs one seed: a faulty phase of `steps` steps, then a healed phase in which
 * the cluster must converge, then the end-of-run checks. The seed decides everything: the
 * options, the network, the faults, the clients and every node's election jitter all draw
 * from one SeededRng, and the nodes read only the SimScheduler's clock, so a seed replays
 * exactly. It is async only to let promise continuations run between rounds of callbacks.
 */

export interface RunOptions {
  /** trace records every event (slower); a failing seed is replayed with it on. */
  readonly trace?: boolean;
  /** adjust pins option fields after the seed drew them (to aim a test at one fault). */
  readonly adjust?: (o: SimOptions) => SimOptions;
  /**
   * linearizabilityBudgetMs bounds the history check in wall-clock time. A 'timeout' verdict
   * passes (it proves nothing either way) and is counted; it is the only thing in a run that
   * depends on the machine, and it can never turn a pass into a failure.
   */
  readonly linearizabilityBudgetMs?: number;
}

export interface SimStats extends WorkloadStats {
  readonly clusterSize: number;
  readonly steps: number;
  readonly convergeSteps: number;
  readonly persists: number;
  readonly powerLosses: number;
  readonly tornWrites: number;
  readonly earlyApplied: number;
  /** roomsExpired: rooms the sweeper expired (RoomRegistry runs only). */
  readonly roomsExpired: number;
  /** heartbeats: media-node heartbeat entries applied; leasesExpired: leases the sweeper expired (room runs). */
  readonly heartbeats: number;
  readonly leasesExpired: number;
  /** quotaRefusals: room writes refused by the state quota; commandVersionInUse: at the end (0: a key-value run). */
  readonly quotaRefusals: number;
  readonly commandVersionInUse: number;
  readonly packetsSent: number;
  readonly packetsDropped: number;
  readonly crashes: number;
  readonly partitions: number;
  readonly transfers: number;
  readonly membershipChanges: number;
  readonly leaderElections: number;
  readonly snapshotsSent: number;
  readonly snapshotsInstalled: number;
  readonly appliedIndex: number;
  readonly linearizability: HistoryVerdict['verdict'];
}

export interface SimFailure {
  readonly checker: string;
  readonly details: string;
  readonly step: number;
}

export interface SimResult {
  readonly ok: boolean;
  readonly seed: number;
  readonly failure: SimFailure | null;
  readonly options: SimOptions;
  /** trace holds every event when RunOptions.trace was set, else only the header. */
  readonly trace: readonly string[];
  readonly stats: SimStats | null;
}

export async function runSimulation(seed: number, run: RunOptions = {}): Promise<SimResult> {
  const rng = new SeededRng(seed);
  const drawn = chooseSimOptions(rng);
  const options = run.adjust === undefined ? drawn : run.adjust(drawn);
  const trace = new Trace(run.trace === true);
  trace.add(`seed ${seed}: ${describeSimOptions(options)}`);
  const world = buildWorld(options, rng, trace);
  try {
    const stats = await runPhases(world, options, trace, run.linearizabilityBudgetMs ?? 2000);
    return { ok: true, seed, failure: null, options, trace: trace.lines, stats };
  } catch (e) {
    const failure = asFailure(e, trace.now);
    trace.add(`FAILED ${failure.checker}: ${failure.details}`);
    return { ok: false, seed, failure, options, trace: trace.lines, stats: null };
  }
}

interface World {
  readonly scheduler: SimScheduler;
  readonly safety: SafetyChecker;
  readonly network: PacketSimulator;
  readonly cluster: Cluster;
  readonly workload: Workload | RoomWorkload;
  readonly nemesis: Nemesis;
}

function buildWorld(options: SimOptions, rng: SeededRng, trace: Trace): World {
  const ids: NodeId[] = [];
  for (let i = 1; i <= options.clusterSize; i++) ids.push(nodeId(`n${i}`));
  const scheduler = new SimScheduler();
  const safety = new SafetyChecker(ids);
  const network = new PacketSimulator(rng, options.network, ids);
  const noHooks = { applied: () => {}, restored: () => {}, crashed: () => {} };
  let rooms: RoomWorkload | null = null;
  const machine =
    options.machine === 'kv'
      ? KV_MACHINE
      : roomsMachine({
          roomsExpired: (index, names) => rooms?.roomsExpired(index, names),
          mediaNodesExpired: (index, t, ids, leftovers) => rooms?.mediaNodesExpired(index, t, ids, leftovers),
          writeRefused: (requestId) => rooms?.writeRefused(requestId),
        });
  const cluster = new Cluster(options, rng, scheduler, network, safety, trace, ids, machine, noHooks);
  rooms =
    options.machine === 'rooms'
      ? new RoomWorkload(options.workload, rng, cluster, trace, options.media, options.registry)
      : null;
  const workload = rooms ?? new Workload(options.workload, rng, cluster, trace);
  cluster.setHooks(workload);
  const nemesis = new Nemesis(options, rng, cluster, network, trace);
  return { scheduler, safety, network, cluster, workload, nemesis };
}

const KV_MACHINE: MachineKind = {
  name: 'kv',
  create: () => new SimKv(),
  snapshotDigest: (chunks) => new TextDecoder().decode(Buffer.concat(chunks)),
};

/** step runs one step of the world: faults, clients, packets due, then the nodes' timers and turns. */
async function step(w: World, now: number, faults: boolean): Promise<void> {
  if (faults) w.nemesis.step(now);
  else w.nemesis.stepHealed(now);
  w.workload.step(now);
  w.cluster.step(now);
  await w.scheduler.runStep(now);
  w.cluster.throwIfFailed();
  w.cluster.observeRoles();
}

async function runPhases(w: World, options: SimOptions, trace: Trace, budgetMs: number): Promise<SimStats> {
  let now = 0;
  for (; now < options.steps;) {
    trace.now = ++now;
    await step(w, now, true);
  }
  w.workload.issuing = false;
  w.nemesis.heal(now);
  const healedAt = now;
  while (!converged(w.cluster)) {
    if (now - healedAt >= options.convergeStepsMax) {
      throw new SafetyViolation(
        'convergence',
        `no convergence ${options.convergeStepsMax} steps after healing: ${describeNodes(w.cluster)}`,
      );
    }
    trace.now = ++now;
    await step(w, now, false);
  }
  trace.add(`converged: ${describeNodes(w.cluster)}`);
  if (w.workload instanceof RoomWorkload && w.workload.media !== null) {
    // The states compared while leases are still held, then again once they all expired.
    checkFinalState(w.cluster, w.safety, w.workload.acked);
    now = await runLeasesOut(w, w.workload, options, trace, now);
  }
  w.workload.finish();
  checkFinalState(w.cluster, w.safety, w.workload.acked);
  const verdict = w.workload.checkHistory(budgetMs);
  if (verdict.verdict === 'illegal') throw new SafetyViolation('linearizability', verdict.details);
  return collectStats(w, options, now - healedAt, verdict.verdict);
}

/** LEASE_GRACE_MS: a lease may outlive its expiry by a sweep period (the sweeper looks that often). */
const LEASE_GRACE_MS = SWEEP_PERIOD_STEPS * MS_PER_STEP;

/**
 * runLeasesOut keeps the healed cluster running (the sweeper too) until two sweep periods
 * after both the first convergence (before it, there may have been no leader to sweep) and the
 * latest expiry of a lease the leader holds, and until the cluster has converged again; then no
 * replica may hold a lease past its expiry plus a sweep period (checkers/leases.ts). Every media
 * node stopped heartbeating by the end of the faulty phase, so every lease must go.
 */
async function runLeasesOut(
  w: World,
  rooms: RoomWorkload,
  options: SimOptions,
  trace: Trace,
  from: number,
): Promise<number> {
  const settleMs = 2 * SWEEP_PERIOD_STEPS * MS_PER_STEP;
  let now = from;
  for (;;) {
    const latestMs = rooms.latestLeaseExpiryMs();
    const doneMs = latestMs === null ? Infinity : Math.max(latestMs, from * MS_PER_STEP) + settleMs;
    if (now * MS_PER_STEP >= doneMs && converged(w.cluster)) break;
    if (now - from >= options.convergeStepsMax + LEASE_DRIVE_STEPS_MAX) {
      throw new SafetyViolation(
        'convergence',
        `leases still held or no convergence ${now - from} steps after the first convergence: ${describeNodes(w.cluster)}`,
      );
    }
    trace.now = ++now;
    await step(w, now, false);
  }
  trace.add(`leases run out at ${now}: ${describeNodes(w.cluster)}`);
  checkLeasesFinal(w.cluster, now * MS_PER_STEP, LEASE_GRACE_MS);
  return now;
}

/** LEASE_DRIVE_STEPS_MAX: the longest lease (2 s) plus the sweeper's periods, in steps. */
const LEASE_DRIVE_STEPS_MAX = 2500;

function collectStats(
  w: World,
  options: SimOptions,
  convergeSteps: number,
  lin: SimStats['linearizability'],
): SimStats {
  const leader = w.cluster.leader();
  const anyNode = w.cluster.node(leader ?? w.cluster.ids[0] ?? nodeId('n1'));
  const machine = anyNode.machine;
  return {
    ...w.workload.stats,
    clusterSize: options.clusterSize,
    steps: options.steps,
    convergeSteps,
    persists: w.cluster.persistCount,
    powerLosses: w.cluster.powerLossCount,
    tornWrites: w.cluster.tornWrites,
    earlyApplied: w.cluster.earlyApplied,
    roomsExpired: w.workload instanceof RoomWorkload ? w.workload.roomsExpiredCount : 0,
    heartbeats: w.workload instanceof RoomWorkload ? w.workload.leases.heartbeatsApplied : 0,
    leasesExpired: w.workload instanceof RoomWorkload ? w.workload.leases.leasesExpired : 0,
    quotaRefusals: w.workload instanceof RoomWorkload ? w.workload.quotaRefusals : 0,
    commandVersionInUse: machine instanceof SimRooms ? machine.registry.commandVersionInUse() : 0,
    packetsSent: w.network.packetsSent,
    packetsDropped: w.network.packetsDropped,
    crashes: w.cluster.crashCount,
    partitions: w.nemesis.partitionsStarted,
    transfers: w.nemesis.transfersAsked,
    membershipChanges: w.nemesis.membershipChangesApplied,
    leaderElections: w.safety.leaderElections,
    snapshotsSent: w.cluster.snapshotsSent,
    snapshotsInstalled: w.cluster.snapshotsInstalled,
    appliedIndex: anyNode.status()?.appliedIndex ?? 0,
    linearizability: lin,
  };
}

function asFailure(e: unknown, step: number): SimFailure {
  if (e instanceof SafetyViolation) return { checker: e.checker, details: e.message, step };
  if (e instanceof AssertionError) return { checker: 'assertion', details: `${e.message}\n${e.stack ?? ''}`, step };
  if (e instanceof Error) return { checker: 'exception', details: `${e.message}\n${e.stack ?? ''}`, step };
  return { checker: 'exception', details: String(e), step };
}

/** TRACE_TAIL_LINES: how much of the trace a failure message carries. */
export const TRACE_TAIL_LINES = 40;

/** SeedFailure is a failed seed: its message is replayable, `fullTrace` holds every event. */
export class SeedFailure extends Error {
  constructor(
    message: string,
    readonly fullTrace: readonly string[],
  ) {
    super(message);
  }
}

export interface CheckOptions extends RunOptions {
  /** fullTraceOnFailure: the error message carries the whole trace, not just its tail. */
  readonly fullTraceOnFailure?: boolean;
}

/**
 * checkSeed runs a seed and throws a SeedFailure if it fails. The failing seed is replayed with
 * the trace on (the fast first run records none); the replay must fail at the same step with
 * the same checker, or the message says the run was not deterministic.
 */
export async function checkSeed(seed: number, check: CheckOptions = {}): Promise<SimResult> {
  const first = await runSimulation(seed, check);
  if (first.ok) return first;
  const replay = await runSimulation(seed, { ...check, trace: true });
  const f = replay.failure ?? first.failure;
  const same = replay.failure?.checker === first.failure?.checker && replay.failure?.step === first.failure?.step;
  const note = same
    ? ''
    : `\n(NONDETERMINISM: the traced replay did not fail the same way; first run: ${JSON.stringify(first.failure)})`;
  const head = replay.trace[0] ?? '';
  const tail =
    check.fullTraceOnFailure === true ? replay.trace.slice(1) : ['...', ...replay.trace.slice(-TRACE_TAIL_LINES)];
  const message = `SIM_SEED=${seed} failed: ${f?.checker ?? '?'}: ${f?.details ?? '?'} (step ${f?.step ?? '?'})${note}\n${[head, ...tail].join('\n')}`;
  throw new SeedFailure(message, replay.trace);
}
