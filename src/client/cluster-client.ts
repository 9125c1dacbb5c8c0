import * as grpc from '@grpc/grpc-js';
import { LEADER_HINT_KEY } from '../api/grpc-errors.js';
import type {
  CreateRoomRequest,
  CreateRoomResponse,
  DeleteRoomRequest,
  DeleteRoomResponse,
  GetRoomRequest,
  GetRoomResponse,
  ListRoomsRequest,
  ListRoomsResponse,
  UpdateRoomMetadataRequest,
  UpdateRoomMetadataResponse,
  UpdateRoomOccupancyRequest,
  UpdateRoomOccupancyResponse,
} from '../gen/roomregistry/v1/rooms.js';
import type { ClientTls } from './endpoint.js';
import { type ClientCredentials, RoomClient } from './room-client.js';

/** ClusterMember: a node's id and its public gRPC address (host:port, or a grpcs:// / https:// URL for TLS). */
export interface ClusterMember {
  readonly id: string;
  readonly grpc: string;
}

/** LEADER_RECHECK_MS: how often the client asks again who leads, to follow transfers and elections. */
const LEADER_RECHECK_MS = 5_000;
/** STATUS_DEADLINE_MS: a Status call to find the leader gives up after this. */
const STATUS_DEADLINE_MS = 1_000;

/**
 * ClusterRoomClient talks to a whole cluster: writes go to the leader, where they skip a
 * follower's forward hop (10-25% of the servers' CPU per write, bench/RESULTS.md; the price
 * is that the leader serves every write call), and reads go to the home node (the first
 * member, unless another is named). It learns the leader from Status, from the leader hint an
 * UNAVAILABLE carries, and again every few seconds. It never retries: a write whose outcome
 * is unknown must be sent again by the caller with the same request id.
 */
export class ClusterRoomClient {
  private readonly clients = new Map<string, RoomClient>();
  private readonly home: RoomClient;
  private readonly homeId: string;
  private leader: string | null = null;
  /** suspect: the node a write last failed on without a leader hint; asked last, believed last. */
  private suspect: string | null = null;
  private checkedAtMs = 0;
  private checking: Promise<void> | null = null;

  constructor(
    members: readonly ClusterMember[],
    credentials: ClientCredentials,
    options: {
      readonly home?: string;
      readonly channelOptions?: Partial<grpc.ChannelOptions>;
      readonly tls?: ClientTls;
    } = {},
  ) {
    if (members.length === 0) throw new Error('a cluster client needs at least one member');
    for (const m of members)
      this.clients.set(m.id, new RoomClient(m.grpc, credentials, options.channelOptions ?? {}, options.tls ?? null));
    this.homeId = options.home ?? members[0]?.id ?? '';
    const home = this.clients.get(this.homeId);
    if (home === undefined) throw new Error(`home node ${this.homeId} is not a member`);
    this.home = home;
  }

  /** leaderId: the node writes go to now (null until the leader is known). */
  leaderId(): string | null {
    return this.leader;
  }

  createRoom(req: Partial<CreateRoomRequest>, deadlineMs?: number): Promise<CreateRoomResponse> {
    return this.write((c) => c.createRoom(req, deadlineMs));
  }

  deleteRoom(req: Partial<DeleteRoomRequest>, deadlineMs?: number): Promise<DeleteRoomResponse> {
    return this.write((c) => c.deleteRoom(req, deadlineMs));
  }

  updateRoomMetadata(
    req: Partial<UpdateRoomMetadataRequest>,
    deadlineMs?: number,
  ): Promise<UpdateRoomMetadataResponse> {
    return this.write((c) => c.updateRoomMetadata(req, deadlineMs));
  }

  updateRoomOccupancy(
    req: Partial<UpdateRoomOccupancyRequest>,
    deadlineMs?: number,
  ): Promise<UpdateRoomOccupancyResponse> {
    return this.write((c) => c.updateRoomOccupancy(req, deadlineMs));
  }

  getRoom(req: Partial<GetRoomRequest>, deadlineMs?: number): Promise<GetRoomResponse> {
    return this.home.getRoom(req, deadlineMs);
  }

  listRooms(req: Partial<ListRoomsRequest>, deadlineMs?: number): Promise<ListRoomsResponse> {
    return this.home.listRooms(req, deadlineMs);
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
  }

  private async write<T>(call: (c: RoomClient) => Promise<T>): Promise<T> {
    if (this.leader === null) await this.checkLeader();
    else if (Date.now() - this.checkedAtMs > LEADER_RECHECK_MS) void this.checkLeader();
    const targetId = this.leader ?? this.homeId;
    try {
      return await call(this.clients.get(targetId) ?? this.home);
    } catch (e) {
      const error = e as Partial<grpc.ServiceError>;
      if (error.code === grpc.status.UNAVAILABLE) {
        const hint = error.metadata?.get(LEADER_HINT_KEY)[0];
        this.leader = typeof hint === 'string' && this.clients.has(hint) ? hint : null;
        // A node that is down, or whose disk is stuck, may still claim to lead in its Status.
        if (this.leader === null) this.suspect = targetId;
      }
      throw e;
    }
  }

  /**
   * checkLeader asks the members in turn (home first, the suspect last) who leads, preferring
   * an answer that does not name the suspect; one check runs at a time.
   */
  private checkLeader(): Promise<void> {
    this.checking ??= (async () => {
      const ids = [this.homeId, ...[...this.clients.keys()].filter((id) => id !== this.homeId)];
      const order = [...ids.filter((id) => id !== this.suspect), ...ids.filter((id) => id === this.suspect)];
      let named: string | null = null;
      for (const id of order) {
        const s = await this.clients
          .get(id)
          ?.status(STATUS_DEADLINE_MS)
          .catch(() => null);
        if (s === undefined || s === null || !this.clients.has(s.leader)) continue;
        named ??= s.leader;
        if (s.leader !== this.suspect) {
          named = s.leader;
          break;
        }
      }
      this.leader = named;
      if (named !== this.suspect) this.suspect = null;
      this.checkedAtMs = Date.now();
    })().finally(() => {
      this.checking = null;
    });
    return this.checking;
  }
}
