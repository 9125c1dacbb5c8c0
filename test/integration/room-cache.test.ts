/**
 * Goal: ClusterRoomClient with `cache` (room-cache.ts, issue 18) lists every room over several
 * pages, then follows WatchRooms: LOCAL reads see another client's changes soon after, a
 * linearizable read right after another client's write returns it (read-your-writes through
 * ReadRevision) without a GetRoom reaching a node, a linearizable read after only heartbeats
 * answers from memory too, a lost watch resumes on another member, and a refused resume
 * (OUT_OF_RANGE) lists again. Method: three in-process members (real RaftNodes, RoomRegistry and
 * GrpcApi listeners; api-nodes.ts), one writing ClusterRoomClient and caching ones.
 *
 * OUT_OF_RANGE for real needs more changes than the watch history keeps (REGISTRY_LIMITS, a
 * frozen 10 000 events) applied while the cache is away: too much CPU for this suite on a busy
 * machine. So that case drives a RoomCache against a real member whose watch stream is wrapped:
 * it drops the events of a few real changes (as a cache away would miss them), then ends
 * OUT_OF_RANGE as the node would. The relisted map must hold those changes.
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { ClusterRoomClient } from '../../src/client/cluster-client.js';
import { type CacheMember, RoomCache } from '../../src/client/room-cache.js';
import { RoomClient } from '../../src/client/room-client.js';
import { Consistency, type WatchRoomsResponse } from '../../src/gen/roomregistry/v1/rooms.js';
import { waitUntil } from '../harness/process-cluster.js';
import { type ApiNode, apiKey, apiSecret, startApiNodes, stopAll } from './api-nodes.js';

let nodes: ApiNode[];
let leader: ApiNode;
let writer: ClusterRoomClient;
const closers: Array<() => void | Promise<void>> = [];
const CALL_MS = 5_000;
const LOCAL = Consistency.CONSISTENCY_LOCAL;

beforeAll(async () => {
  nodes = await startApiNodes(['n1', 'n2', 'n3']);
  await waitUntil('a leader the members agree on', async () => {
    const named = new Set(nodes.map((n) => n.node.status().leader));
    const found = nodes.find((n) => n.node.status().role === 'leader');
    if (found !== undefined && named.size === 1 && named.has(found.id)) leader = found;
    return found !== undefined && leader === found;
  });
  writer = new ClusterRoomClient(members(), { apiKey, apiSecret }, { home: leader.id });
});

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

afterAll(async () => {
  writer.close();
  await stopAll(nodes);
});

function members(): Array<{ id: string; grpc: string }> {
  return nodes.map((n) => ({ id: n.id, grpc: n.grpc }));
}

/** cachingClient: a ClusterRoomClient with a cache listing 3 rooms a page, closed after the test. */
async function cachingClient(home: string): Promise<{ client: ClusterRoomClient; cache: RoomCache }> {
  const client = new ClusterRoomClient(members(), { apiKey, apiSecret }, { home, cache: { listPageRooms: 3 } });
  const cache = client.cache() as RoomCache;
  closers.push(async () => {
    await cache.close();
    client.close();
  });
  await cache.ready();
  return { client, cache };
}

const calls = (method: string): number =>
  nodes.reduce((sum, n) => sum + n.reported.filter((r) => r.method === method).length, 0);
const followerId = (): string => (nodes.find((n) => n !== leader) as ApiNode).id;

it('lists over several pages, then follows another client’s creates, updates and deletes', async () => {
  for (let i = 0; i < 8; i++) await writer.createRoom({ name: `pg-${i}` }, CALL_MS);
  const listsBefore = calls('ListRooms');
  const { client, cache } = await cachingClient(followerId());
  expect(calls('ListRooms') - listsBefore).toBeGreaterThanOrEqual(3); // 8 rooms, 3 a page
  expect(cache.stats().rooms).toBeGreaterThanOrEqual(8);
  const listed = await client.listRooms({ names: ['pg-0', 'pg-7', 'pg-0', 'none'], consistency: LOCAL });
  expect(listed.rooms.map((r) => r.name)).toEqual(['pg-0', 'pg-7']);

  await writer.createRoom({ name: 'pg-new' }, CALL_MS);
  await writer.updateRoomMetadata({ room: 'pg-1', metadata: 'changed' }, CALL_MS);
  await writer.deleteRoom({ room: 'pg-2' }, CALL_MS);
  await waitUntil('the cache has the three changes', async () => {
    const created = await client.getRoom({ name: 'pg-new', consistency: LOCAL });
    const updated = await client.getRoom({ name: 'pg-1', consistency: LOCAL });
    const deleted = await client.getRoom({ name: 'pg-2', consistency: LOCAL }).catch(() => null);
    return created.room !== undefined && updated.room?.metadata === 'changed' && deleted === null;
  });
  const fromServer = await writer.getRoom({ name: 'pg-2' }).catch((e: grpc.ServiceError) => e);
  const fromCache = await client.getRoom({ name: 'pg-2', consistency: LOCAL }).catch((e: grpc.ServiceError) => e);
  expect(fromCache).toMatchObject({ code: grpc.status.NOT_FOUND });
  expect(fromCache).toMatchObject({
    code: (fromServer as grpc.ServiceError).code,
    details: (fromServer as grpc.ServiceError).details,
  });
  expect(cache.stats().stalenessMs).toBeLessThan(60_000);
});

