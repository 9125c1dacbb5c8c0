/**
 * Goal: with `tls` in a node's config entry its client listeners serve TLS (issue 12, "Also
 * deliver"): gRPC over TLS through RoomClient, ClusterRoomClient and the CLI (`status` over
 * grpcs and over https, `rooms` with a client certificate), Twirp and /status over https, and
 * LiveKit's own Node SDK against https. A client never downgrades: an https URL it cannot
 * verify fails rather than falling back to plaintext, and plaintext gets nowhere on a TLS
 * port. With `clientCa` (mTLS) a client without a certificate signed by it is refused.
 * Method: a real 3-node cluster with the committed test certificates (test/fixtures/tls):
 * n1 and n2 serve node.crt (CA ca.crt); n3 also requires client certificates of peer-ca.crt.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../../src/api/auth.js';
import { ClusterRoomClient } from '../../src/client/cluster-client.js';
import { RoomClient } from '../../src/client/room-client.js';
import {
  ProcessCluster,
  agreedLeader,
  cliPath,
  repoRoot,
  waitUntil,
  type NodeStatusJson,
} from '../harness/process-cluster.js';

const tlsDir = join(repoRoot, 'test', 'fixtures', 'tls');
const file = (name: string): string => join(tlsDir, name);
const ca = readFileSync(file('ca.crt'));
const clientCert = { cert: readFileSync(file('n1.crt')), key: readFileSync(file('n1.key')) };
const run = promisify(execFile);

let c: ProcessCluster;

interface Reply {
  status: number;
  body: string;
}

/** fetchText: one request over http or https (trusting `ca`, presenting a client certificate when given). */
function fetchText(
  url: string,
  opts: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    ca?: Buffer;
    cert?: Buffer;
    key?: Buffer;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const options = {
      method: opts.method ?? 'GET',
      headers: opts.headers ?? {},
      timeout: 3_000,
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
    };
    const onResponse = (res: IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    };
    const req = url.startsWith('https:')
      ? httpsRequest(url, options, onResponse)
      : httpRequest(url, options, onResponse);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

async function statusOf(id: string): Promise<NodeStatusJson | null> {
  try {
    const r = await fetchText(`https://${c.node(id).http}/status`, { ca, ...clientCert });
    return JSON.parse(r.body) as NodeStatusJson;
  } catch {
    return null;
  }
}

/** ids: the members; a leader checked below is one of them (an election under load may have moved it). */
const ids = ['n1', 'n2', 'n3'];

const creds = (): { apiKey: string; apiSecret: string } => ({ apiKey: c.apiKey, apiSecret: c.apiSecret });

beforeAll(async () => {
  c = await ProcessCluster.create(3);
  const config = JSON.parse(readFileSync(c.configFile, 'utf8')) as { nodes: Array<Record<string, unknown>> };
  for (const n of config.nodes)
    n['tls'] = {
      cert: file('node.crt'),
      key: file('node.key'),
      ...(n['id'] === 'n3' ? { clientCa: file('peer-ca.crt') } : {}),
    };
  writeFileSync(c.configFile, JSON.stringify(config));
  c.startAll();
  await waitUntil(
    'the TLS cluster agrees on a leader',
    async () => agreedLeader(await Promise.all(c.nodes.map((n) => statusOf(n.id)))) !== null,
    30_000,
  );
});

afterAll(async () => {
  await c.stop();
});

describe('gRPC over TLS', () => {
  it('serves RoomClient on grpcs:// and https:// URLs with the CA, and refuses what cannot be verified', async () => {
    const client = new RoomClient(`grpcs://${c.node('n1').grpc}`, creds(), {}, { ca });
    expect((await client.createRoom({ name: 'over-grpcs' })).created).toBe(true);
    client.close();
    const viaHttps = new RoomClient(`https://${c.node('n2').grpc}`, creds(), {}, { ca });
    expect((await viaHttps.getRoom({ name: 'over-grpcs' })).room?.name).toBe('over-grpcs');
    viaHttps.close();
    // No CA: the self-signed chain cannot be verified, and the client does not fall back to plaintext.
    const untrusting = new RoomClient(`https://${c.node('n1').grpc}`, creds());
    await expect(untrusting.status(2_000)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    untrusting.close();
    const plaintext = new RoomClient(c.node('n1').grpc, creds());
    await expect(plaintext.status(2_000)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    plaintext.close();
  });

  it('with clientCa, refuses a client without a certificate and serves one with it', async () => {
    const without = new RoomClient(`grpcs://${c.node('n3').grpc}`, creds(), {}, { ca });
    await expect(without.status(2_000)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    without.close();
    const withCert = new RoomClient(`grpcs://${c.node('n3').grpc}`, creds(), {}, { ca, ...clientCert });
    expect(ids).toContain((await withCert.status()).leader);
    withCert.close();
  });

  it('serves ClusterRoomClient, which finds the leader over TLS', async () => {
    // Every member (n3 wants a client certificate; n1 and n2 ignore it), so it knows the leader wherever it is.
    const members = c.nodes.map((n) => ({ id: n.id, grpc: `grpcs://${n.grpc}` }));
    const cluster = new ClusterRoomClient(members, creds(), { tls: { ca, ...clientCert } });
    expect((await cluster.createRoom({ name: 'cluster-over-tls' })).created).toBe(true);
    expect(ids).toContain(cluster.leaderId());
    cluster.close();
  });
});

describe('HTTP over TLS', () => {
  it('serves Twirp and /status on https, and nothing on plain http', async () => {
    const token = signToken(c.apiKey, c.apiSecret, { roomList: true }, 600, Math.floor(Date.now() / 1000));
    const r = await fetchText(`https://${c.node('n1').http}/twirp/livekit.RoomService/ListRooms`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{}',
      ca,
    });
    expect(r.status).toBe(200);
    expect(r.body).toContain('over-grpcs');
    await expect(fetchText(`http://${c.node('n1').http}/status`)).rejects.toThrow();
    await expect(fetchText(`https://${c.node('n3').http}/status`, { ca })).rejects.toThrow();
  });

  it('serves LiveKit’s Node SDK (RoomServiceClient) on https with the CA in NODE_EXTRA_CA_CERTS', async () => {
    const script = [
      "import { RoomServiceClient } from 'livekit-server-sdk';",
      'const [url, key, secret] = process.argv.slice(1);',
      'const sdk = new RoomServiceClient(url, key, secret);',
      "const room = await sdk.createRoom({ name: 'sdk-over-https' });",
      'const rooms = await sdk.listRooms();',
      'console.log(JSON.stringify({ created: room.name, listed: rooms.map((r) => r.name) }));',
    ].join('\n');
    const { stdout } = await run(
      process.execPath,
      ['--input-type=module', '-e', script, `https://${c.node('n2').http}`, c.apiKey, c.apiSecret],
      {
        cwd: repoRoot,
        env: { ...process.env, NODE_EXTRA_CA_CERTS: file('ca.crt') },
      },
    );
    const out = JSON.parse(stdout) as { created: string; listed: string[] };
    expect(out.created).toBe('sdk-over-https');
    expect(out.listed).toContain('sdk-over-https');
  });
});

describe('the CLI over TLS', () => {
  const conn = ['--api-key', 'testkey', '--api-secret', 'testsecret-testsecret-testsecret'];

  it('runs `status` over grpcs with --ca-file, and fails without it rather than downgrade', async () => {
    const { stdout } = await run(process.execPath, [
      cliPath,
      'status',
      '--json',
      '--url',
      `grpcs://${c.node('n1').grpc}`,
      '--ca-file',
      file('ca.crt'),
      ...conn,
    ]);
    expect(ids).toContain((JSON.parse(stdout) as { leader: string }).leader);
    await expect(
      run(process.execPath, [
        cliPath,
        'status',
        '--url',
        `grpcs://${c.node('n1').grpc}`,
        '--timeout-ms',
        '2000',
        ...conn,
      ]),
    ).rejects.toMatchObject({ code: 1 });
  });

  it('runs `status --config` over https, and `rooms` with a client certificate', async () => {
    const { stdout } = await run(process.execPath, [
      cliPath,
      'status',
      '--config',
      c.configFile,
      '--ca-file',
      file('ca.crt'),
      '--cert-file',
      file('n1.crt'),
      '--key-file',
      file('n1.key'),
    ]);
    expect(stdout).toContain(`https://${c.node('n3').http}`);
    expect(stdout).toMatch(/^leader: n[123]$/m);
    const tlsArgs = ['--ca-file', file('ca.crt'), '--cert-file', file('n1.crt'), '--key-file', file('n1.key')];
    const list = await run(process.execPath, [
      cliPath,
      'rooms',
      'list',
      '--url',
      `grpcs://${c.node('n3').grpc}`,
      ...tlsArgs,
      ...conn,
    ]);
    expect(list.stdout).toContain('cluster-over-tls');
  });

  it('refuses --ca-file with a plaintext URL', async () => {
    await expect(
      run(process.execPath, [cliPath, 'status', '--url', c.node('n1').grpc, '--ca-file', file('ca.crt'), ...conn]),
    ).rejects.toMatchObject({ code: 2 });
  });
});
