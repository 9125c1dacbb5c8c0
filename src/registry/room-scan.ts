import { StoredRoom } from '../gen/roomregistry/snapshot/v1/snapshot.js';
import type { DeadlineFields } from './room-record.js';
import { roomRecordBytes, unsharedRoomRecordBytes } from './state-quota.js';

/**
 * ScannedRoom is what a restore needs of a room record (issue 17): its deadline's fields, its
 * quota bytes, and, for a room placed on media nodes (shares or a node id, which the node
 * indexes and the shares check need), the decoded room. Most rooms are read without creating
 * an object or a string.
 */
export interface ScannedRoom extends DeadlineFields {
  /** quotaBytes: roomRecordBytes of the room. */
  quotaBytes: number;
  /** placed: the decoded room when it has shares or a node id; null otherwise. */
  placed: StoredRoom | null;
}

export function newScannedRoom(): ScannedRoom {
  return {
    numParticipants: 0,
    everJoined: false,
    lastLeftMs: 0,
    departureTimeoutS: 0,
    creationTimeMs: 0,
    emptyTimeoutS: 0,
    quotaBytes: 0,
    placed: null,
  };
}

/** scanRoom fills `into` from an encoded StoredRoom: the same values its full decode gives. */
export function scanRoom(record: Uint8Array, into: ScannedRoom): void {
  if (scanUnplaced(record, into)) return;
  const room = StoredRoom.decode(record);
  into.numParticipants = room.numParticipants;
  into.everJoined = room.everJoined;
  into.lastLeftMs = room.lastLeftMs;
  into.departureTimeoutS = room.departureTimeoutS;
  into.creationTimeMs = room.creationTimeMs;
  into.emptyTimeoutS = room.emptyTimeoutS;
  into.quotaBytes = roomRecordBytes(room);
  into.placed = room;
}

/** StoredRoom's tags (field number and wire type) that the scan reads. */
const SID_TAG = (1 << 3) | 2;
const NAME_TAG = (2 << 3) | 2;
const EMPTY_TIMEOUT_S_TAG = 3 << 3;
const DEPARTURE_TIMEOUT_S_TAG = 4 << 3;
const CREATION_TIME_MS_TAG = 6 << 3;
const TURN_PASSWORD_TAG = (7 << 3) | 2;
const METADATA_TAG = (8 << 3) | 2;
const NUM_PARTICIPANTS_TAG = 9 << 3;
const NODE_ID_TAG = (11 << 3) | 2;
const EVER_JOINED_TAG = 15 << 3;
const LAST_LEFT_MS_TAG = 16 << 3;
const SHARES_TAG = (17 << 3) | 2;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;
const UINT32_MAX = 0xffffffff;
/**
 * VARINT_BYTES_MAX: a varint of up to 8 bytes is read into a number, exactly up to
 * Number.MAX_SAFE_INTEGER (a time in microseconds takes 8 bytes). A larger one (a negative or a
 * huge number: no room this build writes has one) is left to the decoder, which knows how each
 * field's type reads it and refuses what a number cannot hold.
 */
const VARINT_BYTES_MAX = 8;

/**
 * scanUnplaced reads a record of a room without shares or node id into `into`, as the full
 * decode would (a field repeated: the last one counts; unknown fields skipped); false, with
 * `into` partly written, for any other record, or one it does not read exactly (a long varint,
 * a group, a tag 0, bytes cut short): the full decode reads those, and refuses what it refuses.
 */
