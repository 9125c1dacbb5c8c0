import { BinaryReader } from '@bufbuild/protobuf/wire';
import type { Command } from '../gen/roomregistry/command/v1/command.js';
import { BASELINE_VERSIONS, type FormatVersions } from '../lib/versions.js';
import { SNAPSHOT_FORMAT_VERSION } from './snapshot-codec.js';

type CommandCase = NonNullable<Command['command']>['$case'];

/**
 * COMMAND_VERSIONS: the command format version a replica needs to apply each command kind (the
 * registry decides, DESIGN §12). The kinds of the first release are version 1; the media-node
 * kinds (issue 16) are 2; SetCommandVersion is 3, and needs the version it sets if higher
 * (commandVersionOfCommand). A new kind, or a change in how an existing one applies, gets the
 * next version here, and the leader proposes it only once every member advertised that version
 * or the cluster already applied a command of it (commandVersionInUse, node/node.ts
 * versionRefusal and replicationHold). Exhaustive: a new command does not compile until it is given a
 * version.
 */
const COMMAND_VERSIONS: Readonly<Record<CommandCase, number>> = Object.freeze({
  createRoom: 1,
  updateRoomMetadata: 1,
  deleteRoom: 1,
  updateRoomOccupancy: 1,
  expireRooms: 1,
  mediaNodeHeartbeat: 2,
  expireMediaNodes: 2,
  updateOccupancyShare: 2,
  setCommandVersion: 3,
});

/**
 * QUOTA_COUNTS_OCCUPIED_BYTES_VERSION: from this command version in use on, the state quota
 * counts the bytes each room occupies in the table (state-quota.ts occupiedBytes), not the
 * estimate from its string lengths. Every replica switches at the same entry: the one that
 * brought the version into use.
 */
export const QUOTA_COUNTS_OCCUPIED_BYTES_VERSION = 3;

/** REGISTRY_VERSIONS: the formats this build applies, advertised to peers. */
export const REGISTRY_VERSIONS: FormatVersions = Object.freeze({
  command: Math.max(...Object.values(COMMAND_VERSIONS)),
  snapshot: SNAPSHOT_FORMAT_VERSION,
});

/**
 * COMMAND_CASE_BY_FIELD: the field number of each kind in Command's oneof (command.proto), so
 * the propose path can tell a command's kind from its tag alone.
 */
const COMMAND_CASE_BY_FIELD: ReadonlyMap<number, CommandCase> = new Map([
  [10, 'createRoom'],
  [11, 'updateRoomMetadata'],
  [12, 'deleteRoom'],
  [13, 'updateRoomOccupancy'],
  [14, 'expireRooms'],
  [15, 'mediaNodeHeartbeat'],
  [16, 'expireMediaNodes'],
  [17, 'updateOccupancyShare'],
  [18, 'setCommandVersion'],
]);
/** VERSION_FIELD_TAG: SetCommandVersion's version field (1, varint). */
const VERSION_FIELD_TAG = 1 << 3;

/**
 * commandVersionOf is the command version needed to apply `payload`. It reads the top-level
 * tags only, skipping the request id and key, and stops at the command's: a proposal is not
 * decoded twice on the leader (issue 18). Bytes it cannot read, or a kind this build does not
 * know, need the baseline (the validator refuses those, and apply answers them on every replica).
 */
export function commandVersionOf(payload: Uint8Array): number {
  if (REGISTRY_VERSIONS.command === BASELINE_VERSIONS.command) return BASELINE_VERSIONS.command;
  try {
    const reader = new BinaryReader(payload);
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      const kind = COMMAND_CASE_BY_FIELD.get(tag >>> 3);
      if (kind === 'setCommandVersion') return Math.max(COMMAND_VERSIONS[kind], versionIn(reader.bytes()));
      if (kind !== undefined) return commandVersionOfCase(kind);
      reader.skip(tag & 7);
    }
  } catch {
    // Unreadable: the baseline, as for no command at all.
  }
  return BASELINE_VERSIONS.command;
}

/** commandVersionOfCase is the command version needed to apply a command of kind `kind` (SetCommandVersion: at least). */
export function commandVersionOfCase(kind: CommandCase): number {
  return COMMAND_VERSIONS[kind];
}

/** commandVersionOfCommand is the command version needed to apply `c` (commandVersionOf of its bytes). */
export function commandVersionOfCommand(c: NonNullable<Command['command']>): number {
  const kindVersion = COMMAND_VERSIONS[c.$case];
  return c.$case === 'setCommandVersion' ? Math.max(kindVersion, c.value.version) : kindVersion;
}

/** versionIn reads SetCommandVersion's version from its encoded bytes (0 when absent). */
function versionIn(bytes: Uint8Array): number {
  const reader = new BinaryReader(bytes);
  let version = 0;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === VERSION_FIELD_TAG) version = reader.uint32();
    else reader.skip(tag & 7);
  }
  return version;
}
