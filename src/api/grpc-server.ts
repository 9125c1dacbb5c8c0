import * as grpc from '@grpc/grpc-js';
import type { Server as NetServer } from 'node:net';
import {
  type AddMemberRequest,
  type BackupChunk,
  ClusterServiceService,
  MediaNodeServiceService,
  RoomServiceService,
  type SessionResponse,
  type StatusResponse,
  type WatchRoomsRequest,
} from '../gen/roomregistry/v1/rooms.js';
import type { ListenerTls } from '../config/cluster-config.js';
import { assert } from '../lib/assert.js';
import { RegistryError, unavailable } from '../lib/errors.js';
import { type BackupSource, streamBackup } from './grpc-backup.js';
import { type Grants, authenticate, requireAdminKey, requireList } from './auth.js';
import type { MembershipControl } from './membership-api.js';
import { ERROR_MAPPING, toClientError } from './errors.js';
import { toServiceError } from './grpc-errors.js';
import { GRPC_LIMITS, type GrpcLimits, assertGrpcLimitRelations } from './grpc-limits.js';
import type { MediaNodeHandlers } from './media-node-handlers.js';
import type { CallContext, RoomHandlers } from './room-handlers.js';
import { SESSION_CALL_FIELDS, ServerSession, runSessionCall } from './grpc-session.js';
import { WatchHub, type WatchHubStats, type WatchSource } from './watch-hub.js';
import { scanProtobufShape } from './request-scan.js';
import { API_LIMITS, requestIdOf, strictReader } from './validate.js';
import { CHANNELZ_OFF } from '../lib/grpc-options.js';

/** ClusterControl is what ClusterService needs from the node. */
export interface ClusterControl {
  status(): Omit<StatusResponse, 'leader'> & { leader: string | null };
  transferLeadership(to: string | null): string;
  /** backup: the Backup RPC's source (absent: the node serves no backups). */
  readonly backup?: BackupSource;
  membership: MembershipControl;
}

export interface GrpcApiOptions {
  readonly apiKeys: ReadonlyMap<string, string>;
  /** adminKeys: the API keys allowed admin operations (the config's `adminKeys`). */
  readonly adminKeys: ReadonlySet<string>;
  /** onAdmin observes every admin call, allowed or not: who, what, and how it ended (the audit log). */
  readonly onAdmin?: (use: AdminUse) => void;
  readonly defaultDeadlineMs: number;
  readonly maxDeadlineMs: number;
  /**
   * onRequest observes every call's end (metrics; a log line with the request id when it failed
   * on our side); `internalDetail` is what an INTERNAL error's client was not told.
   */
  readonly onRequest?: (
    method: string,
    code: string,
    durationMs: number,
    requestId: string,
    internalDetail: string | null,
  ) => void;
  /** onConnectionRefused observes a connection closed because connectionsMax were open (a log line). */
  readonly onConnectionRefused?: (refusedTotal: number) => void;
  /** limits: the listener's bounds (tests shrink them); GRPC_LIMITS otherwise. */
  readonly limits?: GrpcLimits;
}

/** GrpcApiStats feed the metrics. */
export interface GrpcApiStats {
  readonly watch: WatchHubStats;
  readonly connectionsRefused: number;
  /** sessions: Session streams open. */
  readonly sessions: number;
  /**
   * sessionsWaitingForDrain: open Session streams not read because their connection has not taken
   * the answers written (their clients do not read). Not a metric: tests observe the push-back.
   */
  readonly sessionsWaitingForDrain: number;
}

/** AdminUse is one admin call for the audit log: the API key (null: no token), the operation, its outcome. */
export interface AdminUse {
  readonly apiKey: string | null;
  readonly operation: string;
  readonly detail: Readonly<Record<string, string>>;
  readonly outcome: string;
}

/** MALFORMED marks a request whose bytes did not decode, so the handler answers INVALID_ARGUMENT. */
const MALFORMED = Symbol('malformed');
type Malformed = { readonly [MALFORMED]: string };

