/**
 * Goal: with peer TLS and the cluster's own CA, a node talks to a member only if the listener it
 * dials proves to be that member (its certificate's CN or a DNS SAN is the member's id), as the
 * peer server already binds a caller's claimed id: a config that gives one member's address to
 * another, or a listener that took over an address, gets no Raft traffic or forwarded writes.
 * Method: a real PeerServer with n1's test certificate (test/fixtures/tls, peer-ca) on a loopback
 * port; real PeerClients as n2 that dial it as n1, and as n3.
 */
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { LIMITS } from '../../../src/config/limits.js';
import { nodeId } from '../../../src/lib/ids.js';
import { BASELINE_VERSIONS } from '../../../src/lib/versions.js';
import { PeerAuthenticator } from '../../../src/transport/peer-auth.js';
import { PeerClient } from '../../../src/transport/peer-client.js';
import type { PeerTlsFiles } from '../../../src/transport/peer-options.js';
import { PeerServer } from '../../../src/transport/peer-server.js';
import { repoRoot } from '../../harness/process-cluster.js';

const secret = 'peer-secret-peer-secret-peer-secret';
const [n1, n2, n3] = [nodeId('n1'), nodeId('n2'), nodeId('n3')];
const tlsDir = join(repoRoot, 'test', 'fixtures', 'tls');
const tlsOf = (id: string): PeerTlsFiles => ({
  certFile: join(tlsDir, `${id}.crt`),
  keyFile: join(tlsDir, `${id}.key`),
  caFile: join(tlsDir, 'peer-ca.crt'),
});
const closers: Array<() => void> = [];
afterEach(() => closers.splice(0).forEach((close) => close()));

it('reaches a member whose certificate names it, and refuses one whose certificate names another', async () => {
  const forwarded: number[] = [];
  const server = new PeerServer(
    n1,
    new PeerAuthenticator('test', secret, [n1, n2, n3], true),
    {
      deliver: () => {},
      receiveSnapshot: () => Promise.resolve(false),
      forward: (commands) => {
        forwarded.push(commands.length);
        return Promise.resolve(commands.map(() => ({ ok: true as const, result: new Uint8Array([8, 1]) })));
      },
      peerVersions: () => {},
    },
    LIMITS,
  );
  closers.push(() => server.close());
  const port = await server.listen('127.0.0.1:0', tlsOf('n1'));
  const clientFor = (peer: typeof n1): PeerClient => {
    const c = new PeerClient(
      peer,
      `127.0.0.1:${port}`,
      { cluster: 'test', nodeId: n2, secret, versions: BASELINE_VERSIONS },
      tlsOf('n2'),
      LIMITS,
      () => {},
    );
    closers.push(() => c.close());
    return c;
  };
  const command = new Uint8Array([1, 2, 3]);

  const [right] = await clientFor(n1).forward([command], Date.now() + 5_000);
  expect(right?.ok === true && [...right.result]).toEqual([8, 1]);
  expect(forwarded).toEqual([1]);

  // The config says n3 listens there; the listener proves to be n1: the handshake fails, nothing is sent.
  const [wrong] = await clientFor(n3).forward([command], Date.now() + 5_000);
  expect(wrong?.ok === false && wrong.error.code).toBe('UNAVAILABLE');
  expect(forwarded).toEqual([1]);
});
