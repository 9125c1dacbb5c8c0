/**
 * Goal: a node whose disk stops answering never stops the Room APIs while a majority is up
 * (DESIGN §3a.3). Method: a real 3-node cluster with the test-only fault hook stalls every
 * log write of the leader for a minute. The other two elect a leader and keep serving; the
 * stalled node refuses new writes and linearizable reads at once (UNAVAILABLE, not at their
 * deadline), still serves LOCAL reads, and rejoins once its disk answers again; a cluster
 * client that started at the stalled node finds the new leader.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ClusterRoomClient } from '../../src/client/cluster-client.js';
import type { RoomClient } from '../../src/client/room-client.js';
import { Consistency } from '../../src/gen/roomregistry/v1/rooms.js';
import { ProcessCluster, waitUntil } from '../harness/process-cluster.js';

let cluster: ProcessCluster;
const clientOf = (id: string): RoomClient => cluster.client(id);
const persistInFlightSeconds = (id: string): Promise<number> =>
  cluster.metric(id, 'room_registry_persist_in_flight_seconds');

beforeAll(async () => {
  cluster = await ProcessCluster.launch(3, ['--enable-fault-injection']);
});

afterAll(async () => {
  await cluster.stop();
});

it('a leader whose disk stalls is replaced, refuses new work at once, and rejoins', async () => {
  const stalled = await cluster.waitForLeader();
  const others = cluster.nodes.map((n) => n.id).filter((id) => id !== stalled);
  const atStalled = clientOf(stalled);
  await atStalled.createRoom({ name: 'before-the-stall' });
  await cluster.setFaults(stalled, { disk: { stallMs: 60_000 } });
  // This write starts the log write that hangs. Its outcome is unknown (its entry reached the
  // followers and may commit under the next leader); it must end by its deadline.
  const stuckWrite = atStalled.createRoom({ name: 'in-the-stuck-write' }, 3_000).then(
    () => grpc.status.OK,
    (e: grpc.ServiceError) => e.code,
  );

  let leader = '';
  await waitUntil('the other two elect a leader', async () => {
    leader = (await cluster.status(others[0] ?? ''))?.leader ?? '';
    return others.includes(leader) && (await cluster.status(leader))?.role === 'leader';
  });
  for (const id of others) {
    await clientOf(id).createRoom({ name: `during-the-stall-${id}` });
    expect((await clientOf(id).getRoom({ name: 'before-the-stall' })).room?.name).toBe('before-the-stall');
  }

  await waitUntil(
    'the stalled write is older than an election timeout',
    async () => (await persistInFlightSeconds(stalled)) > 0.7,
  );
  // With a 10 s deadline a queued call would end DEADLINE_EXCEEDED; it is refused instead.
  await expect(atStalled.createRoom({ name: 'refused' }, 10_000)).rejects.toMatchObject({
    code: grpc.status.UNAVAILABLE,
    details: expect.stringContaining('disk'),
  });
  await expect(atStalled.getRoom({ name: 'before-the-stall' }, 10_000)).rejects.toMatchObject({
    code: grpc.status.UNAVAILABLE,
  });
  const local = await atStalled.getRoom({ name: 'before-the-stall', consistency: Consistency.CONSISTENCY_LOCAL });
  expect(local.room?.name).toBe('before-the-stall');
  expect(await stuckWrite).toBe(grpc.status.DEADLINE_EXCEEDED);

  // A cluster client at home on the stalled node (which still claims to lead in its Status)
  // learns to ask the others, and writes through the new leader.
  const routed = new ClusterRoomClient(
    cluster.nodes,
    { apiKey: cluster.apiKey, apiSecret: cluster.apiSecret },
    { home: stalled },
  );
  try {
    await waitUntil('a cluster client at home on the stalled node writes again', async () => {
      await routed.createRoom({ name: 'routed-around-the-stall', requestId: 'routed-around-the-stall' }, 2_000);
      return true;
    });
    expect(routed.leaderId()).toBe(leader);
  } finally {
    routed.close();
  }

  await cluster.clearFaults(stalled);
  await waitUntil('the stalled node follows the new leader and catches up', async () => {
    const [mine, theirs] = await Promise.all([cluster.status(stalled), cluster.status(leader)]);
    return (
      mine?.role === 'follower' && mine.leader === leader && theirs !== null && mine.appliedIndex >= theirs.commitIndex
    );
  });
  expect(await persistInFlightSeconds(stalled)).toBeLessThan(0.7);
  await atStalled.createRoom({ name: 'after-the-stall' });
  for (const id of cluster.nodes.map((n) => n.id)) {
    await expect(clientOf(id).getRoom({ name: 'refused' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    expect((await clientOf(id).getRoom({ name: 'after-the-stall' })).room?.name).toBe('after-the-stall');
  }
});
