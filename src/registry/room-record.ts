import type { StoredRoom } from '../gen/roomregistry/snapshot/v1/snapshot.js';
import type { Room } from '../gen/roomregistry/v1/rooms.js';

/** DeadlineFields: what of a room its deadline depends on (a restore reads them without decoding the room). */
export type DeadlineFields = Pick<
  StoredRoom,
  'numParticipants' | 'everJoined' | 'lastLeftMs' | 'departureTimeoutS' | 'creationTimeMs' | 'emptyTimeoutS'
>;

/**
 * deadlineMs is when the room expires by LiveKit's rules: never while someone is in it;
 * departure_timeout after the last participant left; empty_timeout after creation if nobody
 * ever joined.
 */
export function deadlineMs(r: Readonly<DeadlineFields>): number {
  if (r.numParticipants > 0) return Infinity;
  if (r.everJoined) return r.lastLeftMs + r.departureTimeoutS * 1000;
  return r.creationTimeMs + r.emptyTimeoutS * 1000;
}

/** toRoom is the API's view of a record (LiveKit's Room plus node_id and revision). */
export function toRoom(r: Readonly<StoredRoom>): Room {
  return {
    sid: r.sid,
    name: r.name,
    emptyTimeout: r.emptyTimeoutS,
    maxParticipants: r.maxParticipants,
    creationTime: Math.floor(r.creationTimeMs / 1000),
    turnPassword: r.turnPassword,
    enabledCodecs: [], // media configuration, not registry state: the API layer fills in LiveKit's defaults
    metadata: r.metadata,
    numParticipants: r.numParticipants,
    activeRecording: false,
    numPublishers: r.numPublishers,
    version: r.versionTicks === 0 ? undefined : { unixMicro: r.versionUnixMicro, ticks: r.versionTicks },
    departureTimeout: r.departureTimeoutS,
    creationTimeMs: r.creationTimeMs,
    nodeId: r.nodeId,
    revision: r.revision,
    occupancy: r.shares.map((s) => ({ ...s })),
  };
}
