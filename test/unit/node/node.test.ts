// Goal: the node loop (src/node) carries out Readys correctly and keeps its promises to
// callers: writes resolve when applied, followers forward, reads are linearizable, a lost
// quorum fails fast, and a lagging node catches up by snapshot. Method: three RaftNodes in one
// process over the in-memory transport and storage twins, with a fast tick.
import { afterEach, describe, expect, test } from 'vitest';
import { RegistryError } from '../../../src/lib/errors.js';
import { type NodeId, nodeId } from '../../../src/lib/ids.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { SeededRng } from '../../../src/lib/rng.js';
import { MemoryNodeStorage, MemorySnapshotStore } from '../../../src/node/memory-storage.js';
import { RaftNode } from '../../../src/node/node.js';
import { MemoryNetwork } from '../../../src/transport/memory-transport.js';
import { KvMachine } from './kv-machine.js';

const ids = ['a', 'b', 'c'].map(nodeId);
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

interface Member {
  node: RaftNode;
  kv: KvMachine;
  storage: MemoryNodeStorage;
  snapshots: MemorySnapshotStore;
}

let running: RaftNode[] = [];
afterEach(async () => {
  await Promise.all(running.map((n) => n.stop()));
  running = [];
});

function startMember(network: MemoryNetwork, id: NodeId, seed: number, prior?: Member): Member {
  const storage = prior?.storage ?? new MemoryNodeStorage();
  const snapshots = prior?.snapshots ?? new MemorySnapshotStore();
  const kv = new KvMachine();
  const node = new RaftNode({
    id,
    voters: ids,
    storage,
    snapshots,
    stateMachine: kv,
    transport: network.transportFor(id),
    logger: silentLogger,
    random: new SeededRng(seed),
    tickIntervalMs: 5,
    snapshotIntervalEntries: 50,
  });
  network.register(id, node);
  node.start();
  running.push(node);
  return { node, kv, storage, snapshots };
}

async function until(what: string, cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const endMs = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > endMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function cluster(): Promise<{ network: MemoryNetwork; members: Member[]; leader: () => Member }> {
  const network = new MemoryNetwork();
  const members = ids.map((id, i) => startMember(network, id, i + 1));
  const leader = (): Member => {
    const l = members.find((m) => running.includes(m.node) && m.node.status().role === 'leader');
    if (l === undefined) throw new Error('no leader');
    return l;
  };
  await until('a leader', () => members.some((m) => m.node.status().role === 'leader'));
  return { network, members, leader };
}

const soon = (): number => Date.now() + 2_000;

describe('RaftNode', () => {
  test('writes on the leader and on followers apply everywhere, with one time stamp and the term per entry', async () => {
    const { members, leader } = await cluster();
    const l = leader();
    const follower = members.find((m) => m !== l);
    expect(follower).toBeDefined();
    const results = await Promise.all([
      l.node.propose(enc('x=1'), soon()),
      follower!.node.propose(enc('y=2'), soon()),
      follower!.node.propose(enc('x=3'), soon()),
    ]);
    expect(results.map(dec).sort()).toEqual(['', '', expect.stringMatching(/^(1|)$/)].sort());
    await until('all applied', () => members.every((m) => m.kv.map.get('y') === '2' && m.kv.map.get('x') === '3'));
    const times = members.map((m) => m.kv.appliedTimesMs.join(','));
    expect(new Set(times).size).toBe(1);
    // Every replica is handed each entry's own term (the registry extends media-node leases on a rise).
    expect(new Set(members.map((m) => m.kv.appliedTerms.join(','))).size).toBe(1);
    expect(l.kv.appliedTerms.filter((t) => t >= 1 && t <= l.node.status().term)).toHaveLength(3);
  });

  test('proposals of one turn become one persist', async () => {
    const { leader } = await cluster();
    const l = leader();
    const before = l.storage.persistCalls;
    await Promise.all(Array.from({ length: 100 }, (_, i) => l.node.propose(enc(`k${i}=v`), soon())));
    expect(l.storage.persistCalls - before).toBeLessThan(20);
  });

  test('a linearizable read on a follower sees a write acknowledged by the leader', async () => {
    const { members, leader } = await cluster();
    const l = leader();
    const follower = members.find((m) => m !== l)!;
    for (let i = 0; i < 20; i++) {
      await l.node.propose(enc(`r=${i}`), soon());
      const at = await follower.node.readBarrier(soon());
      expect(at).toBeGreaterThan(0);
      expect(follower.kv.map.get('r')).toBe(String(i));
    }
  });

  test('without a quorum a write fails within its deadline', async () => {
    const { network, members, leader } = await cluster();
    const l = leader();
    for (const m of members) if (m !== l) for (const n of members) network.cut(m.node.id, n.node.id);
    for (const m of members) if (m !== l) network.cut(l.node.id, m.node.id);
    const startMs = Date.now();
    const error = await l.node.propose(enc('z=1'), Date.now() + 300).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryError);
    expect(['DEADLINE_EXCEEDED', 'UNAVAILABLE']).toContain((error as RegistryError).code);
    expect(Date.now() - startMs).toBeLessThan(1_000);
  });

  test('a node that was down catches up by snapshot and restores the state machine', async () => {
    const { network, members, leader } = await cluster();
    const l = leader();
    const lagging = members.find((m) => m !== l)!;
    await lagging.node.stop();
    running = running.filter((n) => n !== lagging.node);
    network.unregister(lagging.node.id);
    for (let i = 0; i < 200; i++) await l.node.propose(enc(`s${i % 10}=${i}`), soon());
    await until('the leader compacted', () => l.node.status().snapshotIndex > 50);
    const back = startMember(network, lagging.node.id, 99, lagging);
    await until('caught up', () => back.kv.map.get('s9') === '199');
    expect(back.node.status().snapshotIndex).toBeGreaterThan(0);
  });

  test('leadership transfer moves the leader and writes keep working', async () => {
    const { members, leader } = await cluster();
    const l = leader();
    const target = members.find((m) => m !== l)!;
    l.node.transferLeadership(target.node.id);
    await until('new leader', () => target.node.status().role === 'leader');
    await target.node.propose(enc('t=1'), soon());
    await until('applied', () => members.every((m) => m.kv.map.get('t') === '1'));
  });
});
