import type { NodeId } from '../../src/lib/ids.js';
import type { SeededRng } from '../../src/lib/rng.js';
import { type InstallSnapshot, type Message, describeMessage } from '../../src/raft/index.js';
import type { ForwardOutcome } from '../../src/transport/peer-handler.js';
import type { NetworkFaults, PartitionMode } from './faults.js';

/** Packet is one call in flight between two nodes, as the peer transport carries it. */
export interface Packet {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly body: PacketBody;
  /** senderIncarnation tells a report about this packet from one addressed to a restarted sender. */
  readonly senderIncarnation: number;
}

/**
 * PacketBody: a Raft message; a snapshot stream (its bytes beside the message); a Forward call
 * and its reply. `done` settles the sender's call; only Raft messages may be duplicated, as a
 * retried stream write may be, never a unary call.
 */
export type PacketBody =
  | { readonly kind: 'raft'; readonly message: Message }
  | {
      readonly kind: 'snapshot';
      readonly message: InstallSnapshot;
      readonly chunks: readonly Uint8Array[];
      readonly done: (delivered: boolean) => void;
    }
  | {
      readonly kind: 'forward';
      readonly commands: readonly Uint8Array[];
      readonly deadlineMs: number;
      readonly done: (outcomes: ForwardOutcome[]) => void;
    }
  | {
      readonly kind: 'forwardReply';
      readonly outcomes: readonly ForwardOutcome[];
      readonly done: (outcomes: ForwardOutcome[]) => void;
    };

export function describePacket(p: Packet): string {
  const b = p.body;
  switch (b.kind) {
    case 'raft':
    case 'snapshot':
      return describeMessage(b.message);
    case 'forward':
      return `${p.from}->${p.to} Forward(${b.commands.length})`;
    case 'forwardReply':
      return `${p.from}->${p.to} ForwardReply(${b.outcomes.map((o) => (o.ok ? 'ok' : o.error.code)).join(',')})`;
  }
}

/** Drop says why a packet never arrived, so the simulator can report it like a transport would. */
export type DropReason = 'loss' | 'partition';

/**
 * PacketSimulator is the seeded network (TigerBeetle's packet_simulator): every packet gets a
 * random delay in steps, so packets reorder; some are lost or duplicated; links cut by the
 * current partition drop packets both when sent and when due, as a real cut does to packets
 * already on the wire. Delivery order within a step is send order, so a seed replays exactly.
 */
export class PacketSimulator {
  /** inFlight[step] holds the packets due at that step, in the order they were scheduled. */
  private readonly inFlight = new Map<number, Packet[]>();
  /** blocked holds "from>to" for every directed link the current partition cuts. */
  private blocked = new Set<string>();
  private partitionMode: PartitionMode = 'none';
  private faults: NetworkFaults;
  packetsSent = 0;
  packetsDropped = 0;

  constructor(
    private readonly rng: SeededRng,
    faults: NetworkFaults,
    private readonly ids: readonly NodeId[],
  ) {
    this.faults = faults;
  }

  /** heal removes every partition and every probabilistic fault, for the convergence phase. */
  heal(): void {
    this.blocked.clear();
    this.partitionMode = 'none';
    this.faults = {
      ...this.faults,
      lossProbability: 0,
      duplicateProbability: 0,
      longDelayProbability: 0,
      partitionModes: ['none'],
    };
  }

  get partitioned(): boolean {
    return this.blocked.size > 0;
  }

  get mode(): PartitionMode {
    return this.partitionMode;
  }

  /** send schedules a packet, or returns why it was dropped at once. */
  send(now: number, packet: Packet): DropReason | null {
    this.packetsSent++;
    if (this.isBlocked(packet.from, packet.to)) return this.drop('partition');
    if (this.rng.chance(this.faults.lossProbability)) return this.drop('loss');
    this.schedule(now, packet);
    if (packet.body.kind === 'raft' && this.rng.chance(this.faults.duplicateProbability)) this.schedule(now, packet);
    return null;
  }

