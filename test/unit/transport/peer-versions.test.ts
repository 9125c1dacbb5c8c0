/**
 * Goal: peers learn each other's format versions (DESIGN §12): every peer call carries the
 * caller's in metadata, the peer server reports them to the node once the call is
 * authenticated, and forgets them (null) when the caller's Raft stream ends, so a member
 * restarted on an older build is not taken for its former self. A build that sends none counts
 * as version 1. Method: a real PeerServer on a loopback port, a real PeerClient as n2.
 */
import { afterEach, expect, it } from 'vitest';
import { LIMITS } from '../../../src/config/limits.js';
import { type NodeId, nodeId } from '../../../src/lib/ids.js';
import { BASELINE_VERSIONS, type FormatVersions } from '../../../src/lib/versions.js';
import { PeerAuthenticator, advertisedVersions, peerMetadata } from '../../../src/transport/peer-auth.js';
import { PeerClient } from '../../../src/transport/peer-client.js';
import { PeerServer } from '../../../src/transport/peer-server.js';

const secret = 'peer-secret-peer-secret-peer-secret';
const n1 = nodeId('n1');
const n2 = nodeId('n2');
const closers: Array<() => void> = [];
afterEach(() => closers.splice(0).forEach((close) => close()));

it('metadata carries the versions; none or garbled ones read as the baseline', () => {
  const md = peerMetadata({ cluster: 'test', nodeId: n2, secret, versions: { command: 3, snapshot: 2 } });
  expect(advertisedVersions(md)).toEqual({ command: 3, snapshot: 2 });
  md.set('x-room-registry-versions', 'command=9');
  expect(advertisedVersions(md)).toEqual(BASELINE_VERSIONS);
  md.remove('x-room-registry-versions');
  expect(advertisedVersions(md)).toEqual(BASELINE_VERSIONS);
});

it('the peer server reports what a Raft stream advertised, and forgets it when the stream ends', async () => {
  const heard: Array<[NodeId, FormatVersions | null, boolean]> = [];
  const server = new PeerServer(
    n1,
    new PeerAuthenticator('test', secret, [n1, n2]),
    {
      deliver: () => {},
      receiveSnapshot: () => Promise.resolve(false),
      forward: () => Promise.resolve([]),
      peerVersions: (peer, versions, onStream) => heard.push([peer, versions, onStream]),
    },
    LIMITS,
  );
  closers.push(() => server.close());
  const port = await server.listen('127.0.0.1:0', null);
  const versions = { command: 2, snapshot: 1 };
  const client = new PeerClient(
    n1,
    `127.0.0.1:${port}`,
    { cluster: 'test', nodeId: n2, secret, versions },
    null,
    LIMITS,
    () => {},
  );
  client.send([]);
  await until(() => heard.length > 0);
  expect(heard).toEqual([[n2, versions, true]]); // on its Raft stream: the node may take them as current
  client.close();
  await until(() => heard.length > 1);
  expect(heard[1]).toEqual([n2, null, true]);
});

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const endMs = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > endMs) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}
