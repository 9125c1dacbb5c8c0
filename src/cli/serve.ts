import { randomInt } from 'node:crypto';
import type { Server } from 'node:http';
import { startHttpServer } from '../api/http-server.js';
import { compileConfig, loadClusterConfig, type CompiledConfig } from '../config/cluster-config.js';
import { assertLimitRelations } from '../config/limits.js';
import { JsonLogger } from '../lib/logger.js';
import type { Rng } from '../lib/rng.js';
import { Metrics } from '../metrics/metrics.js';
import { RaftNode } from '../node/node.js';
import type { NodeLogStorage, NodeSnapshotStore } from '../node/node-storage.js';
import type { StateMachine } from '../node/state-machine.js';
import { RAFT_DEFAULTS } from '../raft/index.js';
import { FaultHook } from '../transport/fault-hook.js';
import { PeerAuthenticator } from '../transport/peer-auth.js';
import { PeerServer } from '../transport/peer-server.js';
import { PeerTransport } from '../transport/transport.js';
import { type ParsedFlags, UsageError, requireString } from './args.js';
import { claimDataDir } from './data-dir.js';

export const SERVE_FLAGS = {
  config: { kind: 'string', help: 'cluster config file (JSON)' },
  id: { kind: 'string', help: 'this node id, one of the config nodes' },
  'data-dir': { kind: 'string', help: 'directory for this node’s write-ahead log and snapshots' },
  fsync: { kind: 'string', help: 'always (default) or never' },
  'enable-fault-injection': { kind: 'boolean', help: 'test only: accept partition rules on POST /debug/faults' },
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
  readonly stateMachine: StateMachine & { roomCount(): number };
}

export type OpenParts = (config: CompiledConfig) => Promise<NodeParts>;

/** serveCommand runs one node until SIGTERM/SIGINT, then shuts down gracefully and exits 0. */
export async function serveCommand(flags: ParsedFlags, openParts: OpenParts): Promise<number> {
  const loaded = loadClusterConfig(requireString(flags, 'config'));
  if (!loaded.ok) throw new UsageError(`${loaded.error.file}: ${loaded.error.problem}`);
  const compiled = compileConfig(loaded.value, {
    id: requireString(flags, 'id'),
    dataDir: requireString(flags, 'data-dir'),
    fsync: typeof flags['fsync'] === 'string' ? flags['fsync'] : 'always',
    faultInjection: flags['enable-fault-injection'] === true,
  });
  if (!compiled.ok) throw new UsageError(compiled.error);
  const config = compiled.value;
  assertLimitRelations(RAFT_DEFAULTS.electionTimeoutTicks);
  claimDataDir(config.dataDir, config.cluster.cluster, config.self.id);
  const running = await startNode(config, await openParts(config));
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await running.shutdown();
  return 0;
}

/** startNode wires core, storage, transport, state machine and listeners for one member. */
export async function startNode(config: CompiledConfig, parts: NodeParts): Promise<{ node: RaftNode; shutdown(): Promise<void> }> {
  const self = config.self;
  let node: RaftNode | null = null;
  const logger = new JsonLogger(self.id, () => node?.status().term ?? null);
  const faults = config.faultInjection ? new FaultHook() : null;
  const members = config.cluster.members;
  const transport = new PeerTransport(
    self.id,
    members,
    { cluster: config.cluster.cluster, nodeId: self.id, secret: config.cluster.secret },
    config.cluster.peerTls,
    (peer) => node?.reportUnreachable(peer),
    faults,
  );
  node = new RaftNode({
    id: self.id,
    voters: members.map((m) => m.id),
    storage: parts.storage,
    snapshots: parts.snapshots,
    stateMachine: parts.stateMachine,
    transport,
    logger,
    random: cryptoRng,
  });
  const n = node;
  const auth = new PeerAuthenticator(config.cluster.cluster, config.cluster.secret, members.map((m) => m.id));
  const peerServer = new PeerServer(self.id, auth, n, faults);
  await peerServer.listen(self.peerAddress, config.cluster.peerTls);
  const metrics = new Metrics({
    raftStatus: () => n.status(),
    rooms: () => parts.stateMachine.roomCount(),
    proposalsInFlight: () => 0,
    readsInFlight: () => 0,
  });
  n.events.onLeaderChange = () => metrics.leaderChanges.inc();
  n.events.onPersist = (entries, ms) => {
    metrics.persistLatency.observe(ms / 1000);
    metrics.persistedEntries.inc(entries);
  };
  n.events.onApply = (entries) => metrics.appliedEntries.inc(entries);
  n.events.onSnapshot = (_meta, bytes, ms) => {
    metrics.snapshots.inc();
    metrics.snapshotBytes.set(bytes);
    metrics.snapshotDuration.observe(ms / 1000);
  };
  const http: Server = (
    await startHttpServer(self.httpAddress, {
      status: () => {
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
        };
      },
      ready: () => {
        const s = n.status();
        if (s.leader === null) return { ok: false, reason: 'no leader known' };
        return { ok: true, reason: `ready: leader ${s.leader}, applied ${s.appliedIndex}` };
      },
      metrics: () => metrics.render(),
    })
  ).server;
  n.start();
  logger.info('node_started', { grpc: self.grpcAddress, peer: self.peerAddress, http: self.httpAddress, dataDir: config.dataDir, fsync: config.fsync });
  return {
    node: n,
    async shutdown(): Promise<void> {
      logger.info('node_stopping', { reason: 'signal' });
      await n.stop();
      http.close();
      peerServer.close();
      transport.close();
      await parts.storage.close();
      logger.info('node_stopped');
    },
  };
}
