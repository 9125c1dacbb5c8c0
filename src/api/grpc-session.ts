import { type ServerDuplexStream, status as GrpcStatus } from '@grpc/grpc-js';
import type { SessionError, SessionRequest, SessionResponse } from '../gen/roomregistry/v1/rooms.js';
import { assert } from '../lib/assert.js';
import { RegistryError } from '../lib/errors.js';
import { type Grants, tokenExpired } from './auth.js';
import { ERROR_MAPPING, toClientError } from './errors.js';
import { toServiceError } from './grpc-errors.js';
import type { MediaNodeHandlers } from './media-node-handlers.js';
import type { CallContext, RoomHandlers } from './room-handlers.js';
import { requestIdOf } from './validate.js';

/** SessionCall is one call carried by a SessionRequest; SessionReply is what answers it. */
export type SessionCall = NonNullable<SessionRequest['request']>;
export type SessionReply = NonNullable<SessionResponse['response']>;

/** SESSION_METHOD_NAMES: each call's unary method, the name metrics and logs know it by. */
export const SESSION_METHOD_NAMES = {
  createRoom: 'CreateRoom',
  getRoom: 'GetRoom',
  listRooms: 'ListRooms',
  deleteRoom: 'DeleteRoom',
  updateRoomMetadata: 'UpdateRoomMetadata',
  updateRoomOccupancy: 'UpdateRoomOccupancy',
  heartbeat: 'Heartbeat',
  listMediaNodes: 'ListMediaNodes',
  readRevision: 'ReadRevision',
} as const satisfies Record<SessionCall['$case'], string>;

/**
 * SESSION_CALL_FIELDS: the field numbers of SessionRequest's `request` oneof (rooms.proto), whose
 * messages the listener's shape scan walks as it walks a unary request (request-scan.ts).
 */
export const SESSION_CALL_FIELDS: ReadonlySet<number> = new Set([10, 11, 12, 13, 14, 15, 16, 17, 18]);

/** SESSION_METHOD: the name a refusal of the stream itself (not of one call) is reported under. */
const SESSION_METHOD = 'Session';

/** runSessionCall answers one call through the handlers its unary method uses. */
export async function runSessionCall(
  rooms: RoomHandlers,
  mediaNodes: MediaNodeHandlers,
  call: SessionCall,
  ctx: CallContext,
): Promise<SessionReply> {
  switch (call.$case) {
    case 'createRoom':
      return { $case: call.$case, value: await rooms.createRoom(call.value, ctx) };
    case 'getRoom':
      return { $case: call.$case, value: await rooms.getRoom(call.value, ctx) };
    case 'listRooms':
      return { $case: call.$case, value: await rooms.listRooms(call.value, ctx) };
    case 'deleteRoom':
      return { $case: call.$case, value: await rooms.deleteRoom(call.value, ctx) };
    case 'updateRoomMetadata':
      return { $case: call.$case, value: await rooms.updateRoomMetadata(call.value, ctx) };
    case 'updateRoomOccupancy':
      return { $case: call.$case, value: await rooms.updateRoomOccupancy(call.value, ctx) };
    case 'heartbeat':
      return { $case: call.$case, value: await mediaNodes.heartbeat(call.value, ctx) };
    case 'listMediaNodes':
      return { $case: call.$case, value: await mediaNodes.listMediaNodes(call.value, ctx) };
    case 'readRevision':
      return { $case: call.$case, value: await rooms.readRevision(call.value, ctx) };
    default:
      return call satisfies never;
  }
}

/** sessionErrorOf is a call's failure as SessionError: the code, message and leader hint a unary call would end with. */
export function sessionErrorOf(e: unknown): SessionError {
  const error = toClientError(e).error;
  return { code: ERROR_MAPPING[error.code].grpc, message: error.message, leader: error.leaderId ?? '' };
}

/** SessionDeps is what a session takes from its listener. */
export interface SessionDeps {
  readonly grants: Grants;
  readonly inFlightMax: number;
  /** run answers one call (runSessionCall over the listener's handlers). */
  run(call: SessionCall, ctx: CallContext): Promise<SessionReply>;
  /** deadlineMsOf: a call's deadline from its timeout_ms, by the listener's rules for unary deadlines. */
  deadlineMsOf(timeoutMs: number): number;
  /** malformedReason: why a received request did not decode (the listener's tolerant decode), or null. */
  malformedReason(request: unknown): string | null;
  /** onRequest: as GrpcApiOptions.onRequest, once per call and once per refusal of the stream. */
  readonly onRequest:
    | ((method: string, code: string, durationMs: number, requestId: string, internalDetail: string | null) => void)
    | undefined;
  /** onClosed runs once, when the stream has ended or was cancelled. */
  onClosed(): void;
}

type SessionStream = ServerDuplexStream<unknown, SessionResponse>;

/**
 * ServerSession serves one Session stream: every request runs through the unary handlers with its
 * own deadline and request id, and its answer goes out tagged with its id. At most inFlightMax run
 * at once: past that, and while the connection has not taken what was written, the stream is not
 * read, so HTTP/2 flow control pushes back on the client. The stream ends OK once the client has
 * half-closed and every request is answered; `finish` ends it with an error the same way (reading
 * stops, the running requests are answered, then the status); a cancel drops what is running.
 */
