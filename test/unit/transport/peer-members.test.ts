// Goal (issue 14): the peer transport follows membership changes: setMembers dials new members,
// drops removed ones and redials a member whose address changed; a forward to a leader it has
// no address for fails UNAVAILABLE with the leader's id (it used to throw, leaving the writes
// waiting for their deadline). Method: a PeerTransport with no server behind it; nothing is sent.
import { expect, it } from 'vitest';
import { LIMITS } from '../../../src/config/limits.js';
import { nodeId } from '../../../src/lib/ids.js';
import { PeerTransport } from '../../../src/transport/transport.js';

const self = nodeId('n1');
const credentials = { cluster: 'test', nodeId: self, secret: 'a-cluster-secret-of-at-least-32-characters' };

it('dials the members it is given, and only those', () => {
  const t = new PeerTransport(self, [{ id: self, peerAddress: '127.0.0.1:1' }], credentials, null, LIMITS, () => {});
  try {
    expect(t.peerIds()).toEqual([]);
    t.setMembers([
      { id: self, peerAddress: '127.0.0.1:1' },
      { id: nodeId('n2'), peerAddress: '127.0.0.1:2' },
      { id: nodeId('n3'), peerAddress: '127.0.0.1:3' },
    ]);
    expect(t.peerIds().sort()).toEqual(['n2', 'n3']);
    t.setMembers([
      { id: nodeId('n3'), peerAddress: '127.0.0.1:33' },
      { id: nodeId('n4'), peerAddress: '127.0.0.1:4' },
    ]);
    expect(t.peerIds().sort()).toEqual(['n3', 'n4']);
    expect([...t.peerStats().keys()].sort()).toEqual(['n3', 'n4']);
  } finally {
    t.close();
  }
});

it('answers a forward to a leader with no known address UNAVAILABLE, naming the leader', async () => {
  const t = new PeerTransport(self, [], credentials, null, LIMITS, () => {});
  try {
    const outcomes = await t.forward(nodeId('n9'), [new Uint8Array([1]), new Uint8Array([2])], Date.now() + 1_000);
    expect(outcomes).toHaveLength(2);
    for (const o of outcomes) {
      expect(o.ok).toBe(false);
      if (!o.ok) {
        expect(o.error.code).toBe('UNAVAILABLE');
        expect(o.error.leaderId).toBe('n9');
      }
    }
  } finally {
    t.close();
  }
});
