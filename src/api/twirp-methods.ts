import { ListParticipantsRequest, ListParticipantsResponse } from '../gen/roomregistry/twirp/v1/livekit_compat.js';
import {
  CreateRoomRequest,
  DeleteRoomRequest,
  ListRoomsRequest,
  ListRoomsResponse,
  Room,
  UpdateRoomMetadataRequest,
} from '../gen/roomregistry/v1/rooms.js';
import { RegistryError } from '../lib/errors.js';
import { requireAnyAdmin, requireCreate, requireList } from './auth.js';
import type { RoomHandlers } from './room-handlers.js';
import type { TwirpMethod } from './twirp-server.js';
import { encodeMessage } from '../lib/proto-encode.js';
import { strictReader } from './validate.js';

/**
 * twirpMethods are LiveKit's RoomService methods over the shared handlers (LIVEKIT.md §3.10):
 * lenient JSON in (snake_case or camelCase keys, unknown keys ignored, int64 as string or
 * number), snake_case JSON out with every default emitted; binary bodies with LiveKit's field
 * numbers, which our roomregistry.v1 messages share.
 */
export function twirpMethods(h: RoomHandlers): Record<string, TwirpMethod<never, never>> {
  const methods = {
    CreateRoom: method({
      authorize: requireCreate,
      decodeJson: (b) => {
        const j = new JsonFields(b);
        return CreateRoomRequest.fromPartial({
          name: j.string('name', 'name'),
          emptyTimeout: j.uint32('empty_timeout', 'emptyTimeout'),
          departureTimeout: j.uint32('departure_timeout', 'departureTimeout'),
          maxParticipants: j.uint32('max_participants', 'maxParticipants'),
          nodeId: j.string('node_id', 'nodeId'),
          metadata: j.string('metadata', 'metadata'),
        });
      },
      decodeBinary: (bytes) => CreateRoomRequest.decode(strictReader(bytes)),
      call: async (req, ctx) => (await h.createRoom(req, ctx)).room ?? Room.fromPartial({}),
      encodeJson: roomJson,
      encodeBinary: (room) => encodeMessage(Room, room),
    }),
    ListRooms: method({
      authorize: requireList,
      decodeJson: (b) => ListRoomsRequest.fromPartial({ names: new JsonFields(b).strings('names', 'names') }),
      decodeBinary: (bytes) => ListRoomsRequest.decode(strictReader(bytes)),
      call: (req, ctx) => h.listAllRooms(req.names, ctx),
      encodeJson: (rooms) => ({ rooms: rooms.map(roomJson) }),
      encodeBinary: (rooms) => encodeMessage(ListRoomsResponse, ListRoomsResponse.fromPartial({ rooms })),
    }),
    DeleteRoom: method({
      authorize: requireCreate,
      decodeJson: (b) => DeleteRoomRequest.fromPartial({ room: new JsonFields(b).string('room', 'room') }),
      decodeBinary: (bytes) => DeleteRoomRequest.decode(strictReader(bytes)),
      call: async (req, ctx) => {
        await h.deleteRoom(req, ctx);
      },
      encodeJson: () => ({}),
      encodeBinary: () => new Uint8Array(0),
    }),
    UpdateRoomMetadata: method({
      authorize: requireAnyAdmin,
      decodeJson: (b) => {
        const j = new JsonFields(b);
        return UpdateRoomMetadataRequest.fromPartial({
          room: j.string('room', 'room'),
          metadata: j.string('metadata', 'metadata'),
        });
      },
      decodeBinary: (bytes) => UpdateRoomMetadataRequest.decode(strictReader(bytes)),
      call: async (req, ctx) => (await h.updateRoomMetadata(req, ctx)).room ?? Room.fromPartial({}),
      encodeJson: roomJson,
      encodeBinary: (room) => encodeMessage(Room, room),
    }),
    // The registry holds rooms, not participants: LiveKit answers an unknown room with [] too.
    ListParticipants: method({
      authorize: requireAnyAdmin,
      decodeJson: (b) => ListParticipantsRequest.fromPartial({ room: new JsonFields(b).string('room', 'room') }),
      decodeBinary: (bytes) => ListParticipantsRequest.decode(strictReader(bytes)),
      call: async (req, ctx) => {
        h.requireAdminFor(req.room, ctx);
      },
      encodeJson: () => ({ participants: [] }),
      encodeBinary: () => encodeMessage(ListParticipantsResponse, { participants: [] }),
    }),
  };
  return methods as unknown as Record<string, TwirpMethod<never, never>>;
}

function method<Req, Res>(m: TwirpMethod<Req, Res>): TwirpMethod<Req, Res> {
  return m;
}

/** roomJson is a Room as LiveKit's server writes it: snake_case, defaults emitted, int64 as strings. */
export function roomJson(r: Room): Record<string, unknown> {
  return {
    sid: r.sid,
    name: r.name,
    empty_timeout: r.emptyTimeout,
    max_participants: r.maxParticipants,
    creation_time: String(r.creationTime),
    turn_password: r.turnPassword,
    enabled_codecs: r.enabledCodecs.map((c) => ({ mime: c.mime, fmtp_line: c.fmtpLine })),
    metadata: r.metadata,
    num_participants: r.numParticipants,
    active_recording: r.activeRecording,
    num_publishers: r.numPublishers,
    version: r.version === undefined ? null : { unix_micro: String(r.version.unixMicro), ticks: r.version.ticks },
    departure_timeout: r.departureTimeout,
    creation_time_ms: String(r.creationTimeMs),
  };
}

/**
 * JsonFields reads a JSON request leniently, as protojson with DiscardUnknown does: either key
 * spelling, null as the default, but a value of the wrong type is malformed.
 */
class JsonFields {
  private readonly o: Record<string, unknown>;

  constructor(body: unknown) {
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw malformed('the body must be a JSON object');
    this.o = body as Record<string, unknown>;
  }

  private value(protoName: string, jsonName: string): unknown {
    const v = Object.hasOwn(this.o, jsonName)
      ? this.o[jsonName]
      : Object.hasOwn(this.o, protoName)
        ? this.o[protoName]
        : undefined;
    return v === null ? undefined : v;
  }

  string(protoName: string, jsonName: string): string {
    const v = this.value(protoName, jsonName);
    if (v === undefined) return '';
    if (typeof v !== 'string') throw malformed(`${protoName} must be a string`);
    return v;
  }

  uint32(protoName: string, jsonName: string): number {
    const v = this.value(protoName, jsonName);
    if (v === undefined) return 0;
    const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff)
      throw malformed(`${protoName} must be an unsigned 32-bit integer`);
    return n;
  }

  strings(protoName: string, jsonName: string): string[] {
    const v = this.value(protoName, jsonName);
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
      throw malformed(`${protoName} must be a list of strings`);
    return v as string[];
  }
}

function malformed(message: string): RegistryError {
  return new RegistryError('MALFORMED', message);
}
