/**
 * Goal: the node's bounds hold in bytes as well as in counts (issue 12 item 5): a snapshot is
 * taken once enough entry bytes were applied, however few the entries. Method: a one-member
 * RaftNode over the in-memory storage twins with a fast tick and small byte limits, written to
 * until the condition holds (never a fixed sleep).
 */
import { afterEach, describe, expect, test } from 'vitest';
import { nodeId } from '../../../src/lib/ids.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { SeededRng } from '../../../src/lib/rng.js';
import { MemoryNodeStorage, MemorySnapshotStore } from '../../../src/node/memory-storage.js';
import { RaftNode, type RaftNodeOptions } from '../../../src/node/node.js';
import { MemoryNetwork } from '../../../src/transport/memory-transport.js';
import { KvMachine } from './kv-machine.js';

const solo = nodeId('solo');
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
let running: RaftNode[] = [];

afterEach(async () => {
  await Promise.all(running.map((n) => n.stop()));
  running = [];
});

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const endMs = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > endMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function soloNode(extra: Partial<RaftNodeOptions>): Promise<RaftNode> {
  const network = new MemoryNetwork();
  const node = new RaftNode({
    id: solo,
    voters: [solo],
    storage: new MemoryNodeStorage(),
    snapshots: new MemorySnapshotStore(),
    stateMachine: new KvMachine(),
    transport: network.transportFor(solo),
    logger: silentLogger,
    random: new SeededRng(7),
    tickIntervalMs: 5,
    ...extra,
  });
  network.register(solo, node);
  node.start();
  running.push(node);
  await until('leadership', () => node.status().role === 'leader');
  return node;
}

const soon = (): number => Date.now() + 5_000;

describe('RaftNode byte bounds', () => {
  test('a snapshot is taken once snapshotIntervalBytes of entries were applied, whatever their count', async () => {
    const node = await soloNode({ snapshotIntervalEntries: 100_000, snapshotIntervalBytes: 64 << 10 });
    const value = 'v'.repeat(16 << 10);
    for (let i = 0; i < 6; i++) await node.propose(enc(`k${i}=${value}`), soon());
    await until('a snapshot on bytes', () => node.status().snapshotIndex > 0);
    expect(node.status().snapshotIndex).toBeGreaterThanOrEqual(4);
  });
});
