import { randomInt } from 'node:crypto';
import { writeSync } from 'node:fs';
import type { Server } from 'node:http';
import { type NodeStatus, startHttpServer } from '../api/http-server.js';
import { bootstrapMembers, compileConfig, loadClusterConfig, type CompiledConfig } from '../config/cluster-config.js';
import { assertLimitRelations, electionTimeoutTicks, LIMITS } from '../config/limits.js';
import { JsonLogger } from '../lib/logger.js';
import type { Rng } from '../lib/rng.js';
import { type NodeId, index, nodeId } from '../lib/ids.js';
import { Metrics } from '../metrics/metrics.js';
import { SYSTEM_CLOCK, exitProcess } from '../node/clock.js';
import { MemberRemovedError, RaftNode } from '../node/node.js';
import { nodeMembership } from '../api/membership-api.js';
import type { NodeLogStorage, NodeSnapshotStore } from '../raft/index.js';
import { type ClusterControl, GrpcApi } from '../api/grpc-server.js';
import { MediaNodeHandlers } from '../api/media-node-handlers.js';
import { RoomHandlers } from '../api/room-handlers.js';
import { twirpMethods } from '../api/twirp-methods.js';
import { TwirpServer } from '../api/twirp-server.js';
import { validateCommandBytes } from '../api/validate.js';
import { DiskLogStorage } from '../storage/disk-log-storage.js';
import { PowerLossFs } from '../storage/power-loss-fs.js';
import { nodeStorageFs } from '../storage/storage-fs.js';
import type { Logger } from '../lib/logger.js';
import { FaultHook } from '../transport/fault-hook.js';
import { PeerAuthenticator, plaintextPeerAddresses } from '../transport/peer-auth.js';
import type { PeerLimits } from '../transport/peer-options.js';
import { PeerServer } from '../transport/peer-server.js';
import { PeerTransport } from '../transport/transport.js';
import { Sweeper } from '../sweeper/sweeper.js';
import { REGISTRY_VERSIONS, type RoomRegistry, commandVersionOf } from '../registry/index.js';
import { type ParsedFlags, UsageError, requireString } from './args.js';
import {
  BACKUP_SERVE_FLAGS,
  type BackupScheduleOptions,
  backupScheduleFromFlags,
  backupSource,
  startBackups,
} from './backup-scheduler.js';
import { checkNotRemoved, claimDataDir, dataDirHoldsNoData, markRemoved } from './data-dir.js';
import { forceNewClusterAtStart } from './force-new-cluster.js';
import {
  appliedConf,
  bootstrap,
  checkMembership,
  legacyVoters,
  logIsEmpty,
  memberAddresses,
} from './membership-boot.js';

export const SERVE_FLAGS = {
  config: { kind: 'string', help: 'cluster config file (JSON)' },
  id: { kind: 'string', help: 'this node id, one of the config nodes' },
  'data-dir': { kind: 'string', help: 'directory for this node’s write-ahead log and snapshots' },
  fsync: { kind: 'string', help: 'always (default) or never' },
  'enable-fault-injection': { kind: 'boolean', help: 'test only: accept partition rules on POST /debug/faults' },
  'initial-cluster-state': {
    kind: 'string',
    help: 'new: this first start of a new cluster may initialize an empty data dir; existing (default): refuse one',
  },
  join: {
    kind: 'boolean',
    help: 'start on an empty data dir without founding a cluster: wait to be added (members add)',
  },
  'force-new-cluster': {
    kind: 'boolean',
    help: 'after a majority is lost for good: start this surviving member as the only voter of its data (see README)',
  },
  'snapshot-interval-entries': { kind: 'number', help: 'take a snapshot every N applied entries (default 100000)' },
  ...BACKUP_SERVE_FLAGS,
  'quota-bytes': {
    kind: 'number',
    help: 'state quota: room bytes past which creates and growing updates fail RESOURCE_EXHAUSTED (default 2 GiB)',
  },
} as const;

/** cryptoRng is the node's randomness (election jitter): unpredictable, unlike the simulator's. */
const cryptoRng: Rng = {
  nextInt: (maxExclusive) => randomInt(maxExclusive),
  nextFloat: () => randomInt(2 ** 48) / 2 ** 48,
};

