/**
 * Goal: a real node can lose power (issue 13 deliver 3) and comes back from what its disk made
 * durable: with --fsync=always nothing acknowledged is missing after the leader and then a
 * majority lose power at once. Method: a real 3-node cluster with --enable-fault-injection; the
 * powerLoss fault drops each node's unsynced bytes and directory entries and kills it; the
 * nodes restart from those disks and every acknowledged room must still be there. A cut of
 * every node in a new cluster's first seconds must leave each one able to start.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Consistency } from '../../src/gen/roomregistry/v1/rooms.js';
import { ProcessCluster, waitUntil } from '../harness/process-cluster.js';

let cluster: ProcessCluster;

// The bound only stops a hung start: under a CPU hog no node had answered within the default 20 s once.
const LEADER_WAIT_MS = 120_000;

beforeAll(async () => {
  cluster = await ProcessCluster.launch(3, ['--enable-fault-injection'], { leaderWaitMs: LEADER_WAIT_MS });
}, LEADER_WAIT_MS + 10_000);

afterAll(async () => {
  await cluster?.stop();
});

async function createSome(prefix: string, count: number): Promise<string[]> {
  const leader = await cluster.waitForLeader();
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  for (const name of names) await cluster.client(leader).createRoom({ name });
  return names;
}

async function expectEverywhere(names: readonly string[]): Promise<void> {
  for (const n of cluster.nodes) {
    await waitUntil(
      `${n.id} holds every acknowledged room`,
      async () => {
        const got = await Promise.all(
          names.map((name) =>
            cluster
              .client(n.id)
              .getRoom({ name, consistency: Consistency.CONSISTENCY_LOCAL })
              .then(
                () => true,
                () => false,
              ),
          ),
        );
        return got.every(Boolean);
      },
      30_000,
    );
  }
}

it('the leader loses power, restarts from its disk and loses nothing acknowledged', async () => {
  const before = await createSome('before', 20);
  const leader = await cluster.waitForLeader();
  await cluster.powerLoss(leader);
  const during = await createSome('during', 5);
  cluster.start(leader);
  await cluster.waitForLeader();
  await expectEverywhere([...before, ...during]);
  expect(cluster.unexpectedExits).toEqual([]);
});

it('a majority loses power at the same moment and nothing acknowledged is lost', async () => {
  const acked = await createSome('majority', 20);
  const victims = cluster.nodes.slice(0, 2).map((n) => n.id);
  await Promise.all(victims.map((id) => cluster.powerLoss(id)));
  for (const id of victims) cluster.start(id);
  await cluster.waitForLeader(30_000);
  await expectEverywhere(acked);
  expect(cluster.unexpectedExits).toEqual([]);
});

it('a power cut of every node in the first seconds of a new cluster leaves each one able to start (finding 9)', async () => {
  const fresh = await ProcessCluster.create(3, ['--enable-fault-injection']);
  try {
    fresh.startAll();
    await fresh.waitForLeader(30_000);
    await Promise.all(fresh.nodes.map((n) => fresh.powerLoss(n.id)));
    fresh.startAll();
    await fresh.waitForLeader(30_000);
    expect(fresh.unexpectedExits).toEqual([]);
  } finally {
    await fresh.stop();
  }
});
