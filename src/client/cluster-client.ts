import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { LEADER_HINT_KEY } from '../api/grpc-errors.js';
import type {
  CreateRoomRequest,
  CreateRoomResponse,
  DeleteRoomRequest,
  DeleteRoomResponse,
  GetRoomRequest,
  GetRoomResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  ListMediaNodesRequest,
  ListMediaNodesResponse,
  ListRoomsRequest,
  ListRoomsResponse,
  ReadRevisionRequest,
  ReadRevisionResponse,
  UpdateRoomMetadataRequest,
  UpdateRoomMetadataResponse,
  UpdateRoomOccupancyRequest,
  UpdateRoomOccupancyResponse,
} from '../gen/roomregistry/v1/rooms.js';
import type { ClientTls } from './endpoint.js';
import { type ClientCredentials, RoomClient } from './room-client.js';
import { type CacheMember, RoomCache, type RoomCacheOptions } from './room-cache.js';
import type { RoomCalls } from './room-session.js';

/** ClusterMember: a node's id and its public gRPC address (host:port, or a grpcs:// / https:// URL for TLS). */
export interface ClusterMember {
  readonly id: string;
  readonly grpc: string;
}

/** LEADER_RECHECK_MS: how often the client asks again who leads, to follow transfers and elections. */
const LEADER_RECHECK_MS = 5_000;
/** STATUS_DEADLINE_MS: a Status call to find the leader gives up after this. */
const STATUS_DEADLINE_MS = 1_000;
/** CALL_DEADLINE_MS_DEFAULT: a call without its own deadline gives up after this, retries included. */
const CALL_DEADLINE_MS_DEFAULT = 5_000;
/** RETRY_BACKOFF_MS_FIRST and _MAX: the pause before a retry doubles from the first to the max. */
const RETRY_BACKOFF_MS_FIRST = 25;
const RETRY_BACKOFF_MS_MAX = 400;

/** Writable: a write request, which carries the request id that makes its retries apply once. */
type Writable = { requestId?: string };

/**
 * ClusterRoomClient talks to a whole cluster: writes go to the leader, where they skip a
 * follower's forward hop (10-25% of the servers' CPU per write, bench/RESULTS.md; the price
 * is that the leader serves every write call), and reads go to the home node (the first
 * member, unless another is named). It learns the leader from Status, from the leader hint an
 * UNAVAILABLE carries, and again every few seconds.
 *
 * A call that fails with UNAVAILABLE (a node down, restarting, or no longer leading) is retried
 * on the leader or another member until the call's deadline (`retry: false` turns this off).
 * A write is retried with the same request id, which the client assigns when the caller did
 * not: if the first attempt was applied after all, the retry returns its result instead of
 * applying twice. So a rolling restart costs a caller latency, not failed calls.
 *
 * Calls ride each node's Session stream (room-session.ts: one stream, many calls, less fixed
 * cost on the node per call) unless `session: false`; a node without Session gets them unary.
 *
 * With `cache` the client keeps every room in memory (room-cache.ts: a list, then WatchRooms):
 * GetRoom and ListRooms by names are answered from it, LOCAL at once and linearizable after one
 * ReadRevision at home; writes and full listings go to the nodes as before.
 */
export class ClusterRoomClient {
  private readonly clients = new Map<string, RoomClient>();
  /** calls: each member's way of calling (its RoomSession, or its RoomClient with `session: false`). */
  private readonly calls = new Map<string, RoomCalls>();
  private readonly home: RoomCalls;
  private readonly homeId: string;
  private leader: string | null = null;
  /** suspect: the node a write last failed on without a leader hint; asked last, believed last. */
  private suspect: string | null = null;
  private checkedAtMs = 0;
  private checking: Promise<void> | null = null;
  private readonly retry: boolean;
  private readonly roomCache: RoomCache | null = null;