export class ServerSession {
  /** inFlight: ids of the requests running; never more than inFlightMax (reading pauses at it). */
  private readonly inFlight = new Set<number>();
  private halfClosed = false;
  /** awaitingDrain: the last write filled the stream's buffer; reading waits for 'drain'. */
  private awaitingDrain = false;
  private paused = false;
  /** ending: the error the stream ends with once the running requests are answered (null: reading on). */
  private ending: RegistryError | null = null;
  /** closed: the status is sent or the call is gone; nothing more is written. */
  private closed = false;

  constructor(
    private readonly call: SessionStream,
    private readonly deps: SessionDeps,
  ) {
    call.on('data', (request: unknown) => this.receive(request));
    call.on('end', () => {
      this.halfClosed = true;
      this.maybeEnd();
    });
    call.on('drain', () => {
      this.awaitingDrain = false;
      this.updateFlow();
    });
    // 'cancelled': the client or its connection went away; 'error': the call failed or was ended with a status.
    call.on('cancelled', () => this.close());
    call.on('error', () => this.close());
  }

  /** waitingForDrain: the stream is not read until the connection takes the answers written (GrpcApi.stats). */
  get waitingForDrain(): boolean {
    return this.awaitingDrain;
  }

  /** finish stops reading and ends the stream with `error` once the running requests are answered. */
  finish(error: RegistryError): void {
    if (this.ending !== null || this.closed) return;
    this.ending = error;
    this.updateFlow();
    this.deps.onRequest?.(SESSION_METHOD, grpcCodeName(error), 0, '', null);
    this.maybeEnd();
  }

  /** abort ends the stream with `error` at once; the answers of running requests are dropped. */
  abort(error: RegistryError): void {
    if (this.closed) return;
    this.close();
    this.call.emit('error', toServiceError(error));
  }

  private receive(raw: unknown): void {
    // Requests already buffered when reading stopped are not run: the status tells the client.
    if (this.ending !== null || this.closed) return;
    const malformed = this.deps.malformedReason(raw);
    if (malformed !== null)
      return this.finish(new RegistryError('MALFORMED', `a session request could not be decoded: ${malformed}`));
    if (tokenExpired(this.deps.grants, Math.floor(Date.now() / 1000)))
      return this.finish(new RegistryError('UNAUTHENTICATED', 'token expired; open a new session'));
    const request = raw as SessionRequest;
    if (request.request === undefined)
      return this.refuse(request.id, 'a session request must carry one call (the request oneof is empty)');
    if (this.inFlight.has(request.id))
      return this.refuse(request.id, `request id ${request.id} is already in flight on this session`);
    this.start(request.id, request.timeoutMs, request.request);
  }

  private start(id: number, timeoutMs: number, call: SessionCall): void {
    const startMs = performance.now();
    const method = SESSION_METHOD_NAMES[call.$case];
    const requestId = requestIdOf((call.value as { requestId?: unknown }).requestId, undefined);
    // Each call is its own: its idempotency key is its body's request_id, never the stream's metadata.
    const ctx: CallContext = { grants: this.deps.grants, requestId: '', deadlineMs: this.deps.deadlineMsOf(timeoutMs) };
    this.inFlight.add(id);
    this.updateFlow();
    this.deps.run(call, ctx).then(
      (reply) => {
        this.deps.onRequest?.(method, 'OK', performance.now() - startMs, requestId, null);
        this.answer(id, reply);
      },
      (e: unknown) => {
        const { error, internalDetail } = toClientError(e);
        this.deps.onRequest?.(method, grpcCodeName(error), performance.now() - startMs, requestId, internalDetail);
        this.answer(id, { $case: 'error', value: sessionErrorOf(error) });
      },
    );
  }

  /** refuse answers one request INVALID_ARGUMENT without running it; the stream goes on. */
  private refuse(id: number, message: string): void {
    const error = new RegistryError('INVALID_ARGUMENT', message);
    this.deps.onRequest?.(SESSION_METHOD, grpcCodeName(error), 0, '', null);
    this.write({ id, response: { $case: 'error', value: sessionErrorOf(error) } });
    this.updateFlow(); // as answer(): a refusal the connection cannot take yet stops reading too
  }

  private answer(id: number, response: SessionReply): void {
    assert(this.inFlight.delete(id), 'a session answers only a request it has in flight, once');
    this.write({ id, response });
    this.updateFlow();
    this.maybeEnd();
  }

  private write(response: SessionResponse): void {
    if (this.closed) return;
    if (!this.call.write(response)) this.awaitingDrain = true;
  }

  /** updateFlow reads while below the in-flight bound, not waiting for 'drain', and not ending. */
  private updateFlow(): void {
    const hold = this.ending !== null || this.awaitingDrain || this.inFlight.size >= this.deps.inFlightMax;
    if (hold && !this.paused) this.call.pause();
    else if (!hold && this.paused) this.call.resume();
    this.paused = hold;
  }

  private maybeEnd(): void {
    if (this.closed || this.inFlight.size > 0) return;
    if (this.ending !== null) {
      const ending = this.ending;
      this.close();
      this.call.emit('error', toServiceError(ending));
    } else if (this.halfClosed) {
      this.close();
      this.call.end();
    }
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.deps.onClosed();
  }
}

/** grpcCodeName: the status name a failure is counted under, as the unary path counts it. */
function grpcCodeName(error: RegistryError): string {
  return GrpcStatus[ERROR_MAPPING[error.code].grpc] ?? 'UNKNOWN';
}
