/**
 * Goal: the peer codec builds every message of a type with one hidden class. On Node 20, V8
 * gives each object built as `{ ...a, newKey }` a map of its own, which lives in the old
 * generation until a full collection; every Raft message in and out went through such literals
 * (found with the dedup table's records, bench/RESULTS.md). Method: 200 messages of each type
 * encoded and decoded, their objects compared with V8's %HaveSameMap (natives syntax switched
 * on for this file's isolate only, for one function compiled after it).
 */
import v8 from 'node:v8';
import { expect, it } from 'vitest';
import { RaftMessage } from '../../../src/gen/roomregistry/peer/v1/peer.js';
import { index, nodeId, term } from '../../../src/lib/ids.js';
import type { Message } from '../../../src/raft/index.js';
import { decodeMessage, encodeMessage } from '../../../src/transport/codec.js';

v8.setFlagsFromString('--allow-natives-syntax');
const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;

/** mapChanges counts the objects of `objects` whose map differs from the one before. */
function mapChanges(objects: readonly object[]): number {
  let changes = 0;
  for (let k = 1; k < objects.length; k++) if (!sameMap(objects[k] as object, objects[k - 1] as object)) changes++;
  return changes;
}

it('encodes and decodes every message of a type with one hidden class', () => {
  const sent: Message[] = [];
  for (let i = 1; i <= 200; i++) {
    const env = { from: nodeId('n1'), to: nodeId('n2'), term: term(i) };
    sent.push({ ...env, type: 'appendResp', index: index(i), reject: false, hintIndex: index(0), hintTerm: term(0) });
    sent.push({ ...env, type: 'heartbeat', commit: index(i), readSeq: i });
  }
  for (const type of ['appendResp', 'heartbeat']) {
    const ofType = sent.filter((m) => m.type === type);
    const encoded = ofType.map(encodeMessage);
    const decoded = encoded.map((w) => decodeMessage(RaftMessage.decode(RaftMessage.encode(w).finish())));
    expect(mapChanges(encoded), `${type} encoded`).toBe(0);
    expect(mapChanges(decoded.map((r) => (r.ok ? r.value : {}))), `${type} decoded`).toBe(0);
  }
});
