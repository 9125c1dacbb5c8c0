import type { Command } from '../../../src/gen/roomregistry/command/v1/command.js';
import type { Index } from '../../../src/lib/ids.js';
import type { Cluster } from '../cluster.js';
import { SimRooms } from '../rooms.js';
import { SafetyViolation } from './safety.js';

/**
 * Media-node leases (issue 16, DESIGN §13) must neither expire early nor get lost:
 * - never early: an ExpireMediaNodes entry that removed media node X is stamped no earlier than
 *   X's last heartbeat applied before it plus that heartbeat's ttl, and no earlier than the
 *   expiry the lease rules give: heartbeat time plus ttl, moved later by each new term's first
 *   command by the time since the previous command (the leaderless gap), for leases still live
 *   then. The checker replays those rules over the committed command entries in log order (the
 *   same on every replica), so it knows each lease's exact expiry at every entry;
 * - no lease kept past due: an ExpireMediaNodes entry removes every lease it names that is due
 *   at its time by those rules (the sweeper names only due ones; one renewed since stays);
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
  /** lastHeartbeat: per media node, its last heartbeat entry (in log order). */
  private readonly lastHeartbeat = new Map<string, Heartbeat>();
  /** expiresAtMs: per media node holding a lease, when it expires by the lease rules. */
  private readonly expiresAtMs = new Map<string, number>();
  /** lastIndex, lastEntryTimeMs, lastEntryTerm: the last command entry replayed. */
  private lastIndex = 0;
  private lastEntryTimeMs = 0;
  private lastEntryTerm = 0;
  /** named: the nodes each ExpireMediaNodes entry names, until its first apply is checked. */
  private readonly named = new Map<number, readonly string[]>();
  /** leasesExpired: leases removed, counted once per entry (not once per replica). */
  leasesExpired = 0;
  heartbeatsApplied = 0;

  /**
   * commandApplied: a node applied the command entry at `index` (of `term`, stamped
   * `entryTimeMs`). Only its first apply anywhere counts; first applies come in log order (a
   * node that skipped entries restored a snapshot of a node that applied them).
   */
  commandApplied(index: Index, entryTimeMs: number, term: number, command: Command['command']): void {
    if (index <= this.lastIndex) return;
    this.lastIndex = index;
    const t = Math.floor(entryTimeMs);
    // RoomRegistry.observeEntry's rule: a newer term's first command extends the leases still live.
    if (this.lastEntryTerm > 0 && term > this.lastEntryTerm && t > this.lastEntryTimeMs) {
      for (const [id, at] of this.expiresAtMs)
        if (at > this.lastEntryTimeMs) this.expiresAtMs.set(id, at + t - this.lastEntryTimeMs);
    }
    this.lastEntryTerm = Math.max(this.lastEntryTerm, term);
    this.lastEntryTimeMs = t;
    if (command?.$case === 'mediaNodeHeartbeat') {
      const { nodeId, ttlS } = command.value;
      this.heartbeatsApplied++;
      this.lastHeartbeat.set(nodeId, { index, entryTimeMs: t, ttlS });
      this.expiresAtMs.set(nodeId, t + ttlS * 1000);
    } else if (command?.$case === 'expireMediaNodes') {
      this.named.set(index, command.value.nodeIds);
    }
  }

  /**
   * expired: a replica applied the ExpireMediaNodes entry at `index`, stamped `entryTimeMs`,
   * and it removed the leases of `removed` (maybe none), leaving `leftovers` behind (see
   * SimRoomsEvents). The lease rules are checked at the entry's first apply, when the replay
   * stands exactly at it; leftovers on every replica.
   */
  expired(index: Index, entryTimeMs: number, removed: readonly string[], leftovers: readonly string[]): void {
    if (leftovers.length > 0)
      throw new SafetyViolation(
        'lease expiry',
        `entry ${index} expired ${removed.join(', ')}, but ${leftovers.join('; ')}`,
      );
    const named = this.named.get(index);
    if (named === undefined) return;
    this.named.delete(index);
    if (this.lastIndex !== index)
      throw new SafetyViolation(
        'lease expiry',
        `entry ${index} applied first while the log replay stood at ${this.lastIndex}`,
      );
    this.leasesExpired += removed.length;
    const t = Math.floor(entryTimeMs);
    for (const id of removed) this.checkRemoved(index, t, id, named);
    for (const id of named) {
      const at = this.expiresAtMs.get(id);
      if (!removed.includes(id) && at !== undefined && at <= t)
        throw new SafetyViolation(
          'lease kept past due',
          `entry ${index} at ${t} ms kept ${id}, whose lease expired at ${at} ms`,
        );
    }
  }

  private checkRemoved(index: Index, t: number, id: string, named: readonly string[]): void {
    const last = this.lastHeartbeat.get(id);
    const at = this.expiresAtMs.get(id);
    if (!named.includes(id) || last === undefined || at === undefined)
      throw new SafetyViolation(
        'lease expiry',
        `entry ${index} expired ${id}, which it does not name or which holds no lease`,
      );
    const ttlDueMs = last.entryTimeMs + last.ttlS * 1000;
    if (t < ttlDueMs || t < at)
      throw new SafetyViolation(
        'lease expired early',
        `entry ${index} at ${t} ms expired ${id}, whose last heartbeat (entry ${last.index} at ${last.entryTimeMs} ms, ` +
          `ttl ${last.ttlS} s) with the leader changes since keeps it until ${at} ms`,
      );
    this.expiresAtMs.delete(id);
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
