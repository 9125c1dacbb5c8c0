/** The room state machine's public surface (DESIGN §5): pure, deterministic, no I/O. */
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
