/** The room state machine's public surface (DESIGN §5): pure, deterministic, no I/O. */
export { RoomRegistry, type RegistryTotals, type RoomSnapshotSource } from './state-machine.js';
export { REGISTRY_LIMITS } from './registry-limits.js';
export { SnapshotFormatError } from './snapshot-codec.js';
export type { RoomEvent, WatchRead } from './watch-log.js';
