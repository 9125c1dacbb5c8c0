/**
 * Goal: the cluster config refuses what an operator would regret (issue 12, "Secrets"): secrets
 * shorter than 32 characters, unknown keys (named), admin keys that are not API keys; and it
 * reads secrets from a file or an environment variable instead of inline, and the listener TLS
 * and per-node peer certificate entries. Method: parseClusterConfig on objects, compileConfig on
 * the result; the committed test certificates for the files.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileConfig, parseClusterConfig } from '../../../src/config/cluster-config.js';
import { secretCharsMin } from '../../../src/config/secrets.js';

const dir = mkdtempSync(join(tmpdir(), 'rr-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const tlsDir = join(import.meta.dirname, '..', '..', 'fixtures', 'tls');

const long = (c: string): string => c.repeat(secretCharsMin);
const node = (id: string, base: number): Record<string, unknown> => ({
  id,
  region: 'r',
  grpc: `127.0.0.1:${base}`,
  peer: `127.0.0.1:${base + 1}`,
  http: `127.0.0.1:${base + 2}`,
});
const good = (): Record<string, unknown> => ({
  cluster: 'c',
  secret: long('s'),
  apiKeys: { k: long('a') },
  nodes: [node('n1', 1000), node('n2', 2000)],
});

function parse(
  raw: unknown,
  env: Record<string, string> = {},
): { problems: string[]; config: ReturnType<typeof parseClusterConfig> } {
  const problems: string[] = [];
  const config = parseClusterConfig(raw, problems, env);
  return { problems, config };
}

const flags = { id: 'n1', dataDir: '/tmp/x', fsync: 'always', faultInjection: false, snapshotIntervalEntries: null };

describe('secrets', () => {
  it('accepts 32-character secrets and refuses shorter ones, naming which', () => {
    expect(parse(good()).problems).toEqual([]);
    const short = parse({ ...good(), secret: 'x'.repeat(secretCharsMin - 1) });
    expect(short.problems.join()).toMatch(/"secret" must be at least 32 characters \(it has 31\)/);
    const shortKey = parse({ ...good(), apiKeys: { k: 'devsecret' } });
    expect(shortKey.problems.join()).toMatch(/apiKeys\.k must be at least 32 characters/);
    expect(shortKey.problems.join()).not.toContain('devsecret');
  });

  it('reads a secret from a file (without its trailing newline) or from an environment variable', () => {
    const file = join(dir, 'cluster.secret');
    writeFileSync(file, `${long('f')}\n`);
    const r = parse(
      { ...good(), secret: { file }, apiKeys: { k: { env: 'RR_TEST_KEY' } } },
      { RR_TEST_KEY: long('e') },
    );
    expect(r.problems).toEqual([]);
    expect(r.config?.secret).toBe(long('f'));
    expect(r.config?.apiKeys.get('k')).toBe(long('e'));
  });

  it('refuses a missing file, an unset variable and a malformed reference', () => {
    expect(parse({ ...good(), secret: { file: join(dir, 'nope') } }).problems.join()).toMatch(
      /"secret": cannot read secret file/,
    );
    expect(parse({ ...good(), secret: { env: 'RR_UNSET' } }).problems.join()).toMatch(
      /environment variable RR_UNSET is not set/,
    );
    expect(parse({ ...good(), secret: { file: 'a', env: 'B' } }).problems.join()).toMatch(
      /must be a string, \{"file": path\} or \{"env": NAME\}/,
    );
    const shortFile = join(dir, 'short.secret');
    writeFileSync(shortFile, 'short');
    expect(parse({ ...good(), secret: { file: shortFile } }).problems.join()).toMatch(/at least 32/);
  });
});

describe('unknown keys', () => {
  it('are refused with their name, at every level', () => {
    expect(parse({ ...good(), apiKey: {} }).problems.join()).toMatch(/unknown key "apiKey"/);
    const nodes = [{ ...node('n1', 1000), grcp: 'x' }, node('n2', 2000)];
    expect(parse({ ...good(), nodes }).problems.join()).toMatch(/unknown key "grcp" in nodes\[0\]/);
    const peerTls = { certFile: 'a', keyFile: 'b', cafile: 'c' };
    expect(parse({ ...good(), peerTls }).problems.join()).toMatch(/unknown key "cafile" in peerTls/);
    const tlsNodes = [{ ...node('n1', 1000), tls: { cert: 'a', key: 'b', ca: 'c' } }, node('n2', 2000)];
    expect(parse({ ...good(), nodes: tlsNodes }).problems.join()).toMatch(/unknown key "ca" in nodes\[0\]\.tls/);
  });
});

describe('admin listener', () => {
  it('is an optional host:port, unique among all addresses', () => {
    const withAdmin = [{ ...node('n1', 1000), admin: '127.0.0.1:1003' }, node('n2', 2000)];
    expect(parse({ ...good(), nodes: withAdmin }).config?.members[0]?.adminAddress).toBe('127.0.0.1:1003');
    expect(parse(good()).config?.members[0]?.adminAddress).toBeNull();
    const clash = [{ ...node('n1', 1000), admin: '127.0.0.1:2000' }, node('n2', 2000)];
    expect(parse({ ...good(), nodes: clash }).problems.join()).toMatch(/duplicate address 127\.0\.0\.1:2000/);
  });
});

describe('admin keys', () => {
  it('must name API keys', () => {
    expect(parse({ ...good(), adminKeys: ['k'] }).config?.adminKeys).toEqual(new Set(['k']));
    expect(parse({ ...good(), adminKeys: ['root'] }).problems.join()).toMatch(
      /adminKeys names "root", which is not in apiKeys/,
    );
    expect(parse({ ...good(), adminKeys: 'k' }).problems.join()).toMatch(/"adminKeys" must be an array/);
    expect(parse(good()).config?.adminKeys.size).toBe(0);
  });
});

describe('TLS entries', () => {
  it('compile into the listener certificate and this node’s own peer certificate', () => {
    const n1 = {
      ...node('n1', 1000),
      tls: { cert: join(tlsDir, 'node.crt'), key: join(tlsDir, 'node.key'), clientCa: join(tlsDir, 'ca.crt') },
      peerCert: { certFile: join(tlsDir, 'n1.crt'), keyFile: join(tlsDir, 'n1.key') },
    };
    const peerTls = { certFile: 'shared.crt', keyFile: 'shared.key', caFile: join(tlsDir, 'peer-ca.crt') };
    const r = parse({ ...good(), peerTls, nodes: [n1, node('n2', 2000)] });
    expect(r.problems).toEqual([]);
    const c = r.config;
    if (c === null) throw new Error('no config');
    const compiled = compileConfig(c, flags);
    if (!compiled.ok) throw new Error(compiled.error);
    expect(compiled.value.listenerTls?.cert.toString()).toContain('BEGIN CERTIFICATE');
    expect(compiled.value.listenerTls?.clientCa).not.toBeNull();
    expect(compiled.value.peerTls).toEqual({
      certFile: join(tlsDir, 'n1.crt'),
      keyFile: join(tlsDir, 'n1.key'),
      caFile: peerTls.caFile,
    });
    const n2 = compileConfig(c, { ...flags, id: 'n2' });
    expect(n2.ok && n2.value.listenerTls === null && n2.value.peerTls?.certFile === 'shared.crt').toBe(true);
  });

  it('refuses, at compile, a certificate file that cannot be read', () => {
    const n1 = { ...node('n1', 1000), tls: { cert: join(dir, 'missing.crt'), key: join(tlsDir, 'node.key') } };
    const c = parse({ ...good(), nodes: [n1, node('n2', 2000)] }).config;
    if (c === null) throw new Error('no config');
    const compiled = compileConfig(c, flags);
    expect(compiled.ok ? '' : compiled.error).toMatch(/nodes\[n1\]\.tls: cannot read a certificate file/);
  });
});

it('the dev config cluster/local.json passes every rule', async () => {
  const { loadClusterConfig } = await import('../../../src/config/cluster-config.js');
  const r = loadClusterConfig(join(import.meta.dirname, '..', '..', '..', 'cluster', 'local.json'));
  expect(r.ok ? 'ok' : r.error.problem).toBe('ok');
});
