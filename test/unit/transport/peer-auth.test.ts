/**
 * Goal: the peer identity rules (issue 12): under peer mTLS the node id a caller claims must be
 * its certificate's CN or a DNS SAN, refused and counted otherwise; without peer TLS, `serve`
 * names the peer addresses that are not loopback. Method: PeerAuthenticator.check on metadata
 * with the committed test certificates parsed by node:crypto; plaintextPeerAddresses on lists.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { expect, it } from 'vitest';
import { nodeId } from '../../../src/lib/ids.js';
import {
  PeerAuthenticator,
  certificateNames,
  peerMetadata,
  plaintextPeerAddresses,
} from '../../../src/transport/peer-auth.js';

const tlsDir = join(import.meta.dirname, '..', '..', 'fixtures', 'tls');
const secret = 'a-cluster-secret-of-32-characters!';

/** certOf: the fields of a PeerCertificate that identity uses, as Node's TLS layer fills them. */
function certOf(name: string): PeerCertificate {
  const x = new X509Certificate(readFileSync(join(tlsDir, name)));
  const cn = /CN=([^\n]+)/.exec(x.subject)?.[1] ?? '';
  return { subject: { CN: cn }, subjectaltname: x.subjectAltName ?? '' } as unknown as PeerCertificate;
}

it('reads the CN and the DNS SANs of a certificate', () => {
  expect(certificateNames(certOf('n2.crt'))).toEqual(['n2', 'n2', 'localhost']);
});

it('under mTLS refuses a claimed node id that is not the certificate’s, and counts it', () => {
  const auth = new PeerAuthenticator('c', secret, [nodeId('n1'), nodeId('n2'), nodeId('n3')], true);
  const md = (id: string): ReturnType<typeof peerMetadata> =>
    peerMetadata({ cluster: 'c', nodeId: nodeId(id), secret });
  expect(auth.check(md('n3'), certOf('n3.crt'))).toEqual({ ok: true, value: 'n3' });
  expect(auth.check(md('n1'), certOf('n3.crt'))).toEqual({ ok: false, error: 'certificateMismatch' });
  expect(auth.check(md('n1'), null)).toEqual({ ok: false, error: 'certificateMismatch' });
  expect(auth.refused.certificateMismatch).toBe(2);
  // Without mTLS there is no certificate to bind to: the secret and membership decide.
  const plain = new PeerAuthenticator('c', secret, [nodeId('n1')]);
  expect(plain.check(md('n1'), null)).toEqual({ ok: true, value: 'n1' });
});

it('names the peer addresses that are not loopback when peer TLS is off', () => {
  const addresses = ['127.0.0.1:9101', 'localhost:9102', '[::1]:9103', '10.0.0.7:9101', 'db.example.com:9101'];
  expect(plaintextPeerAddresses(addresses, false)).toEqual(['10.0.0.7:9101', 'db.example.com:9101']);
  expect(plaintextPeerAddresses(addresses, true)).toEqual([]);
});
