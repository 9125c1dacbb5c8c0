/**
 * Goal: the registry knows which media nodes are alive, counts a room's occupancy per media
 * node, and places new rooms on live nodes (issue 16, DESIGN §13). Method: a real 3-node
 * cluster (regions us-west, us-east, eu-central) and media nodes that are real processes
 * heartbeating through the public API (test/harness/media-node.ts), or the test itself.
 * - livekit/livekit#4316: a room spanning media nodes A (3 participants) and B (2) is not
 *   deleted when B's last participant leaves: it stays, with 3, for as long as A reports. Proof
 *   that its departure timeout has passed: a control room emptied after it is gone everywhere.
 * - A's process is killed, and the registry leader right after: A's lease ends (never before the
 *   last expiry the cluster gave it), its share goes, and the room is deleted on every replica.
 * - Placement: no live node leaves node_id empty; then the least-loaded node of the receiving
 *   node's region, another region's when it has none, an explicit node_id as given.
 * Waits are for conditions; each wait's bound only stops a hung run.
 */
import { type ServiceError, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoomClient } from '../../src/client/room-client.js';
import { Consistency, type Room } from '../../src/gen/roomregistry/v1/rooms.js';
import { runCli } from '../harness/disaster-recovery.js';
import { MediaNodeProcess } from '../harness/media-node.js';
import { ProcessCluster, waitUntil } from '../harness/process-cluster.js';

const WAIT_MS = 120_000;
const TEST_MS = 300_000;
const CALL_MS = 5_000;

let cluster: ProcessCluster;
const mediaNodes: MediaNodeProcess[] = [];
const clientOf = (id: string): RoomClient => cluster.client(id);
const ids = (): string[] => cluster.nodes.map((n) => n.id);

beforeAll(async () => {
  cluster = await ProcessCluster.launch(3, [], { leaderWaitMs: WAIT_MS });
}, TEST_MS);

afterAll(async () => {
  await Promise.all(mediaNodes.map((m) => m.kill()));
  await cluster.stop();
});

