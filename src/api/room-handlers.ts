import { randomInt } from 'node:crypto';
import type { Command, CommandResult } from '../gen/roomregistry/command/v1/command.js';
import {
  Consistency,
  type CreateRoomRequest,
  type CreateRoomResponse,
  type DeleteRoomRequest,
  type DeleteRoomResponse,
  type GetRoomRequest,
  type GetRoomResponse,
  type ListRoomsRequest,
  type ListRoomsResponse,
  type ReadRevisionRequest,
  type ReadRevisionResponse,
  type Room,
  type UpdateRoomMetadataRequest,
  type UpdateRoomMetadataResponse,
  type UpdateRoomOccupancyRequest,
  type UpdateRoomOccupancyResponse,
} from '../gen/roomregistry/v1/rooms.js';
import { RegistryError } from '../lib/errors.js';
import type { RaftNode } from '../node/node.js';
import type { MediaNodeView } from '../registry/index.js';
import { type Grants, requireAdmin, requireCreate, requireList } from './auth.js';
import { placeRoom } from './placement.js';
import { proposeCommand, readAt, unexpectedResult } from './registry-calls.js';
import { present, presentAll, replyBytes, withinReplyBudget } from './room-view.js';
import {
  API_LIMITS,
  validateMetadata,
  validateNames,
  validateMediaNodeId,
  validateNodeId,
  validatePageSize,
  validateRequestId,
  requestIdOf,
  validateRoomName,
  validateTimeout,
  uniqueNames,
} from './validate.js';

/** CallContext is what every handler gets besides its request, from gRPC or Twirp alike. */
export interface CallContext {
  readonly grants: Grants;
  /** requestId: the transport's idempotency key (X-Livekit-Request-Id) when the body has none. */
  readonly requestId: string;
  readonly deadlineMs: number;
}

/** RoomReads is what the handlers read from the room state machine (src/registry's RoomRegistry). */
export interface RoomReads {
  appliedIndex(): number;
  /** roomsRevision: the newest room change's revision and how many changes it made (WatchLog.newest). */
  roomsRevision(): { revision: number; changes: number };
  roomCount(): number;
  getRoom(name: string): Room | null;
  listRooms(names: readonly string[]): Room[];
  listPage(afterName: string, pageSize: number): { rooms: Room[]; nextAfterName: string };
}

/** MediaNodeLeases is what placement reads of the media-node leases (src/registry's RoomRegistry). */
export interface MediaNodeLeases {
  /** liveMediaNodes: leases not past expiry at nowMs, of `region` ("" for all), in node id order. */
  liveMediaNodes(nowMs: number, region?: string): MediaNodeView[];
}

/**
 * Placement is how this node places rooms created without a node_id (DESIGN §13): its own
 * region (from the cluster config; "" prefers none), the leases, and the clock it reads them at.
 */
export interface Placement {
  readonly region: string;
  readonly leases: MediaNodeLeases;
  readonly nowMs?: () => number;
}

/** SID_ALPHABET is shortuuid's (LiveKit's sids: `RM_` + 12 of these). */
const SID_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const SID_RANDOM_CHARS = 12;
const TURN_PASSWORD_CHARS = 32;

/**
 * RoomHandlers is the one implementation of the Room APIs; the gRPC and Twirp servers are thin
 * layers over it. Order of checks follows LiveKit (grant, then limits), writes go through Raft
 * (a follower forwards), reads are linearizable unless LOCAL is asked for.
 */
export class RoomHandlers {
  constructor(
    private readonly node: RaftNode,
    private readonly registry: RoomReads,
    private readonly placement: Placement,
  ) {}

  async createRoom(req: CreateRoomRequest, ctx: CallContext): Promise<CreateRoomResponse> {
    requireCreate(ctx.grants);
    validateRoomName(req.name);
    validateMetadata(req.metadata);
    validateTimeout(req.emptyTimeout, 'empty_timeout');
    validateTimeout(req.departureTimeout, 'departure_timeout');
    validateNodeId(req.nodeId);
    const command = this.commandOf(req.requestId, ctx, {
      $case: 'createRoom',
      value: {
        name: req.name,
        emptyTimeoutS: req.emptyTimeout,
        departureTimeoutS: req.departureTimeout,
        maxParticipants: req.maxParticipants,
        nodeId: req.nodeId === '' ? this.place() : req.nodeId,
        metadata: req.metadata,
        sid: `RM_${randomChars(SID_RANDOM_CHARS)}`,
        turnPassword: randomChars(TURN_PASSWORD_CHARS),
      },
    });
    const { room, created, revision } = roomOf(await this.write(command, ctx));
    return { room: present(room), revision, created };
  }

