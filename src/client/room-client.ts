import * as grpc from '@grpc/grpc-js';
import {
  type BackupChunk,
  type AddMemberRequest,
  type AddMemberResponse,
  ClusterServiceClient,
  CreateRoomRequest,
  type CreateRoomResponse,
  DeleteRoomRequest,
  type DeleteRoomResponse,
  GetRoomRequest,
  type GetRoomResponse,
  HeartbeatRequest,
  type HeartbeatResponse,
  ListMediaNodesRequest,
  type ListMediaNodesResponse,
  MediaNodeServiceClient,
  ListRoomsRequest,
  type ListMembersResponse,
  ReadRevisionRequest,
  type ReadRevisionResponse,
  type ListRoomsResponse,
  type PromoteMemberResponse,
  type RemoveMemberResponse,
  RoomServiceClient,
  type StatusResponse,
  type TransferLeadershipResponse,
  UpdateRoomMetadataRequest,
  type UpdateRoomMetadataResponse,
  UpdateRoomOccupancyRequest,
  type UpdateRoomOccupancyResponse,
  type WatchRoomsResponse,
} from '../gen/roomregistry/v1/rooms.js';
import { type VideoGrant, signToken } from '../api/auth.js';
import { type ClientTls, channelCredentials, parseEndpoint } from './endpoint.js';
import { CALL_DEADLINE_MS_DEFAULT, type RoomCalls, RoomSession } from './room-session.js';
import { CHANNELZ_OFF } from '../lib/grpc-options.js';

/** ClientCredentials: an API key and secret (a token is signed per call with just the grants it needs), or a fixed token. */
export type ClientCredentials = { readonly apiKey: string; readonly apiSecret: string } | { readonly token: string };

/** tokenTtlSeconds: lifetime of the tokens the client signs (LiveKit's SDKs use 10 minutes). */
const tokenTtlSeconds = 600;

type Unary<Req, Res> = (
  req: Req,
  md: grpc.Metadata,
  opts: Partial<grpc.CallOptions>,
  cb: (e: grpc.ServiceError | null, res: Res) => void,
) => grpc.ClientUnaryCall;

/**
 * RoomClient is a promise-based client of one node's public gRPC API, for the CLI, the
 * benchmark and tests. Errors are grpc ServiceErrors (code, details, trailing metadata).
 * `address` is host:port or a URL: https:// and grpcs:// speak TLS (trusting `tls.ca`, or the
 * system roots), and never fall back to plaintext.
 */
export class RoomClient implements RoomCalls {
  private readonly rooms: RoomServiceClient;
  /** roomSession: the client's Session streams, opened on first use (session()). */
  private roomSession: RoomSession | null = null;
  private readonly cluster: ClusterServiceClient;
  private readonly mediaNodes: MediaNodeServiceClient;
  /** tokens: one signed token per grant set (a handful: the client's methods use four). */
  private readonly tokens = new Map<string, { token: string; renewAtSeconds: number }>();

  /** address: host:port of the node (the URL's scheme removed). */
  readonly address: string;

  constructor(
    url: string,
    private readonly credentials: ClientCredentials,
    channelOptions: Partial<grpc.ChannelOptions> = {},
    tls: ClientTls | null = null,
  ) {
    const endpoint = parseEndpoint(url);
    this.address = endpoint.hostPort;
    const address = endpoint.hostPort;
    const creds = channelCredentials(endpoint, tls);
    const options = { ...CHANNELZ_OFF, ...channelOptions };
    this.rooms = new RoomServiceClient(address, creds, options);
    this.cluster = new ClusterServiceClient(address, creds, options);
    this.mediaNodes = new MediaNodeServiceClient(address, creds, options);
  }

  createRoom(req: Partial<CreateRoomRequest>, deadlineMs?: number): Promise<CreateRoomResponse> {
    return this.call(
      this.rooms.createRoom.bind(this.rooms) as Unary<CreateRoomRequest, CreateRoomResponse>,
      CreateRoomRequest.fromPartial(req),
      { roomCreate: true },
      deadlineMs,
    );
  }

