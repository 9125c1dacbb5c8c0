import type { Index } from '../../../src/lib/ids.js';
import type { Cluster } from '../cluster.js';
import { SimRooms } from '../rooms.js';
import { SafetyViolation } from './safety.js';

/**
 * Media-node leases (issue 16, DESIGN §13) must neither expire early nor get lost:
 * - never early: an ExpireMediaNodes entry that removed media node X is stamped no earlier than
 *   X's last heartbeat applied before it plus that heartbeat's ttl. Heartbeats and expiries are
 *   committed entries, the same on every replica, so the log order decides which heartbeat
 *   was the last; a new term's extension of live leases only makes expiry later;
 * - complete: on each replica that applied the removal, no room still holds a share of X or
 *   names X as its node (checked as the entry applies, by SimRooms);
 * - never lost: after the run heals and converges, once simulated time has passed a lease's
 *   expiry plus a sweep period, the lease is gone on every replica, with every share of it
 *   (`checkLeasesFinal`, run by the simulator after it drove the sweeper that long).
 */

interface Heartbeat {
  readonly index: Index;
  readonly entryTimeMs: number;
  readonly ttlS: number;
}

export class LeaseChecker {
  /** heartbeats: per media node, each heartbeat entry any node applied, in index order. */
  private readonly heartbeats = new Map<string, Heartbeat[]>();
  private readonly heartbeatIndexes = new Set<number>();
  private readonly expiries = new Set<number>();
  /** leasesExpired: leases removed, counted once per entry (not once per replica). */
  leasesExpired = 0;
  heartbeatsApplied = 0;

  /** heartbeatApplied: a node applied the heartbeat of `nodeId` at `index` (once per index counts). */
  heartbeatApplied(index: Index, entryTimeMs: number, nodeId: string, ttlS: number): void {
    if (this.heartbeatIndexes.has(index)) return;
    this.heartbeatIndexes.add(index);
    this.heartbeatsApplied++;
    const list = this.heartbeats.get(nodeId) ?? [];
    if (list.length === 0) this.heartbeats.set(nodeId, list);
    list.push({ index, entryTimeMs, ttlS });
    // Entries are first applied in index order (a replica that skipped some restored a
    // snapshot taken by one that applied them); keep the list sorted whatever happens.
    list.sort((a, b) => a.index - b.index);
  }

  /**
   * expired: a replica applied the ExpireMediaNodes entry at `index`, stamped `entryTimeMs`,
   * and it removed the leases of `nodeIds`, leaving `leftovers` behind (see SimRoomsEvents).
   */
  expired(index: Index, entryTimeMs: number, nodeIds: readonly string[], leftovers: readonly string[]): void {
    if (leftovers.length > 0)
      throw new SafetyViolation(
        'lease expiry',
        `entry ${index} expired ${nodeIds.join(', ')}, but ${leftovers.join('; ')}`,
      );
    if (!this.expiries.has(index)) {
      this.expiries.add(index);
      this.leasesExpired += nodeIds.length;
    }
    const t = Math.floor(entryTimeMs);
    for (const id of nodeIds) {
      const last = this.lastHeartbeatBefore(id, index);
      if (last === null)
        throw new SafetyViolation('lease expiry', `entry ${index} expired ${id}, which no heartbeat before it created`);
      const dueMs = Math.floor(last.entryTimeMs) + last.ttlS * 1000;
      if (t < dueMs)
        throw new SafetyViolation(
          'lease expired early',
          `entry ${index} at ${t} ms expired ${id}, whose last heartbeat (entry ${last.index} at ` +
            `${Math.floor(last.entryTimeMs)} ms, ttl ${last.ttlS} s) keeps it until ${dueMs} ms`,
        );
    }
  }

  private lastHeartbeatBefore(nodeId: string, index: Index): Heartbeat | null {
    const list = this.heartbeats.get(nodeId) ?? [];
    for (let i = list.length - 1; i >= 0; i--) {
      const h = list[i];
      if (h !== undefined && h.index < index) return h;
    }
    return null;
  }
}

/**
 * checkLeasesFinal runs on the healed, converged cluster at `nowMs`, after every media node
 * stopped heartbeating: on every member, no lease is left more than `graceMs` past its expiry
 * (the sweeper had the time to remove it), and every room's counts are its unattributed share
 * plus the shares of media nodes that still hold a lease (SimRooms.countsProblems).
 */
export function checkLeasesFinal(cluster: Cluster, nowMs: number, graceMs: number): void {
  for (const node of cluster.members()) {
    const machine = node.machine;
    if (!(machine instanceof SimRooms)) continue;
    for (const lease of machine.registry.liveMediaNodes(0)) {
      if (lease.expiresAtMs + graceMs <= nowMs)
        throw new SafetyViolation(
          'lease lost',
          `${node.id} still holds ${lease.nodeId}'s lease, which expired at ${lease.expiresAtMs} ms, at ${nowMs} ms`,
        );
    }
    const problems = machine.countsProblems();
    if (problems.length > 0) throw new SafetyViolation('occupancy sums', `${node.id}: ${problems.join('; ')}`);
  }
}
