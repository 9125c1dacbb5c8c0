import * as grpc from '@grpc/grpc-js';
import { GRPC_LIMITS } from '../api/grpc-limits.js';
import { tokenExpiresAt } from '../api/auth.js';
import { LEADER_HINT_KEY } from '../api/grpc-errors.js';
import {
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
  ListRoomsRequest,
  type ListRoomsResponse,
  ReadRevisionRequest,
  type ReadRevisionResponse,
  RoomServiceService,
  type SessionError,
  SessionRequest,
  SessionResponse,
  type UpdateRoomMetadataRequest,
  type UpdateRoomMetadataResponse,
  UpdateRoomOccupancyRequest,
  type UpdateRoomOccupancyResponse,
} from '../gen/roomregistry/v1/rooms.js';

/** RoomCalls: the room and media-node calls a ClusterRoomClient makes, by unary calls (RoomClient) or a RoomSession. */
export interface RoomCalls {
  createRoom(req: Partial<CreateRoomRequest>, deadlineMs?: number): Promise<CreateRoomResponse>;
  getRoom(req: Partial<GetRoomRequest>, deadlineMs?: number): Promise<GetRoomResponse>;
  listRooms(req: Partial<ListRoomsRequest>, deadlineMs?: number): Promise<ListRoomsResponse>;
  deleteRoom(req: Partial<DeleteRoomRequest>, deadlineMs?: number): Promise<DeleteRoomResponse>;
  updateRoomMetadata(req: Partial<UpdateRoomMetadataRequest>, deadlineMs?: number): Promise<UpdateRoomMetadataResponse>;
  updateRoomOccupancy(
    req: Partial<UpdateRoomOccupancyRequest>,
    deadlineMs?: number,
  ): Promise<UpdateRoomOccupancyResponse>;
  heartbeat(req: Partial<HeartbeatRequest>, deadlineMs?: number): Promise<HeartbeatResponse>;
  listMediaNodes(req: Partial<ListMediaNodesRequest>, deadlineMs?: number): Promise<ListMediaNodesResponse>;
  readRevision(req: Partial<ReadRevisionRequest>, deadlineMs?: number): Promise<ReadRevisionResponse>;
}

type SessionCall = NonNullable<SessionRequest['request']>;
type SessionCase = SessionCall['$case'];
type ReplyOf<K extends SessionCase> = Extract<NonNullable<SessionResponse['response']>, { $case: K }>['value'];

/** SESSION_GRANTS: what a session's token allows: every call it carries (UpdateRoomMetadata goes unary, see there). */
const SESSION_GRANTS = { roomCreate: true, roomList: true } as const;
/**
 * sessionInFlightMax: requests one stream has sent and not had answered; more wait here. It
 * matches the node's GRPC_LIMITS.sessionInFlightMax, so a node never has to stop reading a
 * well-behaved client, and a client never buries a node in requests it cannot yet run.
 */
const sessionInFlightMax = GRPC_LIMITS.sessionInFlightMax;
/**
 * sessionQueuedMax: requests waiting for an in-flight slot. Past it a call fails RESOURCE_EXHAUSTED
 * at once, as a node's full queue answers; each waits at most its deadline anyway.
 */
const sessionQueuedMax = 50_000;
/**
 * tokenRenewMarginSeconds: a stream whose token expires sooner than this takes no new requests;
 * a new stream with a fresh token does, and the old one is closed once its answers are in. The
 * node refuses a request only 60 s (jwtLeewaySeconds) after exp, so clocks may be 2 minutes apart.
 */
const tokenRenewMarginSeconds = 60;
/** CALL_DEADLINE_MS_DEFAULT: a call without its own deadline gives up after this (RoomClient's and the cache's too). */
export const CALL_DEADLINE_MS_DEFAULT = 5_000;
/**
 * sessionEnvelopeBytesMax: what SessionRequest adds around a unary request (id, timeout, the
 * oneof's tag and length). A request larger than the node's limit with it goes unary: the node
 * would end the whole stream RESOURCE_EXHAUSTED, failing every request on it.
 */
const sessionEnvelopeBytesMax = 32;
/** STREAM_END_CODES: stream statuses the calls on it fail with as they are; any other is a lost stream, UNAVAILABLE. */
const STREAM_END_CODES: ReadonlySet<grpc.status> = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.UNAUTHENTICATED,
  grpc.status.PERMISSION_DENIED,
  grpc.status.INVALID_ARGUMENT,
  grpc.status.RESOURCE_EXHAUSTED,
]);