/** NodeParts are the pieces `serve` assembles; the storage and state machine come from their folders. */
export interface NodeParts {
  readonly storage: NodeLogStorage & { close(): Promise<void> };
  readonly snapshots: NodeSnapshotStore;
  readonly stateMachine: RoomRegistry;
  /** voters: the configuration before index 1 (a legacy log's; [] for one whose configuration is in the log). */
  readonly voters: readonly NodeId[];
  /** storageFaults: the power-loss layer under the storage, only with --enable-fault-injection. */
  readonly storageFaults?: PowerLossFs;
}

/**
 * pageCacheWritebackMs: how often the power-loss layer lets the "kernel" write dirty data back
 * (PowerLossFs.writeback). Linux flushes every 5 s and data older than 30 s; 5 s is the kinder
 * end, so --fsync=never loses only the last seconds at a power cut.
 */
const pageCacheWritebackMs = 5_000;

/** NewStateMachine makes the empty room state machine. */
export type NewStateMachine = () => NodeParts['stateMachine'];

/**
 * OpenMode: how this start treats the log. `found` (--initial-cluster-state new) gives an empty
 * log the founding config entries; `forceNew` (--force-new-cluster) makes this surviving member
 * the only voter of its log (force-new-cluster.ts); `existing` opens the log as it is.
 */
export type OpenMode = 'existing' | 'found' | 'forceNew';

/**
 * openDiskParts recovers this node's log from its data dir and restores the state machine from
 * the snapshot the log rests on; the node then replays the committed entries after it. `mode`
 * may write to the log first (OpenMode); a log whose configuration leaves this node out
 * refuses to start (DESIGN §11).
 */
export async function openDiskParts(
  config: CompiledConfig,
  newStateMachine: NewStateMachine,
  logger: Logger,
  storageFaults?: PowerLossFs,
  mode: OpenMode = 'existing',
): Promise<NodeParts> {
  const fs = storageFaults ?? nodeStorageFs;
  const storage = await DiskLogStorage.open({ dir: config.dataDir, fsync: config.fsync === 'always', logger, fs });
  const stateMachine = newStateMachine();
  if (mode === 'found' && logIsEmpty(storage)) {
    await bootstrap(storage, config.cluster);
    logger.info('cluster_bootstrapped', { voters: bootstrapMembers(config.cluster).map((m) => m.id) });
  }
  const voters = legacyVoters(storage, config.cluster) ?? [];
  if (mode === 'forceNew') await forceNewClusterAtStart(storage, voters, config.self.id, config.dataDir, logger);
  const conf = appliedConf(storage, voters);
  checkMembership(conf, config.self.id, config.dataDir);
  if (conf.voters.length === 0 && conf.learners.length === 0)
    logger.info('waiting_to_be_added', {
      detail: `${config.self.id} is not a member yet: waiting to be added (room-registry members add, on the leader)`,
    });
  const base = storage.snapshotMeta();
  if (base.index > 0) await stateMachine.restore(storage.snapshots.open(base));
  return {
    storage,
    snapshots: storage.snapshots,
    stateMachine,
    voters,
    ...(storageFaults === undefined ? {} : { storageFaults }),
  };
}

