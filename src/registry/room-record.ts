import type { StoredRoom } from '../gen/roomregistry/snapshot/v1/snapshot.js';
import type { Codec, Room } from '../gen/roomregistry/v1/rooms.js';

/**
 * RoomRecord is one room as the state machine holds it. Records are replaced, never changed,
 * on every write (so a snapshot can keep the version it started with), except for
 * `emittedByCapture`, which only the snapshot writer sets.
 */
export interface RoomRecord extends Readonly<StoredRoom> {
  /** emittedByCapture: the id of the last snapshot capture that wrote this record (0: none). */
  emittedByCapture: number;
}

/**
 * ENABLED_CODECS is what LiveKit's server reports by default (LIVEKIT.md §2, Room.enabled_codecs).
 * The registry hosts no media, so every room reports the defaults; one shared array, never mutated.
 */
const ENABLED_CODECS: readonly Codec[] = Object.freeze(
  ['audio/PCMU', 'audio/PCMA', 'audio/opus', 'audio/red', 'video/VP8', 'video/H264', 'video/VP9', 'video/AV1', 'video/H265', 'video/rtx'].map(
    (mime) => Object.freeze({ mime, fmtpLine: '' }),
  ),
);

export function newRecord(room: StoredRoom): RoomRecord {
  return { ...room, emittedByCapture: 0 };
}

/**
 * deadlineMs is when the room expires by LiveKit's rules: never while someone is in it;
 * departure_timeout after the last participant left; empty_timeout after creation if nobody
 * ever joined.
 */
export function deadlineMs(r: Readonly<StoredRoom>): number {
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
    enabledCodecs: ENABLED_CODECS as Codec[],
    metadata: r.metadata,
    numParticipants: r.numParticipants,
    activeRecording: false,
    numPublishers: r.numPublishers,
    version: r.versionTicks === 0 ? undefined : { unixMicro: r.versionUnixMicro, ticks: r.versionTicks },
    departureTimeout: r.departureTimeoutS,
    creationTimeMs: r.creationTimeMs,
    nodeId: r.nodeId,
    revision: r.revision,
  };
}
