import type { StoredLease } from '../gen/roomregistry/snapshot/v1/snapshot.js';
import type { MediaNodeStats } from '../gen/roomregistry/v1/rooms.js';
import { assert } from '../lib/assert.js';
import { ExpiryIndex } from './expiry-index.js';
import { REGISTRY_LIMITS } from './registry-limits.js';

/** LeaseRecord is one media node's lease as the registry holds it: replaced on every change, never mutated. */
export interface LeaseRecord extends Readonly<StoredLease> {
  readonly stats: Readonly<MediaNodeStats>;
}

/**
 * MediaNodeView is a live media node as ListMediaNodes shows it (DESIGN §13): its lease, its
 * last reported load, and how many rooms name it as their node_id.
 */
export interface MediaNodeView {
  readonly nodeId: string;
  readonly region: string;
  readonly ttlS: number;
  readonly stats: MediaNodeStats;
  readonly expiresAtMs: number;
  readonly roomsHosted: number;
}

/** NO_STATS: the load of a heartbeat that reported none. */
const NO_STATS: Readonly<MediaNodeStats> = Object.freeze({ numRooms: 0, numClients: 0, cpuLoad: 0 });

/** leaseRecord is the record of a stored (or heartbeat's) lease, with stats always present. */
export function leaseRecord(l: Readonly<StoredLease>): LeaseRecord {
  return {
    nodeId: l.nodeId,
    region: l.region,
    ttlS: l.ttlS,
    stats: l.stats === undefined ? NO_STATS : { ...l.stats },
    expiresAtMs: l.expiresAtMs,
  };
}

/**
 * MediaLeases is the table of media-node leases, indexed by expiry (the rooms' ExpiryIndex,
 * which files small integer ids: each leased node has one), so the sweeper's due leases cost
 * the due leases, never a scan.
 * Invariant: every lease's node has an id (idOf, nodeOfId, each the other's inverse; the ids of
 * removed leases are in freeIds) and is filed in the expiry index under its current
 * expiresAtMs; there are at most REGISTRY_LIMITS.mediaNodesMax leases.
 */
export class MediaLeases {
  private readonly leases = new Map<string, LeaseRecord>();
  private readonly idOf = new Map<string, number>();
  private readonly nodeOfId: string[] = [];
  private readonly freeIds: number[] = [];
  private readonly expiry = new ExpiryIndex((id) => this.leases.get(this.nodeOfId[id] ?? '')?.expiresAtMs ?? Infinity);

  get size(): number {
    return this.leases.size;
  }

  get(nodeId: string): LeaseRecord | undefined {
    return this.leases.get(nodeId);
  }

  /** isLive: nodeId holds a lease that has not expired at nowMs. */
  isLive(nodeId: string, nowMs: number): boolean {
    const lease = this.leases.get(nodeId);
    return lease !== undefined && lease.expiresAtMs > nowMs;
  }

  /** put creates or replaces a lease (the caller checked the bound for a new node). */
  put(lease: LeaseRecord): void {
    assert(lease.nodeId !== '', 'a lease needs a node id');
    assert(Number.isFinite(lease.expiresAtMs), () => `lease of ${lease.nodeId} expires at ${lease.expiresAtMs}`);
    const old = this.leases.get(lease.nodeId);
    let id = this.idOf.get(lease.nodeId);
    if (id === undefined) {
      id = this.freeIds.pop() ?? this.nodeOfId.length;
      this.idOf.set(lease.nodeId, id);
      this.nodeOfId[id] = lease.nodeId;
    }
    if (old !== undefined) this.expiry.remove(id, old.expiresAtMs);
    this.leases.set(lease.nodeId, lease);
    this.expiry.add(id, lease.expiresAtMs);
    assert(this.leases.size <= REGISTRY_LIMITS.mediaNodesMax, () => `${this.leases.size} leases, over the limit`);
  }

  remove(nodeId: string): void {
    const old = this.leases.get(nodeId);
    const id = this.idOf.get(nodeId);
    assert(old !== undefined && id !== undefined, () => `lease of ${nodeId} removed but not held`);
    this.expiry.remove(id, old.expiresAtMs);
    this.leases.delete(nodeId);
    this.idOf.delete(nodeId);
    this.freeIds.push(id);
  }

  /**
   * extendLive moves every lease that expires after sinceMs by byMs (a leader change, see
   * RoomRegistry.observeEntry). O(leases): it runs once per term change, and leases are bounded
   * by mediaNodesMax. Returns how many leases moved.
   */
  extendLive(sinceMs: number, byMs: number): number {
    assert(byMs > 0, () => `leases extended by ${byMs} ms`);
    let moved = 0;
    for (const lease of [...this.leases.values()]) {
      if (lease.expiresAtMs <= sinceMs) continue; // already due before the gap: it stays due
      this.put({ ...lease, expiresAtMs: lease.expiresAtMs + byMs });
      moved++;
    }
    return moved;
  }

  /** due returns up to `max` node ids whose lease expired at or before nowMs, earliest seconds first. */
  due(nowMs: number, max: number): string[] {
    return this.expiry.due(nowMs, max).map((id) => this.nodeOfId[id] ?? '');
  }

  /** live returns the leases alive at nowMs (of `region` unless it is ""), in node-id order. */
  live(nowMs: number, region: string): LeaseRecord[] {
    const out: LeaseRecord[] = [];
    for (const lease of this.leases.values()) {
      if (lease.expiresAtMs > nowMs && (region === '' || lease.region === region)) out.push(lease);
    }
    return out.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  }

  /** all is a copy of the table as it is now (a snapshot capture keeps it: leases are few). */
  all(): LeaseRecord[] {
    return [...this.leases.values()];
  }
}
