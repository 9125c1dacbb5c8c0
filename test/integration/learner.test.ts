/**
 * Goal (issue 14 items 3-5): a regional learner serves LOCAL reads from its memory and
 * linearizable reads through ReadIndex, and forwards writes, without being part of the write
 * quorum; the membership RPCs need an admin key; /status and /readyz say where a node stands.
 * Method: a real 3-node cluster and a spare started with --join, added with --learner through
 * the gRPC API; then the learner is promoted and removed, and its data dir refuses to start.
 */
import { spawnSync } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Consistency } from '../../src/gen/roomregistry/v1/rooms.js';
import { REGISTRY_VERSIONS } from '../../src/registry/index.js';
import { ProcessCluster, cliPath, waitUntil } from '../harness/process-cluster.js';

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.create(3, [], { spares: 1, adminKey: true });
  cluster.startAll();
  await cluster.waitForLeader();
});

afterAll(async () => {
  await cluster.stop();
});

interface MemberStatus {
  memberRole: string;
  voters: string[];
  learners: string[];
}

interface VersionsJson {
  node: { command: number; snapshot: number };
  cluster: { command: { version: number; heldBackBy: string | null } };
  members: Record<string, { command: number; snapshot: number }>;
  current: Record<string, { command: number; snapshot: number }>;
  commandVersionInUse: number;
}

async function memberStatus(id: string): Promise<MemberStatus | null> {
  return (await cluster.status(id)) as unknown as MemberStatus | null;
}

async function readyz(id: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://${cluster.node(id).http}/readyz`, { signal: AbortSignal.timeout(1_000) });
  return { status: res.status, body: await res.text() };
}

it('a learner serves LOCAL and linearizable reads, forwards writes, and can be promoted and removed', async () => {
  cluster.start('n4');
  await waitUntil('n4 answers /readyz', async () => (await readyz('n4')).status > 0);
  const waiting = await readyz('n4');
  expect(waiting.status).toBe(503);
  expect(waiting.body).toMatch(/waiting to be added/);
  expect((await memberStatus('n4'))?.memberRole).toBe('none');

  // Any node takes the call: a follower answers UNAVAILABLE naming the leader.
  const leader = await cluster.waitForLeader();
  const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader) ?? 'n1';
  const n4 = cluster.node('n4');
  const add = { id: 'n4', region: n4.region, grpc: n4.grpc, peer: n4.peer, http: n4.http, learner: true };
  const refused = await cluster
    .client(follower)
    .addMember(add)
    .then(
      () => null,
      (e: grpc.ServiceError) => e,
    );
  expect(refused?.code).toBe(grpc.status.UNAVAILABLE);
  expect(refused?.metadata.get('x-room-registry-leader')[0]).toBe(leader);
  expect((await cluster.client(leader).addMember(add)).index).toBeGreaterThan(0);

  await waitUntil('n4 is a ready learner', async () => (await readyz('n4')).status === 200);
  const s = await memberStatus('n4');
  expect(s?.memberRole).toBe('learner');
  expect(s?.learners).toEqual(['n4']);
  expect(s?.voters.sort()).toEqual(['n1', 'n2', 'n3']);
  // Version gating (DESIGN §12): /status shows this node's formats and the cluster's, learners included.
  const versionsOf = async (id: string): Promise<VersionsJson> =>
    ((await cluster.status(id)) as unknown as { versions: VersionsJson }).versions;
  const versions = await versionsOf(leader);
  expect(versions.node).toEqual(REGISTRY_VERSIONS);
  expect(versions.cluster.command).toEqual({ version: REGISTRY_VERSIONS.command, heldBackBy: null });
  expect(Object.keys(versions.members).sort()).toEqual(['n1', 'n2', 'n3', 'n4']);
  expect(Object.keys(versions.current).sort()).toEqual(['n1', 'n2', 'n3', 'n4']);
  // Every member applies this build's format, so the leader brought it into use (SetCommandVersion), learner included.
  await waitUntil('the command version is in use on the learner', async () => {
    return (await versionsOf('n4')).commandVersionInUse === REGISTRY_VERSIONS.command;
  });

  // Writes through the learner are forwarded to the leader; reads are served by the learner.
  const viaLearner = cluster.client('n4');
  await viaLearner.createRoom({ name: 'regional', metadata: 'from-the-learner' });
  await cluster.client(leader).updateRoomMetadata({ room: 'regional', metadata: 'from-the-leader' });
  const linearizable = await viaLearner.getRoom({ name: 'regional' });
  expect(linearizable.room?.metadata).toBe('from-the-leader');
  await waitUntil('the learner applied the update', async () => {
    const local = await viaLearner.getRoom({ name: 'regional', consistency: Consistency.CONSISTENCY_LOCAL });
    return local.room?.metadata === 'from-the-leader';
  });

  // Added with --learner, it stays a learner (no promotion intent), and the leader reports its progress.
  const listed = await cluster.client(leader).listMembers();
  const asListed = listed.members.find((m) => m.id === 'n4');
  expect(asListed).toMatchObject({ role: 'learner', promote: false, progressKnown: true, reachable: true });

  // Promotion and removal through the CLI, which follows the leader hint from any node.
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [cliPath, 'members', ...args, '--config', cluster.configFile], {
      encoding: 'utf8',
      timeout: 20_000,
    });
  const promoted = cli('promote', 'n4');
  expect(promoted.status, promoted.stderr).toBe(0);
  await waitUntil('n4 is a voter', async () => (await memberStatus('n4'))?.memberRole === 'voter');
  const exited = cluster.expectExit('n4');
  const removed = cli('remove', 'n4');
  expect(removed.status, removed.stderr).toBe(0);
  expect(await exited).toBe(0);

  // Its data dir now says it is not a member: it refuses to start, with the reason.
  const again = spawnSync(
    process.execPath,
    [cliPath, 'serve', '--config', cluster.configFile, '--id', 'n4', '--data-dir', n4.dataDir],
    { encoding: 'utf8', timeout: 20_000 },
  );
  expect(again.stderr).toMatch(/n4 was removed from the cluster/);
  expect(again.status).toBe(2);
}, 90_000);
