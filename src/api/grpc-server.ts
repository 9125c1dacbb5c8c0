import * as grpc from '@grpc/grpc-js';
import {
  ClusterServiceService,
  RoomEventType,
  RoomServiceService,
  type StatusResponse,
  type WatchRoomsRequest,
  type WatchRoomsResponse,
} from '../gen/roomregistry/v1/rooms.js';
import type { ListenerTls } from '../config/cluster-config.js';
import { RegistryError } from '../lib/errors.js';
import type { WatchListener, WatchStart } from '../registry/index.js';
import { type Grants, authenticate, requireAdminKey, requireList } from './auth.js';
import { ERROR_MAPPING, toRegistryError } from './errors.js';
import { toServiceError } from './grpc-errors.js';
import { present } from './room-view.js';
import type { CallContext, RoomHandlers } from './room-handlers.js';
import { API_LIMITS } from './validate.js';

/** RoomWatchSource is the state machine's watch seam (src/registry's RoomRegistry.watch). */
export interface RoomWatchSource {
  watch(fromRevision: number, listener: WatchListener): WatchStart;
}

/** ClusterControl is what ClusterService needs from the node. */
export interface ClusterControl {
  status(): Omit<StatusResponse, 'leader'> & { leader: string | null };
  transferLeadership(to: string | null): string;
}

export interface GrpcApiOptions {
  readonly apiKeys: ReadonlyMap<string, string>;
  /** adminKeys: the API keys allowed admin operations (the config's `adminKeys`). */
  readonly adminKeys: ReadonlySet<string>;
  /** onAdmin observes every admin call, allowed or not: who, what, and how it ended (the audit log). */
  readonly onAdmin?: (use: AdminUse) => void;
  readonly defaultDeadlineMs: number;
  readonly maxDeadlineMs: number;
  /** onRequest observes every call's end (metrics; a log line with the request id when it failed on our side). */
  readonly onRequest?: (method: string, code: string, durationMs: number, requestId: string) => void;
}

/** AdminUse is one admin call for the audit log: the API key (null: no token), the operation, its outcome. */
export interface AdminUse {
  readonly apiKey: string | null;
  readonly operation: string;
  readonly detail: Readonly<Record<string, string>>;
  readonly outcome: string;
}

/**
 * WATCH_BUFFER_BYTES_MAX: a WatchRooms stream whose client reads slower than changes arrive is
 * ended with RESOURCE_EXHAUSTED once this much is queued; the client re-lists and watches again.
 */
const WATCH_BUFFER_BYTES_MAX = 8 << 20;

const EVENT_TYPE = { created: RoomEventType.ROOM_EVENT_TYPE_CREATED, updated: RoomEventType.ROOM_EVENT_TYPE_UPDATED, deleted: RoomEventType.ROOM_EVENT_TYPE_DELETED } as const;

/** MALFORMED marks a request whose bytes did not decode, so the handler answers INVALID_ARGUMENT. */
const MALFORMED = Symbol('malformed');
type Malformed = { readonly [MALFORMED]: string };

/**
 * GrpcApi is the public gRPC listener: RoomService and ClusterService over the shared handlers.
 * Every call authenticates its `authorization` metadata as LiveKit's server does.
 */
export class GrpcApi {
  private readonly server = new grpc.Server({
    'grpc.max_receive_message_length': API_LIMITS.requestBodyBytesMax,
    'grpc.max_send_message_length': 64 << 20,
  });

  constructor(
    handlers: RoomHandlers,
    private readonly watches: RoomWatchSource,
    private readonly cluster: ClusterControl,
    private readonly options: GrpcApiOptions,
  ) {
    const h = handlers;
    this.server.addService(tolerant(RoomServiceService), {
      createRoom: this.unary('CreateRoom', (req, ctx) => h.createRoom(req, ctx)),
      getRoom: this.unary('GetRoom', (req, ctx) => h.getRoom(req, ctx)),
      listRooms: this.unary('ListRooms', (req, ctx) => h.listRooms(req, ctx)),
      deleteRoom: this.unary('DeleteRoom', (req, ctx) => h.deleteRoom(req, ctx)),
      updateRoomMetadata: this.unary('UpdateRoomMetadata', (req, ctx) => h.updateRoomMetadata(req, ctx)),
      updateRoomOccupancy: this.unary('UpdateRoomOccupancy', (req, ctx) => h.updateRoomOccupancy(req, ctx)),
      watchRooms: (call: grpc.ServerWritableStream<WatchRoomsRequest | Malformed, WatchRoomsResponse>) => this.watchRooms(call),
    });
    this.server.addService(tolerant(ClusterServiceService), {
      status: this.unary('Status', async (_req, ctx) => {
        requireList(ctx.grants);
        const s = this.cluster.status();
        return { ...s, leader: s.leader ?? '' };
      }),
      transferLeadership: this.unary('TransferLeadership', async (req: { to: string }, ctx) =>
        this.admin(ctx, 'TransferLeadership', { to: req.to }, () => ({ to: this.cluster.transferLeadership(req.to === '' ? null : req.to) })),
      ),
    });
  }

