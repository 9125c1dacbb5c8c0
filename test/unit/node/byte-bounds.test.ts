/**
 * Goal: the node's bounds hold in bytes as well as in counts (issue 12 item 5): a snapshot is
 * taken once enough entry bytes were applied, however few the entries; the Raft messages of a
 * Ready and a follower's forwarded writes go out in batches that fit one peer message; pending
 * writes are refused past their byte bound; a Forward reply never outgrows a peer message.
 * Method: RaftNodes over the in-memory twins with a fast tick, a transport wrapper that
 * measures every batch as gRPC would encode it, and conditions waited for (never fixed sleeps).
 */
import { afterEach, describe, expect, test } from 'vitest';
import { nodeId } from '../../../src/lib/ids.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { SeededRng } from '../../../src/lib/rng.js';
import { MemoryNodeStorage, MemorySnapshotStore } from '../../../src/node/memory-storage.js';
import { RaftNode, type RaftNodeOptions } from '../../../src/node/node.js';
import { SYSTEM_CLOCK } from '../../../src/node/clock.js';
import { Proposals } from '../../../src/node/proposals.js';
import { LIMITS } from '../../../src/config/limits.js';
import { RegistryError } from '../../../src/lib/errors.js';
import { ForwardResponse, RaftBatch } from '../../../src/gen/roomregistry/peer/v1/peer.js';
import type { Message } from '../../../src/raft/index.js';
import { encodeMessage } from '../../../src/transport/codec.js';
import { MemoryNetwork } from '../../../src/transport/memory-transport.js';
import { fitForwardReply } from '../../../src/transport/peer-server.js';
import type { Transport } from '../../../src/transport/transport.js';
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

/** Measured records the encoded size of every Raft batch and the bytes of every Forward call. */
interface Measured {
  batchBytes: number[];
  forwardBytes: number[];
}

function measuring(inner: Transport, m: Measured): Transport {
  return {
    send(to, messages: readonly Message[]): void {
      m.batchBytes.push(RaftBatch.encode({ messages: messages.map(encodeMessage) }).finish().byteLength);
      inner.send(to, messages);
    },
    sendSnapshot: (to, message, chunks) => inner.sendSnapshot(to, message, chunks),
    forward(to, commands, deadlineMs) {
      m.forwardBytes.push(commands.reduce((n, c) => n + c.byteLength, 0));
      return inner.forward(to, commands, deadlineMs);
    },
    connectedPeers: () => inner.connectedPeers(),
    close: () => inner.close(),
  };
}

async function trio(m: Measured): Promise<RaftNode[]> {
  const network = new MemoryNetwork();
  const ids = ['a', 'b', 'c'].map(nodeId);
  const nodes = ids.map((id, i) => {
    const node = new RaftNode({
      id,
      voters: ids,
      storage: new MemoryNodeStorage(),
      snapshots: new MemorySnapshotStore(),
      stateMachine: new KvMachine(),
      transport: measuring(network.transportFor(id), m),
      logger: silentLogger,
      random: new SeededRng(i + 1),
      tickIntervalMs: 5,
    });
    network.register(id, node);
    node.start();
    running.push(node);
    return node;
  });
  await until('a leader', () => nodes.some((n) => n.status().role === 'leader'));
  return nodes;
}

describe('RaftNode batches fit a peer message', () => {
  test('40 writes of 512 KiB in one turn: every Raft batch and every Forward call fits', async () => {
    const m: Measured = { batchBytes: [], forwardBytes: [] };
    const nodes = await trio(m);
    const follower = nodes.find((n) => n.status().role !== 'leader');
    expect(follower).toBeDefined();
    const value = 'v'.repeat(512 << 10);
    const writes = Array.from({ length: 40 }, (_, i) =>
      (follower as RaftNode).propose(enc(`k${i}=${value}`), Date.now() + 20_000),
    );
    // Under load some writes may pass their deadline; what is measured is what was sent.
    await Promise.allSettled(writes);
    const leader = (): RaftNode | undefined => nodes.find((n) => n.status().role === 'leader');
    await until(
      'every member applied what the leader committed',
      () => nodes.every((n) => n.status().appliedIndex === leader()?.status().commitIndex),
      60_000,
    );
    expect(m.forwardBytes.reduce((a, b) => a + b, 0)).toBeGreaterThan(20 << 20);
    expect(Math.max(...m.forwardBytes)).toBeLessThanOrEqual(LIMITS.forwardBatchBytesMax);
    expect(Math.max(...m.batchBytes)).toBeLessThanOrEqual(LIMITS.peerMessageBytesMax);
  }, 60_000);
});

describe('pending writes are bounded in bytes', () => {
  test('past proposalsPendingBytesMax a write is refused RESOURCE_EXHAUSTED; settling frees the room', async () => {
    const p = new Proposals(SYSTEM_CLOCK);
    const payload = new Uint8Array(LIMITS.commandBytesMax);
    const fits = Math.floor(LIMITS.proposalsPendingBytesMax / payload.byteLength);
    const accepted = Array.from({ length: fits }, () =>
      p.enqueue(payload, Date.now() + 60_000, false).catch((e: unknown) => e),
    );
    const refused = await p.enqueue(payload, Date.now() + 60_000, false).then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(RegistryError);
    expect((refused as RegistryError).code).toBe('RESOURCE_EXHAUSTED');
    expect((refused as RegistryError).message).toMatch(/bytes of writes in flight/);
    p.failQueued(new RegistryError('UNAVAILABLE', 'test over'));
    await Promise.all(accepted);
    expect(p.pendingBytes).toBe(0);
    const again = p.enqueue(payload, Date.now() + 60_000, false);
    expect(p.pendingBytes).toBe(payload.byteLength);
    p.failQueued(new RegistryError('UNAVAILABLE', 'test over'));
    await again.catch(() => undefined);
  });
});

describe('Forward replies fit a peer message', () => {
  test('1 024 results of 512 KiB: the reply stays under the limit and the rest say retry with the request id', () => {
    const result = new Uint8Array(520 << 10);
    const results = fitForwardReply(
      Array.from({ length: 1_024 }, () => ({ ok: true as const, result })),
      LIMITS.peerBatchBytesMax,
    );
    expect(ForwardResponse.encode({ results }).finish().byteLength).toBeLessThanOrEqual(LIMITS.peerMessageBytesMax);
    const sent = results.filter((r) => r.outcome?.$case === 'result').length;
    expect(sent).toBeGreaterThan(20);
    const rest = results.slice(sent);
    expect(rest.length).toBe(1_024 - sent);
    for (const r of rest) expect(r.outcome?.$case === 'error' && r.outcome.value.code).toBe('UNAVAILABLE');
  });
});