it('a linearizable read right after another client’s write returns it, from memory', async () => {
  const { client } = await cachingClient(followerId());
  await writer.createRoom({ name: 'ryw' }, CALL_MS);
  const getsBefore = calls('GetRoom');
  for (let i = 0; i < 10; i++) {
    await writer.updateRoomMetadata({ room: 'ryw', metadata: `v${i}` }, CALL_MS);
    expect((await client.getRoom({ name: 'ryw' }, CALL_MS)).room?.metadata).toBe(`v${i}`);
    const byName = await client.listRooms({ names: ['ryw'] }, CALL_MS);
    expect(byName.rooms[0]?.metadata).toBe(`v${i}`);
  }
  await writer.deleteRoom({ room: 'ryw' }, CALL_MS);
  await expect(client.getRoom({ name: 'ryw' }, CALL_MS)).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  expect(calls('GetRoom')).toBe(getsBefore); // every read was the cache's, after a ReadRevision
});

it('a linearizable read waits for a watch that lags behind the write', async () => {
  // Over one channel the watch's events reach the cache before the ReadRevision reply does; a
  // watch that passes events on late shows the read waits for the revision ReadRevision names.
  const real = new RoomClient(leader.grpc, { apiKey, apiSecret });
  const member: CacheMember = {
    id: leader.id,
    listRooms: (r, ms) => real.listRooms(r, ms),
    watchRooms: (rev) => laggingWatch(real.watchRooms(rev), 100),
  };
  const cache = new RoomCache([member], serverOf(real));
  closers.push(async () => {
    await cache.close();
    real.close();
  });
  await cache.ready();
  await writer.createRoom({ name: 'lag' }, CALL_MS);
  for (let i = 0; i < 3; i++) {
    await writer.updateRoomMetadata({ room: 'lag', metadata: `v${i}` }, CALL_MS);
    expect((await cache.getRoom({ name: 'lag' }, CALL_MS)).room?.metadata).toBe(`v${i}`);
  }
});

it('a linearizable read after only heartbeats does not wait for a room event', async () => {
  const { client } = await cachingClient(followerId());
  await writer.createRoom({ name: 'hb-room' }, CALL_MS);
  await client.getRoom({ name: 'hb-room' }, CALL_MS);
  const getsBefore = calls('GetRoom');
  for (let i = 0; i < 5; i++)
    await writer.heartbeat({ nodeId: 'sfu-hb', ttlSeconds: 30, stats: { numRooms: 0, numClients: 0, cpuLoad: 0 } });
  expect((await client.getRoom({ name: 'hb-room' }, CALL_MS)).room?.name).toBe('hb-room');
  // Waiting for the applied index would never end: the cache would hand the read over to the
  // node (a GetRoom) after its 1 s wait. Answered from memory, it waited for no event.
  expect(calls('GetRoom')).toBe(getsBefore);
});

it('a linearizable read that cannot catch up within its deadline fails DEADLINE_EXCEEDED', async () => {
  const real = new RoomClient(leader.grpc, { apiKey, apiSecret });
  const member: CacheMember = {
    id: leader.id,
    listRooms: (r, ms) => real.listRooms(r, ms),
    watchRooms: (rev) => real.watchRooms(rev),
  };
  const never = { revision: 1e12, roomsRevision: 1e12, roomsRevisionChanges: 1, stalenessMs: 0 };
  const cache = new RoomCache([member], { ...serverOf(real), readRevision: () => Promise.resolve(never) });
  closers.push(async () => {
    await cache.close();
    real.close();
  });
  await cache.ready();
  await expect(cache.getRoom({ name: 'pg-0' }, 300)).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
});