  getRoom(req: Partial<GetRoomRequest>, deadlineMs?: number): Promise<GetRoomResponse> {
    return this.call(
      this.rooms.getRoom.bind(this.rooms) as Unary<GetRoomRequest, GetRoomResponse>,
      GetRoomRequest.fromPartial(req),
      { roomList: true },
      deadlineMs,
    );
  }

  listRooms(req: Partial<ListRoomsRequest>, deadlineMs?: number): Promise<ListRoomsResponse> {
    return this.call(
      this.rooms.listRooms.bind(this.rooms) as Unary<ListRoomsRequest, ListRoomsResponse>,
      ListRoomsRequest.fromPartial(req),
      { roomList: true },
      deadlineMs,
    );
  }

  /**
   * readRevision: the revision a read here is served at and the newest room change a watcher
   * needs to be as current (linearizable unless LOCAL is asked for).
   */
  readRevision(req: Partial<ReadRevisionRequest>, deadlineMs?: number): Promise<ReadRevisionResponse> {
    return this.call(
      this.rooms.readRevision.bind(this.rooms) as Unary<ReadRevisionRequest, ReadRevisionResponse>,
      ReadRevisionRequest.fromPartial(req),
      { roomList: true },
      deadlineMs,
    );
  }

  deleteRoom(req: Partial<DeleteRoomRequest>, deadlineMs?: number): Promise<DeleteRoomResponse> {
    return this.call(
      this.rooms.deleteRoom.bind(this.rooms) as Unary<DeleteRoomRequest, DeleteRoomResponse>,
      DeleteRoomRequest.fromPartial(req),
      { roomCreate: true },
      deadlineMs,
    );
  }

  updateRoomMetadata(
    req: Partial<UpdateRoomMetadataRequest>,
    deadlineMs?: number,
  ): Promise<UpdateRoomMetadataResponse> {
    const grants = { roomAdmin: true, room: req.room ?? '' };
    return this.call(
      this.rooms.updateRoomMetadata.bind(this.rooms) as Unary<UpdateRoomMetadataRequest, UpdateRoomMetadataResponse>,
      UpdateRoomMetadataRequest.fromPartial(req),
      grants,
      deadlineMs,
    );
  }

  updateRoomOccupancy(
    req: Partial<UpdateRoomOccupancyRequest>,
    deadlineMs?: number,
  ): Promise<UpdateRoomOccupancyResponse> {
    return this.call(
      this.rooms.updateRoomOccupancy.bind(this.rooms) as Unary<UpdateRoomOccupancyRequest, UpdateRoomOccupancyResponse>,
      UpdateRoomOccupancyRequest.fromPartial(req),
      { roomCreate: true },
      deadlineMs,
    );
  }

  /** heartbeat registers or renews a media node's lease (roomCreate grant); send one every ttl/3. */
  heartbeat(req: Partial<HeartbeatRequest>, deadlineMs?: number): Promise<HeartbeatResponse> {
    return this.call(
      this.mediaNodes.heartbeat.bind(this.mediaNodes) as Unary<HeartbeatRequest, HeartbeatResponse>,
      HeartbeatRequest.fromPartial(req),
      { roomCreate: true },
      deadlineMs,
    );
  }

  /** listMediaNodes lists the live media nodes, of one region when `region` is set (roomList grant). */
  listMediaNodes(req: Partial<ListMediaNodesRequest>, deadlineMs?: number): Promise<ListMediaNodesResponse> {
    return this.call(
      this.mediaNodes.listMediaNodes.bind(this.mediaNodes) as Unary<ListMediaNodesRequest, ListMediaNodesResponse>,
      ListMediaNodesRequest.fromPartial(req),
      { roomList: true },
      deadlineMs,
    );
  }

  status(deadlineMs?: number): Promise<StatusResponse> {
    return this.call(
      this.cluster.status.bind(this.cluster) as Unary<object, StatusResponse>,
      {},
      { roomList: true },
      deadlineMs,
    );
  }

  transferLeadership(to: string, deadlineMs?: number): Promise<TransferLeadershipResponse> {
    return this.call(
      this.cluster.transferLeadership.bind(this.cluster) as Unary<{ to: string }, TransferLeadershipResponse>,
      { to },
      { roomCreate: true },
      deadlineMs,
    );
  }

