/**
 * Goal: the ports the harness gives out are never the same twice while their holders live. The
 * kernel may hand a port just closed to the next listen(0), in this process or another; a
 * 3-node cluster's nine ports then held a duplicate in about 1% of tries, and its nodes refused
 * their config ("duplicate address"), which failed a benchmark and, now and then, a test; test
 * files running in parallel processes could likewise be given each other's ports. Method: 100
 * clusters' worth of ports in this process; then ports drawn here while a second live process
 * (the compiled harness, as `make test` builds it) holds as many.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { freePort, repoRoot } from '../../harness/process-cluster.js';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

it('never hands out a port twice in a process', async () => {
  const ports: number[] = [];
  for (let i = 0; i < 100 * 9; i++) ports.push(await freePort());
  expect(new Set(ports).size).toBe(ports.length);
});

it('never hands out a port that another live process was given', async () => {
  const harness = join(repoRoot, 'dist', 'test', 'harness', 'process-cluster.js');
  const script =
    `const { freePort } = await import(${JSON.stringify(harness)});` +
    'const ports = []; for (let i = 0; i < 300; i++) ports.push(await freePort());' +
    'console.log(JSON.stringify(ports)); setInterval(() => {}, 1000);';
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const theirs = await new Promise<number[]>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(JSON.parse(out) as number[]);
    });
    child.once('exit', (code) => reject(new Error(`the other process ended (${code}) before it printed its ports`)));
  });
  const held = new Set(theirs);
  const ours: number[] = [];
  for (let i = 0; i < 300; i++) ours.push(await freePort());
  expect(ours.filter((p) => held.has(p))).toEqual([]);
});