it('OUT_OF_RANGE lists again and swaps in the new map', async () => {
  await writer.createRoom({ name: 'oor-gone' }, CALL_MS);
  const real = new RoomClient(leader.grpc, { apiKey, apiSecret });
  const lossy = { drop: false, dropped: 0, fail: (): void => {} };
  let watches = 0;
  const member: CacheMember = {
    id: leader.id,
    listRooms: (r, ms) => real.listRooms(r, ms),
    watchRooms: (rev) => (watches++ === 0 ? lossyWatch(real.watchRooms(rev), lossy) : real.watchRooms(rev)),
  };
  const cache = new RoomCache([member], serverOf(real), { listPageRooms: 4 });
  closers.push(async () => {
    await cache.close();
    real.close();
  });
  await cache.ready();
  expect((await cache.getRoom({ name: 'oor-gone', consistency: LOCAL })).room?.name).toBe('oor-gone');
  lossy.drop = true;
  await writer.deleteRoom({ room: 'oor-gone' }, CALL_MS);
  await writer.createRoom({ name: 'oor-new' }, CALL_MS);
  await waitUntil('the wrapped watch dropped both changes', () => Promise.resolve(lossy.dropped >= 2));
  expect((await cache.getRoom({ name: 'oor-gone', consistency: LOCAL })).room?.name).toBe('oor-gone');
  lossy.fail();
  await waitUntil('the cache listed again', () => Promise.resolve(cache.stats().relists === 1));
  await expect(cache.getRoom({ name: 'oor-gone', consistency: LOCAL })).rejects.toMatchObject({
    code: grpc.status.NOT_FOUND,
  });
  expect((await cache.getRoom({ name: 'oor-new', consistency: LOCAL })).room?.name).toBe('oor-new');
  // And it follows again after the relist.
  await writer.createRoom({ name: 'oor-later' }, CALL_MS);
  expect((await cache.getRoom({ name: 'oor-later' }, CALL_MS)).room?.name).toBe('oor-later');
});

// Last: it stops a member.
it('a lost watch resumes on another member and keeps up', async () => {
  const home = nodes.find((n) => n !== leader) as ApiNode;
  const { client, cache } = await cachingClient(home.id);
  await home.stop();
  await writer.createRoom({ name: 'after-drop' }, CALL_MS);
  await waitUntil('the cache saw the room created after its home stopped', async () => {
    const r = await client.getRoom({ name: 'after-drop', consistency: LOCAL });
    return r.room !== undefined;
  });
  expect(cache.stats().reconnects).toBeGreaterThanOrEqual(1);
  await writer.updateRoomMetadata({ room: 'after-drop', metadata: 'still following' }, CALL_MS);
  expect((await client.getRoom({ name: 'after-drop' }, CALL_MS)).room?.metadata).toBe('still following');
});

/** serverOf: a CacheServer that is one member's unary calls. */
function serverOf(c: RoomClient): ConstructorParameters<typeof RoomCache>[1] {
  return {
    readRevision: (r, ms) => c.readRevision(r, ms),
    getRoom: (r, ms) => c.getRoom(r, ms),
    listRooms: (r, ms) => c.listRooms(r, ms),
  };
}

/** laggingWatch passes a real watch stream's events on `lagMs` late, in order. */
function laggingWatch(
  real: grpc.ClientReadableStream<WatchRoomsResponse>,
  lagMs: number,
): grpc.ClientReadableStream<WatchRoomsResponse> {
  const out = Object.assign(new EventEmitter(), { cancel: () => real.cancel() });
  real.on('data', (e: WatchRoomsResponse) => setTimeout(() => out.emit('data', e), lagMs));
  real.on('error', (e: grpc.ServiceError) => out.emit('error', e));
  return out as unknown as grpc.ClientReadableStream<WatchRoomsResponse>;
}

/**
 * lossyWatch passes a real watch stream's events on, except while `state.drop` (counted in
 * `dropped`); `state.fail()` ends it OUT_OF_RANGE, as a node whose history is gone ends it.
 */
function lossyWatch(
  real: grpc.ClientReadableStream<WatchRoomsResponse>,
  state: { drop: boolean; dropped: number; fail: () => void },
): grpc.ClientReadableStream<WatchRoomsResponse> {
  const out = Object.assign(new EventEmitter(), { cancel: () => real.cancel() });
  let ended = false;
  real.on('data', (e: WatchRoomsResponse) => {
    if (state.drop) state.dropped++;
    else out.emit('data', e);
  });
  real.on('error', (e: grpc.ServiceError) => {
    if (!ended) out.emit('error', e);
  });
  state.fail = () => {
    ended = true;
    const error = Object.assign(new Error('11 OUT_OF_RANGE: history gone'), {
      code: grpc.status.OUT_OF_RANGE,
      details: 'history gone',
      metadata: new grpc.Metadata(),
    });
    out.emit('error', error);
    real.cancel();
  };
  return out as unknown as grpc.ClientReadableStream<WatchRoomsResponse>;
}
