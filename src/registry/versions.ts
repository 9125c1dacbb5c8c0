import { Command } from '../gen/roomregistry/command/v1/command.js';
import { BASELINE_VERSIONS, type FormatVersions } from '../lib/versions.js';
import { SNAPSHOT_FORMAT_VERSION } from './snapshot-codec.js';

type CommandCase = NonNullable<Command['command']>['$case'];

/**
 * COMMAND_VERSIONS: the command format version a replica needs to apply each command kind (the
 * registry decides, DESIGN §12). The kinds of the first release are version 1; the media-node
 * kinds (issue 16) are 2. A new kind, or a change in how an existing one applies, gets the
 * next version here, and the leader proposes it only once every member advertises that version
 * (node/cluster-versions.ts). Exhaustive: a new command does not compile until it is given a
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
});

/** REGISTRY_VERSIONS: the formats this build applies, advertised to peers. */
export const REGISTRY_VERSIONS: FormatVersions = Object.freeze({
  command: Math.max(...Object.values(COMMAND_VERSIONS)),
  snapshot: SNAPSHOT_FORMAT_VERSION,
});

/**
 * commandVersionOf is the command version needed to apply `payload`. While every kind is at the
 * baseline it decodes nothing (the propose path stays as cheap as before); bytes that do not
 * decode need the baseline (the validator refuses them, and apply answers them on every replica).
 */
export function commandVersionOf(payload: Uint8Array): number {
  if (REGISTRY_VERSIONS.command === BASELINE_VERSIONS.command) return BASELINE_VERSIONS.command;
  let c: Command['command'];
  try {
    c = Command.decode(payload).command;
  } catch {
    return BASELINE_VERSIONS.command;
  }
  return c === undefined ? BASELINE_VERSIONS.command : COMMAND_VERSIONS[c.$case];
}
