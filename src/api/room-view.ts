import type { Codec, Room } from '../gen/roomregistry/v1/rooms.js';

/**
 * ENABLED_CODECS is what LiveKit's server reports by default (LIVEKIT.md §2, Room.enabled_codecs).
 * It is media configuration, not registry state, so the state machine does not store it in a
 * million rooms or in the log; every reply gets this one shared, frozen list.
 */
const ENABLED_CODECS: readonly Codec[] = Object.freeze(
  [
    'audio/PCMU',
    'audio/PCMA',
    'audio/opus',
    'audio/red',
    'video/VP8',
    'video/H264',
    'video/VP9',
    'video/AV1',
    'video/H265',
    'video/rtx',
  ].map((mime) => Object.freeze({ mime, fmtpLine: '' })),
);

/** present fills in what the API reports beyond the registry's state (a fresh Room is changed in place). */
export function present<R extends Room | undefined>(room: R): R {
  if (room !== undefined) room.enabledCodecs = ENABLED_CODECS as Codec[];
  return room;
}

export function presentAll(rooms: Room[]): Room[] {
  for (const r of rooms) present(r);
  return rooms;
}

/**
 * ROOM_REPLY_OVERHEAD_BYTES is a room's reply size besides its strings: the JSON field names,
 * numbers and the enabled_codecs list come to about 700 bytes (protobuf is smaller).
 */
export const ROOM_REPLY_OVERHEAD_BYTES = 704;

/**
 * roomReplyBytes estimates one room's share of a reply, in O(1) from its string lengths (JSON
 * escaping can make metadata longer; the budgets leave room for that).
 */
export function roomReplyBytes(r: Readonly<Room>): number {
  return (
    ROOM_REPLY_OVERHEAD_BYTES +
    r.sid.length +
    r.name.length +
    r.metadata.length +
    r.turnPassword.length +
    r.nodeId.length
  );
}

/**
 * withinReplyBudget returns the leading rooms whose replies fit in bytesMax (always at least
 * one, so a page makes progress) and whether any were left out.
 */
export function withinReplyBudget(rooms: Room[], bytesMax: number): { rooms: Room[]; cut: boolean } {
  let bytes = 0;
  for (let i = 0; i < rooms.length; i++) {
    bytes += roomReplyBytes(rooms[i] as Room);
    if (bytes > bytesMax && i > 0) return { rooms: rooms.slice(0, i), cut: true };
  }
  return { rooms, cut: false };
}

/** replyBytes sums roomReplyBytes over rooms. */
export function replyBytes(rooms: readonly Room[]): number {
  let bytes = 0;
  for (const r of rooms) bytes += roomReplyBytes(r);
  return bytes;
}
