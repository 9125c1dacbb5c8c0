/**
 * Goal: version gating (etcd's cluster version, DESIGN §12): a leader proposes a command only
 * when every member of the applied configuration can apply it; otherwise FAILED_PRECONDITION
 * naming the member that holds it back, and nothing enters the log. A member not heard from,
 * or whose stream ended, counts as version 1. Method: three real RaftNodes over the in-memory
 * transport that apply command format 2, a command version function that makes `v2:` payloads
 * need version 2, and the peer server's reports (peerVersions) given by hand: 1, then 2.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RegistryError } from '../../../src/lib/errors.js';
import type { NodeId } from '../../../src/lib/ids.js';
import type { FormatVersions } from '../../../src/lib/versions.js';
import type { RaftNodeOptions } from '../../../src/node/node.js';
import { type Harness, type Member, cluster, enc, soon, until } from './harness.js';

const v1: FormatVersions = { command: 1, snapshot: 1 };
const v2: FormatVersions = { command: 2, snapshot: 1 };
const gated = (self: FormatVersions): Partial<RaftNodeOptions> => ({
  versions: self,
  commandVersion: (payload) => (new TextDecoder().decode(payload).startsWith('v2:') ? 2 : 1),
});

let h: Harness | null = null;
afterEach(async () => {
  await h?.stopAll();
  h = null;
});

async function refusal(p: Promise<unknown>): Promise<RegistryError> {
  const e: unknown = await p.then(
    () => null,
    (err: unknown) => err,
  );
  if (!(e instanceof RegistryError)) throw new Error(`expected a RegistryError, got ${String(e)}`);
  return e;
}

function followersOf(harness: Harness, leader: Member): NodeId[] {
  return harness.members.filter((m) => m !== leader).map((m) => m.node.id);
}

describe('version gating', () => {
  it('refuses a version 2 command until every member advertises 2, naming the one that holds it back', async () => {
    h = await cluster(() => gated(v2));
    const leader = h.leader();
    const [b, c] = followersOf(h, leader) as [NodeId, NodeId];

    // Not heard from: both count as 1. Nothing is proposed, a version 1 command still goes.
    const unheard = await refusal(leader.node.propose(enc('v2:k=1'), soon()));
    expect(unheard.code).toBe('FAILED_PRECONDITION');
    expect(unheard.message).toMatch(/needs command format 2, but member [a-c] applies only 1/);
    await leader.node.propose(enc('k=plain'), soon());
    expect(leader.kv.map.get('v2:k')).toBeUndefined();

    leader.node.peerVersions(b, v1);
    leader.node.peerVersions(c, v2);
    const heldBack = await refusal(leader.node.propose(enc('v2:k=2'), soon()));
    expect(heldBack.message).toContain(`member ${b} applies only 1`);
    expect(leader.node.versionsStatus().cluster.command).toEqual({ version: 1, heldBackBy: b });

    leader.node.peerVersions(b, v2);
    expect(leader.node.versionsStatus().cluster.command).toEqual({ version: 2, heldBackBy: null });
    await leader.node.propose(enc('v2:k=3'), soon());
    const all = h.members;
    await until('every member applied the version 2 command', () => all.every((m) => m.kv.map.get('v2:k') === '3'));

    // b's stream ended (it may be restarting on an older build): it counts as 1 again.
    leader.node.peerVersions(b, null);
    expect((await refusal(leader.node.propose(enc('v2:k=4'), soon()))).message).toContain(`member ${b}`);
  });

  it('refuses it through a follower too: the leader decides, with what it heard', async () => {
    h = await cluster(() => gated(v2));
    const leader = h.leader();
    const follower = h.members.find((m) => m !== leader);
    if (follower === undefined) throw new Error('no follower');
    for (const id of followersOf(h, leader)) follower.node.peerVersions(id, v2); // the follower's view does not count
    const e = await refusal(follower.node.propose(enc('v2:k=1'), soon()));
    expect(e.code).toBe('FAILED_PRECONDITION');
    for (const id of followersOf(h, leader)) leader.node.peerVersions(id, v2);
    await follower.node.propose(enc('v2:k=2'), soon());
    expect(leader.kv.map.get('v2:k')).toBe('2');
  });

  it('a leader that itself applies only version 1 refuses, naming itself', async () => {
    h = await cluster(() => gated(v1));
    const leader = h.leader();
    for (const id of followersOf(h, leader)) leader.node.peerVersions(id, v2);
    const e = await refusal(leader.node.propose(enc('v2:k=1'), soon()));
    expect(e.message).toContain(`this node (${leader.node.id}) applies only 1`);
    expect(leader.node.versionsStatus().node).toEqual(v1);
    expect(Object.keys(leader.node.versionsStatus().members).sort()).toEqual(['a', 'b', 'c']);
  });
});
