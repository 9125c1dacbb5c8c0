/**
 * Goal: only cluster members reach the peer listener (issue 3): a wrong secret, a wrong cluster
 * or an unknown node id is refused with PERMISSION_DENIED and counted in /metrics, and with
 * `peerTls` in the config the peers speak mutual TLS (a plaintext caller gets nowhere) and a
 * peer's claimed node id must be its certificate's (issue 12): a member's certificate with the
 * cluster secret cannot speak for another member.
 * Method: real processes; a raw client of the generated PeerService with forged metadata; a
 * second cluster with the committed per-node test certificates (CN and SAN = node id).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { RoomClient } from '../../src/client/room-client.js';
import { PeerServiceClient } from '../../src/gen/roomregistry/peer/v1/peer.js';
import { PEER_METADATA } from '../../src/transport/peer-auth.js';
import { ProcessCluster, repoRoot, waitUntil } from '../harness/process-cluster.js';

/** tlsDir: a test CA and a node certificate for 127.0.0.1 (test/fixtures/tls/README.md). */
const tlsDir = join(repoRoot, 'test', 'fixtures', 'tls');

const clusters: ProcessCluster[] = [];
afterAll(async () => {
  for (const c of clusters) await c.stop();
});

async function started(size: number, edit?: (c: ProcessCluster) => void): Promise<ProcessCluster> {
  const c = await ProcessCluster.create(size);
  clusters.push(c);
  edit?.(c);
  c.startAll();
  await c.waitForLeader();
  return c;
}

function forward(
  address: string,
  credentials: grpc.ChannelCredentials,
  md: Record<string, string>,
): Promise<grpc.ServiceError | null> {
  const client = new PeerServiceClient(address, credentials);
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) metadata.set(k, v);
  return new Promise((resolve) => {
    client.forward({ commands: [] }, metadata, { deadline: Date.now() + 3_000 }, (e) => {
      client.close();
      resolve(e);
    });
  });
}

async function refusals(c: ProcessCluster, id: string): Promise<Record<string, number>> {
  const text = await (await fetch(`http://${c.node(id).http}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^room_registry_peer_errors_total\{peer="unknown",kind="refused_(\w+)"\} (\d+)$/gm))
    out[m[1] ?? ''] = Number(m[2]);
  return out;
}

describe('the peer listener', () => {
  it('refuses a wrong secret, a wrong cluster and an unknown node, and counts each', async () => {
    const c = await started(3);
    const target = c.node('n2').peer;
    const insecure = grpc.credentials.createInsecure();
    const good = { [PEER_METADATA.cluster]: 'test', [PEER_METADATA.nodeId]: 'n1', [PEER_METADATA.secret]: c.secret };
    expect((await forward(target, insecure, { ...good, [PEER_METADATA.secret]: 'not-the-cluster-secret' }))?.code).toBe(
      grpc.status.PERMISSION_DENIED,
    );
    expect((await forward(target, insecure, { ...good, [PEER_METADATA.cluster]: 'other' }))?.code).toBe(
      grpc.status.PERMISSION_DENIED,
    );
    expect((await forward(target, insecure, { ...good, [PEER_METADATA.nodeId]: 'n9' }))?.code).toBe(
      grpc.status.PERMISSION_DENIED,
    );
    expect((await forward(target, insecure, {}))?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(await refusals(c, 'n2')).toMatchObject({ wrongSecret: 2, wrongCluster: 1, unknownNode: 1 });
    await c.waitForLogEvents('n2', 'peer_refused');
    const log = readFileSync(c.node('n2').logFile, 'utf8');
    // Without peer TLS, loopback peers give no warning (remote ones would: peer-auth unit test).
    expect(log).not.toContain('peer_tls_off');
    // The members themselves were never refused: the cluster works.
    const client = new RoomClient(c.node('n3').grpc, { apiKey: c.apiKey, apiSecret: c.apiSecret });
    expect((await client.createRoom({ name: 'still-fine' })).created).toBe(true);
    client.close();
  });

  it('speaks mutual TLS when the config names certificates, and binds node ids to them', async () => {
    const c = await started(3, (cluster) => {
      const config = JSON.parse(readFileSync(cluster.configFile, 'utf8')) as {
        nodes: Array<Record<string, unknown>>;
      } & Record<string, unknown>;
      config['peerTls'] = {
        certFile: join(tlsDir, 'n1.crt'),
        keyFile: join(tlsDir, 'n1.key'),
        caFile: join(tlsDir, 'peer-ca.crt'),
      };
      for (const n of config.nodes)
        n['peerCert'] = {
          certFile: join(tlsDir, `${String(n['id'])}.crt`),
          keyFile: join(tlsDir, `${String(n['id'])}.key`),
        };
      writeFileSync(cluster.configFile, JSON.stringify(config));
    });
    const client = new RoomClient(c.node('n1').grpc, { apiKey: c.apiKey, apiSecret: c.apiSecret });
    expect((await client.createRoom({ name: 'over-tls' })).created).toBe(true);
    client.close();
    const good = { [PEER_METADATA.cluster]: 'test', [PEER_METADATA.nodeId]: 'n1', [PEER_METADATA.secret]: c.secret };
    // Plaintext to a TLS listener, and TLS without a client certificate, both fail before any handler.
    expect((await forward(c.node('n2').peer, grpc.credentials.createInsecure(), good))?.code).toBe(
      grpc.status.UNAVAILABLE,
    );
    const ca = readFileSync(join(tlsDir, 'peer-ca.crt'));
    expect((await forward(c.node('n2').peer, grpc.credentials.createSsl(ca), good))?.code).toBe(
      grpc.status.UNAVAILABLE,
    );
    // n3's certificate and the cluster secret, claiming to be n1: refused and counted.
    const asN3 = grpc.credentials.createSsl(
      ca,
      readFileSync(join(tlsDir, 'n3.key')),
      readFileSync(join(tlsDir, 'n3.crt')),
    );
    expect((await forward(c.node('n2').peer, asN3, good))?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(await refusals(c, 'n2')).toMatchObject({ certificateMismatch: 1 });
    // The same certificate claiming its own id gets through (an empty Forward is answered).
    expect(await forward(c.node('n2').peer, asN3, { ...good, [PEER_METADATA.nodeId]: 'n3' })).toBeNull();
  });
});

describe('the peer listener without TLS', () => {
  it('warns at start, without peer TLS, that a peer address is not loopback', async () => {
    const c = await ProcessCluster.create(2);
    clusters.push(c);
    const config = JSON.parse(readFileSync(c.configFile, 'utf8')) as { nodes: Array<Record<string, unknown>> };
    const remote = '10.255.255.1:9101';
    const n2 = config.nodes[1];
    if (n2 !== undefined) n2['peer'] = remote;
    writeFileSync(c.configFile, JSON.stringify(config));
    c.start('n1');
    await waitUntil('n1 warns about plaintext peers', async () =>
      readFileSync(c.node('n1').logFile, 'utf8').includes('"event":"peer_tls_off"'),
    );
    expect(readFileSync(c.node('n1').logFile, 'utf8')).toContain(remote);
  });
});
