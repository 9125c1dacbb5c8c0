import type { NodeId } from '../lib/ids.js';
import type { InstallSnapshot, Message } from '../raft/index.js';
import { RegistryError } from '../lib/errors.js';
import type { ForwardOutcome, PeerHandler } from './peer-handler.js';
import type { Transport } from './transport.js';

/**
 * MemoryNetwork connects nodes in one process: the in-memory twin of the gRPC transport.
 * Delivery is asynchronous (next macrotask), like a real network; `cut` severs links.
 */
export class MemoryNetwork {
  private readonly handlers = new Map<NodeId, PeerHandler>();
  private readonly cutLinks = new Set<string>();

  register(id: NodeId, handler: PeerHandler): void {
    this.handlers.set(id, handler);
  }

  unregister(id: NodeId): void {
    this.handlers.delete(id);
  }

  /** cut drops everything from `a` to `b` (call twice for both directions). */
  cut(a: NodeId, b: NodeId): void {
    this.cutLinks.add(`${a}>${b}`);
  }

  healAll(): void {
    this.cutLinks.clear();
  }

  reachable(from: NodeId, to: NodeId): PeerHandler | null {
    if (this.cutLinks.has(`${from}>${to}`)) return null;
    return this.handlers.get(to) ?? null;
  }

  transportFor(self: NodeId): Transport {
    return new MemoryTransport(self, this);
  }
}

class MemoryTransport implements Transport {
  constructor(
    private readonly self: NodeId,
    private readonly network: MemoryNetwork,
  ) {}

  send(to: NodeId, messages: readonly Message[]): void {
    const copy = [...messages];
    setImmediate(() => this.network.reachable(this.self, to)?.deliver(copy));
  }

  async sendSnapshot(to: NodeId, message: InstallSnapshot, chunks: AsyncIterable<Uint8Array>): Promise<boolean> {
    const peer = this.network.reachable(this.self, to);
    return peer === null ? false : peer.receiveSnapshot(message, chunks);
  }

  async forward(to: NodeId, commands: readonly Uint8Array[], deadlineMs: number): Promise<ForwardOutcome[]> {
    const peer = this.network.reachable(this.self, to);
    if (peer === null) {
      const error = new RegistryError('UNAVAILABLE', `cannot reach leader ${to}`, { leaderId: to });
      return commands.map(() => ({ ok: false as const, error }));
    }
    return peer.forward(commands, deadlineMs);
  }

  connectedPeers(): NodeId[] {
    return [];
  }

  close(): void {}
}