/** Pending is one call of a session, from the caller's promise to its answer. */
interface Pending {
  readonly id: number;
  readonly call: SessionCall;
  readonly deadlineAtMs: number;
  /** unary: the same call as a unary one, for a node without Session (or a request too large for one). */
  readonly unary: (deadlineMs: number) => Promise<unknown>;
  settle(error: Partial<grpc.ServiceError> | null, value?: unknown): void;
  settled: boolean;
}

/** Stream is one Session stream: its calls waiting for answers and its token's expiry. */
interface Stream {
  readonly call: grpc.ClientDuplexStream<Buffer, SessionResponse>;
  /** pending: calls written and not answered (a timed-out one stays until its answer: it holds a slot on the node). */
  readonly pending: Map<number, Pending>;
  readonly tokenExpiresAtSeconds: number | null;
  /** draining: no new calls; the stream half-closes once its answers are in. */
  draining: boolean;
}

/**
 * RoomSession carries a RoomClient's calls on Session streams (issue 18) over the client's
 * channel: one stream at a time takes new calls, each tagged with an id and answered by id,
 * saving the node the fixed cost of a unary call each. Errors look like the unary calls' (a
 * ServiceError's code, details and the leader hint in metadata), so ClusterRoomClient's retry
 * and leader learning work unchanged. A node that answers the stream UNIMPLEMENTED (one older than
 * sessions) is called unary from then on.
 */
