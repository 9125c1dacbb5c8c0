/**
 * Goal: `room-registry backup` takes a consistent backup from a cluster under load, following
 * a follower's leader hint; `backup verify` checks it; `room-registry restore` seeds a NEW
 * 3-node cluster whose rooms are exactly those of the backup's revision (every room
 * acknowledged at or before it, with its sid and metadata; none written after) (issue 15).
 * Method: a real 3-node cluster; creates run on the leader while the CLI asks a follower for
 * the backup; then three `restore`s into a renamed config and a listing of the new cluster.
 */
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import {
  RoomLoad,
  compareAtRevision,
  listAll,
  restoredCluster,
  runCli,
  verifyJson,
} from '../harness/disaster-recovery.js';
import { ProcessCluster } from '../harness/process-cluster.js';

const clusters: ProcessCluster[] = [];
afterAll(async () => {
  for (const c of clusters) await c.stop();
});

it('backs up under load at one revision and restores exactly that state into a new cluster', async () => {
  const source = await ProcessCluster.create(3, [], { adminKey: true });
  clusters.push(source);
  source.startAll();
  const leader = await source.waitForLeader();
  const follower = source.nodes.find((n) => n.id !== leader);
  if (follower === undefined) throw new Error('no follower');

  const load = new RoomLoad(source.client(leader), 'room');
  await load.createCount(300, 8);
  load.start(6);
  const out = join(source.dir, 'cluster.rrb');
  // Ask a follower: it answers with the leader hint and the CLI follows it.
  const run = await runCli(['backup', '--out', out, '--url', follower.grpc, '--config', source.configFile]);
  const before = load.acked.size;
  await load.stop();
  expect(run.code, run.stderr).toBe(0);
  expect(run.stderr).toMatch(/not the leader/);
  expect(run.stdout).toMatch(/OK/);
  expect(load.failures).toBe(0);

  const check = await verifyJson(out);
  expect(check.header.cluster).toBe('test');
  expect(check.header.members.voters.sort()).toEqual(['n1', 'n2', 'n3']);
  const revision = check.header.index;
  const atRevision = [...load.acked.values()].filter((a) => a.revision <= revision).length;
  expect(atRevision).toBeGreaterThanOrEqual(300);
  expect(check.rooms).toBe(atRevision);
  // Writes went on during the backup: some were acknowledged after its revision.
  expect(load.acked.size).toBeGreaterThan(atRevision);
  expect(before).toBeGreaterThan(300);

  // Given only a follower's --url, the CLI follows the leader address the follower adds to its answer.
  const quiet = join(source.dir, 'quiet.rrb');
  const keys = ['--api-key', source.apiKey, '--api-secret', source.apiSecret];
  const second = await runCli(['backup', '--out', quiet, '--url', follower.grpc, ...keys]);
  expect(second.code, second.stderr).toBe(0);
  expect(second.stderr).toContain(`asking the leader at http://${source.node(leader).grpc}`);
  expect((await verifyJson(quiet)).rooms).toBe(load.acked.size);

  const restored = await restoredCluster(out, 3, 'test-restored');
  clusters.push(restored);
  restored.startAll();
  const newLeader = await restored.waitForLeader();
  const rooms = await listAll(restored.client(newLeader));
  expect(compareAtRevision(load.acked, rooms, revision)).toEqual([]);
  expect(rooms.size).toBe(atRevision);
  // The new cluster takes writes, at revisions after the backup's.
  const created = await restored.client(newLeader).createRoom({ name: 'after-restore' });
  expect(created.room?.revision).toBeGreaterThan(revision);
  expect(restored.unexpectedExits).toEqual([]);
  expect(source.unexpectedExits).toEqual([]);
}, 120_000);
