import { BinaryReader } from '@bufbuild/protobuf/wire';
import { Command, type MediaNodeHeartbeat } from '../gen/roomregistry/command/v1/command.js';
import type { MediaNodeStats } from '../gen/roomregistry/v1/rooms.js';
import { unreachable } from '../lib/assert.js';
import { RegistryError } from '../lib/errors.js';
import { REGISTRY_VERSIONS } from '../registry/index.js';
import { SWEEPER_LIMITS } from '../sweeper/sweeper.js';

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
  /** nodeIdBytesMax: a media node id reported in occupancy, a heartbeat or a room's node_id. */
  nodeIdBytesMax: 256,
  /**
   * mediaNodeRegionBytesMax: a media node's region in a heartbeat. Region names are short
   * (`us-east-1`, `eu-west`); 64 bytes is room for any scheme, and every lease keeps its region
   * in every replica's memory and snapshot.
   */
  mediaNodeRegionBytesMax: 64,
  /**
   * leaseTtlSecondsDefault / leaseTtlSecondsMax: how long a media node's lease lives without a
   * heartbeat (a ttl of 0 asks for the default). 10 s with a heartbeat every ttl/3 notices a
   * dead node within 10 s for one log entry per node every ~3 s; past 5 minutes a dead node's
   * rooms would keep their participants too long to be of use.
   */
  leaseTtlSecondsDefault: 10,
  leaseTtlSecondsMax: 300,
  /**
   * unpagedRoomsMax: rooms one unpaged ListRooms (LiveKit's, which has no paging) may return.
   * 100 000 rooms are about 40 MB of JSON; past it the reply itself would stall the node.
   */
  unpagedRoomsMax: 100_000,
  /** apiKeyBytesMax: the API key a command carries for dedup (LiveKit's keys are ~15 characters). */
  apiKeyBytesMax: 256,
  /**
   * generatedIdBytesMax: a room's sid and TURN password, which the proposing node draws
   * (`RM_` + 12 characters, 32 characters); room for longer ones without unbounded strings.
   */
  generatedIdBytesMax: 64,
  /**
   * listPageBytesMax: a ListRooms page (or a by-names list) stops at this many reply bytes
   * (room-view.ts roomReplyBytes), with a next_page_token for the rest; a by-names list above it
   * is refused. Below the 4 MiB that gRPC clients accept by default, so a page of 512 KiB rooms
   * (about 4 of them) reaches every client; its encoding takes a few ms.
   */
  listPageBytesMax: 2 << 20,
  /**
   * unpagedReplyBytesMax: LiveKit's ListRooms has no paging, so above this many reply bytes it
   * is refused (RESOURCE_EXHAUSTED) instead of serialized: 16 MiB of JSON holds the event loop
   * for tens of ms (about 23 000 small rooms, or 31 with 512 KiB metadata). Larger lists go by
   * names or page over gRPC.
   */
  unpagedReplyBytesMax: 16 << 20,
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

/**
 * utf8Bytes is the length of `s` in UTF-8, counted without encoding it (several checks run on
 * every write; TextEncoder allocated a copy of each string). A lone surrogate counts as the
 * 3 bytes of U+FFFD, as an encoder writes it.
 */
export function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
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
  if (name.length === 0)
    throw new RegistryError('INVALID_ARGUMENT', `${field} must not be empty`, { meta: { argument: field } });
  if (utf8Bytes(name) > API_LIMITS.roomNameBytesMax) {
    throw new RegistryError(
      'INVALID_ARGUMENT',
      `room name length exceeds limits: max length ${API_LIMITS.roomNameBytesMax}`,
      {
        roomName: name.slice(0, 64),
        meta: { argument: field },
      },
    );
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
    throw new RegistryError(
      'INVALID_ARGUMENT',
      `${field} must be an integer number of seconds in 0..${API_LIMITS.timeoutSecondsMax}`,
    );
  }
}

/**
 * requestIdOf is a request's idempotency key, one rule for every listener: the body's request_id when set, else
 * the transport's header (gRPC metadata x-request-id, Twirp X-Livekit-Request-Id), else ''. A header that is not
 * one string counts as absent. Never cut short: a truncated key would make two requests look like one retried;
 * validateRequestId refuses one that is too long.
 */
