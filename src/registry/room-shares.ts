import type { StoredRoom } from '../gen/roomregistry/snapshot/v1/snapshot.js';
import type { NodeOccupancy } from '../gen/roomregistry/v1/rooms.js';
import { assert } from '../lib/assert.js';

/**
 * A room's occupancy in parts (DESIGN §13, issue 16 item 2). Each media node that reported on
 * the room holds a share (`shares`, in node-id order, no share of 0 participants and 0
 * publishers); reports without a node (UpdateRoomOccupancy, command version 1) set the one
 * unattributed part. A record keeps the totals in numParticipants/numPublishers, so the
 * unattributed part is total - sum(shares), and a room no node reported on (every room of an
 * older snapshot) is all unattributed: its behaviour is exactly that of a single count.
 */

/** Counts is a pair of occupancy counts (a share, a sum, or the unattributed part). */
export interface Counts {
  readonly participants: number;
  readonly publishers: number;
}

/** OccupancyFields are the fields of a room that an occupancy change rewrites. */
export type OccupancyFields = Pick<
  StoredRoom,
  'numParticipants' | 'numPublishers' | 'shares' | 'everJoined' | 'lastLeftMs'
>;

/** sharesSum adds up the node shares. */
export function sharesSum(shares: readonly NodeOccupancy[]): Counts {
  let participants = 0;
  let publishers = 0;
  for (const s of shares) {
    participants += s.numParticipants;
    publishers += s.numPublishers;
  }
  return { participants, publishers };
}

/** unattributedOf is the part of a room's counts that no media node's share accounts for. */
export function unattributedOf(r: Readonly<StoredRoom>): Counts {
  const sum = sharesSum(r.shares);
  const participants = r.numParticipants - sum.participants;
  const publishers = r.numPublishers - sum.publishers;
  assert(participants >= 0 && publishers >= 0, () => `room ${r.name}: its shares exceed its counts`);
  return { participants, publishers };
}

/**
 * withShare is `shares` with nodeId's share set to `counts` (a share of 0 and 0 is dropped):
 * a new array, in node-id order; the old one is never changed (records are immutable).
 */
export function withShare(shares: readonly NodeOccupancy[], nodeId: string, counts: Counts): NodeOccupancy[] {
  assert(nodeId !== '', 'a share needs a node id');
  const out = shares.filter((s) => s.nodeId !== nodeId);
  if (counts.participants === 0 && counts.publishers === 0) return out;
  const at = out.findIndex((s) => s.nodeId > nodeId);
  const share = { nodeId, numParticipants: counts.participants, numPublishers: counts.publishers };
  out.splice(at === -1 ? out.length : at, 0, share);
  return out;
}

/** hasShare: nodeId holds a share in `shares`. */
export function hasShare(shares: readonly NodeOccupancy[], nodeId: string): boolean {
  return shares.some((s) => s.nodeId === nodeId);
}

/**
 * occupancyAfter is a room's occupancy once its parts are `shares` and `unattributed`, at entry
 * time t: the totals are the sums; the room counts as joined once the sum is above 0, and its
 * departure timer starts (lastLeftMs = t) only when the participant sum falls from above 0 to 0
 * (livekit/livekit#4316: one node emptying does not end a room another node still serves).
 */
export function occupancyAfter(
  old: Readonly<StoredRoom>,
  shares: NodeOccupancy[],
  unattributed: Counts,
  t: number,
): OccupancyFields {
  const sum = sharesSum(shares);
  const numParticipants = unattributed.participants + sum.participants;
  const numPublishers = unattributed.publishers + sum.publishers;
  const leftNow = old.numParticipants > 0 && numParticipants === 0;
  return {
    numParticipants,
    numPublishers,
    shares,
    everJoined: old.everJoined || numParticipants > 0,
    lastLeftMs: leftNow ? t : old.lastLeftMs,
  };
}

/**
 * RoomsByNode maps a media node to the rooms it is linked to (the rooms it holds a share in, or
 * the rooms it hosts), so dropping a node costs that node's rooms, never a scan of the table.
 * Rooms are their table slots: no name string is kept per room (issue 17).
 * Invariant: no node maps to an empty set, and "" is never a key.
 */
export class RoomsByNode {
  private readonly byNode = new Map<string, Set<number>>();

  /** nodes: how many nodes have at least one room. */
  get nodes(): number {
    return this.byNode.size;
  }

  add(nodeId: string, slot: number): void {
    assert(nodeId !== '', () => `room in slot ${slot} linked to node ""`);
    let slots = this.byNode.get(nodeId);
    if (slots === undefined) {
      slots = new Set();
      this.byNode.set(nodeId, slots);
    }
    assert(!slots.has(slot), () => `room in slot ${slot} linked to ${nodeId} twice`);
    slots.add(slot);
  }

  delete(nodeId: string, slot: number): void {
    const slots = this.byNode.get(nodeId);
    assert(slots !== undefined && slots.delete(slot), () => `room in slot ${slot} was not linked to ${nodeId}`);
    if (slots.size === 0) this.byNode.delete(nodeId);
  }

  /** roomsOf is a copy of nodeId's rooms' slots (the caller changes them while going through). */
  roomsOf(nodeId: string): number[] {
    return [...(this.byNode.get(nodeId) ?? [])];
  }

  countOf(nodeId: string): number {
    return this.byNode.get(nodeId)?.size ?? 0;
  }
}