/** retrying repeats a write through any live node while the cluster answers UNAVAILABLE or DEADLINE_EXCEEDED. */
async function retrying<T>(call: (c: RoomClient) => Promise<T>, via: readonly string[] = ids()): Promise<T> {
  const endMs = Date.now() + WAIT_MS;
  for (let attempt = 0; ; attempt++) {
    const id = via[attempt % via.length] ?? 'n1';
    try {
      return await call(clientOf(id));
    } catch (e) {
      const code = (e as ServiceError).code;
      if ((code !== status.UNAVAILABLE && code !== status.DEADLINE_EXCEEDED) || Date.now() > endMs) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** localRoom is node `id`'s own view of a room (null when it has none, or the node does not answer). */
async function localRoom(id: string, name: string): Promise<Room | null> {
  try {
    const r = await clientOf(id).getRoom({ name, consistency: Consistency.CONSISTENCY_LOCAL }, CALL_MS);
    return r.room ?? null;
  } catch (e) {
    if ((e as ServiceError).code === status.NOT_FOUND) return null;
    throw e;
  }
}

/** onEvery: `check` holds on every node in `on` (each node's local state). */
async function onEvery(on: readonly string[], check: (id: string) => Promise<boolean>): Promise<boolean> {
  return (await Promise.all(on.map(check))).every(Boolean);
}

async function liveNodeIds(id: string, region = ''): Promise<string[]> {
  const r = await clientOf(id).listMediaNodes({ region, consistency: Consistency.CONSISTENCY_LOCAL }, CALL_MS);
  return r.nodes.map((n) => n.nodeId);
}

async function heartbeat(nodeId: string, region: string, ttlSeconds: number, cpuLoad: number): Promise<number> {
  const r = await retrying((c) =>
    c.heartbeat({ nodeId, region, ttlSeconds, stats: { numRooms: 0, numClients: 0, cpuLoad } }, CALL_MS),
  );
  return r.leaseExpiresAtMs;
}

async function report(room: string, nodeId: string, numParticipants: number): Promise<Room | undefined> {
  const r = await retrying((c) => c.updateRoomOccupancy({ room, nodeId, numParticipants }, CALL_MS));
  return r.room;
}

/** sfuA: media node A, a real process, shared by the two describes below (they run in order). */
let sfuA: MediaNodeProcess;

describe('a room that spans media nodes (livekit/livekit#4316)', () => {
  it(
    'stays, with the participants of A, after B reports its last one left, for as long as A reports',
    async () => {
      await retrying((c) => c.createRoom({ name: 'span', emptyTimeout: 300, departureTimeout: 1 }, CALL_MS));
      await retrying((c) => c.createRoom({ name: 'control', emptyTimeout: 300, departureTimeout: 1 }, CALL_MS));
      sfuA = new MediaNodeProcess({
        grpc: cluster.grpcTargets(),
        apiKey: cluster.apiKey,
        apiSecret: cluster.apiSecret,
        nodeId: 'sfu-a',
        region: 'us-west',
        ttlSeconds: 3,
        intervalMs: 500,
        cpuLoad: 0.3,
        shares: { span: 3 },
      });
      mediaNodes.push(sfuA);
      await heartbeat('sfu-b', 'us-east', 60, 0.3);
      await report('span', 'sfu-b', 2);
      await waitUntil(
        'span counts A=3 and B=2 on every node',
        () => onEvery(ids(), async (id) => (await localRoom(id, 'span'))?.numParticipants === 5),
        WAIT_MS,
      );
      const afterB = await report('span', 'sfu-b', 0);
      expect(afterB?.numParticipants).toBe(3);
      expect(afterB?.occupancy).toEqual([{ nodeId: 'sfu-a', numParticipants: 3, numPublishers: 0 }]);

      // The control room empties after span's B share did, with the same departure timeout:
      // once it is gone everywhere, span's departure timer would have fired too had it started.
      await report('control', 'sfu-b', 1);
      await report('control', 'sfu-b', 0);
      await waitUntil(
        'the control room is deleted on every node',
        () => onEvery(ids(), async (id) => (await localRoom(id, 'control')) === null),
        WAIT_MS,
      );
      for (const id of ids()) {
        const span = await localRoom(id, 'span');
        expect(span?.numParticipants, `span on ${id}`).toBe(3);
        expect(span?.occupancy.map((o) => o.nodeId)).toEqual(['sfu-a']);
      }
    },
    TEST_MS,
  );
});

describe('a media node that dies', () => {
  it(
    'takes its share with it: its lease expires (never before the expiry it was given) and span goes, a registry leader kill in between',
    async () => {
      await sfuA.kill();
      const promised = sfuA.lastLeaseExpiresAtMs;
      expect(promised).toBeGreaterThan(0);
      const leader = await cluster.waitForLeader(WAIT_MS);
      expect(await cluster.metric(leader, 'room_registry_media_node_leases_expired_total')).toBe(0);
      await cluster.kill(leader, 'SIGKILL');
      const survivors = ids().filter((id) => id !== leader);
      // The replicated expiry (the sweeper's ExpireMediaNodes, applied) is what must not come early.
      await waitUntil(
        "A's lease has expired on the survivors",
        () =>
          onEvery(survivors, async (id) => {
            const expired = (await cluster.metric(id, 'room_registry_media_node_leases_expired_total')) === 1;
            if (expired) expect(Date.now(), 'the lease ended before its expiry').toBeGreaterThanOrEqual(promised);
            return expired && !(await liveNodeIds(id)).includes('sfu-a');
          }),
        WAIT_MS,
      );
      await waitUntil(
        'span is deleted on the survivors',
        () => onEvery(survivors, async (id) => (await localRoom(id, 'span')) === null),
        WAIT_MS,
      );
      cluster.start(leader);
      await waitUntil(
        'the restarted node agrees',
        async () => (await localRoom(leader, 'span')) === null && !(await liveNodeIds(leader)).includes('sfu-a'),
        WAIT_MS,
      );
      expect(await cluster.metric(leader, 'room_registry_media_node_leases_expired_total')).toBe(1);
      expect(cluster.unexpectedExits).toEqual([]);
      await heartbeat('sfu-b', 'us-east', 1, 0.3); // B is done too: its lease may now lapse in a second
    },
    TEST_MS,
  );
});

describe('placement of new rooms', () => {
  it(
    'leaves node_id empty with no live node, then picks the least-loaded node of the receiving region, else of another',
    async () => {
      // The media nodes of the test above must be gone first.
      await waitUntil('no media node is live', async () => (await liveNodeIds('n1')).length === 0, WAIT_MS);
      const none = await retrying((c) => c.createRoom({ name: 'p-none' }, CALL_MS), ['n1']);
      expect(none.room?.nodeId).toBe('');

      await heartbeat('west-busy', 'us-west', 300, 0.5);
      await heartbeat('west-idle', 'us-west', 300, 0.2);
      await heartbeat('east-idle', 'us-east', 300, 0.1);
      await waitUntil(
        'every node sees the three media nodes',
        () => onEvery(ids(), async (id) => (await liveNodeIds(id)).length === 3),
        WAIT_MS,
      );
      // n1 is in us-west, n2 in us-east, n3 in eu-central (no media node there).
      const placed = async (name: string, via: string, nodeId = ''): Promise<string> =>
        (await retrying((c) => c.createRoom({ name, nodeId }, CALL_MS), [via])).room?.nodeId ?? '?';
      expect(await placed('p-west', 'n1')).toBe('west-idle');
      expect(await placed('p-east', 'n2')).toBe('east-idle');
      expect(await placed('p-elsewhere', 'n3')).toBe('east-idle');
      expect(await placed('p-explicit', 'n1', 'custom-sfu')).toBe('custom-sfu');

      const listed = await clientOf('n3').listMediaNodes({}, CALL_MS);
      expect(listed.nodes.map((n) => [n.nodeId, n.region, n.roomsHosted])).toEqual([
        ['east-idle', 'us-east', 2],
        ['west-busy', 'us-west', 0],
        ['west-idle', 'us-west', 1],
      ]);
      const west = await clientOf('n2').listMediaNodes({ region: 'us-west' }, CALL_MS);
      expect(west.nodes.map((n) => n.nodeId)).toEqual(['west-busy', 'west-idle']);

      const cli = await runCli(['nodes', 'list', '--config', cluster.configFile]);
      expect(cli.code, cli.stderr).toBe(0);
      for (const id of ['east-idle', 'west-busy', 'west-idle']) expect(cli.stdout).toContain(id);
    },
    TEST_MS,
  );

  it('refuses a share report from a media node without a live lease', async () => {
    await retrying((c) => c.createRoom({ name: 'p-lease' }, CALL_MS));
    const refused = await retrying((c) =>
      c.updateRoomOccupancy({ room: 'p-lease', nodeId: 'never-heartbeat', numParticipants: 1 }, CALL_MS),
    ).then(
      () => null,
      (e: unknown) => e as ServiceError,
    );
    expect(refused?.code).toBe(status.FAILED_PRECONDITION);
    expect(refused?.details).toContain('never-heartbeat');
  });
});
