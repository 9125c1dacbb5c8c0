import { BinaryReader } from '@bufbuild/protobuf/wire';
import { RegistryError } from '../lib/errors.js';

/**
 * Request limits, LiveKit's defaults where LiveKit has one (LIVEKIT.md §3.7). Hitting one is
 * INVALID_ARGUMENT naming the limit.
 */
export const API_LIMITS = Object.freeze({
  /** roomNameBytesMax: LiveKit's limit.max_room_name_length, counted in UTF-8 bytes. */
  roomNameBytesMax: 256,
  /** metadataBytesMax: LiveKit's limit.max_metadata_size (512 KiB). */
  metadataBytesMax: 512 * 1024,
  /**
   * requestBodyBytesMax: LiveKit's limit.max_api_request_body_size (10 MiB), now only the gRPC
   * listener's receive cap; Twirp bodies are bounded tighter (validRequestBytesMax, twirpJsonBodyBytesMax).
   */
  requestBodyBytesMax: 10 * 1024 * 1024,
  /** listNamesMax: names in one ListRooms; each is a lookup, so bound the work of one call. */
  listNamesMax: 1_000,
  /** listPageSizeDefault / listPageSizeMax: rooms per ListRooms page when paging. */
  listPageSizeDefault: 1_000,
  listPageSizeMax: 10_000,
  /** requestIdBytesMax: a client's idempotency key. */
  requestIdBytesMax: 128,
  /** timeoutSecondsMax: empty/departure timeouts above a day are surely mistakes. */
  timeoutSecondsMax: 86_400,
  /** nodeIdBytesMax: a media node id reported in occupancy. */
  nodeIdBytesMax: 256,
  /**
   * unpagedRoomsMax: rooms one unpaged ListRooms (LiveKit's, which has no paging) may return.
   * 100 000 rooms are about 40 MB of JSON; past it the reply itself would stall the node.
   */
  unpagedRoomsMax: 100_000,
  /**
   * validRequestBytesMax: the largest valid request in protobuf bytes: metadata at its maximum
   * plus 16 KiB for every other field (a name, a node id, a request id, framing); a ListRooms
   * of listNamesMax names of roomNameBytesMax is 259 KB, well inside. A Twirp protobuf body
   * past it is 413 before it is decoded, so no decode works on more than this.
   */
  validRequestBytesMax: 512 * 1024 + (16 << 10),
  /**
   * twirpJsonBodyBytesMax: a Twirp JSON body past this is 413 before it is parsed. A valid
   * request in JSON can be 6× its protobuf size (JSON.stringify writes a control character as
   * \u00XX), so 6 × validRequestBytesMax, about 3.1 MiB; JSON.parse of that much flat text
   * takes a few ms, where LiveKit's 10 MiB of nested arrays held the loop for seconds.
   */
  twirpJsonBodyBytesMax: 6 * (512 * 1024 + (16 << 10)),
  /**
   * twirpJsonDepthMax: a JSON body nested deeper than this is malformed, found by a byte scan
   * before JSON.parse. Our requests nest 2 deep and LiveKit's richest (CreateRoomRequest with
   * agents and egress) about 6; 64 leaves room for any SDK and bounds the parser's recursion.
   */
  twirpJsonDepthMax: 64,
  /**
   * requestItemsMax: commas and colons in a JSON body (array items and object members), or
   * top-level fields of a protobuf request, past which it is malformed, found by a scan before
   * decoding. A valid request has at most one per ListRooms name (listNamesMax) plus a few
   * dozen fields; 4× that bounds how many values a decoder allocates, which is what costs time
   * (270 000 empty names fit in validRequestBytesMax), not the bytes of long strings.
   */
  requestItemsMax: 4 * 1_000,
});

const utf8 = new TextEncoder();

export function utf8Bytes(s: string): number {
  return utf8.encode(s).byteLength;
}

