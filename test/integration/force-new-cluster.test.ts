/**
 * Goal (issue 15 item 4, Done when: "force-new-cluster from a single survivor followed by adding
 * two fresh members"): when two of three members are gone for good, `serve --force-new-cluster`
 * on the survivor's data dir brings it back as the only voter with every acknowledged room; the
 * membership commands then grow it to three again; a restart without the flag keeps the new
 * configuration (it is in the log). The flag is refused on an empty data dir and with --join.
 * Method: real processes (n1..n3 found the cluster, spares n4 and n5 join later). Rooms are
 * written and the survivor (a follower, so the leader is among the lost) applies them; the
 * other two are killed by SIGKILL and never started again. Members are added with the CLI as an
 * operator would, and the three nodes' rooms (name, sid, metadata, creation time) are compared.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Consistency } from '../../src/gen/roomregistry/v1/rooms.js';
import { waitForConvergence } from '../chaos/final-checks.js';
import { runCli } from '../harness/disaster-recovery.js';
import { ProcessCluster, waitUntil } from '../harness/process-cluster.js';

const roomsCount = 30;
/** cliTimeoutMs bounds one CLI command (add waits for the promotion itself, with --wait-ms). */
const cliTimeoutMs = 40_000;

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.create(3, [], { spares: 2, adminKey: true });
  cluster.startAll();
  await cluster.waitForLeader();
});

afterAll(async () => {
  await cluster.stop();
});

/** cli runs `room-registry ARGS` and resolves with its exit code and output. */
async function cli(args: readonly string[]): Promise<{ code: number | null; out: string }> {
  const run = await runCli([...args], cliTimeoutMs);
  return { code: run.code, out: run.stdout + run.stderr };
}

/** onNode: the connection flags of one node (the config's first node may be one of the lost). */
function onNode(id: string): string[] {
  return ['--url', cluster.node(id).grpc, '--api-key', cluster.apiKey, '--api-secret', cluster.apiSecret];
}

/** roomsOn reads every room on node `id` (linearizable): name → "sid metadata". */
async function roomsOn(id: string): Promise<Map<string, string>> {
  const r = await cluster.client(id).listRooms({ consistency: Consistency.CONSISTENCY_LINEARIZABLE, pageSize: 1_000 });
  return new Map(r.rooms.map((room) => [room.name, `${room.sid} ${room.metadata}`]));
}

async function addMember(survivor: string, fresh: string): Promise<void> {
  cluster.start(fresh); // a spare: --join, waits to be added
  const n = cluster.node(fresh);
  const added = await cli([
    'members',
    'add',
    '--id',
    fresh,
    '--region',
    n.region,
    '--grpc',
    n.grpc,
    '--peer',
    n.peer,
    '--http',
    n.http,
    '--wait-ms',
    '30000',
    ...onNode(survivor),
  ]);
  expect(added.code, added.out).toBe(0);
  expect(added.out).toContain(`${fresh} is a voter`);
}

it('a survivor of a lost majority serves every acknowledged room alone, grows to three again, and keeps it', async () => {
  const leader = await cluster.waitForLeader();
  const survivor = ['n1', 'n2', 'n3'].find((id) => id !== leader) ?? 'n1';
  const lost = ['n1', 'n2', 'n3'].filter((id) => id !== survivor);

  // Acknowledged rooms: created, a few updated, one deleted, all through the leader.
  const expected = new Map<string, string>();
  for (let k = 0; k < roomsCount; k++) {
    const r = await cluster.client(leader).createRoom({ name: `room-${k}`, metadata: `m${k}`, emptyTimeout: 3_600 });
    expected.set(`room-${k}`, `${r.room?.sid ?? '?'} m${k}`);
  }
  for (let k = 0; k < 5; k++) {
    await cluster.client(leader).updateRoomMetadata({ room: `room-${k}`, metadata: `updated-${k}` });
    expected.set(`room-${k}`, `${expected.get(`room-${k}`)?.split(' ')[0]} updated-${k}`);
  }
  await cluster.client(leader).deleteRoom({ room: 'room-29' });
  expected.delete('room-29');
  const committed = (await cluster.status(leader))?.commitIndex ?? Infinity;
  await cluster.waitForApplied(survivor, committed, 10_000);

  // The majority is gone for good; the survivor stops too, then starts alone with the flag.
  for (const id of lost) await cluster.kill(id);
  await cluster.kill(survivor, 'SIGTERM');
  cluster.start(survivor, false, ['--force-new-cluster']);
  expect(await cluster.waitForLeader()).toBe(survivor);
  const forced = cluster.logEvents(survivor, 'force_new_cluster');
  expect(forced).toHaveLength(1);
  expect(forced[0]).toMatchObject({ level: 'warn', removed: [...lost].sort() });
  expect(forced[0]?.['keptIndex']).toBeGreaterThanOrEqual(committed);
  expect(String(forced[0]?.['detail'])).toContain(
    `WRITES ACKNOWLEDGED AFTER INDEX ${String(forced[0]?.['keptIndex'])}`,
  );

  // Reads and writes, alone.
  expect(await roomsOn(survivor)).toEqual(expected);
  const after = await cluster.client(survivor).createRoom({ name: 'after-force', metadata: 'a', emptyTimeout: 3_600 });
  expected.set('after-force', `${after.room?.sid ?? '?'} a`);
  await cluster.client(survivor).updateRoomMetadata({ room: 'room-10', metadata: 'alone' });
  expected.set('room-10', `${expected.get('room-10')?.split(' ')[0]} alone`);

  // Two fresh members, by the CLI, each promoted to voter.
  await addMember(survivor, 'n4');
  await addMember(survivor, 'n5');
  const three = [survivor, 'n4', 'n5'].map((id) => cluster.node(id));
  const convergence = await waitForConvergence(cluster, 20_000, three);
  expect(convergence.converged, convergence.details).toBe(true);
  for (const id of [survivor, 'n4', 'n5']) expect(await roomsOn(id), id).toEqual(expected);

  // A restart without the flag keeps the new configuration: it is in the log.
  await cluster.kill(survivor, 'SIGTERM');
  cluster.start(survivor);
  await waitUntil(
    `${survivor} is back as a voter`,
    async () => (await cluster.status(survivor))?.memberRole === 'voter',
  );
  await cluster.waitForLeader();
  const members = await cluster.client(survivor).listMembers();
  expect(members.members.map((m) => `${m.id}:${m.role}`).sort()).toEqual(
    [survivor, 'n4', 'n5'].map((id) => `${id}:voter`).sort(),
  );
  expect(cluster.logEvents(survivor, 'force_new_cluster')).toHaveLength(1);
  await cluster.client(survivor).createRoom({ name: 'after-restart', emptyTimeout: 3_600 });
  expect((await roomsOn('n4')).has('after-restart')).toBe(true);
  expect(cluster.unexpectedExits).toEqual([]);
}, 150_000);

it('refuses --force-new-cluster on an empty data dir and together with --join', async () => {
  const serve = ['serve', '--config', cluster.configFile, '--id', 'n1'];
  const empty = await cli([...serve, '--data-dir', join(cluster.dir, 'never-used'), '--force-new-cluster']);
  expect(empty.code, empty.out).toBe(2);
  expect(empty.out).toContain('--force-new-cluster refused: data dir');
  expect(empty.out).toContain('is empty or missing');
  const joining = await cli([...serve, '--data-dir', join(cluster.dir, 'never-used'), '--force-new-cluster', '--join']);
  expect(joining.code, joining.out).toBe(2);
  expect(joining.out).toContain('excludes --join');
});
