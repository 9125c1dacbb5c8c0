import type { NodeId } from '../../src/lib/ids.js';
import type { InstallSnapshot, Message } from '../../src/raft/index.js';
import type { ForwardOutcome } from '../../src/transport/peer-handler.js';
import type { Transport } from '../../src/transport/transport.js';
import type { Packet } from './network.js';

/** SimWire carries a packet from one node to another through the seeded network. */
export interface SimWire {
  send(packet: Packet): void;
}

/**
 * SimTransport is the Transport of one process incarnation, over the PacketSimulator: the
 * twin of PeerTransport (gRPC) as MemoryNetwork's is for the node-loop tests, except that
 * every call travels as packets with seeded delays, losses and partitions. A call whose
 * packet is lost settles as the real transport's would (a failed snapshot, an UNAVAILABLE
 * forward), or not at all, when the real one would wait for its deadline.
 */
export class SimTransport implements Transport {
  snapshotsSent = 0;

  constructor(
    private readonly self: NodeId,
    private readonly incarnation: number,
    private readonly wire: SimWire,
  ) {}

  send(to: NodeId, messages: readonly Message[]): void {
    for (const message of messages) this.wire.send(this.packet(to, { kind: 'raft', message }));
  }

  async sendSnapshot(to: NodeId, message: InstallSnapshot, chunks: AsyncIterable<Uint8Array>): Promise<boolean> {
    const all: Uint8Array[] = [];
    for await (const c of chunks) all.push(c);
    this.snapshotsSent++;
    return new Promise((done) => this.wire.send(this.packet(to, { kind: 'snapshot', message, chunks: all, done })));
  }

  forward(to: NodeId, commands: readonly Uint8Array[], deadlineMs: number): Promise<ForwardOutcome[]> {
    return new Promise((done) =>
      this.wire.send(this.packet(to, { kind: 'forward', commands: [...commands], deadlineMs, done })),
    );
  }

  connectedPeers(): NodeId[] {
    return [];
  }

  close(): void {}

  private packet(to: NodeId, body: Packet['body']): Packet {
    return { from: this.self, to, body, senderIncarnation: this.incarnation };
  }
}