  constructor(
    members: readonly ClusterMember[],
    credentials: ClientCredentials,
    options: {
      readonly home?: string;
      readonly channelOptions?: Partial<grpc.ChannelOptions>;
      readonly tls?: ClientTls;
      /** retry: retry UNAVAILABLE on another member until the deadline (default true). */
      readonly retry?: boolean;
      /** session: carry calls on Session streams (default true); false makes one unary call each. */
      readonly session?: boolean;
      /** cache: answer GetRoom and ListRooms by names from a watch-fed cache (room-cache.ts; default false). */
      readonly cache?: boolean | RoomCacheOptions;
    } = {},
  ) {
    this.retry = options.retry ?? true;
    if (members.length === 0) throw new Error('a cluster client needs at least one member');
    for (const m of members) {
      const client = new RoomClient(m.grpc, credentials, options.channelOptions ?? {}, options.tls ?? null);
      this.clients.set(m.id, client);
      this.calls.set(m.id, options.session === false ? client : client.session());
    }
    this.homeId = options.home ?? members[0]?.id ?? '';
    const home = this.calls.get(this.homeId);
    if (home === undefined) throw new Error(`home node ${this.homeId} is not a member`);
    this.home = home;
    if (options.cache !== undefined && options.cache !== false)
      this.roomCache = this.startCache(options.cache === true ? {} : options.cache);
  }

  /** cache: the room cache (`cache` option), for its ready(), stats() and close(); null without one. */
  cache(): RoomCache | null {
    return this.roomCache;
  }

  /** startCache lists and watches from the home node first, then the other members (the read order). */
  private startCache(options: RoomCacheOptions): RoomCache {
    const members: CacheMember[] = this.readOrder().map((id) => {
      const client = this.clients.get(id) as RoomClient;
      const calls = this.calls.get(id) ?? client;
      return {
        id,
        listRooms: (req, ms) => calls.listRooms(req, ms),
        watchRooms: (fromRevision) => client.watchRooms(fromRevision),
      };
    });
    const server = {
      readRevision: (req: Partial<ReadRevisionRequest>, ms?: number) => this.readRevision(req, ms),
      getRoom: (req: Partial<GetRoomRequest>, ms?: number) => this.read(ms, (c, left) => c.getRoom(req, left)),
      listRooms: (req: Partial<ListRoomsRequest>, ms?: number) => this.read(ms, (c, left) => c.listRooms(req, left)),
    };
    return new RoomCache(members, server, options);
  }

  /** leaderId: the node writes go to now (null until the leader is known). */
  leaderId(): string | null {
    return this.leader;
  }

  createRoom(req: Partial<CreateRoomRequest>, deadlineMs?: number): Promise<CreateRoomResponse> {
    return this.write(req, deadlineMs, (c, r, ms) => c.createRoom(r, ms));
  }

  deleteRoom(req: Partial<DeleteRoomRequest>, deadlineMs?: number): Promise<DeleteRoomResponse> {
    return this.write(req, deadlineMs, (c, r, ms) => c.deleteRoom(r, ms));
  }

  updateRoomMetadata(
    req: Partial<UpdateRoomMetadataRequest>,
    deadlineMs?: number,
  ): Promise<UpdateRoomMetadataResponse> {
    return this.write(req, deadlineMs, (c, r, ms) => c.updateRoomMetadata(r, ms));
  }

  updateRoomOccupancy(
    req: Partial<UpdateRoomOccupancyRequest>,
    deadlineMs?: number,
  ): Promise<UpdateRoomOccupancyResponse> {
    return this.write(req, deadlineMs, (c, r, ms) => c.updateRoomOccupancy(r, ms));
  }

  /**
   * heartbeat renews a media node's lease on the leader, retrying UNAVAILABLE like other writes.
   * It has no request id: a heartbeat applied twice only renews the lease twice.
   */
  heartbeat(req: Partial<HeartbeatRequest>, deadlineMs?: number): Promise<HeartbeatResponse> {
    return this.write(req, deadlineMs, (c, r, ms) => c.heartbeat(r, ms), false);
  }

  listMediaNodes(req: Partial<ListMediaNodesRequest>, deadlineMs?: number): Promise<ListMediaNodesResponse> {
    return this.read(deadlineMs, (c, ms) => c.listMediaNodes(req, ms));
  }

  getRoom(req: Partial<GetRoomRequest>, deadlineMs?: number): Promise<GetRoomResponse> {
    if (this.roomCache !== null) return this.roomCache.getRoom(req, deadlineMs);
    return this.read(deadlineMs, (c, ms) => c.getRoom(req, ms));
  }

  listRooms(req: Partial<ListRoomsRequest>, deadlineMs?: number): Promise<ListRoomsResponse> {
    if (this.roomCache !== null) return this.roomCache.listRooms(req, deadlineMs);
    return this.read(deadlineMs, (c, ms) => c.listRooms(req, ms));
  }

