import type { NodeId } from '../lib/ids.js';
import { BASELINE_VERSIONS, type FormatVersions, type LowestVersion } from '../lib/versions.js';

/** VersionsStatus is what /status shows: this node's formats, the cluster's, and each member's as heard. */
export interface VersionsStatus {
  readonly node: FormatVersions;
  readonly cluster: { readonly command: LowestVersion; readonly snapshot: LowestVersion };
  readonly members: Readonly<Record<string, FormatVersions>>;
}

/**
 * ClusterVersions remembers the format versions each peer advertised on its peer calls (etcd's
 * cluster version, DESIGN §12). A peer's entry lasts while it talks to this node: the peer
 * server forgets it when that peer's stream ends, so a member restarted on an older build is
 * never taken for its former self. Bounded by the members the peer server authenticates.
 */
export class ClusterVersions {
  private readonly heard = new Map<NodeId, FormatVersions>();

  constructor(
    private readonly selfId: NodeId,
    readonly self: FormatVersions,
  ) {}

  /** peerVersions records what `peer` advertised; null forgets it (it counts as the baseline again). */
  peerVersions(peer: NodeId, versions: FormatVersions | null): void {
    if (peer === this.selfId) return;
    if (versions === null) this.heard.delete(peer);
    else this.heard.set(peer, versions);
  }

  /** of: what `id` can apply as far as this node knows (a member not heard from: the baseline). */
  of(id: NodeId): FormatVersions {
    return id === this.selfId ? this.self : (this.heard.get(id) ?? BASELINE_VERSIONS);
  }

  /** lowest: the lowest version of `kind` among `members` (voters and learners), and one member that holds it there. */
  lowest(members: readonly NodeId[], kind: keyof FormatVersions): LowestVersion {
    let version = this.self[kind];
    let heldBackBy: NodeId | null = null;
    for (const id of members) {
      const v = this.of(id)[kind];
      if (v < version) {
        version = v;
        heldBackBy = id;
      }
    }
    return { version, heldBackBy };
  }

  status(members: readonly NodeId[]): VersionsStatus {
    return {
      node: this.self,
      cluster: { command: this.lowest(members, 'command'), snapshot: this.lowest(members, 'snapshot') },
      members: Object.fromEntries(members.map((id) => [id, this.of(id)])),
    };
  }
}