/** serveCommand runs one node until SIGTERM/SIGINT, then shuts down gracefully and exits 0. */
export async function serveCommand(flags: ParsedFlags, newStateMachine: NewStateMachine): Promise<number> {
  const loaded = loadClusterConfig(requireString(flags, 'config'));
  if (!loaded.ok) throw new UsageError(`${loaded.error.file}: ${loaded.error.problem}`);
  const compiled = compileConfig(loaded.value, {
    id: requireString(flags, 'id'),
    dataDir: requireString(flags, 'data-dir'),
    fsync: typeof flags['fsync'] === 'string' ? flags['fsync'] : 'always',
    faultInjection: flags['enable-fault-injection'] === true,
    snapshotIntervalEntries:
      typeof flags['snapshot-interval-entries'] === 'number' ? flags['snapshot-interval-entries'] : null,
    quotaBytes: typeof flags['quota-bytes'] === 'number' ? flags['quota-bytes'] : null,
  });
  if (!compiled.ok) throw new UsageError(compiled.error);
  const config = compiled.value;
  assertLimitRelations();
  const initialState = flags['initial-cluster-state'] ?? 'existing';
  if (initialState !== 'new' && initialState !== 'existing')
    throw new UsageError(`--initial-cluster-state takes new or existing, got "${String(initialState)}"`);
  const join = flags['join'] === true;
  const forceNew = flags['force-new-cluster'] === true;
  checkStartMode(config, initialState, join, forceNew);
  // Checked before the dir is claimed, whose refusal of an empty dir would point at --initial-cluster-state new.
  if (forceNew && (await dataDirHoldsNoData(nodeStorageFs, config.dataDir)))
    throw new UsageError(
      `--force-new-cluster refused: data dir ${config.dataDir} is empty or missing; ` +
        'run it on the data dir of a member that survived, which holds the log to keep',
    );
  // Under fault injection every storage call goes through the power-loss layer, from the first.
  const storageFaults = config.faultInjection ? new PowerLossFs(nodeStorageFs) : undefined;
  if (storageFaults !== undefined) setInterval(() => storageFaults.writeback(), pageCacheWritebackMs).unref();
  await claimDataDir(
    storageFaults ?? nodeStorageFs,
    config.dataDir,
    config.cluster.cluster,
    config.self.id,
    config.fsync === 'always',
    join ? 'new' : initialState,
  );
  await checkNotRemoved(storageFaults ?? nodeStorageFs, config.dataDir, config.self.id);
  const bootLogger = new JsonLogger(config.self.id);
  const backups = backupScheduleFromFlags(flags, config.fsync === 'always');
  const mode: OpenMode = forceNew ? 'forceNew' : initialState === 'new' ? 'found' : 'existing';
  const parts = await openDiskParts(config, newStateMachine, bootLogger, storageFaults, mode);
  // A node removed from the cluster shuts down as on SIGTERM (its last answers go out) and exits 0.
  let leave = (): void => {};
  const stopAsked = new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
    leave = resolve;
  });
  // The mark is written before the node goes, so no restart can bring the removed member back.
  const onRemoved = (reason: string): void =>
    void markRemoved(storageFaults ?? nodeStorageFs, config.dataDir, config.self.id, reason, config.fsync === 'always')
      .catch((e: unknown) => bootLogger.error('removed_mark_failed', { error: e }))
      .finally(() => leave());
  const running = await startNode(config, parts, backups, onRemoved);
  await stopAsked;
  await running.shutdown();
  return 0;
}

/**
 * checkStartMode: `new` founds a cluster from the nodes that are not spare; a spare joins an
 * existing one; --force-new-cluster restarts a survivor's existing data. Mixing them up would
 * found a second cluster or leave a founder waiting forever.
 */
function checkStartMode(
  config: CompiledConfig,
  initialState: 'new' | 'existing',
  join: boolean,
  forceNew: boolean,
): void {
  if (forceNew && (join || initialState === 'new'))
    throw new UsageError(
      '--force-new-cluster starts a surviving member on its existing data dir: it excludes --join and --initial-cluster-state new',
    );
  if (join && initialState === 'new')
    throw new UsageError('--join and --initial-cluster-state new exclude each other: a node joins or founds, not both');
  if (initialState === 'new' && config.self.spare)
    throw new UsageError(
      `${config.self.id} is a spare node of the config: start it with --join, then add it (members add)`,
    );
}

/** PEER_LIMITS: the bounds of LIMITS the peer transport enforces, handed to it (transport/ does not import config/). */
const PEER_LIMITS: PeerLimits = Object.freeze({
  peerMessageBytesMax: LIMITS.peerMessageBytesMax,
  peerBatchBytesMax: LIMITS.peerBatchBytesMax,
  peerReconnectDelayMinMs: LIMITS.peerReconnectDelayMinMs,
  peerReconnectDelayMaxMs: LIMITS.peerReconnectDelayMaxMs,
  peerCallDeadlineMs: LIMITS.peerCallDeadlineMs,
  forwardBatchCommandsMax: LIMITS.forwardBatchCommandsMax,
  requestDeadlineDefaultMs: LIMITS.requestDeadlineDefaultMs,
});

