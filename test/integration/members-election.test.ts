/**
 * Goal: a membership change asked while no node names a leader (an election; a two-voter
 * cluster whose new member lags can lose its leader for a moment) waits for one and is made,
 * instead of failing at once. Found when `members add` failed UNAVAILABLE in the
 * force-new-cluster test under a CPU hog. Method: real processes; n1 starts alone (no
 * majority, so no leader), `members add` is asked of it, and only once the CLI says it is
 * waiting do n2 and n3 start; the spare n4 must end up added.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../harness/disaster-recovery.js';
import { ProcessCluster, waitUntil } from '../harness/process-cluster.js';

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.create(3, [], { spares: 1, adminKey: true });
});

afterAll(async () => {
  await cluster?.stop();
});

it('members add waits out a leaderless moment and adds the member', async () => {
  cluster.start('n1');
  cluster.start('n4'); // the spare: --join, waits to be added
  const n4 = cluster.node('n4');
  let stderr = '';
  const run = runCli(
    [
      'members',
      'add',
      '--id',
      'n4',
      '--region',
      n4.region,
      '--grpc',
      n4.grpc,
      '--peer',
      n4.peer,
      '--http',
      n4.http,
      '--learner',
      '--url',
      cluster.node('n1').grpc,
      '--api-key',
      cluster.apiKey,
      '--api-secret',
      cluster.apiSecret,
    ],
    60_000,
    (s) => (stderr += s),
  );
  await waitUntil('the CLI waits for a leader', async () => stderr.includes('no leader yet'), 30_000);
  cluster.start('n2');
  cluster.start('n3');
  const done = await run;
  expect(done.code, done.stderr).toBe(0);
  expect(done.stdout).toContain('added n4 as a learner');
  await waitUntil('n4 knows it is a learner', async () => (await cluster.status('n4'))?.memberRole === 'learner');
}, 90_000);
