/**
 * Goal: ClusterRoomClient carries its calls on Session streams (issue 18) with the behaviour it
 * had unary: writes at the leader, reads at home, errors with the unary codes, deadlines kept,
 * a write retried with its request id when the leader's stream is lost, and the next leader
 * found; against a node without Session it falls back to unary calls for good. Method: three
 * in-process members (real RaftNodes, RoomRegistry and GrpcApi listeners; api-nodes.ts) and, as
 * the "older node", a byte-for-byte gRPC proxy to a real member that serves every method but Session.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { ClusterRoomClient } from '../../src/client/cluster-client.js';
import { signToken } from '../../src/api/auth.js';
import { RoomClient } from '../../src/client/room-client.js';
import { RoomSession } from '../../src/client/room-session.js';
import {
  ClusterServiceService,
  MediaNodeServiceService,
  RoomServiceService,
} from '../../src/gen/roomregistry/v1/rooms.js';
import { waitUntil } from '../harness/process-cluster.js';
import { type ApiNode, apiKey, apiSecret, startApiNodes, stopAll } from './api-nodes.js';

let nodes: ApiNode[];
/** stopped: members a test cut off; the others elect the next leader. */
const stopped = new Set<ApiNode>();
const closers: Array<() => void | Promise<void>> = [];

beforeAll(async () => {
  nodes = await startApiNodes(['n1', 'n2', 'n3']);
  await leaderOf();
});

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

afterAll(async () => {
  await stopAll(nodes);
});

/** leaderOf waits until the running members agree on a leader, and returns it. */
async function leaderOf(): Promise<ApiNode> {
  let leader: ApiNode | undefined;
  await waitUntil('a leader the running members agree on', async () => {
    const running = nodes.filter((n) => !stopped.has(n));
    const named = new Set(running.map((n) => n.node.status().leader));
    leader = running.find((n) => n.node.status().role === 'leader');
    return leader !== undefined && named.size === 1 && named.has(leader.id);
  });
  return leader as ApiNode;
}

const creates = (n: ApiNode): number => n.reported.filter((r) => r.method === 'CreateRoom' && r.code === 'OK').length;
const gets = (n: ApiNode): number => n.reported.filter((r) => r.method === 'GetRoom' && r.code === 'OK').length;

function clusterClient(home: string): ClusterRoomClient {
  const client = new ClusterRoomClient(
    nodes.map((n) => ({ id: n.id, grpc: n.grpc })),
    { apiKey, apiSecret },
    { home },
  );
  closers.push(() => client.close());
  return client;
}