/** startNode wires core, storage, transport, state machine and listeners for one member. */
export async function startNode(
  config: CompiledConfig,
  parts: NodeParts,
  backups: BackupScheduleOptions | null = null,
  onRemoved: (reason: string) => void = exitProcess,
): Promise<{ node: RaftNode; shutdown(): Promise<void> }> {
  const self = config.self;
  let node: RaftNode | null = null;
  const logger = new JsonLogger(self.id, () => node?.status().term ?? null);
  const storageFaults = parts.storageFaults;
  const faults = config.faultInjection
    ? new FaultHook(storageFaults === undefined ? null : () => powerOff(storageFaults))
    : null;
  const transport = newPeerTransport(config, faults, (peer) => node?.reportUnreachable(peer));
  node = newRaftNode(config, parts, transport, logger, faults, onRemoved);
  const n = node;
  transport.events.onRemovedByPeer = (peer, at) => n.removedByPeer(peer, index(at));
  const { auth, peerServer } = await listenPeers(config, n, faults, logger);
  allowPeers(auth, config, n);
  const sweeper = new Sweeper(
    parts.stateMachine,
    {
      isLeader: () => n.status().role === 'leader',
      commandVersionEveryMemberApplies: () => n.versionsStatus().cluster.command.version,
      propose: (p, deadlineMs) => n.propose(p, deadlineMs),
    },
    logger,
  );
  const metrics = observe({
    self: self.id,
    node: n,
    parts,
    transport,
    peerServer,
    auth,
    sweeper,
    logger,
    quotaBytes: config.quotaBytes,
  });
  const status = (): NodeStatus => statusOf(self, n, parts);
  const listeners = await listenApis(config, n, parts, metrics, status, faults, logger, transport);
  n.start();
  sweeper.start();
  const scheduler = startBackups(n, config, backups, metrics, logger);
  logger.info('node_started', {
    grpc: self.grpcAddress,
    peer: self.peerAddress,
    http: self.httpAddress,
    admin: self.adminAddress,
    tls: config.listenerTls !== null,
    dataDir: config.dataDir,
    fsync: config.fsync,
  });
  return {
    node: n,
    async shutdown(): Promise<void> {
      logger.info('node_stopping', { reason: 'signal' });
      sweeper.stop();
      await scheduler?.stop();
      await n.stop();
      await listeners.close();
      peerServer.close();
      transport.close();
      await parts.storage.close();
      logger.info('node_stopped');
    },
  };
}

/** newPeerTransport dials the config file's nodes; the applied configuration adds and drops peers later. */
function newPeerTransport(
  config: CompiledConfig,
  faults: FaultHook | null,
  onUnreachable: (peer: NodeId) => void,
): PeerTransport {
  const self = config.self;
  return new PeerTransport(
    self.id,
    config.cluster.members,
    { cluster: config.cluster.cluster, nodeId: self.id, secret: config.cluster.secret, versions: REGISTRY_VERSIONS },
    config.peerTls,
    PEER_LIMITS,
    onUnreachable,
    faults,
  );
}

function newRaftNode(
  config: CompiledConfig,
  parts: NodeParts,
  transport: PeerTransport,
  logger: JsonLogger,
  faults: FaultHook | null,
  onRemoved: (reason: string) => void,
): RaftNode {
  return new RaftNode({
    id: config.self.id,
    voters: parts.voters,
    memberAddresses: memberAddresses(config.cluster),
    storage: parts.storage,
    snapshots: parts.snapshots,
    stateMachine: parts.stateMachine,
    transport,
    logger,
    random: cryptoRng,
    clock: SYSTEM_CLOCK,
    onFatal: (e) => (e instanceof MemberRemovedError ? onRemoved(e.message) : exitProcess()),
    electionTimeoutTicks: electionTimeoutTicks(),
    quotaBytes: config.quotaBytes,
    ...(config.snapshotIntervalEntries === null ? {} : { snapshotIntervalEntries: config.snapshotIntervalEntries }),
    ...(faults === null ? {} : { beforePersist: () => faults.beforeDiskWrite() }),
    validateCommand: validateCommandBytes,
    versions: REGISTRY_VERSIONS,
    commandVersion: commandVersionOf,
    commandVersionInUse: () => parts.stateMachine.commandVersionInUse(),
  });
}