  // Membership (admin key only; a node that is not the leader answers UNAVAILABLE naming it).

  listMembers(deadlineMs?: number): Promise<ListMembersResponse> {
    return this.call(
      this.cluster.listMembers.bind(this.cluster) as Unary<object, ListMembersResponse>,
      {},
      { roomCreate: true },
      deadlineMs,
    );
  }

  addMember(req: AddMemberRequest, deadlineMs?: number): Promise<AddMemberResponse> {
    return this.call(
      this.cluster.addMember.bind(this.cluster) as Unary<AddMemberRequest, AddMemberResponse>,
      req,
      { roomCreate: true },
      deadlineMs,
    );
  }

  promoteMember(id: string, deadlineMs?: number): Promise<PromoteMemberResponse> {
    return this.call(
      this.cluster.promoteMember.bind(this.cluster) as Unary<{ id: string }, PromoteMemberResponse>,
      { id },
      { roomCreate: true },
      deadlineMs,
    );
  }

  removeMember(id: string, deadlineMs?: number): Promise<RemoveMemberResponse> {
    return this.call(
      this.cluster.removeMember.bind(this.cluster) as Unary<{ id: string }, RemoveMemberResponse>,
      { id },
      { roomCreate: true },
      deadlineMs,
    );
  }

  /**
   * backup streams a backup file from the leader (an admin key's call): the chunks' bytes,
   * concatenated, are the file. A follower ends the stream UNAVAILABLE with the leader hint.
   */
  backup(deadlineMs: number): grpc.ClientReadableStream<BackupChunk> {
    return this.cluster.backup({}, this.metadataFor({ roomCreate: true }), { deadline: Date.now() + deadlineMs });
  }

  /**
   * watchRooms follows changes after fromRevision (0: from now) until cancelled; the stream
   * ends with an error when the node cannot resume from there (re-list, then watch again).
   */
  watchRooms(fromRevision: number): grpc.ClientReadableStream<WatchRoomsResponse> {
    return this.rooms.watchRooms({ fromRevision }, this.metadataFor({ roomList: true }));
  }

  /**
   * session carries this client's room and media-node calls on Session streams over the same
   * channel (room-session.ts); a node without Session gets them unary.
   */
  session(): RoomSession {
    this.roomSession ??= new RoomSession(this.rooms, this, (grants) => this.metadataFor(grants));
    return this.roomSession;
  }

  close(): void {
    this.roomSession?.close();
    this.rooms.close();
    this.cluster.close();
    this.mediaNodes.close();
  }

  /**
   * metadataFor carries a token with exactly `grants` (or the fixed token). A signed token is
   * reused for half its lifetime, so a busy client does not sign (nor the node verify) one per call.
   */
  metadataFor(grants: Partial<VideoGrant>): grpc.Metadata {
    const md = new grpc.Metadata();
    const c = this.credentials;
    md.set('authorization', `Bearer ${'token' in c ? c.token : this.signed(c.apiKey, c.apiSecret, grants)}`);
    return md;
  }

  private signed(apiKey: string, apiSecret: string, grants: Partial<VideoGrant>): string {
    const key = JSON.stringify(grants);
    const nowSeconds = Math.floor(Date.now() / 1000);
    const cached = this.tokens.get(key);
    if (cached !== undefined && nowSeconds < cached.renewAtSeconds) return cached.token;
    const token = signToken(apiKey, apiSecret, grants, tokenTtlSeconds, nowSeconds);
    this.tokens.set(key, { token, renewAtSeconds: nowSeconds + tokenTtlSeconds / 2 });
    return token;
  }

  private call<Req, Res>(
    fn: Unary<Req, Res>,
    req: Req,
    grants: Partial<VideoGrant>,
    deadlineMs?: number,
  ): Promise<Res> {
    return new Promise((resolve, reject) => {
      fn(
        req,
        this.metadataFor(grants),
        { deadline: Date.now() + (deadlineMs ?? CALL_DEADLINE_MS_DEFAULT) },
        (e, res) => (e === null ? resolve(res) : reject(e)),
      );
    });
  }
}
