/**
 * Goal: real `room-registry serve` processes form a cluster that survives kill -9 (issue 3).
 * Method: a 3-node cluster from the built CLI on free ports with temp data dirs; writes go
 * through the public gRPC API; nodes are killed with SIGKILL, restarted from their data dirs,
 * stopped with SIGTERM. Every acknowledged write must be there afterwards, on every node.
 */
import { readFileSync } from 'node:fs';
import type { ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RoomClient } from '../../src/client/room-client.js';
import { Consistency } from '../../src/gen/roomregistry/v1/rooms.js';
import { ProcessCluster, waitUntil } from '../harness/process-cluster.js';

let cluster: ProcessCluster;
const clients = new Map<string, RoomClient>();

function client(id: string): RoomClient {
  let c = clients.get(id);
  if (c === undefined) {
    c = new RoomClient(cluster.node(id).grpc, { apiKey: cluster.apiKey, apiSecret: cluster.apiSecret });
    clients.set(id, c);
  }
  return c;
}

/** localNames lists every room a node holds in memory (LOCAL read). */
async function localNames(id: string): Promise<Set<string>> {
  const names = new Set<string>();
  let pageToken = '';
  do {
    const r = await client(id).listRooms({ consistency: Consistency.CONSISTENCY_LOCAL, pageSize: 10_000, pageToken });
    for (const room of r.rooms) names.add(room.name);
    pageToken = r.nextPageToken;
  } while (pageToken !== '');
  return names;
}

async function expectEverywhere(ids: readonly string[], names: readonly string[]): Promise<void> {
  for (const id of ids) {
    await waitUntil(`${id} holds all ${names.length} rooms`, async () => {
      const held = await localNames(id);
      return names.every((n) => held.has(n));
    });
  }
}

/** createRetrying creates a room through `via`, retrying (same request id) while a leader is being elected. */
async function createRetrying(via: string, name: string): Promise<void> {
  await waitUntil(
    `${name} is created`,
    async () => {
      await client(via).createRoom({ name, requestId: name }, 5_000);
      return true;
    },
    30_000,
  );
}

/** snapshotsTaken lists the indexes of the snapshots node `id` has logged taking. */
function snapshotsTaken(id: string): number[] {
  return readFileSync(cluster.node(id).logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"snapshot_taken"'))
    .map((l) => (JSON.parse(l) as { index: number }).index);
}

function followers(leader: string): string[] {
  return cluster.nodes.map((n) => n.id).filter((id) => id !== leader);
}

beforeAll(async () => {
  cluster = await ProcessCluster.launch(3, ['--snapshot-interval-entries', '200']);
});

afterAll(async () => {
  for (const c of clients.values()) c.close();
  await cluster.stop();
});

describe('a 3-node cluster of real processes', () => {
  it('elects one leader and replicates writes made on any node to all', async () => {
    const names: string[] = [];
    for (let i = 0; i < 30; i++) {
      const via = cluster.nodes[i % 3]?.id ?? 'n1';
      const r = await client(via).createRoom({ name: `replicated-${i}` });
      expect(r.created).toBe(true);
      names.push(`replicated-${i}`);
    }
    await expectEverywhere(['n1', 'n2', 'n3'], names);
  });

  it('loses no acknowledged write when the leader is killed with SIGKILL under load, and the node catches up after a restart', async () => {
    const leader = await cluster.waitForLeader();
    const [writer] = followers(leader);
    if (writer === undefined) throw new Error('no follower');
    const acked: string[] = [];
    let stop = false;
    let attempts = 0;
    const load = (async () => {
      while (!stop) {
        const name = `under-load-${attempts++}`;
        try {
          await client(writer).createRoom({ name, requestId: name }, 2_000);
          acked.push(name);
        } catch (e) {
          expect([14, 4], `unexpected error ${(e as ServiceError).details}`).toContain((e as ServiceError).code); // UNAVAILABLE, DEADLINE_EXCEEDED
        }
      }
    })();
    await waitUntil('the load is under way', async () => acked.length >= 20);
    const ackedBeforeKill = acked.length;
    await cluster.kill(leader, 'SIGKILL');
    await waitUntil('writes succeed again', async () => acked.length > ackedBeforeKill + 20, 15_000);
    stop = true;
    await load;
    const survivors = followers(leader);
    await expectEverywhere(survivors, acked);
    cluster.start(leader);
    await expectEverywhere([leader], acked);
  });
});

describe('a 3-node cluster of real processes, catching up and stopping', () => {
  it('catches up a node that fell far behind by installing a snapshot', async () => {
    const leader = await cluster.waitForLeader();
    const [behind, other] = followers(leader);
    if (behind === undefined || other === undefined) throw new Error('need two followers');
    await cluster.kill(behind, 'SIGKILL');
    // The stopped node's log ends at or near the commit index now (no writes run between tests;
    // the margin covers an expiry batch in flight). Catching up by appends must be impossible:
    // write until every live node (either may lead when it returns) has compacted its log past
    // that point, which a second snapshot beyond it proves (compaction follows each snapshot
    // at the next turn, long before another 200 entries apply).
    let stoppedAtIndex = -1;
    await waitUntil('the leader reports its commit index', async () => {
      stoppedAtIndex = ((await cluster.status(leader))?.commitIndex ?? -101) + 100;
      return stoppedAtIndex >= 0;
    });
    const names: string[] = [];
    const compactedPast = (id: string): boolean =>
      snapshotsTaken(id).filter((index) => index > stoppedAtIndex).length >= 2;
    while (!compactedPast(leader) || !compactedPast(other)) {
      const batch = Array.from({ length: 50 }, (_, i) => `while-down-${names.length + i}`);
      await Promise.all(batch.map((name) => createRetrying(other, name)));
      names.push(...batch);
      expect(names.length, 'snapshots every 200 entries should have compacted the log by now').toBeLessThan(20_000);
    }
    cluster.start(behind);
    await expectEverywhere([behind], names);
    const events = readFileSync(cluster.node(behind).logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"snapshot_installed"'));
    expect(events.length, 'the node should have caught up by snapshot').toBeGreaterThan(0);
  });

  it('stops gracefully on SIGTERM: the leader hands over and exits 0', async () => {
    const leader = await cluster.waitForLeader();
    const code = await cluster.kill(leader, 'SIGTERM');
    expect(code).toBe(0);
    const next = await cluster.waitForLeader(10_000);
    expect(next).not.toBe(leader);
    const r = await client(next).createRoom({ name: 'after-handover' });
    expect(r.created).toBe(true);
    cluster.start(leader);
    await expectEverywhere([leader], ['after-handover']);
  });
});
