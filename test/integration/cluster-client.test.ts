/**
 * Goal: ClusterRoomClient sends writes to the leader (no forward hop) and follows a new
 * leader after the old one dies. Method: a real 3-node cluster; the client's home is a
 * follower; the nodes' own request counters show where the writes landed.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ClusterRoomClient } from '../../src/client/cluster-client.js';
import { ProcessCluster, waitUntil } from '../harness/process-cluster.js';

let cluster: ProcessCluster;
let client: ClusterRoomClient;

/** createRoomCalls: CreateRoom calls node `id` answered over gRPC (its api_requests_total). */
async function createRoomCalls(id: string): Promise<number> {
  const n = await cluster.metric(id, 'room_registry_api_requests_total{method="CreateRoom",code="OK",protocol="grpc"}');
  return Number.isNaN(n) ? 0 : n;
}

beforeAll(async () => {
  cluster = await ProcessCluster.create(3);
  cluster.startAll();
  const leader = await cluster.waitForLeader();
  const home = cluster.nodes.find((n) => n.id !== leader)?.id ?? '';
  client = new ClusterRoomClient(cluster.nodes, { apiKey: cluster.apiKey, apiSecret: cluster.apiSecret }, { home });
});

afterAll(async () => {
  client.close();
  await cluster.stop();
});

it('writes at the leader, reads at home, and finds the next leader after a kill', async () => {
  const leader = await cluster.waitForLeader();
  const before = await Promise.all(cluster.nodes.map((n) => createRoomCalls(n.id)));
  for (let i = 0; i < 20; i++) await client.createRoom({ name: `routed-${i}` });
  const after = await Promise.all(cluster.nodes.map((n) => createRoomCalls(n.id)));
  cluster.nodes.forEach((n, i) =>
    expect((after[i] ?? 0) - (before[i] ?? 0), `CreateRoom calls answered by ${n.id}`).toBe(n.id === leader ? 20 : 0),
  );
  expect(client.leaderId()).toBe(leader);
  expect((await client.getRoom({ name: 'routed-19' })).room?.name).toBe('routed-19');

  await cluster.kill(leader);
  const failures = new Set<number | undefined>();
  await waitUntil('a write succeeds after the leader was killed', async () => {
    try {
      await client.createRoom({ name: 'after-the-kill', requestId: 'after-the-kill' }, 2_000);
      return true;
    } catch (e) {
      failures.add((e as grpc.ServiceError).code);
      return false;
    }
  });
  // While the leader is gone, writes fail as UNAVAILABLE (or at their deadline), never otherwise.
  for (const code of failures) expect([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]).toContain(code);
  const next = client.leaderId();
  expect(next).not.toBe(leader);
  expect(next).toBe(await cluster.waitForLeader());
});
