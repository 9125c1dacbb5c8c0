/**
 * Goal: `serve --quota-bytes` compiles into the config with its default and refuses values that
 * cannot be a quota (issue 12 item 5). Method: compileConfig on a parsed one-node cluster.
 */
import { describe, expect, it } from 'vitest';
import { compileConfig, parseClusterConfig } from '../../../src/config/cluster-config.js';
import { LIMITS } from '../../../src/config/limits.js';

const problems: string[] = [];
const cluster = parseClusterConfig(
  {
    cluster: 'c',
    secret: 'a-cluster-secret-of-at-least-32-characters',
    apiKeys: { k: 'an-api-secret-of-at-least-32-characters!' },
    nodes: [{ id: 'n1', region: 'r', grpc: '127.0.0.1:1', peer: '127.0.0.1:2', http: '127.0.0.1:3' }],
  },
  problems,
);
const flags = { id: 'n1', dataDir: '/tmp/x', fsync: 'always', faultInjection: false, snapshotIntervalEntries: null };

describe('--quota-bytes', () => {
  it('defaults to 2 GiB and takes a whole number of bytes of at least 1 MiB', () => {
    expect(problems).toEqual([]);
    if (cluster === null) throw new Error('config did not parse');
    const byDefault = compileConfig(cluster, flags);
    expect(byDefault.ok && byDefault.value.quotaBytes).toBe(2 * 1024 ** 3);
    expect(LIMITS.quotaBytesDefault).toBe(2 * 1024 ** 3);
    const set = compileConfig(cluster, { ...flags, quotaBytes: 5 << 20 });
    expect(set.ok && set.value.quotaBytes).toBe(5 << 20);
    for (const bad of [0, -1, 1.5e6 + 0.5, 1000, Number.NaN]) {
      const r = compileConfig(cluster, { ...flags, quotaBytes: bad });
      expect(r.ok, String(bad)).toBe(false);
      expect(!r.ok && r.error).toMatch(/--quota-bytes must be a whole number of bytes, at least 1048576/);
    }
  });
});