/** allowPeers: peers may call from every node of the file and every member the log added (DESIGN §11). */
function allowPeers(auth: PeerAuthenticator, config: CompiledConfig, n: RaftNode): void {
  // removed: members this process saw leave, and at which index; they are told so when they call (peer-auth.ts).
  const seen = new Set<NodeId>();
  const removed = new Map<NodeId, number>();
  const allow = (at: number): void => {
    const current = n.members().map((m) => m.id);
    for (const id of seen) if (!current.includes(id) && !removed.has(id)) removed.set(id, at);
    for (const id of current) {
      seen.add(id);
      removed.delete(id);
    }
    auth.setMembers([...new Set([...config.cluster.members.map((m) => m.id), ...current])], removed);
  };
  allow(n.status().appliedIndex);
  n.events.onMembership = (_members, at) => allow(at);
}

/** listenPeers opens the peer listener; under peer mTLS a peer's node id is its certificate's. */
async function listenPeers(
  config: CompiledConfig,
  node: RaftNode,
  faults: FaultHook | null,
  logger: JsonLogger,
): Promise<{ auth: PeerAuthenticator; peerServer: PeerServer }> {
  const members = config.cluster.members;
  const auth = new PeerAuthenticator(
    config.cluster.cluster,
    config.cluster.secret,
    members.map((m) => m.id),
    config.peerTls !== null && config.peerTls.caFile !== null,
  );
  // Without peer TLS, say so when peers are remote: the secret and Raft traffic travel in clear.
  const exposed = plaintextPeerAddresses(
    members.map((m) => m.peerAddress),
    config.peerTls !== null,
  );
  if (exposed.length > 0)
    logger.warn('peer_tls_off', {
      reason: 'peer addresses are not loopback; the cluster secret and Raft traffic travel in clear (set peerTls)',
      addresses: exposed,
    });
  const peerServer = new PeerServer(config.self.id, auth, node, PEER_LIMITS, faults);
  await peerServer.listen(config.self.peerAddress, config.peerTls);
  return { auth, peerServer };
}

function statusOf(self: CompiledConfig['self'], n: RaftNode, parts: NodeParts): NodeStatus {
  const s = n.status();
  return {
    id: self.id,
    region: self.region,
    role: s.role,
    term: s.term,
    leader: s.leader,
    commitIndex: s.commitIndex,
    appliedIndex: s.appliedIndex,
    rooms: parts.stateMachine.roomCount(),
    voters: s.voters,
    learners: s.learners,
    memberRole: n.memberRole(),
    versions: n.versionsStatus(),
  };
}

/**
 * powerOff is the powerLoss fault: the layer drops what was not durable, then the process dies
 * by SIGKILL at once, as a machine losing power would (no shutdown, no flush).
 */
function powerOff(layer: PowerLossFs): void {
  const die = (detail: unknown): void => {
    writeSync(2, `${JSON.stringify({ event: 'power_loss', detail })}\n`);
    process.kill(process.pid, 'SIGKILL');
  };
  layer.powerLoss().then(die, (e: unknown) => die(String(e)));
}

interface Observed {
  readonly self: NodeId;
  readonly node: RaftNode;
  readonly parts: NodeParts;
  readonly transport: PeerTransport;
  readonly peerServer: PeerServer;
  readonly auth: PeerAuthenticator;
  readonly sweeper: Sweeper;
  readonly logger: Logger;
  readonly quotaBytes: number;
}

/**
 * observe turns the events of every layer into metrics and log lines (STYLE rule 23): the
 * layers only announce; this is the one place that listens.
 */