export function requestIdOf(fromBody: unknown, fromHeader: unknown): string {
  if (typeof fromBody === 'string' && fromBody !== '') return fromBody;
  return typeof fromHeader === 'string' ? fromHeader : '';
}

export function validateRequestId(requestId: string): void {
  validateUtf8(requestId, 'request_id');
  if (utf8Bytes(requestId) > API_LIMITS.requestIdBytesMax) {
    throw new RegistryError('INVALID_ARGUMENT', `request_id longer than ${API_LIMITS.requestIdBytesMax} bytes`);
  }
}

/** uniqueNames keeps the first of each name, in order: 1 000 copies of one name are one lookup. */
export function uniqueNames(names: readonly string[]): string[] {
  return [...new Set(names)];
}

export function validateNames(names: readonly string[]): void {
  if (names.length > API_LIMITS.listNamesMax) {
    throw new RegistryError(
      'INVALID_ARGUMENT',
      `at most ${API_LIMITS.listNamesMax} names per ListRooms, got ${names.length}`,
    );
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

/** validateMediaNodeId: a media node naming itself (a heartbeat, a share of a room) needs a non-empty id. */
export function validateMediaNodeId(nodeId: string): void {
  validateNodeId(nodeId);
  if (nodeId === '')
    throw new RegistryError('INVALID_ARGUMENT', 'node_id must not be empty', { meta: { argument: 'node_id' } });
}

export function validateRegion(region: string): void {
  validateUtf8(region, 'region');
  if (utf8Bytes(region) > API_LIMITS.mediaNodeRegionBytesMax) {
    throw new RegistryError('INVALID_ARGUMENT', `region longer than ${API_LIMITS.mediaNodeRegionBytesMax} bytes`, {
      meta: { argument: 'region' },
    });
  }
}

/** leaseTtlSeconds is a heartbeat's lease ttl: 0 means the default, else 1..leaseTtlSecondsMax. */
export function leaseTtlSeconds(ttlSeconds: number): number {
  if (ttlSeconds === 0) return API_LIMITS.leaseTtlSecondsDefault;
  validateLeaseTtl(ttlSeconds);
  return ttlSeconds;
}

function validateLeaseTtl(ttlSeconds: number): void {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > API_LIMITS.leaseTtlSecondsMax) {
    throw new RegistryError(
      'INVALID_ARGUMENT',
      `ttl_seconds must be in 1..${API_LIMITS.leaseTtlSecondsMax} (0: ${API_LIMITS.leaseTtlSecondsDefault})`,
      { meta: { argument: 'ttl_seconds' } },
    );
  }
}

/**
 * validateMediaNodeStats: cpu_load is a fraction, finite and in 0..1 (placement compares it, and
 * NaN compares false both ways); num_rooms and num_clients are uint32s, bounded by their type.
 */
export function validateMediaNodeStats(stats: MediaNodeStats): void {
  const cpu = stats.cpuLoad;
  if (!Number.isFinite(cpu) || cpu < 0 || cpu > 1) {
    throw new RegistryError('INVALID_ARGUMENT', `stats.cpu_load must be a number in 0..1, got ${String(cpu)}`, {
      meta: { argument: 'stats.cpu_load' },
    });
  }
}

/**
 * validateCommandBytes is the one check of a command before it is proposed, whether it came
 * from this node's API or from a follower's Forward call (issue 12 item 4): the bytes must
 * decode as a Command of a kind this build knows, with every field within the limits the API
 * checks. A command that passes it applies without surprise on every replica. The API
 * handlers check the same fields first, in LiveKit's order, so their clients see the same
 * errors as LiveKit's; this catches whatever reaches the log by another way.
 */
export function validateCommandBytes(payload: Uint8Array): RegistryError | null {
  let command: Command;
  try {
    command = Command.decode(payload);
  } catch {
    return new RegistryError('INVALID_ARGUMENT', 'command does not decode');
  }
  try {
    validateCommand(command);
    return null;
  } catch (e) {
    if (e instanceof RegistryError) return e;
    throw e;
  }
}

function validateCommand(command: Command): void {
  validateRequestId(command.requestId);
  if (utf8Bytes(command.apiKey) > API_LIMITS.apiKeyBytesMax)
    throw new RegistryError('INVALID_ARGUMENT', `api key longer than ${API_LIMITS.apiKeyBytesMax} bytes`);
  const c = command.command;
  if (c === undefined) throw new RegistryError('INVALID_ARGUMENT', 'command of no kind this node knows');
  switch (c.$case) {
    case 'createRoom':
      validateRoomName(c.value.name);
      validateMetadata(c.value.metadata);
      validateTimeout(c.value.emptyTimeoutS, 'empty_timeout');
      validateTimeout(c.value.departureTimeoutS, 'departure_timeout');
      validateNodeId(c.value.nodeId);
      validateGeneratedId(c.value.sid, 'sid');
      validateGeneratedId(c.value.turnPassword, 'turn_password');
      return;
    case 'updateRoomMetadata':
      validateRoomName(c.value.name, 'room');
      validateMetadata(c.value.metadata);
      return;
    case 'deleteRoom':
      validateRoomName(c.value.name, 'room');
      return;
    case 'updateRoomOccupancy':
      validateRoomName(c.value.name, 'room');
      validateNodeId(c.value.nodeId);
      return;
    case 'expireRooms':
      validateExpireNames(c.value.names);
      return;
    case 'mediaNodeHeartbeat':
      validateHeartbeatCommand(c.value);
      return;
    case 'expireMediaNodes':
      validateExpireMediaNodes(c.value.nodeIds);
      return;
    case 'updateOccupancyShare':
      validateRoomName(c.value.name, 'room');
      validateMediaNodeId(c.value.nodeId);
      return;
    case 'setCommandVersion':
      // The leader's own command; a version this build cannot apply would be skipped here and diverge.
      if (c.value.version < 1 || c.value.version > REGISTRY_VERSIONS.command)
        throw new RegistryError('INVALID_ARGUMENT', `command version ${c.value.version} is not one this node applies`);
      return;
    default:
      return unreachable(c);
  }
}

function validateGeneratedId(value: string, field: string): void {
  if (value === '' || utf8Bytes(value) > API_LIMITS.generatedIdBytesMax) {
    throw new RegistryError('INVALID_ARGUMENT', `${field} must have 1..${API_LIMITS.generatedIdBytesMax} bytes`);
  }
}

/**
 * validateExpireNames bounds the sweeper's batch. Its names come from the registry itself, so
 * only their count and length are checked: a name the API's rules would refuse today but that
 * an older build stored must still be able to expire.
 */
function validateExpireNames(names: readonly string[]): void {
  if (names.length > SWEEPER_LIMITS.sweepBatchRoomsMax) {
    throw new RegistryError(
      'INVALID_ARGUMENT',
      `at most ${SWEEPER_LIMITS.sweepBatchRoomsMax} names per ExpireRooms, got ${names.length}`,
    );
  }
  for (const n of names) {
    if (n === '' || utf8Bytes(n) > API_LIMITS.roomNameBytesMax)
      throw new RegistryError('INVALID_ARGUMENT', 'ExpireRooms names a room that cannot exist');
  }
}

/** validateHeartbeatCommand: as the API checks a heartbeat, with the ttl already resolved (never 0) and stats present. */
function validateHeartbeatCommand(h: MediaNodeHeartbeat): void {
  validateMediaNodeId(h.nodeId);
  validateRegion(h.region);
  validateLeaseTtl(h.ttlS);
  if (h.stats === undefined) throw new RegistryError('INVALID_ARGUMENT', 'MediaNodeHeartbeat without stats');
  validateMediaNodeStats(h.stats);
}

/**
 * validateExpireMediaNodes bounds the sweeper's lease batch. As with ExpireRooms, the ids come
 * from the registry itself, so only their count and length are checked.
 */
function validateExpireMediaNodes(nodeIds: readonly string[]): void {
  if (nodeIds.length > SWEEPER_LIMITS.sweepBatchMediaNodesMax) {
    throw new RegistryError(
      'INVALID_ARGUMENT',
      `at most ${SWEEPER_LIMITS.sweepBatchMediaNodesMax} node ids per ExpireMediaNodes, got ${nodeIds.length}`,
    );
  }
  for (const id of nodeIds) {
    if (id === '' || utf8Bytes(id) > API_LIMITS.nodeIdBytesMax)
      throw new RegistryError('INVALID_ARGUMENT', 'ExpireMediaNodes names a media node that cannot exist');
  }
}
