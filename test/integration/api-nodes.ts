// In-process members for the Session tests: each a real RaftNode (memory storage; the members share a
// memory network), a real RoomRegistry, and the real GrpcApi listener on a free port. Lighter than
// process-cluster.ts on a busy machine, and it lets a test shrink the listener's limits and stall a disk.
import { GRPC_LIMITS, type GrpcLimits } from '../../src/api/grpc-limits.js';
import { type ClusterControl, GrpcApi } from '../../src/api/grpc-server.js';
import { MediaNodeHandlers } from '../../src/api/media-node-handlers.js';
import { RoomHandlers } from '../../src/api/room-handlers.js';
import { type NodeId, nodeId } from '../../src/lib/ids.js';
import { silentLogger } from '../../src/lib/logger.js';
import { SeededRng } from '../../src/lib/rng.js';
import { MemoryNodeStorage, MemorySnapshotStore } from '../../src/node/memory-storage.js';
import { RaftNode } from '../../src/node/node.js';
import { RoomRegistry } from '../../src/registry/index.js';
import { MemoryNetwork } from '../../src/transport/memory-transport.js';

export const apiKey = 'session-key';
export const apiSecret = 'session-secret-session-secret-session';

/** ApiNode is one member: its node, listener and address, what the listener reported per call, and its disk's gate. */
export interface ApiNode {
  readonly id: NodeId;
  readonly node: RaftNode;
  readonly api: GrpcApi;
  /** grpc: the listener's host:port. */
  readonly grpc: string;
  readonly reported: Array<{ method: string; code: string }>;
  /** stallDisk holds every log write until resumeDisk. */
  stallDisk(): void;
  resumeDisk(): void;
  /** stop closes the listener (sessions end UNAVAILABLE) and stops the node; its peers no longer reach it. */
  stop(): Promise<void>;
}

/** startApiNodes starts the members `ids` (all voters) on one memory network; stop each (or stopAll) when done. */
export async function startApiNodes(ids: readonly string[], limits: GrpcLimits = GRPC_LIMITS): Promise<ApiNode[]> {
  const network = new MemoryNetwork();
  const voters = ids.map(nodeId);
  return Promise.all(voters.map((id, i) => startApiNode(id, voters, network, limits, i + 1)));
}

export async function stopAll(nodes: readonly ApiNode[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.stop()));
}

async function startApiNode(
  id: NodeId,
  voters: readonly NodeId[],
  network: MemoryNetwork,
  limits: GrpcLimits,
  seed: number,
): Promise<ApiNode> {
  const registry = new RoomRegistry();
  let stalled: { promise: Promise<void>; release: () => void } | null = null;
  const node = new RaftNode({
    id,
    voters,
    storage: new MemoryNodeStorage(),
    snapshots: new MemorySnapshotStore(),
    stateMachine: registry,
    transport: network.transportFor(id),
    logger: silentLogger,
    random: new SeededRng(seed),
    tickIntervalMs: 20,
    beforePersist: () => stalled?.promise ?? Promise.resolve(),
  });
  network.register(id, node);
  node.start();
  const reported: ApiNode['reported'] = [];
  const api = new GrpcApi(
    new RoomHandlers(node, registry, { region: '', leases: registry }),
    new MediaNodeHandlers(node, registry),
    registry,
    statusOnly(id, node),
    {
      apiKeys: new Map([[apiKey, apiSecret]]),
      adminKeys: new Set(),
      defaultDeadlineMs: 5_000,
      maxDeadlineMs: 5_000,
      limits,
      onRequest: (method, code) => reported.push({ method, code }),
    },
  );
  const port = await api.listen('127.0.0.1:0');
  const resumeDisk = (): void => {
    stalled?.release();
    stalled = null;
  };
  let stopped: Promise<void> | null = null;
  return {
    id,
    node,
    api,
    grpc: `127.0.0.1:${port}`,
    reported,
    stallDisk: () => {
      let release = (): void => {};
      const promise = new Promise<void>((r) => (release = r));
      stalled = { promise, release };
    },
    resumeDisk,
    stop: () =>
      (stopped ??= (async () => {
        resumeDisk();
        network.unregister(id);
        await api.close(1_000);
        await node.stop();
      })()),
  };
}

/** statusOnly: the ClusterService of a member that answers Status (how ClusterRoomClient finds the leader), nothing else. */
function statusOnly(id: NodeId, node: RaftNode): ClusterControl {
  return {
    status: () => {
      const s = node.status();
      return { ...EMPTY_STATUS, id, role: s.role, term: s.term, leader: s.leader };
    },
    transferLeadership: () => '',
    membership: {} as never,
  };
}

const EMPTY_STATUS = {
  region: '',
  commitIndex: 0,
  appliedIndex: 0,
  rooms: 0,
  voters: [],
  learners: [],
  memberRole: 'voter',
};
