/**
 * Goal: expiry keeps up with the backlog that caused the outage (issue 5). Method: a real
 * 3-node cluster; 100 000 rooms with a 1 s empty timeout created through gRPC on every node,
 * while a probe keeps creating long-lived rooms; the leader's /metrics is scraped throughout.
 * Every expiring room must be gone on every node soon after it is due, every probe create must
 * succeed, and the backlog gauge must rise and come back to 0. Then the leader is killed in the
 * middle of a sweep: occupied and long-lived rooms must survive, the due ones still go.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoomClient } from '../../src/client/room-client.js';
import { ProcessCluster, waitUntil } from '../harness/process-cluster.js';

let cluster: ProcessCluster;
const clientOf = (id: string): RoomClient => cluster.client(id);
const gauge = (id: string, metric: string): Promise<number> => cluster.metric(id, metric);

/** createMany creates rooms named prefix-0..count-1 with `inFlight` calls at a time, over every node. */
async function createMany(prefix: string, count: number, emptyTimeout: number, inFlight: number): Promise<void> {
  const via = cluster.nodes.map((n) => clientOf(n.id));
  let next = 0;
  const worker = async (w: number): Promise<void> => {
    for (let i = next++; i < count; i = next++) {
      await via[w % via.length]?.createRoom({ name: `${prefix}-${i}`, emptyTimeout, requestId: `${prefix}-${i}` }, 10_000);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, (_, w) => worker(w)));
}

async function roomsOnEveryNode(): Promise<number[]> {
  return Promise.all(cluster.nodes.map(async (n) => (await cluster.status(n.id))?.rooms ?? -1));
}

beforeAll(async () => {
  cluster = await ProcessCluster.create(3);
  cluster.startAll();
  await cluster.waitForLeader();
});

afterAll(async () => {
  await cluster.stop();
});

describe('expiry of a 100 000-room backlog', () => {
  it('deletes every due room on every node while CreateRoom keeps answering, and the backlog gauge returns to 0', async () => {
    const leader = await cluster.waitForLeader();
    let backlogMax = 0;
    let scraping = true;
    const scraper = (async () => {
      while (scraping) {
        backlogMax = Math.max(backlogMax, (await gauge(leader, 'room_registry_sweeper_backlog_rooms').catch(() => 0)) || 0);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const probe = clientOf(leader);
    let probing = true;
    const probeNames: string[] = [];
    const prober = (async () => {
      while (probing) {
        const name = `probe-${probeNames.length}`;
        await probe.createRoom({ name, emptyTimeout: 3_600 }, 5_000); // throws, failing the test, if it does not answer
        probeNames.push(name);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await createMany('short', 100_000, 1, 256);
    await waitUntil('all 100 000 short-lived rooms are gone on every node', async () => (await roomsOnEveryNode()).every((n) => n === probeNames.length), 30_000);
    probing = false;
    await prober;
    await waitUntil('the backlog gauge is back to 0', async () => (await gauge(leader, 'room_registry_sweeper_backlog_rooms')) === 0, 10_000);
    scraping = false;
    await scraper;
    expect(probeNames.length).toBeGreaterThan(10);
    expect(backlogMax, 'the backlog gauge should have seen due rooms').toBeGreaterThan(0);
    expect(await roomsOnEveryNode()).toEqual([probeNames.length, probeNames.length, probeNames.length]);
    expect(await gauge(leader, 'room_registry_rooms_expired_total')).toBe(100_000);
  });

  it('loses nothing and deletes nothing early when the leader is killed in the middle of a sweep', async () => {
    const leader = await cluster.waitForLeader();
    const before = (await cluster.status(leader))?.rooms ?? 0;
    await createMany('long', 2_000, 3_600, 64);
    await createMany('occupied', 200, 1, 64);
    const writer = clientOf(cluster.nodes.find((n) => n.id !== leader)?.id ?? leader);
    for (let i = 0; i < 200; i++) await writer.updateRoomOccupancy({ room: `occupied-${i}`, numParticipants: 1, requestId: `occ-${i}` });
    await createMany('due', 30_000, 1, 256);
    // Sweeping of the due rooms is under way: kill the leader now.
    await waitUntil('the sweep has begun', async () => (await gauge(leader, 'room_registry_rooms_expired_total')) > 100_000, 10_000);
    await cluster.kill(leader, 'SIGKILL');
    const survivors = cluster.nodes.map((n) => n.id).filter((id) => id !== leader);
    await cluster.waitForLeader(10_000);
    const expected = before + 2_000 + 200;
    await waitUntil('the due rooms are gone on the survivors', async () => {
      const counts = await Promise.all(survivors.map(async (id) => (await cluster.status(id))?.rooms ?? -1));
      return counts.every((n) => n === expected);
    }, 30_000);
    cluster.start(leader);
    await waitUntil('the restarted node agrees', async () => (await cluster.status(leader))?.rooms === expected, 30_000);
    const reader = clientOf(survivors[0] ?? leader);
    const names = [...Array.from({ length: 200 }, (_, i) => `occupied-${i}`), ...Array.from({ length: 800 }, (_, i) => `long-${i}`)];
    expect((await reader.listRooms({ names })).rooms).toHaveLength(names.length);
  });
});