  /** readRevision: where the rooms stand at the home node (ReadRevision; the read order on UNAVAILABLE). */
  readRevision(req: Partial<ReadRevisionRequest>, deadlineMs?: number): Promise<ReadRevisionResponse> {
    return this.read(deadlineMs, (c, ms) => c.readRevision(req, ms));
  }

  /** close stops the cache's watch and closes every member's channel. */
  close(): void {
    void this.roomCache?.close();
    for (const c of this.clients.values()) c.close();
  }

  /**
   * write sends a write to the leader, retrying UNAVAILABLE with the same request id until the
   * deadline; `withRequestId` false for writes that have none (a heartbeat may apply twice).
   */
  private async write<R extends object, T>(
    req: R,
    deadlineMs: number | undefined,
    call: (c: RoomCalls, req: R, ms: number) => Promise<T>,
    withRequestId = true,
  ): Promise<T> {
    const untilMs = Date.now() + (deadlineMs ?? CALL_DEADLINE_MS_DEFAULT);
    const needsId = withRequestId && this.retry && ((req as Writable).requestId ?? '') === '';
    // Not `{ ...req, requestId }`: V8 gives each object so built a hidden class of its own (codec.ts).
    const sent = needsId ? Object.assign({}, req, { requestId: randomUUID() }) : req;
    for (let attempt = 0; ; attempt++) {
      if (this.leader === null) await this.checkLeader();
      else if (Date.now() - this.checkedAtMs > LEADER_RECHECK_MS) void this.checkLeader();
      const targetId = this.leader ?? this.otherThan(this.suspect);
      try {
        return await call(this.calls.get(targetId) ?? this.home, sent, Math.max(1, untilMs - Date.now()));
      } catch (e) {
        this.learnFrom(e, targetId);
        if (!(await this.mayRetry(e, attempt, untilMs))) throw e;
      }
    }
  }

  /** read asks the home node, then the other members in turn while they answer UNAVAILABLE, until the deadline. */
  private async read<T>(deadlineMs: number | undefined, call: (c: RoomCalls, ms: number) => Promise<T>): Promise<T> {
    const untilMs = Date.now() + (deadlineMs ?? CALL_DEADLINE_MS_DEFAULT);
    const ids = this.readOrder();
    for (let attempt = 0; ; attempt++) {
      const client = this.calls.get(ids[attempt % ids.length] ?? this.homeId) ?? this.home;
      try {
        return await call(client, Math.max(1, untilMs - Date.now()));
      } catch (e) {
        if (!(await this.mayRetry(e, attempt, untilMs))) throw e;
      }
    }
  }

  /** readOrder: the home node, then the other members. */
  private readOrder(): string[] {
    return [this.homeId, ...[...this.clients.keys()].filter((id) => id !== this.homeId)];
  }

  /** learnFrom: an UNAVAILABLE names the leader, or marks the node that failed as suspect. */
  private learnFrom(e: unknown, targetId: string): void {
    const error = e as Partial<grpc.ServiceError>;
    if (error.code !== grpc.status.UNAVAILABLE) return;
    const hint = error.metadata?.get(LEADER_HINT_KEY)[0];
    this.leader = typeof hint === 'string' && this.clients.has(hint) ? hint : null;
    // A node that is down, or whose disk is stuck, may still claim to lead in its Status.
    if (this.leader === null || this.leader === targetId) {
      this.leader = null;
      this.suspect = targetId;
    }
  }

  /** mayRetry: the error is UNAVAILABLE, retries are on, and a backed-off retry still fits the deadline (it waits). */
  private async mayRetry(e: unknown, attempt: number, untilMs: number): Promise<boolean> {
    if (!this.retry || (e as Partial<grpc.ServiceError>).code !== grpc.status.UNAVAILABLE) return false;
    const backoffMs = Math.min(RETRY_BACKOFF_MS_MAX, RETRY_BACKOFF_MS_FIRST << Math.min(attempt, 10));
    if (Date.now() + backoffMs >= untilMs) return false;
    await new Promise((r) => setTimeout(r, backoffMs));
    return true;
  }

  /** otherThan: the home node, or the first other member when home is `id`. */
  private otherThan(id: string | null): string {
    if (id !== this.homeId) return this.homeId;
    return [...this.clients.keys()].find((k) => k !== id) ?? this.homeId;
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
