/**
 * Goal: a media node can follow the registry without polling (issue 4): WatchRooms replays the
 * changes after a revision and then streams new ones, on any node, and a watcher asking for a
 * revision the node no longer keeps gets OUT_OF_RANGE (it re-lists). Method: a real 3-node
 * cluster; writes through one node, a watch on another.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ClusterRoomClient } from '../../src/client/cluster-client.js';
import { RoomClient } from '../../src/client/room-client.js';
import { RoomEventType, type WatchRoomsResponse } from '../../src/gen/roomregistry/v1/rooms.js';
import { ProcessCluster, waitUntil } from '../harness/process-cluster.js';

let cluster: ProcessCluster;
/** writer retries a write that meets an election (a loaded machine may see one) with the same request id. */
let writer: ClusterRoomClient;
let watcher: RoomClient;
let watcherId: string;

beforeAll(async () => {
  cluster = await ProcessCluster.create(3);
  cluster.startAll();
  const leader = await cluster.waitForLeader();
  watcherId = cluster.nodes.find((n) => n.id !== leader)?.id ?? leader;
  const credentials = { apiKey: cluster.apiKey, apiSecret: cluster.apiSecret };
  writer = new ClusterRoomClient(cluster.nodes, credentials, { home: leader });
  watcher = new RoomClient(cluster.node(watcherId).grpc, credentials);
});

afterAll(async () => {
  writer.close();
  watcher.close();
  await cluster.stop();
});

/** collect reads events until `until` holds or the time is up. */
function collect(
  stream: grpc.ClientReadableStream<WatchRoomsResponse>,
  until: (events: WatchRoomsResponse[]) => boolean,
): Promise<WatchRoomsResponse[]> {
  return new Promise((resolve, reject) => {
    const events: WatchRoomsResponse[] = [];
    const timer = setTimeout(() => reject(new Error(`watch timed out with ${events.length} events`)), 10_000);
    stream.on('data', (e: WatchRoomsResponse) => {
      events.push(e);
      if (until(events)) {
        clearTimeout(timer);
        resolve(events);
      }
    });
    stream.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

it('replays from a revision, then streams created/updated/deleted as they are applied', async () => {
  const created = await writer.createRoom({ name: 'watched' });
  const from = created.revision - 1;
  const stream = watcher.watchRooms(from);
  const got = collect(stream, (events) => events.length >= 3);
  await writer.updateRoomMetadata({ room: 'watched', metadata: 'v2' });
  await writer.deleteRoom({ room: 'watched' });
  const events = await got;
  stream.cancel();
  expect(events.map((e) => [e.type, e.room?.name])).toEqual([
    [RoomEventType.ROOM_EVENT_TYPE_CREATED, 'watched'],
    [RoomEventType.ROOM_EVENT_TYPE_UPDATED, 'watched'],
    [RoomEventType.ROOM_EVENT_TYPE_DELETED, 'watched'],
  ]);
  expect(events[0]?.revision).toBe(created.revision);
  expect(events[1]?.room?.metadata).toBe('v2');
  const revisions = events.map((e) => e.revision);
  expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
});

it('refuses a revision older than the changes it keeps with OUT_OF_RANGE', async () => {
  // More changes than the watch log keeps (REGISTRY_LIMITS.watchEventsMax = 10 000).
  const names = Array.from({ length: 10_100 }, (_, i) => `churn-${i}`);
  for (let i = 0; i < names.length; i += 200)
    await Promise.all(names.slice(i, i + 200).map((name) => writer.createRoom({ name }, 30_000)));
  const leader = await cluster.waitForLeader();
  const committed = (await cluster.status(leader))?.commitIndex ?? Number.POSITIVE_INFINITY;
  await waitUntil('the watched node applies the last ones', async () => {
    return ((await cluster.status(watcherId))?.appliedIndex ?? 0) >= committed;
  });
  const stream = watcher.watchRooms(1);
  await expect(collect(stream, () => false)).rejects.toMatchObject({ code: grpc.status.OUT_OF_RANGE });
});
