/** The room state machine's public surface (DESIGN §5): pure, deterministic, no I/O. */
import type { MediaNodeStats } from '../gen/roomregistry/v1/rooms.js';

export {
  REJECTED_ENTRY_REASONS,
  RoomRegistry,
  type RegistryEvents,
  type RegistryTotals,
  type RejectedEntryReason,
} from './state-machine.js';
export { DEDUP_EVICTION_REASONS, type DedupEvictionReason } from './dedup.js';
export type { MediaNodeView } from './media-leases.js';
export { REGISTRY_LIMITS } from './registry-limits.js';
export { SnapshotFormatError } from './snapshot-codec.js';
export type { RoomEvent, WatchRead } from './watch-log.js';
export { REGISTRY_VERSIONS, commandVersionOf } from './versions.js';

/**
 * MediaNodeView is one live media-node lease as the registry reads it out (DESIGN §13).
 * TODO(media-api, #16): defined here for the API side until media-registry's lands; the merge keeps one.
 */
export interface MediaNodeView {
  readonly nodeId: string;
  readonly region: string;
  readonly ttlS: number;
  readonly stats: MediaNodeStats;
  readonly expiresAtMs: number;
  readonly roomsHosted: number;
}