export class RoomSession implements RoomCalls {
  private stream: Stream | null = null;
  /** supported: true once a call was answered on a stream; false once the node answered UNIMPLEMENTED (unary for good). */
  private supported: boolean | null = null;
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly client: grpc.Client,
    private readonly unary: RoomCalls,
    private readonly metadata: (grants: typeof SESSION_GRANTS) => grpc.Metadata,
  ) {}

  /** usesSessions: false once this node turned out not to have Session. */
  usesSessions(): boolean {
    return this.supported !== false;
  }

  createRoom(req: Partial<CreateRoomRequest>, deadlineMs?: number): Promise<CreateRoomResponse> {
    const value = CreateRoomRequest.fromPartial(req);
    return this.send({ $case: 'createRoom', value }, deadlineMs, (ms) => this.unary.createRoom(value, ms));
  }

  getRoom(req: Partial<GetRoomRequest>, deadlineMs?: number): Promise<GetRoomResponse> {
    const value = GetRoomRequest.fromPartial(req);
    return this.send({ $case: 'getRoom', value }, deadlineMs, (ms) => this.unary.getRoom(value, ms));
  }

  listRooms(req: Partial<ListRoomsRequest>, deadlineMs?: number): Promise<ListRoomsResponse> {
    const value = ListRoomsRequest.fromPartial(req);
    return this.send({ $case: 'listRooms', value }, deadlineMs, (ms) => this.unary.listRooms(value, ms));
  }

  deleteRoom(req: Partial<DeleteRoomRequest>, deadlineMs?: number): Promise<DeleteRoomResponse> {
    const value = DeleteRoomRequest.fromPartial(req);
    return this.send({ $case: 'deleteRoom', value }, deadlineMs, (ms) => this.unary.deleteRoom(value, ms));
  }

  /**
   * updateRoomMetadata goes unary: it needs roomAdmin for its one room (LiveKit's rule), which a
   * session's token, shared by every room, cannot carry.
   */
  updateRoomMetadata(
    req: Partial<UpdateRoomMetadataRequest>,
    deadlineMs?: number,
  ): Promise<UpdateRoomMetadataResponse> {
    return this.unary.updateRoomMetadata(req, deadlineMs);
  }

  updateRoomOccupancy(
    req: Partial<UpdateRoomOccupancyRequest>,
    deadlineMs?: number,
  ): Promise<UpdateRoomOccupancyResponse> {
    const value = UpdateRoomOccupancyRequest.fromPartial(req);
    return this.send({ $case: 'updateRoomOccupancy', value }, deadlineMs, (ms) =>
      this.unary.updateRoomOccupancy(value, ms),
    );
  }

  heartbeat(req: Partial<HeartbeatRequest>, deadlineMs?: number): Promise<HeartbeatResponse> {
    const value = HeartbeatRequest.fromPartial(req);
    return this.send({ $case: 'heartbeat', value }, deadlineMs, (ms) => this.unary.heartbeat(value, ms));
  }

  listMediaNodes(req: Partial<ListMediaNodesRequest>, deadlineMs?: number): Promise<ListMediaNodesResponse> {
    const value = ListMediaNodesRequest.fromPartial(req);
    return this.send({ $case: 'listMediaNodes', value }, deadlineMs, (ms) => this.unary.listMediaNodes(value, ms));
  }

  readRevision(req: Partial<ReadRevisionRequest>, deadlineMs?: number): Promise<ReadRevisionResponse> {
    const value = ReadRevisionRequest.fromPartial(req);
    return this.send({ $case: 'readRevision', value }, deadlineMs, (ms) => this.unary.readRevision(value, ms));
  }

  /** close cancels the streams; calls not answered fail CANCELLED. */
  close(): void {
    this.closed = true;
    const stream = this.stream;
    this.stream = null;
    const unanswered = [...this.queue.splice(0), ...(stream?.pending.values() ?? [])];
    for (const p of unanswered) p.settle(callError(grpc.status.CANCELLED, 'the client was closed'));
    stream?.call.cancel();
  }

  private send<K extends SessionCase>(
    call: Extract<SessionCall, { $case: K }>,
    deadlineMs: number | undefined,
    unary: (deadlineMs: number) => Promise<ReplyOf<K>>,
  ): Promise<ReplyOf<K>> {
    const waitMs = deadlineMs ?? CALL_DEADLINE_MS_DEFAULT;
    if (this.supported === false) return unary(waitMs);
    if (this.closed) return Promise.reject(callError(grpc.status.CANCELLED, 'the client was closed'));
    if (this.queue.length >= sessionQueuedMax)
      return Promise.reject(
        callError(grpc.status.RESOURCE_EXHAUSTED, `${sessionQueuedMax} session calls are waiting already`),
      );
    // The reply's kind is checked against the call's on arrival (settleWith); the cast restates it.
    return this.enqueue(call, waitMs, unary) as Promise<ReplyOf<K>>;
  }

  private enqueue(
    call: SessionCall,
    waitMs: number,
    unary: (deadlineMs: number) => Promise<unknown>,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => pending.settle(callError(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded')),
        waitMs,
      );
      const pending: Pending = {
        id: this.nextId++,
        call,
        deadlineAtMs: Date.now() + waitMs,
        unary,
        settled: false,
        settle: (error, value) => {
          if (pending.settled) return;
          pending.settled = true;
          clearTimeout(timer);
          if (error === null) resolve(value);
          else reject(error);
        },
      };
      this.queue.push(pending);
      this.pump();
    });
  }

  /** pump writes waiting calls to the current stream while it has in-flight slots. */
  private pump(): void {
    while (this.queue.length > 0 && !this.closed) {
      if (this.supported === false) {
        for (const p of this.queue.splice(0)) this.sendUnary(p);
        return;
      }
      const stream = this.current();
      if (stream.pending.size >= sessionInFlightMax) return;
      const p = this.queue.shift() as Pending;
      if (!p.settled) this.write(stream, p);
    }
  }

  private write(stream: Stream, p: Pending): void {
    const timeoutMs = Math.max(1, p.deadlineAtMs - Date.now());
    const bytes = SessionRequest.encode({ id: p.id, timeoutMs, request: p.call }).finish();
    if (bytes.length + sessionEnvelopeBytesMax > GRPC_LIMITS.requestBytesMax) return this.sendUnary(p);
    stream.pending.set(p.id, p);
    stream.call.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }

  private sendUnary(p: Pending): void {
    if (p.settled) return;
    p.unary(Math.max(1, p.deadlineAtMs - Date.now())).then(
      (value) => p.settle(null, value),
      (e: unknown) => p.settle(e as grpc.ServiceError),
    );
  }

  /**
   * current is the stream that takes new calls: the open one, unless its token expires within
   * tokenRenewMarginSeconds and a fresh token lives longer (then it drains and a new one opens).
   */
  private current(): Stream {
    const s = this.stream;
    if (s !== null && !expiresSoon(s.tokenExpiresAtSeconds)) return s;
    const metadata = this.metadata(SESSION_GRANTS);
    const expiresAtSeconds = tokenExpiry(metadata);
    if (s !== null && (expiresAtSeconds ?? 0) <= (s.tokenExpiresAtSeconds ?? 0)) return s;
    if (s !== null) this.drain(s);
    const next = this.open(metadata, expiresAtSeconds);
    this.stream = next;
    return next;
  }

  private open(metadata: grpc.Metadata, tokenExpiresAtSeconds: number | null): Stream {
    const call = this.client.makeBidiStreamRequest(
      RoomServiceService.session.path,
      (bytes: Buffer) => bytes,
      (bytes: Buffer) => SessionResponse.decode(bytes),
      metadata,
    );
    const stream: Stream = { call, pending: new Map(), tokenExpiresAtSeconds, draining: false };
    call.on('data', (response: SessionResponse) => this.receive(stream, response));
    // 'error' comes with every status but OK; 'status' with OK too (a drained stream's end).
    call.on('error', (e: grpc.ServiceError) => this.ended(stream, e));
    call.on('status', (s: grpc.StatusObject) => {
      if (s.code === grpc.status.OK) this.ended(stream, null);
    });
    return stream;
  }

  private receive(stream: Stream, response: SessionResponse): void {
    this.supported = true;
    const p = stream.pending.get(response.id);
    if (p !== undefined) {
      stream.pending.delete(response.id);
      settleWith(p, response);
    }
    if (stream.draining && stream.pending.size === 0) stream.call.end();
    if (stream === this.stream) this.pump();
  }

  private drain(stream: Stream): void {
    stream.draining = true;
    if (stream.pending.size === 0) stream.call.end();
  }

  /**
   * ended: the stream is over. Its unanswered calls fail with the stream's status, or UNAVAILABLE
   * for a lost stream (ClusterRoomClient retries those, writes with their request id). On
   * UNIMPLEMENTED (a node without Session, which therefore ran none of them) they and all later
   * calls go unary.
   */
  private ended(stream: Stream, error: grpc.ServiceError | null): void {
    if (this.stream === stream) this.stream = null;
    const unanswered = [...stream.pending.values()];
    stream.pending.clear();
    if (error?.code === grpc.status.UNIMPLEMENTED) {
      this.supported = false;
      for (const p of unanswered) this.sendUnary(p);
    } else {
      const failure = streamFailure(error);
      for (const p of unanswered) p.settle(failure);
    }
    this.pump();
  }
}

