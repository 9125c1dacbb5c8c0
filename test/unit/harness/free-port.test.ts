/**
 * Goal: the ports the harness gives out are never the same twice in one process. The kernel may
 * hand a port just closed to the next listen(0); a 3-node cluster's nine ports then held a
 * duplicate in about 1% of tries, and its nodes refused their config ("duplicate address"),
 * which failed a benchmark and, now and then, a test. Method: 500 clusters' worth of ports.
 */
import { expect, it } from 'vitest';
import { freePort } from '../../harness/process-cluster.js';

it('never hands out a port twice', async () => {
  const ports: number[] = [];
  for (let i = 0; i < 500 * 9; i++) ports.push(await freePort());
  expect(new Set(ports).size).toBe(ports.length);
});
