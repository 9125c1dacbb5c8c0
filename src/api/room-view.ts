import type { Codec, Room } from '../gen/roomregistry/v1/rooms.js';

/**
 * ENABLED_CODECS is what LiveKit's server reports by default (LIVEKIT.md §2, Room.enabled_codecs).
 * It is media configuration, not registry state, so the state machine does not store it in a
 * million rooms or in the log; every reply gets this one shared, frozen list.
 */
const ENABLED_CODECS: readonly Codec[] = Object.freeze(
  ['audio/PCMU', 'audio/PCMA', 'audio/opus', 'audio/red', 'video/VP8', 'video/H264', 'video/VP9', 'video/AV1', 'video/H265', 'video/rtx'].map(
    (mime) => Object.freeze({ mime, fmtpLine: '' }),
  ),
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
