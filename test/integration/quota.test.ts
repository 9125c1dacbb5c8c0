/**
 * Goal: the state quota holds on a real cluster (issue 12 item 5): with `--quota-bytes`, creates
 * through LiveKit's own SDK on a follower fill the registry until CreateRoom and growing
 * metadata updates fail `resource_exhausted` "registry is full", while reads, occupancy and
 * deletes go on and a delete makes room again; every node counts the same bytes, and the quota
 * gauges say so. The quota counts the bytes each room occupies in the table (its record and its
 * slot's fixed share) once the leader brought command format 3 into use, which it does by itself
 * in a cluster of this build. Method: a 3-node process cluster with a 1 MiB quota, 100 KiB
 * metadata rooms.
 */
import { RoomServiceClient, TwirpError } from 'livekit-server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REGISTRY_VERSIONS } from '../../src/registry/index.js';
import { ROOM_SLOT_BYTES } from '../../src/registry/state-quota.js';
import { ProcessCluster, waitUntil } from '../harness/process-cluster.js';

const QUOTA_BYTES = 1 << 20;
const METADATA = 'q'.repeat(100 << 10);
let cluster: ProcessCluster;

const sdk = (id: string): RoomServiceClient =>
  new RoomServiceClient(`http://${cluster.node(id).http}`, cluster.apiKey, cluster.apiSecret);

async function twirpError(p: Promise<unknown>): Promise<TwirpError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(TwirpError);
  return e as TwirpError;
}

beforeAll(async () => {
  cluster = await ProcessCluster.launch(3, ['--quota-bytes', String(QUOTA_BYTES)]);
});

afterAll(async () => {
  await cluster.stop();
});

describe('state quota on a real cluster', () => {
  it('refuses creates and growing updates past --quota-bytes; reads, occupancy and deletes go on', async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.nodes.map((n) => n.id).find((id) => id !== leader) ?? leader;
    const client = sdk(follower);
    await waitUntil("every node uses this build's command format", async () => {
      const inUse = await Promise.all(
        cluster.nodes.map(
          async (n) => ((await cluster.status(n.id)) as { versions?: { commandVersionInUse?: number } }).versions,
        ),
      );
      return inUse.every((v) => v?.commandVersionInUse === REGISTRY_VERSIONS.command);
    });
    let created = 0;
    let full: TwirpError | null = null;
    while (full === null && created < 20) {
      const name = `full-${created}`;
      const r = await client.createRoom({ name, metadata: METADATA }).then(
        () => null,
        (e: unknown) => e,
      );
      if (r === null) created++;
      else {
        expect(r).toBeInstanceOf(TwirpError);
        full = r as TwirpError;
      }
    }
    expect(created).toBeGreaterThanOrEqual(8);
    expect(full?.code).toBe('resource_exhausted');
    expect(full?.message).toBe('registry is full');
    const grown = await twirpError(client.updateRoomMetadata('full-0', METADATA.repeat(2)));
    expect(grown.code).toBe('resource_exhausted');
    // Reads, shrinking updates, occupancy and deletes go on.
    expect((await client.listRooms()).length).toBe(created);
    expect((await client.updateRoomMetadata('full-1', 'small')).metadata).toBe('small');
    await cluster.client(follower).updateRoomOccupancy({ room: 'full-2', numParticipants: 1, numPublishers: 0 });
    await client.deleteRoom('full-3');
    expect((await client.createRoom({ name: 'after-delete', metadata: METADATA })).name).toBe('after-delete');
    // Every node counts the same bytes (the quota is applied from the entry, not per node).
    await waitUntil('every node counts the same quota bytes', async () => {
      const used = await Promise.all(cluster.nodes.map((n) => cluster.metric(n.id, 'room_registry_quota_used_bytes')));
      return used.every((u) => u === used[0] && u > QUOTA_BYTES * 0.8 && u <= QUOTA_BYTES + 1_000);
    });
    for (const n of cluster.nodes) expect(await cluster.metric(n.id, 'room_registry_quota_bytes')).toBe(QUOTA_BYTES);
    // The packed table's own figures: the records' encoded bytes, within the slabs that hold them;
    // the quota counts those and each room's slot (no room here is placed on a media node).
    const rooms = (await client.listRooms()).length;
    for (const n of cluster.nodes) {
      const records = await cluster.metric(n.id, 'room_registry_state_bytes');
      expect(records).toBeGreaterThan(QUOTA_BYTES * 0.5);
      expect(await cluster.metric(n.id, 'room_registry_state_slab_bytes')).toBeGreaterThanOrEqual(records);
      expect(await cluster.metric(n.id, 'room_registry_quota_used_bytes')).toBe(records + rooms * ROOM_SLOT_BYTES);
    }
  }, 120_000);
});