function observe(o: Observed): Metrics {
  const { node: n, parts, logger } = o;
  const metrics = new Metrics({
    raftStatus: () => n.status(),
    rooms: () => parts.stateMachine.roomCount(),
    proposalsInFlight: () => n.load().proposals,
    readsInFlight: () => n.load().reads,
    persistInFlightMs: () => n.persistInFlightMs(),
    roomTotals: () => parts.stateMachine.totalsSoFar(),
    liveMediaNodes: () => parts.stateMachine.liveMediaNodes(Date.now()),
    quota: () => ({ quotaBytes: o.quotaBytes, usedBytes: parts.stateMachine.quotaUsedBytes() }),
    stateBytes: () => parts.stateMachine.stateBytes(),
    sweeperBacklog: () => {
      const overdue = parts.stateMachine.overdue(Date.now());
      return { rooms: overdue.rooms, oldestOverdueMs: overdue.oldestAgeMs };
    },
    peers: () => o.transport.peerStats(),
    peerRefusals: () => o.auth.refused,
    peerMalformed: () => o.peerServer.stats.malformedMessages + o.peerServer.stats.misaddressedMessages,
    inboxDropped: () => n.inboxStats().dropped,
  });
  n.events.onLeaderChange = (leader) => {
    metrics.leaderChanges.inc();
    if (leader === o.self) o.sweeper.kick(); // a new leader picks up the backlog at once
  };
  n.events.onPersist = (entries, ms) => {
    metrics.persistLatency.observe(ms / 1000);
    metrics.persistedEntries.inc(entries);
  };
  n.events.onApply = (entries) => metrics.appliedEntries.inc(entries);
  n.events.onReplicationHeldBack = (_peer, what) => metrics.replicationHeldBack.inc({ what });
  n.events.onSnapshot = (_meta, bytes, ms) => {
    metrics.snapshots.inc();
    metrics.snapshotBytes.set(bytes);
    metrics.snapshotDuration.observe(ms / 1000);
  };
  parts.stateMachine.events.onRejectedEntry = (index, reason, detail) => {
    metrics.rejectedEntries.inc({ reason });
    logger.warn('entry_rejected', { index, reason, detail });
  };
  parts.stateMachine.events.onDedupEvicted = (reason) => metrics.dedupEvictions.inc({ reason });
  o.sweeper.events.onBatch = (_rooms, _expired, ms) => {
    metrics.sweepBatches.inc();
    metrics.sweepDuration.observe(ms / 1000);
  };
  o.transport.events.onPeerHealth = (peer, healthy) =>
    logger.info(healthy ? 'peer_connected' : 'peer_disconnected', { peer });
  o.peerServer.events.onHeard = (from) => o.transport.heard(from);
  o.peerServer.events.onCallFailed = (detail) => logger.error('peer_call_failed', { detail });
  o.peerServer.events.onRefused = (reason) => {
    // Logged at powers of two, so a flood of bad calls cannot flood the log.
    const count = o.auth.refused[reason as keyof typeof o.auth.refused];
    if ((count & (count - 1)) === 0) logger.warn('peer_refused', { reason, count });
  };
  return metrics;
}

/** requestObserver counts and times every API call, and logs the ones that failed on our side. */
function requestObserver(metrics: Metrics, logger: Logger) {
  return (protocol: 'grpc' | 'twirp') =>
    (method: string, code: string, durationMs: number, requestId: string, internalDetail: string | null): void => {
      metrics.apiRequests.inc({ method, code, protocol });
      metrics.apiLatency.observe({ method, protocol }, durationMs / 1000);
      const fields = { method, protocol, code, requestId, durationMs: Math.round(durationMs) };
      // The client of an INTERNAL error was told only "internal error"; the detail is here.
      if (internalDetail !== null) logger.error('api_request_failed', { ...fields, detail: internalDetail });
      else if (SERVER_SIDE_CODES.has(code)) logger.warn('api_request_failed', fields);
    };
}

/**
 * readiness: /readyz says ready once this node is a member, knows a leader and has applied
 * what it knows to be committed (a node added a moment ago is still catching up).
 */
export function readiness(n: Pick<RaftNode, 'status' | 'memberRole'>): { ok: boolean; reason: string } {
  const s = n.status();
  if (n.memberRole() === 'none') return { ok: false, reason: 'not a member: waiting to be added' };
  if (s.leader === null) return { ok: false, reason: 'no leader known' };
  if (s.appliedIndex < s.commitIndex)
    return { ok: false, reason: `catching up: applied ${s.appliedIndex} of ${s.commitIndex} committed` };
  return { ok: true, reason: `ready: leader ${s.leader}, applied ${s.appliedIndex}` };
}

