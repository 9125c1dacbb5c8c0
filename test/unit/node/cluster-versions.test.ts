/**
 * Goal: ClusterVersions keeps two views of each peer's formats (DESIGN §12): `current`, heard
 * on its live Raft stream and cleared when that stream ends (the replication gate reads it),
 * and `lastKnown`, the last advertisement this process heard, kept when the stream ends and
 * replaced by a new one (the proposal gate reads it). A call other than the Raft stream updates
 * current only while a stream keeps it (no stream end would clear it). Method: the reports the
 * peer server makes, given by hand.
 */
import { expect, it } from 'vitest';
import { nodeId } from '../../../src/lib/ids.js';
import { ClusterVersions } from '../../../src/node/cluster-versions.js';

const [a, b, c] = [nodeId('a'), nodeId('b'), nodeId('c')];
const v1 = { command: 1, snapshot: 1 };
const v2 = { command: 2, snapshot: 2 };

it('keeps the last known versions when a stream ends, and current only while it lives', () => {
  const cv = new ClusterVersions(a, v2);
  expect(cv.lastKnownOf(b)).toEqual(v1); // never heard: the baseline
  expect(cv.lowest([a, b, c], 'command')).toEqual({ version: 1, heldBackBy: b });

  cv.peerVersions(b, v2, true);
  cv.peerVersions(c, v2, true);
  expect(cv.lowest([a, b, c], 'command')).toEqual({ version: 2, heldBackBy: null });
  expect(cv.currentOf(b)).toEqual(v2);

  cv.peerVersions(b, null, true); // b's stream ended
  expect(cv.currentOf(b)).toEqual(v1);
  expect(cv.lastKnownOf(b)).toEqual(v2);
  expect(cv.lowest([a, b, c], 'command')).toEqual({ version: 2, heldBackBy: null });

  // A forward from b with no stream open: last known, not current (nothing would clear it).
  cv.peerVersions(b, v2, false);
  expect(cv.currentOf(b)).toEqual(v1);
  // b is back on an older build: the new advertisement replaces the last known one at once.
  cv.peerVersions(b, v1, false);
  expect(cv.lastKnownOf(b)).toEqual(v1);
  expect(cv.lowest([a, b, c], 'command')).toEqual({ version: 1, heldBackBy: b });

  // While c's stream lives, another call of c's updates current too (a lower one is the safe way).
  cv.peerVersions(c, v1, false);
  expect(cv.currentOf(c)).toEqual(v1);

  const s = cv.status([a, b, c], 2);
  expect(s.members).toEqual({ a: v2, b: v1, c: v1 });
  expect(s.current).toEqual({ a: v2, b: v1, c: v1 });
  expect(s.commandVersionInUse).toBe(2);
  cv.peerVersions(a, v1, true); // its own reports are ignored
  expect(cv.currentOf(a)).toEqual(v2);
});
