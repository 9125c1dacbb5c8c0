import type { MediaNodeLeases } from '../api/room-handlers.js';
import type { MediaNodeView, RoomRegistry } from '../registry/index.js';

/** MediaNodeRegistryReads are the registry's media-node reads the node wires into the API, sweeper and metrics. */
export interface MediaNodeRegistryReads extends MediaNodeLeases {
  dueMediaNodes(nowMs: number, max: number): string[];
  /** leasesExpiredTotal: leases expired so far (replicated, like the room totals). */
  leasesExpiredTotal(): number;
}

type LeaseMethods = {
  liveMediaNodes(nowMs: number, region?: string): MediaNodeView[];
  dueMediaNodes(nowMs: number, max: number): string[];
  totalsSoFar(): { mediaNodeLeasesExpired?: number };
};

/**
 * mediaNodeReadsOf reads the media-node leases of the room state machine.
 *
 * TODO(media-api, #16): RoomRegistry gains liveMediaNodes, dueMediaNodes and
 * totalsSoFar().mediaNodeLeasesExpired on the media-registry branch, developed alongside this
 * one. Until both are merged this adapter calls them when present and sees no media nodes
 * otherwise, so each branch compiles and runs on its own; after the merge, pass
 * parts.stateMachine where these reads are used and delete this file.
 */
export function mediaNodeReadsOf(registry: RoomRegistry): MediaNodeRegistryReads {
  const r = registry as unknown as Partial<LeaseMethods> & Pick<LeaseMethods, 'totalsSoFar'>;
  return {
    liveMediaNodes: (nowMs, region = '') => r.liveMediaNodes?.call(registry, nowMs, region) ?? [],
    dueMediaNodes: (nowMs, max) => r.dueMediaNodes?.call(registry, nowMs, max) ?? [],
    leasesExpiredTotal: () => r.totalsSoFar.call(registry).mediaNodeLeasesExpired ?? 0,
  };
}