  /**
   * place chooses a live media node for a room created without one (placement.ts); the choice
   * goes into the command, so every replica stores it. "" when no media node is alive.
   */
  private place(): string {
    const nowMs = (this.placement.nowMs ?? Date.now)();
    return placeRoom(this.placement.leases.liveMediaNodes(nowMs), this.placement.region);
  }

  async getRoom(req: GetRoomRequest, ctx: CallContext): Promise<GetRoomResponse> {
    requireList(ctx.grants);
    validateRoomName(req.name);
    const { revision, stalenessMs } = await this.readAt(req.consistency, ctx);
    const room = this.registry.getRoom(req.name);
    if (room === null) throw notFound(req.name);
    return { room: present(room), revision, stalenessMs };
  }

  /**
   * readRevision is a read of nothing but where the rooms stand: after the same barrier as
   * GetRoom, the applied index and the newest room change a watcher must have to be as current
   * (a client's watch-fed cache answers a linearizable read once it has it).
   */
  async readRevision(req: ReadRevisionRequest, ctx: CallContext): Promise<ReadRevisionResponse> {
    requireList(ctx.grants);
    const { revision, stalenessMs } = await this.readAt(req.consistency, ctx);
    const rooms = this.registry.roomsRevision();
    return { revision, roomsRevision: rooms.revision, roomsRevisionChanges: rooms.changes, stalenessMs };
  }

  async listRooms(req: ListRoomsRequest, ctx: CallContext): Promise<ListRoomsResponse> {
    requireList(ctx.grants);
    validateNames(req.names);
    const pageSize = validatePageSize(req.pageSize);
    const after = decodePageToken(req.pageToken);
    const { revision, stalenessMs } = await this.readAt(req.consistency, ctx);
    if (req.names.length > 0) {
      return {
        rooms: presentAll(this.namedRooms(req.names, API_LIMITS.listPageBytesMax, 'page by name order instead')),
        revision,
        nextPageToken: '',
        stalenessMs,
      };
    }
    // A page stops at pageSize rooms or at the byte budget, whichever comes first.
    const page = this.registry.listPage(after, pageSize);
    const fitting = withinReplyBudget(page.rooms, API_LIMITS.listPageBytesMax);
    const nextAfterName = fitting.cut ? (fitting.rooms[fitting.rooms.length - 1]?.name ?? '') : page.nextAfterName;
    const nextPageToken = nextAfterName === '' ? '' : encodePageToken(nextAfterName);
    return { rooms: presentAll(fitting.rooms), revision, nextPageToken, stalenessMs };
  }

  /**
   * listAllRooms is ListRooms without paging, as LiveKit's SDKs expect it; past
   * unpagedRoomsMax rooms or unpagedReplyBytesMax bytes it refuses with a clear error instead
   * of building a reply of unbounded size.
   */
  async listAllRooms(names: readonly string[], ctx: CallContext): Promise<Room[]> {
    requireList(ctx.grants);
    validateNames(names);
    await this.readAt(Consistency.CONSISTENCY_LINEARIZABLE, ctx);
    if (names.length > 0)
      return presentAll(this.namedRooms(names, API_LIMITS.unpagedReplyBytesMax, 'list fewer names'));
    const count = this.registry.roomCount();
    if (count > API_LIMITS.unpagedRoomsMax) {
      throw new RegistryError(
        'RESOURCE_EXHAUSTED',
        `${count} rooms are more than one unpaged ListRooms returns (${API_LIMITS.unpagedRoomsMax}); list by names, or page with the gRPC API`,
      );
    }
    const rooms = this.registry.listPage('', Math.max(1, count)).rooms;
    const bytes = replyBytes(rooms);
    if (bytes > API_LIMITS.unpagedReplyBytesMax)
      throw replyTooLarge(bytes, API_LIMITS.unpagedReplyBytesMax, 'list by names, or page with the gRPC API');
    return presentAll(rooms);
  }

  /** namedRooms looks up each distinct name once; a reply above bytesMax is refused. */
  private namedRooms(names: readonly string[], bytesMax: number, advice: string): Room[] {
    const rooms = this.registry.listRooms(uniqueNames(names));
    const bytes = replyBytes(rooms);
    if (bytes > bytesMax) throw replyTooLarge(bytes, bytesMax, advice);
    return rooms;
  }

  async deleteRoom(req: DeleteRoomRequest, ctx: CallContext): Promise<DeleteRoomResponse> {
    requireCreate(ctx.grants);
    validateRoomName(req.room, 'room');
    const result = await this.write(
      this.commandOf(req.requestId, ctx, { $case: 'deleteRoom', value: { name: req.room } }),
      ctx,
    );
    if (result.result?.$case !== 'deleted') throw unexpectedResult(result);
    return { revision: result.revision };
  }

