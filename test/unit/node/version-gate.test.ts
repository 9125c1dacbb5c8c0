/**
 * Goal: version gating (etcd's cluster version, DESIGN §12). A leader proposes a command only
 * when every member of the applied configuration can apply it: each member's last known
 * advertisement reaches its version (a member never heard by this process counts as 1; one
 * whose stream ended keeps what it last advertised), or the applied state already uses that
 * version; otherwise FAILED_PRECONDITION naming the member that holds it back, and nothing
 * enters the log. Once a version above 1 is in use, entries and snapshots go only to peers
 * heard on a live stream at it; heartbeats still go, and a held peer catches up once heard.
 * Method: three real RaftNodes over the in-memory transport that apply command format 2, a
 * command version function that makes `v2:` payloads need version 2, a version in use read
 * from each member's map (2 once it holds a `v2:` key), and the peer server's reports
 * (peerVersions) given by hand.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../../src/lib/logger.js';
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

/** inUseFromKv: the version in use as the registry would say it: 2 once the member applied a `v2:` command. */
const inUseFromKv = (id: NodeId): Partial<RaftNodeOptions> => ({
  commandVersionInUse: () => {
    const m = h?.members.find((x) => x.node.id === id);
    return m !== undefined && [...m.kv.map.keys()].some((k) => k.startsWith('v2:')) ? 2 : 1;
  },
});

/** LogLine: one line a member logged (captured by `capturing`). */
interface LogLine {
  readonly event: string;
  readonly fields: Record<string, unknown>;
}

function capturing(lines: LogLine[]): Logger {
  const log = (_level: string, event: string, fields: Record<string, unknown> = {}): void => {
    lines.push({ event, fields });
  };
  return {
    log,
    info: (e, f) => log('info', e, f),
    warn: (e, f) => log('warn', e, f),
    error: (e, f) => log('error', e, f),
  };
}

/** entriesTo counts the appends with entries `m` sent to `to`, from the `from`-th message it sent on. */
function entriesTo(m: Member, to: NodeId, from = 0): number {
  return m.sent.slice(from).filter((x) => x.to === to && x.type === 'append' && x.entries.length > 0).length;
}