it('writes at the leader and reads at home on sessions, with the unary codes and deadlines', async () => {
  const leader = await leaderOf();
  const home = nodes.find((n) => n !== leader) as ApiNode;
  const client = clusterClient(home.id);
  const [createsBefore, getsBefore] = [nodes.map(creates), nodes.map(gets)];
  const made = await Promise.all(Array.from({ length: 30 }, (_, i) => client.createRoom({ name: `s-${i}` })));
  expect(made.map((r) => r.room?.name)).toEqual(Array.from({ length: 30 }, (_, i) => `s-${i}`));
  const read = await Promise.all(made.map((r) => client.getRoom({ name: r.room?.name ?? '' })));
  expect(read.map((r) => r.room?.sid)).toEqual(made.map((r) => r.room?.sid));
  nodes.forEach((n, i) => {
    expect(creates(n) - (createsBefore[i] ?? 0), `creates answered by ${n.id}`).toBe(n === leader ? 30 : 0);
    expect(gets(n) - (getsBefore[i] ?? 0), `gets answered by ${n.id}`).toBe(n === home ? 30 : 0);
  });
  // One stream at each node the client called, not one call each.
  expect(leader.api.stats().sessions).toBe(1);
  expect(home.api.stats().sessions).toBe(1);

  const again = await client.createRoom({ name: 's-0', requestId: 'once' });
  expect(await client.createRoom({ name: 's-0', requestId: 'once' })).toEqual(again);
  await expect(client.getRoom({ name: 'nowhere' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  await expect(client.deleteRoom({ room: 'nowhere' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });

  leader.stallDisk();
  await expect(client.createRoom({ name: 'stuck' }, 300)).rejects.toMatchObject({
    code: grpc.status.DEADLINE_EXCEEDED,
  });
  leader.resumeDisk();
});

it("retries the writes of a lost leader's stream with their request ids and finds the next leader", async () => {
  const leader = await leaderOf();
  const home = nodes.find((n) => n !== leader) as ApiNode;
  const client = clusterClient(home.id);
  await client.createRoom({ name: 'warm-up' });
  expect(client.leaderId()).toBe(leader.id);

  // The leader's disk stalls with ten writes running on its stream; then its listener is cut off.
  const createsBefore = nodes.map(creates);
  leader.stallDisk();
  const writes = Array.from({ length: 10 }, (_, i) =>
    client.createRoom({ name: `lost-${i}`, requestId: `lost-${i}` }, 5_000),
  );
  await waitUntil('the writes wait on the stalled disk', async () => leader.node.load().proposals === 10);
  stopped.add(leader);
  void leader.api.close(0);
  const results = await Promise.all(writes);
  expect(results.map((r) => r.room?.name)).toEqual(Array.from({ length: 10 }, (_, i) => `lost-${i}`));
  const next = await leaderOf();
  expect(next).not.toBe(leader);
  expect(client.leaderId()).toBe(next.id);
  // Every write was answered by the next leader, none by the one cut off.
  expect(creates(next) - (createsBefore[nodes.indexOf(next)] ?? 0)).toBe(10);
  expect(creates(leader)).toBe(createsBefore[nodes.indexOf(leader)]);
  await leader.stop();
  const listed = await client.listRooms({ names: results.map((r) => r.room?.name ?? '') });
  expect(listed.rooms.map((r) => r.sid).sort()).toEqual(results.map((r) => r.room?.sid).sort());
});

it('falls back to unary calls for good against a node without Session', async () => {
  const leader = await leaderOf();
  const proxy = await olderNodeProxy(leader.grpc);
  const client = new RoomClient(proxy.address, { apiKey, apiSecret });
  closers.push(() => client.close());
  const session = client.session();
  const made = await Promise.all(Array.from({ length: 20 }, (_, i) => session.createRoom({ name: `old-${i}` })));
  expect(made.map((r) => r.room?.name)).toEqual(Array.from({ length: 20 }, (_, i) => `old-${i}`));
  expect(session.usesSessions()).toBe(false);
  expect(proxy.calls.get('CreateRoom')).toBe(20);
  expect((await session.getRoom({ name: 'old-3' })).room?.sid).toBe(made[3]?.room?.sid);
  await expect(session.getRoom({ name: 'nowhere' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  expect(proxy.calls.get('GetRoom')).toBe(2);
});

it('opens a new stream for new calls when its token nears expiry, and closes the old one once drained', async () => {
  const leader = await leaderOf();
  const unary = new RoomClient(leader.grpc, { apiKey, apiSecret });
  const channel = new grpc.Client(leader.grpc, grpc.credentials.createInsecure());
  closers.push(() => {
    unary.close();
    channel.close();
  });
  // The first token has 61 s left: a second later it is within the session's 60 s renewal margin.
  const signedAtSeconds: number[] = [];
  const session = new RoomSession(channel, unary, (grants) => {
    const nowSeconds = Math.floor(Date.now() / 1000);
    signedAtSeconds.push(nowSeconds);
    const md = new grpc.Metadata();
    const ttlSeconds = signedAtSeconds.length === 1 ? 61 : 600;
    md.set('authorization', `Bearer ${signToken(apiKey, apiSecret, grants, ttlSeconds, nowSeconds)}`);
    return md;
  });
  closers.push(() => session.close());
  const sessionsBefore = leader.api.stats().sessions;
  await session.createRoom({ name: 'renew-1' });
  expect(leader.api.stats().sessions).toBe(sessionsBefore + 1);
  const firstSignedAt = signedAtSeconds[0] ?? 0;
  await waitUntil('the first token is within the renewal margin', async () => Date.now() / 1000 > firstSignedAt + 1);
  expect((await session.createRoom({ name: 'renew-2' })).room?.name).toBe('renew-2');
  expect(signedAtSeconds).toHaveLength(2);
  await waitUntil('the drained stream is closed', async () => leader.api.stats().sessions === sessionsBefore + 1);
  expect((await session.getRoom({ name: 'renew-1' })).room?.name).toBe('renew-1');
  expect(signedAtSeconds).toHaveLength(2);
});

/**
 * olderNodeProxy serves every unary method of the public services by passing its bytes and
 * metadata to `upstream` unchanged, and has no Session: grpc-js answers that UNIMPLEMENTED, as a
 * node of a build before sessions does. It counts the calls per method.
 */
async function olderNodeProxy(upstream: string): Promise<{ address: string; calls: Map<string, number> }> {
  const server = new grpc.Server();
  const up = new grpc.Client(upstream, grpc.credentials.createInsecure());
  const calls = new Map<string, number>();
  const bytes = (b: Buffer): Buffer => b;
  for (const service of [RoomServiceService, MediaNodeServiceService, ClusterServiceService]) {
    const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const [name, m] of Object.entries(service as grpc.ServiceDefinition)) {
      if (m.requestStream || m.responseStream) continue;
      definition[name] = { ...m, requestDeserialize: bytes, responseSerialize: bytes };
      const method = m.path.slice(m.path.lastIndexOf('/') + 1);
      implementation[name] = (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        calls.set(method, (calls.get(method) ?? 0) + 1);
        up.makeUnaryRequest(m.path, bytes, bytes, call.request, call.metadata, callback);
      };
    }
    server.addService(definition, implementation);
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  closers.push(() => {
    up.close();
    server.forceShutdown();
  });
  return { address: `127.0.0.1:${port}`, calls };
}
