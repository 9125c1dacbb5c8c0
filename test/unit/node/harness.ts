// A three-member cluster of real RaftNodes over the in-memory transport and storage twins,
// with a fast tick, for the node-loop tests of issue 13 (node.test.ts keeps its own copy).
import { type NodeId, nodeId } from '../../../src/lib/ids.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { SeededRng } from '../../../src/lib/rng.js';
import { MemoryNodeStorage, MemorySnapshotStore } from '../../../src/node/memory-storage.js';
import { RaftNode, type RaftNodeOptions } from '../../../src/node/node.js';
import type { Message } from '../../../src/raft/index.js';
import { MemoryNetwork } from '../../../src/transport/memory-transport.js';
import type { Transport } from '../../../src/transport/transport.js';
import { KvMachine } from './kv-machine.js';

export const ids = ['a', 'b', 'c'].map(nodeId);
export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

export interface Member {
  node: RaftNode;
  kv: KvMachine;
  storage: MemoryNodeStorage;
  snapshots: MemorySnapshotStore;
  /** sent records every Raft message this process handed to its transport. */
  sent: Message[];
}

export class Harness {
  readonly network = new MemoryNetwork();
  readonly members: Member[] = [];
  private readonly running: RaftNode[] = [];

  start(id: NodeId, seed: number, prior?: Member, extra: Partial<RaftNodeOptions> = {}): Member {
    const storage = prior?.storage ?? new MemoryNodeStorage();
    const snapshots = prior?.snapshots ?? new MemorySnapshotStore();
    const kv = new KvMachine();
    const sent: Message[] = [];
    const node = new RaftNode({
      id,
      voters: ids,
      storage,
      snapshots,
      stateMachine: kv,
      transport: recording(this.network.transportFor(id), sent),
      logger: silentLogger,
      random: new SeededRng(seed),
      tickIntervalMs: 5,
      snapshotIntervalEntries: 50,
      ...extra,
    });
    this.network.register(id, node);
    node.start();
    this.running.push(node);
    const m = { node, kv, storage, snapshots, sent };
    const at = this.members.findIndex((x) => x.node.id === id);
    if (at >= 0) this.members[at] = m;
    else this.members.push(m);
    return m;
  }

  /** kill stops a member as a crash would, as far as its peers can tell: it stops answering. */
  async kill(m: Member): Promise<void> {
    this.network.unregister(m.node.id);
    await m.node.stop();
  }

  leader(): Member {
    const l = this.members.find((m) => this.running.includes(m.node) && m.node.status().role === 'leader');
    if (l === undefined) throw new Error('no leader');
    return l;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.running.map((n) => n.stop()));
  }
}

/** cluster starts a, b, c and waits until every member knows the same leader. */
export async function cluster(extra: (id: NodeId) => Partial<RaftNodeOptions> = () => ({})): Promise<Harness> {
  const h = new Harness();
  ids.forEach((id, i) => h.start(id, i + 1, undefined, extra(id)));
  await until('a leader all know', () => {
    const leaders = h.members.map((m) => m.node.status().leader);
    return leaders[0] !== null && leaders.every((l) => l === leaders[0]);
  });
  return h;
}

export async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const endMs = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > endMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const soon = (): number => Date.now() + 3_000;

function recording(t: Transport, sent: Message[]): Transport {
  return {
    send: (to, messages) => {
      sent.push(...messages);
      t.send(to, messages);
    },
    sendSnapshot: (to, message, chunks) => t.sendSnapshot(to, message, chunks),
    forward: (to, commands, deadlineMs) => t.forward(to, commands, deadlineMs),
    connectedPeers: () => t.connectedPeers(),
    close: () => t.close(),
  };
}