/** settleWith settles a call with its answer: the reply of its own kind, or the error it carries. */
function settleWith(p: Pending, response: SessionResponse): void {
  const r = response.response;
  if (r?.$case === 'error') p.settle(errorOf(r.value));
  else if (r?.$case === p.call.$case) p.settle(null, r.value);
  else p.settle(callError(grpc.status.INTERNAL, `a ${p.call.$case} call was answered ${r?.$case ?? 'with nothing'}`));
}

/** errorOf turns a SessionError into what a unary call fails with: the code, its details, the leader hint in metadata. */
function errorOf(e: SessionError): Partial<grpc.ServiceError> & { code: number } {
  const metadata = new grpc.Metadata();
  if (e.leader !== '') metadata.set(LEADER_HINT_KEY, e.leader);
  return callError(e.code, e.message, metadata);
}

function streamFailure(error: grpc.ServiceError | null): Partial<grpc.ServiceError> & { code: number } {
  if (error !== null && STREAM_END_CODES.has(error.code)) return callError(error.code, error.details, error.metadata);
  const why = error === null ? 'the node ended it' : `${grpc.status[error.code] ?? error.code}: ${error.details}`;
  return callError(grpc.status.UNAVAILABLE, `the session stream was lost (${why}); retry`);
}

/** callError is shaped as grpc-js's ServiceError: an Error with code, details and metadata (room-cache.ts's too). */
export function callError(
  code: grpc.status,
  details: string,
  metadata: grpc.Metadata = new grpc.Metadata(),
): grpc.ServiceError {
  return Object.assign(new Error(`${code} ${grpc.status[code] ?? ''}: ${details}`), { code, details, metadata });
}

function expiresSoon(expiresAtSeconds: number | null): boolean {
  return expiresAtSeconds !== null && Date.now() / 1000 > expiresAtSeconds - tokenRenewMarginSeconds;
}

/** tokenExpiry reads `exp` from the bearer token in `metadata` (null: none, or not a JWT we can read). */
function tokenExpiry(metadata: grpc.Metadata): number | null {
  const header = metadata.get('authorization')[0];
  return typeof header === 'string' ? tokenExpiresAt(header.replace(/^Bearer /, '')) : null;
}