/** faultRoutes: /debug/faults, which exists only under --enable-fault-injection. */
function faultRoutes(faults: FaultHook, members: CompiledConfig['cluster']['members']) {
  return {
    describe: () => faults.describe(),
    set: (rules: unknown) =>
      faults.set(
        FaultHook.parse(
          rules,
          members.map((m) => m.id),
        ),
      ),
    clear: () => faults.clear(),
  };
}

/** clusterControl is what ClusterService reaches of this node: status, leadership transfer, backups, membership. */
function clusterControl(
  n: RaftNode,
  config: CompiledConfig,
  status: () => NodeStatus,
  transport: PeerTransport,
): ClusterControl {
  return {
    status: () => {
      const s = status();
      return { ...s, voters: [...s.voters], learners: [...s.learners] };
    },
    transferLeadership: (to) => n.transferLeadership(to === null ? null : nodeId(to)),
    backup: backupSource(n, config.cluster.cluster, config.cluster.members),
    membership: nodeMembership(n, (id) => transport.peerStats().get(id)?.healthy === true),
  };
}

/** listenApis binds the public gRPC listener and the HTTP one (Twirp, /metrics, /status, ...). */
async function listenApis(
  config: CompiledConfig,
  n: RaftNode,
  parts: NodeParts,
  metrics: Metrics,
  status: () => NodeStatus,
  faults: FaultHook | null,
  logger: Logger,
  transport: PeerTransport,
): Promise<{ close(): Promise<void> }> {
  const self = config.self;
  const onRequest = requestObserver(metrics, logger);
  const apiOptions = {
    apiKeys: config.cluster.apiKeys,
    defaultDeadlineMs: LIMITS.requestDeadlineDefaultMs,
    maxDeadlineMs: LIMITS.requestDeadlineMaxMs,
  };
  const handlers = new RoomHandlers(n, parts.stateMachine, { region: self.region, leases: parts.stateMachine });
  const mediaNodes = new MediaNodeHandlers(n, parts.stateMachine);
  const grpcApi = new GrpcApi(handlers, mediaNodes, parts.stateMachine, clusterControl(n, config, status, transport), {
    ...apiOptions,
    adminKeys: config.cluster.adminKeys,
    onRequest: onRequest('grpc'),
    onAdmin: (use) =>
      logger.info('admin_operation', {
        apiKey: use.apiKey,
        operation: use.operation,
        ...use.detail,
        outcome: use.outcome,
      }),
    // Logged at powers of two, so a flood of connections cannot flood the log.
    onConnectionRefused: (count) => {
      if ((count & (count - 1)) === 0) logger.warn('grpc_connection_refused', { reason: 'connectionsMax', count });
    },
  });
  await grpcApi.listen(self.grpcAddress, config.listenerTls);
  metrics.observeGrpc(() => grpcApi.stats());
  const twirp = new TwirpServer(twirpMethods(handlers), { ...apiOptions, onRequest: onRequest('twirp') });
  const ready = (): { ok: boolean; reason: string } => readiness(n);
  const renderMetrics = (): ReturnType<Metrics['render']> => metrics.render();
  // With an admin listener, /metrics is served there only (operators' network), not to clients.
  const admin =
    self.adminAddress === null
      ? null
      : (await startHttpServer(self.adminAddress, { status, ready, metrics: renderMetrics }, config.listenerTls))
          .server;
  const http: Server = (
    await startHttpServer(
      self.httpAddress,
      {
        status,
        ready,
        ...(admin === null ? { metrics: renderMetrics } : {}),
        twirp: (req, res) => twirp.handle(req, res),
        onInternalError: (detail) => logger.error('http_request_failed', { detail }),
        ...(faults === null ? {} : { faults: faultRoutes(faults, config.cluster.members) }),
      },
      config.listenerTls,
    )
  ).server;
  return {
    async close(): Promise<void> {
      http.close();
      admin?.close();
      await grpcApi.close(LIMITS.shutdownDrainMs);
    },
  };
}

/** SERVER_SIDE_CODES: request outcomes worth a log line (the client did nothing wrong). */
const SERVER_SIDE_CODES = new Set([
  'UNAVAILABLE',
  'INTERNAL',
  'DEADLINE_EXCEEDED',
  'RESOURCE_EXHAUSTED',
  'unavailable',
  'internal',
  'deadline_exceeded',
  'resource_exhausted',
]);