/**
 * GrpcApi is the public gRPC listener: RoomService, MediaNodeService and ClusterService over the
 * shared handlers, every method through the one `unary` wrapper (auth, errors, deadline, metrics).
 * Every call authenticates its `authorization` metadata as LiveKit's server does.
 */
export class GrpcApi {
  private readonly limits: GrpcLimits;
  private readonly server: grpc.Server;
  private readonly watches: WatchHub;
  /** sessions: the open Session streams, ended UNAVAILABLE by close(). */
  private readonly sessions = new Set<ServerSession>();
  private connectionsRefused = 0;

  constructor(
    handlers: RoomHandlers,
    mediaNodes: MediaNodeHandlers,
    watchSource: WatchSource,
    private readonly cluster: ClusterControl,
    private readonly options: GrpcApiOptions,
  ) {
    this.limits = options.limits ?? GRPC_LIMITS;
    assertGrpcLimitRelations(this.limits);
    this.server = new grpc.Server(serverOptions(this.limits));
    this.watches = new WatchHub(watchSource, this.limits);
    const h = handlers;
    this.server.addService(tolerant(RoomServiceService, { session: SESSION_CALL_FIELDS }), {
      createRoom: this.unary('CreateRoom', (req, ctx) => h.createRoom(req, ctx)),
      getRoom: this.unary('GetRoom', (req, ctx) => h.getRoom(req, ctx)),
      listRooms: this.unary('ListRooms', (req, ctx) => h.listRooms(req, ctx)),
      deleteRoom: this.unary('DeleteRoom', (req, ctx) => h.deleteRoom(req, ctx)),
      updateRoomMetadata: this.unary('UpdateRoomMetadata', (req, ctx) => h.updateRoomMetadata(req, ctx)),
      updateRoomOccupancy: this.unary('UpdateRoomOccupancy', (req, ctx) => h.updateRoomOccupancy(req, ctx)),
      readRevision: this.unary('ReadRevision', (req, ctx) => h.readRevision(req, ctx)),
      watchRooms: (call: grpc.ServerWritableStream<WatchRoomsRequest | Malformed, Buffer>) => this.watchRooms(call),
      session: (call: grpc.ServerDuplexStream<unknown, SessionResponse>) => this.session(call, h, mediaNodes),
    });
    this.server.addService(tolerant(MediaNodeServiceService), {
      heartbeat: this.unary('Heartbeat', (req, ctx) => mediaNodes.heartbeat(req, ctx)),
      listMediaNodes: this.unary('ListMediaNodes', (req, ctx) => mediaNodes.listMediaNodes(req, ctx)),
    });
    this.server.addService(tolerant(ClusterServiceService), {
      status: this.unary('Status', async (_req, ctx) => {
        requireList(ctx.grants);
        const s = this.cluster.status();
        return { ...s, leader: s.leader ?? '' };
      }),
      transferLeadership: this.unary('TransferLeadership', async (req: { to: string }, ctx) =>
        this.admin(ctx, 'TransferLeadership', { to: req.to }, () => ({
          to: this.cluster.transferLeadership(req.to === '' ? null : req.to),
        })),
      ),
      backup: (call: grpc.ServerWritableStream<unknown, BackupChunk>) => this.backup(call),
      ...this.membershipMethods(),
    });
  }

  /** membershipMethods: ClusterService's membership RPCs, admin key only, each attempt audited. */
  private membershipMethods(): grpc.UntypedServiceImplementation {
    const m = this.cluster.membership;
    return {
      listMembers: this.unary('ListMembers', async (_req, ctx) =>
        this.admin(ctx, 'ListMembers', {}, () => m.listMembers()),
      ),
      addMember: this.unary('AddMember', async (req: AddMemberRequest, ctx) =>
        this.admin(ctx, 'AddMember', { member: req.id, peer: req.peer, learner: String(req.learner) }, async () => ({
          index: await m.addMember(req, ctx.deadlineMs),
        })),
      ),
      promoteMember: this.unary('PromoteMember', async (req: { id: string }, ctx) =>
        this.admin(ctx, 'PromoteMember', { member: req.id }, async () => ({
          index: await m.promoteMember(req.id, ctx.deadlineMs),
        })),
      ),
      removeMember: this.unary('RemoveMember', async (req: { id: string }, ctx) =>
        this.admin(ctx, 'RemoveMember', { member: req.id }, async () => ({
          index: await m.removeMember(req.id, ctx.deadlineMs),
        })),
      ),
    };
  }

