import type { NodeId } from '../lib/ids.js';
import type { InstallSnapshot, Message } from '../raft/index.js';
import { RegistryError } from '../lib/errors.js';
import type { FaultHook } from './fault-hook.js';
import type { PeerCredentials } from './peer-auth.js';
import { PeerClient } from './peer-client.js';
import type { ForwardOutcome } from './peer-handler.js';
import type { PeerLimits, PeerMember, PeerTlsFiles } from './peer-options.js';

/** Transport is how the node reaches its peers (STYLE rule 11: a small seam). */
export interface Transport {
  /** send delivers Raft messages for one peer, as one batch, best effort. */
  send(to: NodeId, messages: readonly Message[]): void;
  /** sendSnapshot streams a snapshot; true when the peer stored it. */
  sendSnapshot(to: NodeId, message: InstallSnapshot, chunks: AsyncIterable<Uint8Array>): Promise<boolean>;
  /** forward sends commands to the leader and returns each one's outcome. */
  forward(to: NodeId, commands: readonly Uint8Array[], deadlineMs: number): Promise<ForwardOutcome[]>;
  /** connectedPeers lists peers whose stream is open (for status and metrics). */
  connectedPeers(): NodeId[];
  /**
   * setMembers replaces whom it dials (membership changes, DESIGN §11): new members get a
   * connection, removed ones lose theirs, a member whose address changed is redialed.
   * Optional: the in-memory test transport reaches every node it was given.
   */
  setMembers?(members: readonly PeerMember[]): void;
  close(): void;
}

/** PeerTransportEvents lets the node log peer connects and disconnects (STYLE rule 23). */
export interface PeerTransportEvents {
  onPeerHealth?(peer: NodeId, healthy: boolean): void;
  /** onRemovedByPeer: `peer` refused this node as a member removed at log index `index`. */
  onRemovedByPeer?(peer: NodeId, index: number): void;
}

/** PeerTransport is the gRPC Transport: one PeerClient per other member. */
export class PeerTransport implements Transport {
  private readonly clients = new Map<NodeId, { client: PeerClient; address: string }>();
  readonly events: PeerTransportEvents = {};

  constructor(
    private readonly selfId: NodeId,
    members: readonly PeerMember[],
    private readonly credentials: PeerCredentials,
    private readonly tls: PeerTlsFiles | null,
    private readonly limits: PeerLimits,
    private readonly onUnreachable: (peer: NodeId) => void,
    private readonly faults: FaultHook | null = null,
  ) {
    this.setMembers(members);
  }

  setMembers(members: readonly PeerMember[]): void {
    const wanted = new Map(members.filter((m) => m.id !== this.selfId).map((m) => [m.id, m.peerAddress]));
    for (const [id, c] of this.clients) {
      if (wanted.get(id) === c.address) continue;
      c.client.close();
      this.clients.delete(id);
    }
    for (const [id, address] of wanted) {
      if (this.clients.has(id)) continue;
      const client = new PeerClient(
        id,
        address,
        this.credentials,
        this.tls,
        this.limits,
        this.onUnreachable,
        (peer, healthy) => this.events.onPeerHealth?.(peer, healthy),
        (peer, index) => this.events.onRemovedByPeer?.(peer, index),
      );
      this.clients.set(id, { client, address });
    }
  }

  /** peerIds: the peers it dials now. */
  peerIds(): NodeId[] {
    return [...this.clients.keys()];
  }

  send(to: NodeId, messages: readonly Message[]): void {
    const rule = this.faults?.ruleFor(to) ?? null;
    if (rule?.dropOutbound === true) return;
    if (rule !== null && rule.delayOutboundMs > 0) {
      setTimeout(() => this.client(to)?.send(messages), rule.delayOutboundMs);
      return;
    }
    this.client(to)?.send(messages);
  }

  async sendSnapshot(to: NodeId, message: InstallSnapshot, chunks: AsyncIterable<Uint8Array>): Promise<boolean> {
    const rule = this.faults?.ruleFor(to) ?? null;
    if (rule?.dropOutbound === true) return false;
    if (rule !== null && rule.delayOutboundMs > 0) await new Promise((r) => setTimeout(r, rule.delayOutboundMs));
    return (await this.client(to)?.sendSnapshot(message, chunks)) ?? false;
  }

  forward(to: NodeId, commands: readonly Uint8Array[], deadlineMs: number): Promise<ForwardOutcome[]> {
    const c = this.client(to);
    // A leader this node has no address for (not yet in its applied configuration): retry later.
    if (c === undefined) {
      const error = new RegistryError('UNAVAILABLE', `no address known for leader ${to}`, { leaderId: to });
      return Promise.resolve(commands.map(() => ({ ok: false as const, error })));
    }
    if (this.faults?.ruleFor(to)?.dropOutbound === true) {
      const error = new RegistryError('UNAVAILABLE', `cannot reach leader ${to} (fault injected)`, { leaderId: to });
      return Promise.resolve(commands.map(() => ({ ok: false as const, error })));
    }
    return c.forward(commands, deadlineMs);
  }

  /** heard is called when a message from `peer` arrived: it is reachable, so reset its back-off. */
  heard(peer: NodeId): void {
    this.clients.get(peer)?.client.markHealthy();
  }

  /** peerStats: per peer, heard from since its stream last broke, and batches that could not be written. */
  peerStats(): Map<NodeId, { healthy: boolean; sendErrors: number }> {
    return new Map(
      [...this.clients].map(([id, { client: c }]) => [id, { healthy: c.healthy, sendErrors: c.sendErrors }]),
    );
  }

  connectedPeers(): NodeId[] {
    return [...this.clients.values()].filter(({ client: c }) => c.connected).map(({ client: c }) => c.peerId);
  }

  close(): void {
    for (const { client } of this.clients.values()) client.close();
    this.clients.clear();
  }

  private client(to: NodeId): PeerClient | undefined {
    return this.clients.get(to)?.client;
  }
}
