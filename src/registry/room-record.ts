import type { StoredRoom } from '../gen/roomregistry/snapshot/v1/snapshot.js';
import type { NodeOccupancy, Room } from '../gen/roomregistry/v1/rooms.js';

/** NO_SHARES: the one shares array of every room no media node reported on (most rooms). */
const NO_SHARES: NodeOccupancy[] = Object.freeze([]) as unknown as NodeOccupancy[];

/**
 * RoomRecord is one room as the state machine holds it. Records are replaced, never changed,
 * on every write (so a snapshot can keep the version it started with), except for
 * `emittedByCapture`, which only the snapshot writer sets. A class with every field assigned in
 * the constructor, so V8 gives all records one compact shape: an object built by spreading
 * falls back to a dictionary and costs about three times the memory at a million rooms.
 */
export class RoomRecord implements Readonly<StoredRoom> {
  readonly sid: string;
  readonly name: string;
  readonly emptyTimeoutS: number;
  readonly departureTimeoutS: number;
  readonly maxParticipants: number;
  readonly creationTimeMs: number;
  readonly turnPassword: string;
  readonly metadata: string;
  readonly numParticipants: number;
  readonly numPublishers: number;
  readonly nodeId: string;
  readonly versionUnixMicro: number;
  readonly versionTicks: number;
  readonly revision: number;
  readonly everJoined: boolean;
  readonly lastLeftMs: number;
  readonly shares: NodeOccupancy[];
  /** emittedByCapture: the id of the last snapshot capture that wrote this record (0: none). */
  emittedByCapture = 0;

  constructor(r: Readonly<StoredRoom>) {
    this.sid = r.sid;
    this.name = r.name;
    this.emptyTimeoutS = r.emptyTimeoutS;
    this.departureTimeoutS = r.departureTimeoutS;
    this.maxParticipants = r.maxParticipants;
    this.creationTimeMs = r.creationTimeMs;
    this.turnPassword = r.turnPassword;
    this.metadata = r.metadata;
    this.numParticipants = r.numParticipants;
    this.numPublishers = r.numPublishers;
    this.nodeId = r.nodeId;
    this.versionUnixMicro = r.versionUnixMicro;
    this.versionTicks = r.versionTicks;
    this.revision = r.revision;
    this.everJoined = r.everJoined;
    this.lastLeftMs = r.lastLeftMs;
    this.shares = r.shares.length === 0 ? NO_SHARES : r.shares;
  }
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