  async updateRoomMetadata(req: UpdateRoomMetadataRequest, ctx: CallContext): Promise<UpdateRoomMetadataResponse> {
    validateMetadata(req.metadata); // LiveKit checks the size before the grant (LIVEKIT.md §3.5)
    requireAdmin(ctx.grants, req.room);
    validateRoomName(req.room, 'room');
    const command = this.commandOf(req.requestId, ctx, {
      $case: 'updateRoomMetadata',
      value: { name: req.room, metadata: req.metadata },
    });
    const { room, revision } = roomOf(await this.write(command, ctx));
    return { room: present(room), revision };
  }

  /**
   * updateRoomOccupancy is a media node's report; it needs the service grant roomCreate. With a
   * node_id it sets that node's share of the room (UpdateOccupancyShare, command version 2: the
   * node needs a live lease, and until every member is upgraded the leader refuses it with
   * FAILED_PRECONDITION); without one it is the single-share report it always was.
   */
  async updateRoomOccupancy(req: UpdateRoomOccupancyRequest, ctx: CallContext): Promise<UpdateRoomOccupancyResponse> {
    requireCreate(ctx.grants);
    validateRoomName(req.room, 'room');
    if (req.nodeId !== '') validateMediaNodeId(req.nodeId);
    const [name, numParticipants, numPublishers] = [req.room, req.numParticipants, req.numPublishers];
    const command = this.commandOf(
      req.requestId,
      ctx,
      req.nodeId === ''
        ? { $case: 'updateRoomOccupancy', value: { name, numParticipants, numPublishers, nodeId: '' } }
        : { $case: 'updateOccupancyShare', value: { name, nodeId: req.nodeId, numParticipants, numPublishers } },
    );
    const { room, revision } = roomOf(await this.write(command, ctx));
    return { room: present(room), revision };
  }

  /** requireAdminFor is the grant check of per-room calls that need nothing else (ListParticipants). */
  requireAdminFor(room: string, ctx: CallContext): void {
    requireAdmin(ctx.grants, room);
  }

  /**
   * commandOf is a write's command with its request id and the API key of its token: the
   * registry remembers ids per key, so one client cannot replay or read another's (issue 12 item 9).
   */
  private commandOf(fromBody: string, ctx: CallContext, command: NonNullable<Command['command']>): Command {
    const requestId = requestIdOf(fromBody, ctx.requestId);
    validateRequestId(requestId);
    // One literal, not a spread of the key then `command`: V8 would give each a hidden class of its own (codec.ts).
    return { requestId, apiKey: requestId === '' ? '' : (ctx.grants.apiKey ?? ''), command };
  }

  /** write proposes one command through Raft (registry-calls.ts). */
  private write(command: Command, ctx: CallContext): Promise<CommandResult> {
    return proposeCommand(this.node, command, ctx.deadlineMs);
  }

  /** readAt: linearizable unless LOCAL is asked for (registry-calls.ts). */
  private readAt(consistency: Consistency, ctx: CallContext): Promise<{ revision: number; stalenessMs: number }> {
    return readAt(this.node, () => this.registry.appliedIndex(), consistency, ctx.deadlineMs);
  }
}

function roomOf(result: CommandResult): { room: Room; created: boolean; revision: number } {
  if (result.result?.$case !== 'room' || result.result.value.room === undefined) throw unexpectedResult(result);
  return { room: result.result.value.room, created: result.result.value.created, revision: result.revision };
}

function replyTooLarge(bytes: number, bytesMax: number, advice: string): RegistryError {
  return new RegistryError(
    'RESOURCE_EXHAUSTED',
    `the rooms asked for come to about ${bytes} bytes, more than one ListRooms reply carries (${bytesMax}); ${advice}`,
  );
}

function notFound(name: string): RegistryError {
  return new RegistryError('NOT_FOUND', 'requested room does not exist', { roomName: name });
}

function randomChars(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += SID_ALPHABET[randomInt(SID_ALPHABET.length)];
  return s;
}

/** Page tokens are opaque to clients: the last name of the previous page, base64url. */
function encodePageToken(afterName: string): string {
  return Buffer.from(afterName, 'utf8').toString('base64url');
}

function decodePageToken(token: string): string {
  if (token === '') return '';
  const name = Buffer.from(token, 'base64url').toString('utf8');
  if (encodePageToken(name) !== token)
    throw new RegistryError('INVALID_ARGUMENT', 'page_token is not one this server issued');
  return name;
}
