/**
 * Goal: a LOCAL read survives a partition and says how stale it may be (DESIGN §1), while a
 * linearizable read on the same cut-off node fails within its deadline. Method: a real 3-node
 * cluster with the test-only fault hook; one follower is cut off both ways, then healed.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RoomClient } from '../../src/client/room-client.js';
import { Consistency } from '../../src/gen/roomregistry/v1/rooms.js';
import { ProcessCluster, waitUntil } from '../harness/process-cluster.js';

let cluster: ProcessCluster;
const clientOf = (id: string): RoomClient => cluster.client(id);

beforeAll(async () => {
  cluster = await ProcessCluster.launch(3, ['--enable-fault-injection']);
});

afterAll(async () => {
  await cluster.stop();
});

it('serves LOCAL reads in a minority with their staleness; linearizable ones fail in time', async () => {
  const leader = await cluster.waitForLeader();
  const cut = cluster.nodes.find((n) => n.id !== leader)?.id ?? '';
  const others = cluster.nodes.map((n) => n.id).filter((id) => id !== cut);
  await clientOf(leader).createRoom({ name: 'seen-before-the-cut' });
  const reader = clientOf(cut);
  const local = { name: 'seen-before-the-cut', consistency: Consistency.CONSISTENCY_LOCAL };
  let before = await reader.getRoom(local);
  for (let i = 0; i < 50 && before.room === undefined; i++) before = await reader.getRoom(local).catch(() => before);
  expect(before.room?.name).toBe('seen-before-the-cut');
  // A healthy leader's state is as old as the last heartbeat round a majority answered (100 ms ticks).
  expect((await clientOf(leader).getRoom(local)).stalenessMs).toBeLessThan(1_000);

  const isolate = Object.fromEntries(others.map((id) => [id, { dropInbound: true, dropOutbound: true }]));
  await cluster.setFaults(cut, isolate);
  for (const id of others) await cluster.setFaults(id, { [cut]: { dropInbound: true, dropOutbound: true } });
  // Cut off, the follower's staleness grows from its last contact with a majority.
  let during = await reader.getRoom(local);
  await waitUntil('the cut-off follower is a second stale', async () => {
    during = await reader.getRoom(local);
    return during.stalenessMs >= 1_000;
  });
  expect(during.room?.name).toBe('seen-before-the-cut');
  expect(during.stalenessMs).toBeGreaterThanOrEqual(1_000);
  const listed = await reader.listRooms({ names: ['seen-before-the-cut'], consistency: Consistency.CONSISTENCY_LOCAL });
  expect(listed.stalenessMs).toBeGreaterThanOrEqual(1_000);
  await expect(reader.getRoom({ name: 'seen-before-the-cut' }, 2_000)).rejects.toMatchObject({
    code: expect.toBeOneOf([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]),
  });

  for (const id of cluster.nodes.map((n) => n.id)) await cluster.clearFaults(id);
  await waitUntil(
    'healed, the follower hears the leader again',
    async () => (await reader.getRoom(local)).stalenessMs < 1_000,
  );
});