function scanUnplaced(record: Uint8Array, into: ScannedRoom): boolean {
  let sidLength = 0;
  let nameLength = 0;
  let turnPasswordLength = 0;
  let metadataLength = 0;
  into.numParticipants = into.departureTimeoutS = into.emptyTimeoutS = 0;
  into.lastLeftMs = into.creationTimeMs = 0;
  into.everJoined = false;
  const end = record.byteLength;
  let at = 0;
  while (at < end) {
    const tag = readVarint(record, at);
    if (tag <= 0 || tag > UINT32_MAX) return false; // at a tag 0, the decoder stops reading
    at = varintEnd;
    switch (tag % 8) {
      case WIRE_VARINT: {
        const value = readVarint(record, at);
        if (value < 0) return false;
        at = varintEnd;
        if (!setNumber(into, tag, value)) return false;
        break;
      }
      case WIRE_LENGTH_DELIMITED: {
        const length = readVarint(record, at);
        if (length < 0 || varintEnd + length > end) return false;
        const start = varintEnd;
        at = start + length;
        switch (tag) {
          case SID_TAG:
            sidLength = utf16Length(record, start, at);
            break;
          case NAME_TAG:
            nameLength = utf16Length(record, start, at);
            break;
          case TURN_PASSWORD_TAG:
            turnPasswordLength = utf16Length(record, start, at);
            break;
          case METADATA_TAG:
            metadataLength = utf16Length(record, start, at);
            break;
          case NODE_ID_TAG:
            if (length > 0) return false;
            break;
          case SHARES_TAG:
            return false;
        }
        break;
      }
      case WIRE_FIXED64:
        at += 8;
        break;
      case WIRE_FIXED32:
        at += 4;
        break;
      default:
        return false;
    }
  }
  if (at > end) return false; // a fixed-size field cut short
  into.quotaBytes = unsharedRoomRecordBytes(sidLength + nameLength + turnPasswordLength + metadataLength);
  into.placed = null;
  return true;
}

/** setNumber sets the field of `tag` read by the scan, if it is one, to `value`; false if the decoder would read it otherwise. */
function setNumber(into: ScannedRoom, tag: number, value: number): boolean {
  switch (tag) {
    // uint32 fields: of a larger value, the decoder keeps the low 32 bits.
    case EMPTY_TIMEOUT_S_TAG:
      into.emptyTimeoutS = value;
      return value <= UINT32_MAX;
    case DEPARTURE_TIMEOUT_S_TAG:
      into.departureTimeoutS = value;
      return value <= UINT32_MAX;
    case NUM_PARTICIPANTS_TAG:
      into.numParticipants = value;
      return value <= UINT32_MAX;
    case CREATION_TIME_MS_TAG:
      into.creationTimeMs = value;
      return true;
    case LAST_LEFT_MS_TAG:
      into.lastLeftMs = value;
      return true;
    case EVER_JOINED_TAG:
      into.everJoined = value !== 0;
      return true;
  }
  return true;
}

/** varintEnd: where the varint readVarint last read ends (a module variable: no object per read). */
let varintEnd = 0;

/**
 * readVarint reads the varint at `at` (setting varintEnd); -1 when it is over VARINT_BYTES_MAX
 * bytes, above Number.MAX_SAFE_INTEGER (a sum rounded past it stays past it), or cut short.
 */
function readVarint(bytes: Uint8Array, at: number): number {
  const first = bytes[at] ?? 0x80;
  if (first < 0x80) {
    varintEnd = at + 1; // most tags, lengths and numbers: one byte
    return first;
  }
  let value = 0;
  let scale = 1;
  const end = Math.min(at + VARINT_BYTES_MAX, bytes.byteLength);
  for (let i = at; i < end; i++) {
    const b = bytes[i] ?? 0;
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) {
      varintEnd = i + 1;
      return value <= Number.MAX_SAFE_INTEGER ? value : -1;
    }
    scale *= 128;
  }
  return -1;
}

/**
 * utf16Length is the `.length` of the string that UTF-8 bytes[start, end) decode to, counted
 * on the bytes: one unit per character (every byte but continuation bytes, 0b10xxxxxx) and a
 * second for each one beyond the BMP (a 4-byte lead, 0b11110xxx: a surrogate pair). Exact for
 * valid UTF-8, as records encoded from JS strings are (a lone surrogate is written as U+FFFD,
 * 3 bytes, which counts 1, as its decoded length and the original's are).
 */
function utf16Length(bytes: Uint8Array, start: number, end: number): number {
  let units = end - start;
  for (let i = start; i < end; i++) {
    const b = bytes[i] ?? 0;
    if (b < 0x80) continue; // ASCII, most text: one test a byte
    if ((b & 0xc0) === 0x80) units--;
    else if ((b & 0xf8) === 0xf0) units++;
  }
  return units;
}
