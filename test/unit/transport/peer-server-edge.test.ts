/**
 * Goal: the peer listener's edge catches what a confused peer causes (STYLE rule 24): a
 * forwarded batch or a snapshot stream whose handling throws fails that call with INTERNAL
 * and a generic message, instead of an unhandled rejection that ends the process. Method: a
 * real PeerServer on a loopback port with a handler that throws, called by the generated client.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LIMITS } from '../../../src/config/limits.js';
import { PeerServiceClient } from '../../../src/gen/roomregistry/peer/v1/peer.js';
import { nodeId } from '../../../src/lib/ids.js';
import { PeerAuthenticator, peerMetadata } from '../../../src/transport/peer-auth.js';
import { PeerServer } from '../../../src/transport/peer-server.js';

const secret = 'peer-secret-peer-secret-peer-secret';
let server: PeerServer;
let client: PeerServiceClient;
const failures: string[] = [];

beforeAll(async () => {
  const auth = new PeerAuthenticator('test', secret, [nodeId('n1'), nodeId('n2')]);
  server = new PeerServer(
    nodeId('n1'),
    auth,
    {
      deliver: () => {},
      receiveSnapshot: () => Promise.reject(new Error('disk full at /data/n1/snap.tmp')),
      forward: () => Promise.reject(new Error('state at 0xdeadbeef')),
    },
    LIMITS,
  );
  server.events.onCallFailed = (detail) => failures.push(detail);
  const port = await server.listen('127.0.0.1:0', null);
  client = new PeerServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});

afterAll(() => {
  client.close();
  server.close();
});

it('fails a Forward call whose handling throws with INTERNAL, and keeps serving', async () => {
  const md = peerMetadata({ cluster: 'test', nodeId: nodeId('n2'), secret });
  for (let i = 0; i < 2; i++) {
    const e = await new Promise<grpc.ServiceError | null>((resolve) => {
      client.forward({ commands: [Buffer.from([1, 2, 3])] }, md, { deadline: Date.now() + 5_000 }, (err) =>
        resolve(err),
      );
    });
    expect([e?.code, e?.details]).toEqual([grpc.status.INTERNAL, 'internal error']);
  }
  expect(failures).toHaveLength(2);
  expect(failures[0]).toContain('state at 0xdeadbeef');
});