/** LONE_SURROGATE matches a UTF-16 surrogate without its pair: text that has no UTF-8 form. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * validateUtf8 refuses text with a lone surrogate (JSON can spell one as \ud800). Encoding it
 * would silently turn it into U+FFFD, so two different names would become one stored room and
 * a room grant could be matched by a name other than the one stored.
 */
export function validateUtf8(s: string, field: string): void {
  if (LONE_SURROGATE.test(s)) {
    throw new RegistryError('INVALID_ARGUMENT', `${field} is not valid UTF-8`, { meta: { argument: field } });
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * strictReader reads a protobuf request whose string fields must be valid UTF-8, as Go's
 * proto3 decoder (and so LiveKit's server) demands: invalid bytes are INVALID_ARGUMENT, never
 * rewritten to U+FFFD (see validateUtf8 for why). Every ts-proto `decode` takes a reader.
 */
export function strictReader(bytes: Uint8Array): BinaryReader {
  return new BinaryReader(bytes, (b) => {
    try {
      return strictUtf8.decode(b);
    } catch {
      throw new RegistryError('INVALID_ARGUMENT', 'a string field is not valid UTF-8');
    }
  });
}

export function validateRoomName(name: string, field = 'name'): void {
  validateUtf8(name, field);
  if (name.length === 0) throw new RegistryError('INVALID_ARGUMENT', `${field} must not be empty`, { meta: { argument: field } });
  if (utf8Bytes(name) > API_LIMITS.roomNameBytesMax) {
    throw new RegistryError('INVALID_ARGUMENT', `room name length exceeds limits: max length ${API_LIMITS.roomNameBytesMax}`, {
      roomName: name.slice(0, 64),
      meta: { argument: field },
    });
  }
}

export function validateMetadata(metadata: string): void {
  validateUtf8(metadata, 'metadata');
  if (utf8Bytes(metadata) > API_LIMITS.metadataBytesMax) {
    throw new RegistryError('INVALID_ARGUMENT', `metadata size exceeds limits ${API_LIMITS.metadataBytesMax}`, {
      meta: { argument: 'metadata size exceeds limits' },
    });
  }
}

export function validateTimeout(seconds: number, field: string): void {
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > API_LIMITS.timeoutSecondsMax) {
    throw new RegistryError('INVALID_ARGUMENT', `${field} must be an integer number of seconds in 0..${API_LIMITS.timeoutSecondsMax}`);
  }
}

export function validateRequestId(requestId: string): void {
  validateUtf8(requestId, 'request_id');
  if (utf8Bytes(requestId) > API_LIMITS.requestIdBytesMax) {
    throw new RegistryError('INVALID_ARGUMENT', `request_id longer than ${API_LIMITS.requestIdBytesMax} bytes`);
  }
}

export function validateNames(names: readonly string[]): void {
  if (names.length > API_LIMITS.listNamesMax) {
    throw new RegistryError('INVALID_ARGUMENT', `at most ${API_LIMITS.listNamesMax} names per ListRooms, got ${names.length}`);
  }
  for (const n of names) {
    validateUtf8(n, 'names');
    if (utf8Bytes(n) > API_LIMITS.roomNameBytesMax) validateRoomName(n, 'names');
  }
}

export function validatePageSize(pageSize: number): number {
  if (pageSize === 0) return API_LIMITS.listPageSizeDefault;
  if (!Number.isInteger(pageSize) || pageSize < 0 || pageSize > API_LIMITS.listPageSizeMax) {
    throw new RegistryError('INVALID_ARGUMENT', `page_size must be in 1..${API_LIMITS.listPageSizeMax}`);
  }
  return pageSize;
}

export function validateNodeId(nodeId: string): void {
  validateUtf8(nodeId, 'node_id');
  if (utf8Bytes(nodeId) > API_LIMITS.nodeIdBytesMax) {
    throw new RegistryError('INVALID_ARGUMENT', `node_id longer than ${API_LIMITS.nodeIdBytesMax} bytes`);
  }
}
