/**
 * Goal: ReadRevision (issue 18) tells a watch-fed cache which revision it must reach: the
 * newest room change (rooms_revision) and how many changes it made, after the same read barrier
 * as GetRoom; a media-node heartbeat moves the applied index but not rooms_revision; it needs
 * the list grant and rides the Session stream. Method: three in-process members (real RaftNodes,
 * RoomRegistry and GrpcApi listeners; api-nodes.ts) and RoomClients, one per member.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signToken } from '../../src/api/auth.js';
import { RoomClient } from '../../src/client/room-client.js';
import { Consistency } from '../../src/gen/roomregistry/v1/rooms.js';
import { waitUntil } from '../harness/process-cluster.js';
import { type ApiNode, apiKey, apiSecret, startApiNodes, stopAll } from './api-nodes.js';

let nodes: ApiNode[];
let leader: ApiNode;
let follower: ApiNode;
const clients = new Map<ApiNode, RoomClient>();
const CALL_MS = 5_000;

beforeAll(async () => {
  nodes = await startApiNodes(['n1', 'n2', 'n3']);
  await waitUntil('a leader the members agree on', async () => {
    const named = new Set(nodes.map((n) => n.node.status().leader));
    const found = nodes.find((n) => n.node.status().role === 'leader');
    if (found !== undefined && named.size === 1 && named.has(found.id)) leader = found;
    return found !== undefined && leader === found;
  });
  follower = nodes.find((n) => n !== leader) as ApiNode;
  for (const n of nodes) clients.set(n, new RoomClient(n.grpc, { apiKey, apiSecret }));
});

afterAll(async () => {
  for (const c of clients.values()) c.close();
  await stopAll(nodes);
});

const clientOf = (n: ApiNode): RoomClient => clients.get(n) as RoomClient;

it('names the newest room change; a heartbeat moves the applied index only', async () => {
  const created = await clientOf(leader).createRoom({ name: 'rr-a' }, CALL_MS);
  const before = await clientOf(leader).readRevision({}, CALL_MS);
  expect(before.roomsRevision).toBe(created.room?.revision);
  expect(before.roomsRevisionChanges).toBe(1);
  expect(before.revision).toBeGreaterThanOrEqual(before.roomsRevision);
  const hb = await clientOf(leader).heartbeat(
    { nodeId: 'sfu-rr', ttlSeconds: 30, stats: { numRooms: 0, numClients: 0, cpuLoad: 0 } },
    CALL_MS,
  );
  const after = await clientOf(leader).readRevision({}, CALL_MS);
  expect(after.revision).toBeGreaterThanOrEqual(hb.revision);
  expect(after.revision).toBeGreaterThan(before.revision);
  expect(after.roomsRevision).toBe(before.roomsRevision);
});

it('is linearizable on a follower: every write the leader acknowledged is reached', async () => {
  for (let i = 0; i < 5; i++) {
    const w = await clientOf(leader).updateRoomMetadata({ room: 'rr-a', metadata: `m${i}` }, CALL_MS);
    const rr = await clientOf(follower).readRevision({}, CALL_MS);
    expect(rr.roomsRevision).toBe(w.room?.revision);
    expect(rr.revision).toBeGreaterThanOrEqual(w.revision);
    expect(rr.stalenessMs).toBe(0);
  }
  // LOCAL is served at once from what the follower has applied.
  const local = await clientOf(follower).readRevision({ consistency: Consistency.CONSISTENCY_LOCAL }, CALL_MS);
  expect(local.revision).toBeGreaterThan(0);
});

it('rides the Session stream, and needs the list grant', async () => {
  const unary = await clientOf(leader).readRevision({}, CALL_MS);
  const onSession = await clientOf(leader).session().readRevision({}, CALL_MS);
  expect(onSession.roomsRevision).toBe(unary.roomsRevision);
  expect(leader.reported).toContainEqual({ method: 'ReadRevision', code: 'OK' });
  const token = signToken(apiKey, apiSecret, { roomCreate: true }, 600, Math.floor(Date.now() / 1000));
  const createOnly = new RoomClient(leader.grpc, { token });
  try {
    await expect(createOnly.readRevision({}, CALL_MS)).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
  } finally {
    createOnly.close();
  }
});