  /** listen binds the `grpc` listener: TLS when `tls` is given (mTLS with its clientCa), else plaintext. */
  listen(address: string, tls: ListenerTls | null = null): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, listenerCredentials(tls), (error, port) => (error ? reject(error) : resolve(port)));
    });
  }

  close(): void {
    this.server.forceShutdown();
  }

  /** admin runs an admin operation for an admin key only, and reports every attempt to onAdmin. */
  private admin<Res>(ctx: CallContext, operation: string, detail: Record<string, string>, fn: () => Res): Res {
    const report = (outcome: string): void => this.options.onAdmin?.({ apiKey: ctx.grants.apiKey, operation, detail, outcome });
    try {
      requireAdminKey(ctx.grants, this.options.adminKeys);
      const res = fn();
      report('OK');
      return res;
    } catch (e) {
      report(toRegistryError(e).code);
      throw e;
    }
  }

  private unary<Req, Res>(method: string, fn: (req: Req, ctx: CallContext) => Promise<Res>): grpc.handleUnaryCall<Req | Malformed, Res> {
    return (call, callback) => {
      const startMs = performance.now();
      const run = async (): Promise<Res> => {
        if (isMalformed(call.request)) throw new RegistryError('MALFORMED', `the protobuf request could not be decoded: ${call.request[MALFORMED]}`);
        return fn(call.request, this.contextOf(call));
      };
      run().then(
        (res) => {
          this.options.onRequest?.(method, 'OK', performance.now() - startMs, requestIdOf(call));
          callback(null, res);
        },
        (e: unknown) => {
          const error = toRegistryError(e);
          this.options.onRequest?.(method, grpc.status[ERROR_MAPPING[error.code].grpc] ?? 'UNKNOWN', performance.now() - startMs, requestIdOf(call));
          callback(toServiceError(error), null);
        },
      );
    };
  }

  private contextOf(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>): CallContext {
    const header = call.metadata.get('authorization')[0];
    const auth = authenticate(typeof header === 'string' ? header : undefined, this.options.apiKeys, Math.floor(Date.now() / 1000));
    if (!auth.ok) throw new RegistryError('UNAUTHENTICATED', `invalid authorization token: ${auth.error.reason}`);
    const requestId = call.metadata.get('x-request-id')[0];
    return { grants: auth.value satisfies Grants, requestId: typeof requestId === 'string' ? requestId : '', deadlineMs: this.deadlineOf(call.getDeadline()) };
  }

  private deadlineOf(deadline: grpc.Deadline): number {
    const nowMs = Date.now();
    const askedMs = deadline instanceof Date ? deadline.getTime() : deadline;
    if (!Number.isFinite(askedMs)) return nowMs + this.options.defaultDeadlineMs;
    return Math.min(askedMs, nowMs + this.options.maxDeadlineMs);
  }

  /** watchRooms replays changes after from_revision, then follows new ones until the client leaves. */
  private watchRooms(call: grpc.ServerWritableStream<WatchRoomsRequest | Malformed, WatchRoomsResponse>): void {
    const fail = (e: unknown): void => {
      call.emit('error', toServiceError(e));
    };
    try {
      if (isMalformed(call.request)) throw new RegistryError('MALFORMED', `the protobuf request could not be decoded: ${call.request[MALFORMED]}`);
      requireList(this.contextOf(call).grants);
      const from = call.request.fromRevision;
      let ended = false;
      const watch = this.watches.watch(from, {
        onEvent: (e) => {
          if (ended) return;
          call.write({ type: EVENT_TYPE[e.type], room: present({ ...e.room }), revision: e.revision });
          if (call.writableLength > WATCH_BUFFER_BYTES_MAX) {
            ended = true;
            fail(new RegistryError('RESOURCE_EXHAUSTED', 'this watcher fell too far behind; list the rooms again and watch from that revision'));
          }
        },
        onReset: (revision) => {
          if (ended) return;
          ended = true;
          fail(new RegistryError('OUT_OF_RANGE', `this node installed a snapshot at revision ${revision}; list the rooms again and watch from that revision`));
        },
      });
      if (!watch.ok) {
        throw new RegistryError('OUT_OF_RANGE', `revision ${from} is older than the oldest change kept (${watch.oldestRevision}); list the rooms again and watch from that revision`);
      }
      const stop = (): void => {
        ended = true;
        watch.cancel();
      };
      call.on('cancelled', stop);
      call.on('close', stop);
      call.on('error', stop);
    } catch (e) {
      fail(e);
    }
  }
}

function listenerCredentials(tls: ListenerTls | null): grpc.ServerCredentials {
  if (tls === null) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(tls.clientCa, [{ cert_chain: tls.cert, private_key: tls.key }], tls.clientCa !== null);
}

/** requestIdOf is the request's idempotency key: the body's request_id, else x-request-id metadata. */
function requestIdOf(call: grpc.ServerUnaryCall<unknown, unknown>): string {
  const body = call.request as { requestId?: unknown } | null;
  if (typeof body?.requestId === 'string' && body.requestId !== '') return body.requestId;
  const md = call.metadata.get('x-request-id')[0];
  return typeof md === 'string' ? md : '';
}

function isMalformed(x: unknown): x is Malformed {
  return typeof x === 'object' && x !== null && MALFORMED in x;
}

/**
 * tolerant wraps a generated service definition so a request that fails to decode reaches the
 * handler as a Malformed marker (answered INVALID_ARGUMENT) instead of grpc-js's INTERNAL.
 */
function tolerant<D extends grpc.ServiceDefinition>(definition: D): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(definition)) {
    out[name] = {
      ...m,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return m.requestDeserialize(bytes);
        } catch (e) {
          return { [MALFORMED]: (e as Error).message };
        }
      },
    };
  }
  return out;
}
