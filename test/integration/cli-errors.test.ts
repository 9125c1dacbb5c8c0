/**
 * Goal: `room-registry serve` refuses every bad flag or config with a clear message and exit
 * code 2 before it touches anything (issue 3). Method: run the built CLI on broken inputs in a
 * temp dir and read stderr.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type NodeId, index, term } from '../../src/lib/ids.js';
import { silentLogger } from '../../src/lib/logger.js';
import { DiskLogStorage } from '../../src/storage/disk-log-storage.js';
import { cliPath } from '../harness/process-cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'rr-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const node = (id: string, base: number): Record<string, string> => ({
  id,
  region: 'r',
  grpc: `127.0.0.1:${base}`,
  peer: `127.0.0.1:${base + 1}`,
  http: `127.0.0.1:${base + 2}`,
});
const goodConfig = {
  cluster: 'c1',
  secret: 'a-long-enough-secret-a-long-enough',
  apiKeys: { k: 'an-api-secret-of-32-characters-ok' },
  nodes: [node('n1', 41000), node('n2', 41010)],
};

function config(name: string, body: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, typeof body === 'string' ? body : JSON.stringify(body));
  return file;
}

function serve(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [cliPath, 'serve', ...args], { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, stderr: r.stderr };
}

describe('serve refuses bad input', () => {
  const good = config('good.json', goodConfig);
  const cases: Array<[string, string[], RegExp]> = [
    ['an unknown flag', ['--config', good, '--id', 'n1', '--data-dir', join(dir, 'd0'), '--bogus'], /bogus/],
    ['a missing --id', ['--config', good, '--data-dir', join(dir, 'd1')], /--id/],
    ['a bad --fsync', ['--config', good, '--id', 'n1', '--data-dir', join(dir, 'd2'), '--fsync', 'sometimes'], /fsync/],
    ['an unknown node id', ['--config', good, '--id', 'n7', '--data-dir', join(dir, 'd3')], /n7/],
    [
      'a missing config file',
      ['--config', join(dir, 'nope.json'), '--id', 'n1', '--data-dir', join(dir, 'd4')],
      /cannot read cluster config/,
    ],
    [
      'a config that is not JSON',
      ['--config', config('bad.json', '{"cluster": '), '--id', 'n1', '--data-dir', join(dir, 'd5')],
      /bad\.json/,
    ],
    [
      'duplicate ports',
      [
        '--config',
        config('dup.json', { ...goodConfig, nodes: [node('n1', 41000), node('n2', 41000)] }),
        '--id',
        'n1',
        '--data-dir',
        join(dir, 'd6'),
      ],
      /duplicate address/,
    ],
    [
      'a duplicate node id',
      [
        '--config',
        config('dupid.json', { ...goodConfig, nodes: [node('n1', 41000), node('n1', 41010)] }),
        '--id',
        'n1',
        '--data-dir',
        join(dir, 'd7'),
      ],
      /duplicate node id/,
    ],
    [
      'a short cluster secret',
      ['--config', config('short.json', { ...goodConfig, secret: 'x' }), '--id', 'n1', '--data-dir', join(dir, 'd8')],
      /secret/,
    ],
  ];
  for (const [what, args, message] of cases) {
    it(`with exit code 2 for ${what}`, () => {
      const r = serve(...args);
      expect(r.stderr).toMatch(message);
      expect(r.status, r.stderr).toBe(2);
    });
  }
});

describe('serve refuses data dirs it cannot trust', () => {
  const good = config('good-dirs.json', goodConfig);
  it('with exit code 2 for a data dir of another cluster or node, and for an unusable one', () => {
    const theirs = join(dir, 'theirs');
    mkdirSync(theirs);
    writeFileSync(join(theirs, 'identity.json'), JSON.stringify({ cluster: 'other', node: 'n1' }));
    const r = serve('--config', good, '--id', 'n1', '--data-dir', theirs);
    expect(r.stderr).toMatch(/belongs to node n1 of cluster other/);
    expect(r.status).toBe(2);
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a dir');
    const r2 = serve('--config', good, '--id', 'n1', '--data-dir', join(file, 'sub'));
    expect(r2.stderr).toMatch(/is not usable/);
    expect(r2.status).toBe(2);
    if (process.getuid?.() !== 0) {
      const locked = join(dir, 'locked');
      mkdirSync(locked);
      chmodSync(locked, 0o500);
      expect(serve('--config', good, '--id', 'n1', '--data-dir', locked).status).toBe(2);
    }
  });

  it('with exit code 2 for an empty data dir without --initial-cluster-state new, and says how to rejoin (finding 2)', () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    const r = serve('--config', good, '--id', 'n1', '--data-dir', empty);
    expect(r.stderr).toMatch(/no record of having joined cluster c1/);
    expect(r.stderr).toMatch(/--initial-cluster-state new/);
    expect(r.stderr).toMatch(/add it back as a new member/);
    expect(r.status).toBe(2);
    const bad = serve('--config', good, '--id', 'n1', '--data-dir', empty, '--initial-cluster-state', 'maybe');
    expect(bad.stderr).toMatch(/--initial-cluster-state takes new or existing/);
    expect(bad.status).toBe(2);
  });
});

describe('serve refuses to start outside the membership in the log (issue 14)', () => {
  const good = config('good-members.json', goodConfig);
  it('with exit code 2 when the configuration in its log leaves this node out: it was removed (issue 14)', async () => {
    const dataDir = join(dir, 'removed');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'identity.json'), JSON.stringify({ cluster: 'c1', node: 'n1' }));
    const storage = await DiskLogStorage.open({ dir: dataDir, fsync: true, logger: silentLogger });
    const meta = { index: index(5), term: term(1), voters: ['n2', 'n3'] as NodeId[], learners: [], contexts: {} };
    await storage.snapshots.save(meta, (async function* () {})());
    await storage.applySnapshot(meta);
    await storage.close();
    const r = serve('--config', good, '--id', 'n1', '--data-dir', dataDir);
    expect(r.stderr).toMatch(/n1 is not a member of the configuration its log holds \(voters \[n2, n3\]/);
    expect(r.stderr).toMatch(/it was removed from the cluster/);
    expect(r.status).toBe(2);
  });

  it('with exit code 2 for --join with --initial-cluster-state new, and for a spare that would found a cluster', () => {
    const withSpare = config('spare.json', {
      ...goodConfig,
      nodes: [...goodConfig.nodes, { ...node('n3', 41020), spare: true }],
    });
    const both = serve(
      '--config',
      withSpare,
      '--id',
      'n1',
      '--data-dir',
      join(dir, 'both'),
      '--join',
      '--initial-cluster-state',
      'new',
    );
    expect(both.stderr).toMatch(/--join and --initial-cluster-state new exclude each other/);
    expect(both.status).toBe(2);
    const spare = serve(
      '--config',
      withSpare,
      '--id',
      'n3',
      '--data-dir',
      join(dir, 'spare'),
      '--initial-cluster-state',
      'new',
    );
    expect(spare.stderr).toMatch(/n3 is a spare node of the config: start it with --join/);
    expect(spare.status).toBe(2);
  });
});