function heartbeatsTo(m: Member, to: NodeId, from = 0): number {
  return m.sent.slice(from).filter((x) => x.to === to && x.type === 'heartbeat').length;
}

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

    // b's stream ended (down, or restarting): what it last advertised still counts.
    leader.node.peerVersions(b, null);
    await leader.node.propose(enc('v2:k=4'), soon());
    expect(leader.node.versionsStatus().members[b]).toEqual(v2);
    expect(leader.node.versionsStatus().current[b]).toEqual({ command: 1, snapshot: 1 });

    // b is back on an older build: its new advertisement replaces the last known one.
    leader.node.peerVersions(b, v1);
    expect((await refusal(leader.node.propose(enc('v2:k=5'), soon()))).message).toContain(`member ${b} applies only 1`);
  });

  it('a member heard at 2 whose stream then ended does not block a version 2 command', async () => {
    h = await cluster(() => gated(v2));
    const leader = h.leader();
    const [b, c] = followersOf(h, leader) as [NodeId, NodeId];
    leader.node.peerVersions(b, v2);
    leader.node.peerVersions(c, v2);
    leader.node.peerVersions(c, null); // c died: its stream ended
    await leader.node.propose(enc('v2:k=1'), soon());
    expect(leader.kv.map.get('v2:k')).toBe('1');
    expect(leader.node.versionsStatus().cluster.command).toEqual({ version: 2, heldBackBy: null });
  });

  it('a member never heard by this process blocks the first version 2 command', async () => {
    h = await cluster((id) => ({ ...gated(v2), ...inUseFromKv(id) }));
    const leader = h.leader();
    const [b, c] = followersOf(h, leader) as [NodeId, NodeId];
    leader.node.peerVersions(b, v2);
    const e = await refusal(leader.node.propose(enc('v2:k=1'), soon()));
    expect(e.code).toBe('FAILED_PRECONDITION');
    expect(e.message).toContain(`member ${c} applies only 1`);
    expect(leader.node.versionsStatus().commandVersionInUse).toBe(1);
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

describe('the command version in use', () => {
  it('once version 2 is in use, a version 2 command passes with a member never heard, which gets no entries until heard at 2', async () => {
    // As after a restore from a snapshot of a cluster that already applied version 2 commands.
    h = await cluster(() => ({ ...gated(v2), commandVersionInUse: () => 2 }));
    const leader = h.leader();
    const [b, c] = followersOf(h, leader) as [NodeId, NodeId];
    const member = (id: NodeId): Member => h?.members.find((m) => m.node.id === id) as Member;
    leader.node.peerVersions(b, v2);
    const mark = leader.sent.length;
    await leader.node.propose(enc('v2:k=1'), soon());
    await until('b applied it', () => member(b).kv.map.get('v2:k') === '1');
    // c is alive but not heard on a stream: heartbeats only, no entries.
    await until('c got three heartbeats', () => heartbeatsTo(leader, c, mark) >= 3);
    expect(entriesTo(leader, c, mark)).toBe(0);
    expect(member(c).kv.map.has('v2:k')).toBe(false);
    expect(leader.node.versionsStatus().commandVersionInUse).toBe(2);

    leader.node.peerVersions(c, v2); // c answers on its own stream
    await until('c caught up', () => member(c).kv.map.get('v2:k') === '1');
    expect(entriesTo(leader, c, mark)).toBeGreaterThan(0);
  });

  it('holds entries from a member whose stream ended once version 2 is in use, lets heartbeats through, and catches it up when heard', async () => {
    const lines: LogLine[] = [];
    h = await cluster((id) => ({ ...gated(v2), ...inUseFromKv(id), logger: capturing(lines) }));
    const leader = h.leader();
    const [b, c] = followersOf(h, leader) as [NodeId, NodeId];
    const mc = h.members.find((m) => m.node.id === c) as Member;
    leader.node.peerVersions(b, v2);
    leader.node.peerVersions(c, v2);
    await leader.node.propose(enc('v2:k=1'), soon());
    await until('every member applied the first version 2 command', () =>
      (h as Harness).members.every((m) => m.kv.map.get('v2:k') === '1'),
    );
    expect(leader.node.versionsStatus().commandVersionInUse).toBe(2);

    leader.node.peerVersions(c, null); // c's stream ended: it may come back on any build
    const mark = leader.sent.length;
    await leader.node.propose(enc('v2:k=2'), soon()); // its last known 2 still counts
    await leader.node.propose(enc('plain=1'), soon()); // version 1 entries are held from it too
    await until('c got three heartbeats', () => heartbeatsTo(leader, c, mark) >= 3);
    expect(entriesTo(leader, c, mark)).toBe(0);
    expect(mc.kv.map.get('v2:k')).toBe('1');
    const logged = lines.filter((l) => l.event === 'replication_held_back');
    expect(logged.map((l) => l.fields['member'])).toEqual([c]);
    expect(String(logged[0]?.fields['detail'])).toContain('no live peer stream');

    leader.node.peerVersions(c, v2);
    await until('c caught up', () => mc.kv.map.get('v2:k') === '2' && mc.kv.map.get('plain') === '1');
  });
});

describe('the replication gate', () => {
  it('a member heard at 1 once version 2 is in use gets no entries or snapshots, and the log says so once', async () => {
    const lines: LogLine[] = [];
    const held: Array<[NodeId, string]> = [];
    h = await cluster((id) => ({
      ...gated(v2),
      ...inUseFromKv(id),
      logger: capturing(lines),
      snapshotIntervalEntries: 8,
    }));
    const leader = h.leader();
    leader.node.events.onReplicationHeldBack = (peer, what) => held.push([peer, what]);
    const [b, c] = followersOf(h, leader) as [NodeId, NodeId];
    const mc = h.members.find((m) => m.node.id === c) as Member;
    leader.node.peerVersions(b, v2);
    leader.node.peerVersions(c, v2);
    await leader.node.propose(enc('v2:k=1'), soon());
    await until('c applied the first version 2 command', () => mc.kv.map.get('v2:k') === '1');

    leader.node.peerVersions(c, v1); // c came back on an older build
    const mark = leader.sent.length;
    // Version 2 is in use: its commands still pass though c's last known version is 1.
    for (let i = 2; i <= 20; i++) await leader.node.propose(enc(`v2:k=${i}`), soon());
    // The leader compacted past c's entries (a snapshot every 8): it holds the snapshot back too.
    await until('a snapshot held back', () => held.some(([p, what]) => p === c && what === 'snapshot'));
    expect(entriesTo(leader, c, mark)).toBe(0);
    expect(mc.kv.map.get('v2:k')).toBe('1');
    expect(held.every(([p]) => p === c)).toBe(true);
    const logged = lines.filter((l) => l.event === 'replication_held_back');
    expect(logged).toHaveLength(1);
    expect(logged[0]?.fields).toMatchObject({ member: c, memberCommandVersion: 1, commandVersionInUse: 2 });
    expect(String(logged[0]?.fields['detail'])).toContain('upgrade it');
    // No spinning: each retry waits for a heartbeat answer (plus the appends each proposal sent).
    expect(held.length).toBeLessThanOrEqual(heartbeatsTo(leader, c, mark) + 19 + 2);

    leader.node.peerVersions(c, v2); // upgraded
    await until('c caught up', () => mc.kv.map.get('v2:k') === '20');
  });
});