  /** listen binds the `grpc` listener: TLS when `tls` is given (mTLS with its clientCa), else plaintext. */
  async listen(address: string, tls: ListenerTls | null = null): Promise<number> {
    const port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(address, listenerCredentials(tls), (error, port) =>
        error ? reject(error) : resolve(port),
      );
    });
    this.limitConnections();
    return port;
  }

  stats(): GrpcApiStats {
    let sessionsWaitingForDrain = 0;
    for (const s of this.sessions) if (s.waitingForDrain) sessionsWaitingForDrain++;
    return {
      watch: this.watches.stats(),
      connectionsRefused: this.connectionsRefused,
      sessions: this.sessions.size,
      sessionsWaitingForDrain,
    };
  }

  /**
   * limitConnections caps the TCP connections of the listener: grpc-js has no option for it, so
   * its HTTP/2 servers (net.Servers, kept in a private field of grpc-js 1.14) get Node's
   * `maxConnections`, which closes a connection past the cap at once and emits 'drop'. The
   * assert fails at start-up if a grpc-js upgrade moves the field, never silently.
   */
  private limitConnections(): void {
    const servers = (this.server as unknown as { http2Servers?: unknown }).http2Servers;
    assert(
      servers instanceof Map && servers.size > 0,
      'grpc-js no longer exposes its HTTP/2 servers; the connection cap needs another way in',
    );
    for (const s of (servers as Map<NetServer, unknown>).keys()) {
      s.maxConnections = this.limits.connectionsMax;
      s.on('drop', () => {
        this.connectionsRefused++;
        this.options.onConnectionRefused?.(this.connectionsRefused);
      });
    }
  }

  /**
   * close stops taking calls and lets those in flight send their answers (a call cut off by a
   * forced shutdown reaches its client as CANCELLED, which no client retries; an UNAVAILABLE it
   * retries on another node). Watch streams end with UNAVAILABLE at once; Session streams stop
   * reading, answer the requests they run, then end UNAVAILABLE (the client opens a session on
   * another node). After `graceMs` the rest is cut off, sessions with UNAVAILABLE.
   */
  close(graceMs: number): Promise<void> {
    this.watches.endAll(
      unavailable('this node is shutting down; watch again on another node from the last revision received', null),
    );
    const sessionsEnd = unavailable('this node is shutting down; open a session on another node', null);
    for (const s of this.sessions) s.finish(sessionsEnd);
    return new Promise((resolve) => {
      const force = setTimeout(() => {
        for (const s of [...this.sessions]) s.abort(sessionsEnd);
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  private backup(call: grpc.ServerWritableStream<unknown, BackupChunk>): void {
    streamBackup(call, () => this.contextOf(call), {
      adminKeys: this.options.adminKeys,
      source: this.cluster.backup,
      onOutcome: (apiKey, outcome) => this.options.onAdmin?.({ apiKey, operation: 'Backup', detail: {}, outcome }),
    });
  }

  /** admin runs an admin operation for an admin key only, and reports every attempt to onAdmin. */
  private async admin<Res>(
    ctx: CallContext,
    operation: string,
    detail: Record<string, string>,
    fn: () => Res | Promise<Res>,
  ): Promise<Res> {
    const report = (outcome: string): void =>
      this.options.onAdmin?.({ apiKey: ctx.grants.apiKey, operation, detail, outcome });
    try {
      requireAdminKey(ctx.grants, this.options.adminKeys);
      const res = await fn();
      report('OK');
      return res;
    } catch (e) {
      report(toClientError(e).error.code);
      throw e;
    }
  }

  private unary<Req, Res>(
    method: string,
    fn: (req: Req, ctx: CallContext) => Promise<Res>,
  ): grpc.handleUnaryCall<Req | Malformed, Res> {
    return (call, callback) => {
      const startMs = performance.now();
      const run = async (): Promise<Res> => {
        if (isMalformed(call.request))
          throw new RegistryError('MALFORMED', `the protobuf request could not be decoded: ${call.request[MALFORMED]}`);
        return fn(call.request, this.contextOf(call));
      };
      run().then(
        (res) => {
          this.options.onRequest?.(method, 'OK', performance.now() - startMs, callRequestId(call), null);
          callback(null, res);
        },
        (e: unknown) => {
          const { error, internalDetail } = toClientError(e);
          this.options.onRequest?.(
            method,
            grpc.status[ERROR_MAPPING[error.code].grpc] ?? 'UNKNOWN',
            performance.now() - startMs,
            callRequestId(call),
            internalDetail,
          );
          callback(toServiceError(error), null);
        },
      );
    };
  }

  private contextOf(call: Pick<grpc.ServerUnaryCall<unknown, unknown>, 'metadata' | 'getDeadline'>): CallContext {
    const header = call.metadata.get('authorization')[0];
    const auth = authenticate(
      typeof header === 'string' ? header : undefined,
      this.options.apiKeys,
      Math.floor(Date.now() / 1000),
    );
    if (!auth.ok) throw new RegistryError('UNAUTHENTICATED', `invalid authorization token: ${auth.error.reason}`);
    return {
      grants: auth.value satisfies Grants,
      requestId: requestIdOf(undefined, call.metadata.get('x-request-id')[0]),
      deadlineMs: this.deadlineOf(call.getDeadline()),
    };
  }

  /**
   * session serves a Session stream (grpc-session.ts). Its token is checked here, once, as
   * contextOf checks a unary call's; a stream without one is refused, since a session's grants
   * must end when its token expires.
   */
  private session(
    call: grpc.ServerDuplexStream<unknown, SessionResponse>,
    rooms: RoomHandlers,
    mediaNodes: MediaNodeHandlers,
  ): void {
    let grants: Grants;
    try {
      grants = this.contextOf(call).grants;
      if (grants.expiresAtSeconds === undefined)
        throw new RegistryError('UNAUTHENTICATED', 'a session needs a token (authorization: Bearer <jwt>)');
    } catch (e) {
      const { error } = toClientError(e);
      this.options.onRequest?.('Session', grpc.status[ERROR_MAPPING[error.code].grpc] ?? 'UNKNOWN', 0, '', null);
      call.emit('error', toServiceError(error));
      return;
    }
    const session: ServerSession = new ServerSession(call, {
      grants,
      inFlightMax: this.limits.sessionInFlightMax,
      run: (c, ctx) => runSessionCall(rooms, mediaNodes, c, ctx),
      deadlineMsOf: (timeoutMs) => this.sessionDeadlineOf(timeoutMs),
      malformedReason: (request) => (isMalformed(request) ? request[MALFORMED] : null),
      onRequest: this.options.onRequest,
      onClosed: () => this.sessions.delete(session),
    });
    this.sessions.add(session);
  }

  /** sessionDeadlineOf: a Session call's deadline from its timeout_ms, by deadlineOf's rules (0: none asked). */
  private sessionDeadlineOf(timeoutMs: number): number {
    return this.deadlineOf(timeoutMs === 0 ? Infinity : Date.now() + timeoutMs);
  }

  private deadlineOf(deadline: grpc.Deadline): number {
    const nowMs = Date.now();
    const askedMs = deadline instanceof Date ? deadline.getTime() : deadline;
    if (!Number.isFinite(askedMs)) return nowMs + this.options.defaultDeadlineMs;
    return Math.min(askedMs, nowMs + this.options.maxDeadlineMs);
  }

  /**
   * watchRooms replays changes after from_revision, then follows new ones until the client
   * leaves; the hub delivers pre-encoded events (see `tolerant`) and counts the bytes queued.
   */
  private watchRooms(call: grpc.ServerWritableStream<WatchRoomsRequest | Malformed, Buffer>): void {
    const fail = (e: unknown): void => {
      call.emit('error', toServiceError(e));
    };
    try {
      if (isMalformed(call.request))
        throw new RegistryError('MALFORMED', `the protobuf request could not be decoded: ${call.request[MALFORMED]}`);
      requireList(this.contextOf(call).grants);
      const watch = this.watches.add(call.request.fromRevision, {
        write: (bytes, done) => {
          call.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), () => done());
        },
        end: fail,
      });
      if (!watch.ok) throw watch.error;
      // 'cancelled': the client or its connection went away; 'close': the stream ended after its status.
      call.on('cancelled', watch.close);
      call.on('close', watch.close);
    } catch (e) {
      fail(e);
    }
  }
}

/** serverOptions are the listener's bounds in grpc-js's terms. */
function serverOptions(limits: GrpcLimits): grpc.ServerOptions {
  return {
    ...CHANNELZ_OFF,
    'grpc.max_receive_message_length': limits.requestBytesMax,
    'grpc.max_send_message_length': limits.replyBytesMax,
    'grpc.max_concurrent_streams': limits.concurrentStreamsPerConnectionMax,
    'grpc.keepalive_time_ms': limits.keepaliveIntervalMs,
    'grpc.keepalive_timeout_ms': limits.keepaliveTimeoutMs,
    'grpc.max_connection_idle_ms': limits.connectionIdleMaxMs,
    'grpc.max_connection_age_ms': limits.connectionAgeMaxMs,
    'grpc.max_connection_age_grace_ms': limits.connectionAgeGraceMs,
  };
}

function listenerCredentials(tls: ListenerTls | null): grpc.ServerCredentials {
  if (tls === null) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(
    tls.clientCa,
    [{ cert_chain: tls.cert, private_key: tls.key }],
    tls.clientCa !== null,
  );
}

/** callRequestId is the call's idempotency key (for the request log) by the one rule, validate.ts requestIdOf. */
function callRequestId(call: grpc.ServerUnaryCall<unknown, unknown>): string {
  return requestIdOf((call.request as { requestId?: unknown } | null)?.requestId, call.metadata.get('x-request-id')[0]);
}

function isMalformed(x: unknown): x is Malformed {
  return typeof x === 'object' && x !== null && MALFORMED in x;
}

/**
 * tolerant wraps a generated service definition so a request that fails to decode reaches the
 * handler as a Malformed marker (answered INVALID_ARGUMENT) instead of grpc-js's INTERNAL.
 * `nestedFields` names, per method, the fields whose messages the shape scan walks too (Session).
 */
function tolerant<D extends grpc.ServiceDefinition>(
  definition: D,
  nestedFields: Readonly<Record<string, ReadonlySet<number>>> = {},
): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(definition)) {
    const nested = nestedFields[name];
    out[name] = {
      ...m,
      // WatchRooms writes events the hub encoded once for every watcher.
      responseSerialize: (value: unknown): Buffer => (Buffer.isBuffer(value) ? value : m.responseSerialize(value)),
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          const refused = scanProtobufShape(bytes, API_LIMITS.requestItemsMax, nested);
          if (refused !== null) return { [MALFORMED]: refused };
          // Generated decode() takes a reader as well as bytes; this one refuses invalid UTF-8 (validate.ts).
          return m.requestDeserialize(strictReader(bytes) as unknown as Buffer);
        } catch (e) {
          return { [MALFORMED]: (e as Error).message };
        }
      },
    };
  }
  return out;
}
