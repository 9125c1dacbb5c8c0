import type { NodeId } from '../lib/ids.js';
import { BASELINE_VERSIONS, type FormatVersions, type LowestVersion } from '../lib/versions.js';

/**
 * VersionsStatus is what /status shows: this node's formats, the cluster's (the lowest last
 * known), each member's last known formats, each member's current ones (heard on its live
 * stream), and the command version the replicated state already uses.
 */
export interface VersionsStatus {
  readonly node: FormatVersions;
  readonly cluster: { readonly command: LowestVersion; readonly snapshot: LowestVersion };
  readonly members: Readonly<Record<string, FormatVersions>>;
  readonly current: Readonly<Record<string, FormatVersions>>;
  readonly commandVersionInUse: number;
}

/**
 * ClusterVersions remembers the format versions each peer advertised on its peer calls (etcd's
 * cluster version, DESIGN §12), twice over. `current`: what the peer advertised on the stream it
 * has open now; the peer server clears it when that stream ends, so a member restarted on an
 * older build is never taken for its former self (the replication gate reads it). `lastKnown`:
 * the last advertisement this process heard from the peer, kept when the stream ends, so a
 * member that is down does not block the versions it already advertised (the proposal gate
 * reads it); a new advertisement replaces it, so a member back on an older build is seen as
 * older as soon as it calls. Both are bounded by the members the peer server authenticates.
 */
export class ClusterVersions {
  private readonly current = new Map<NodeId, FormatVersions>();
  private readonly lastKnown = new Map<NodeId, FormatVersions>();

  constructor(
    private readonly selfId: NodeId,
    readonly self: FormatVersions,
  ) {}

  /**
   * peerVersions records what `peer` advertised; null: its Raft stream ended (current forgotten,
   * lastKnown kept). A call other than its Raft stream (`onStream` false: a forward, a snapshot)
   * sets current only while a stream keeps it: no stream end would clear it after that call,
   * so a peer that then died and came back on an older build would be taken for its former self.
   */
  peerVersions(peer: NodeId, versions: FormatVersions | null, onStream = true): void {
    if (peer === this.selfId) return;
    if (versions === null) {
      this.current.delete(peer);
      return;
    }
    if (onStream || this.current.has(peer)) this.current.set(peer, versions);
    this.lastKnown.set(peer, versions);
  }

  /** currentOf: what `id` advertised on its live stream (none: the baseline). */
  currentOf(id: NodeId): FormatVersions {
    return id === this.selfId ? this.self : (this.current.get(id) ?? BASELINE_VERSIONS);
  }

  /** heardNow: `id` advertised versions on a Raft stream that has not ended (this node: true). */
  heardNow(id: NodeId): boolean {
    return id === this.selfId || this.current.has(id);
  }

  /** lastKnownOf: the last formats `id` advertised to this process (never heard: the baseline). */
  lastKnownOf(id: NodeId): FormatVersions {
    return id === this.selfId ? this.self : (this.lastKnown.get(id) ?? BASELINE_VERSIONS);
  }

  /** lowest: the lowest last known version of `kind` among `members` (voters and learners), and one member that holds it there. */
  lowest(members: readonly NodeId[], kind: keyof FormatVersions): LowestVersion {
    let version = this.self[kind];
    let heldBackBy: NodeId | null = null;
    for (const id of members) {
      const v = this.lastKnownOf(id)[kind];
      if (v < version) {
        version = v;
        heldBackBy = id;
      }
    }
    return { version, heldBackBy };
  }

  status(members: readonly NodeId[], commandVersionInUse: number): VersionsStatus {
    return {
      node: this.self,
      cluster: { command: this.lowest(members, 'command'), snapshot: this.lowest(members, 'snapshot') },
      members: Object.fromEntries(members.map((id) => [id, this.lastKnownOf(id)])),
      current: Object.fromEntries(members.map((id) => [id, this.currentOf(id)])),
      commandVersionInUse,
    };
  }
}