  /** due removes and returns the packets due at `now`; those on a link cut meanwhile are returned as dropped. */
  due(now: number): Array<{ packet: Packet; dropped: DropReason | null }> {
    const packets = this.inFlight.get(now);
    if (packets === undefined) return [];
    this.inFlight.delete(now);
    return packets.map((packet) => {
      const cut = this.isBlocked(packet.from, packet.to);
      if (cut) this.packetsDropped++;
      return { packet, dropped: cut ? 'partition' : null };
    });
  }

  /** pendingCount is how many packets are still on the wire. */
  pendingCount(): number {
    let n = 0;
    for (const list of this.inFlight.values()) n += list.length;
    return n;
  }

  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.blocked.size > 0 && this.blocked.has(`${from}>${to}`);
  }

  /** partition cuts links in the given mode; `leader` is the current leader, if any. */
  partition(mode: PartitionMode, leader: NodeId | null): string {
    this.blocked.clear();
    // Membership changes may leave a single node, which nothing can cut off from anyone.
    this.partitionMode = this.ids.length < 2 ? 'none' : mode;
    switch (this.partitionMode) {
      case 'none':
        return 'none';
      case 'symmetric':
        return this.cutBetween(this.randomSplit(1 + this.rng.nextInt(this.ids.length - 1)));
      case 'minority':
        return this.cutBetween(
          this.randomSplit(1 + this.rng.nextInt(Math.max(1, Math.floor((this.ids.length - 1) / 2)))),
        );
      case 'isolateLeader':
        return this.cutBetween([leader ?? this.rng.pick(this.ids)]);
      case 'oneWay':
        return this.cutRandomLinks();
      case 'leaderOneWay':
        return this.cutOneWay(leader ?? this.rng.pick(this.ids));
      case 'bridge':
        return this.cutBridge();
    }
  }

  private schedule(now: number, packet: Packet): void {
    const f = this.faults;
    const delay = this.rng.chance(f.longDelayProbability)
      ? 1 + this.rng.nextInt(f.longDelayStepsMax)
      : f.delayStepsMin + this.rng.nextInt(f.delayStepsMax - f.delayStepsMin + 1);
    const at = now + delay;
    const list = this.inFlight.get(at);
    if (list === undefined) this.inFlight.set(at, [packet]);
    else list.push(packet);
  }

  private drop(reason: DropReason): DropReason {
    this.packetsDropped++;
    return reason;
  }

  /** randomSplit returns `size` distinct random members (the side that is cut off). */
  private randomSplit(size: number): NodeId[] {
    const pool = [...this.ids];
    const side: NodeId[] = [];
    while (side.length < size) side.push(...pool.splice(this.rng.nextInt(pool.length), 1));
    return side;
  }

  private cutBetween(side: readonly NodeId[]): string {
    for (const a of side) {
      for (const b of this.ids) {
        if (side.includes(b)) continue;
        this.blocked.add(`${a}>${b}`);
        this.blocked.add(`${b}>${a}`);
      }
    }
    return `{${side.join(',')}} | {${this.ids.filter((id) => !side.includes(id)).join(',')}}`;
  }

  private cutRandomLinks(): string {
    const share = 0.2 + this.rng.nextFloat() * 0.4;
    const cut: string[] = [];
    for (const a of this.ids) {
      for (const b of this.ids) {
        if (a === b || !this.rng.chance(share)) continue;
        this.blocked.add(`${a}>${b}`);
        cut.push(`${a}>${b}`);
      }
    }
    return `cut ${cut.join(' ')}`;
  }

  private cutOneWay(node: NodeId): string {
    const deaf = this.rng.chance(0.5);
    for (const other of this.ids) {
      if (other === node) continue;
      this.blocked.add(deaf ? `${other}>${node}` : `${node}>${other}`);
    }
    return `${node} ${deaf ? 'cannot hear' : 'cannot send'}`;
  }

  private cutBridge(): string {
    const pool = this.randomSplit(this.ids.length);
    const bridge = pool.splice(0, 1);
    const half = pool.splice(0, Math.max(1, Math.floor(pool.length / 2)));
    for (const a of half) {
      for (const b of pool) {
        this.blocked.add(`${a}>${b}`);
        this.blocked.add(`${b}>${a}`);
      }
    }
    return `bridge ${bridge.join('')} between {${half.join(',')}} and {${pool.join(',')}}`;
  }
}
