/**
 * RoomApi is the one shape the chaos clients drive, over either public API of a node: our gRPC
 * RoomService (src/client/room-client.ts) or LiveKit's own livekit-server-sdk over Twirp/HTTP.
 * Each call either returns what it observed or throws; classifyError then says whether the
 * failure definitely changed nothing (`fail`) or has an unknown outcome (`info`).
 */
import type { ServiceError } from '@grpc/grpc-js';
import { RoomServiceClient, TwirpError } from 'livekit-server-sdk';
import { RoomClient } from '../../src/client/room-client.js';
import type { ProcessCluster } from '../harness/process-cluster.js';
import type { OpType, RoomObservation } from './chaos-history.js';

export interface RoomApi {
  readonly name: string;
  /**
   * retriesSameRequest: writes carry the caller's request id, so a write of unknown outcome
   * may be retried as the same operation (the registry's dedup must apply it once). Our gRPC
   * API takes one; LiveKit's SDK makes up a fresh X-Livekit-Request-Id for every request.
   */
  readonly retriesSameRequest: boolean;
  create(room: string, metadata: string, requestId: string): Promise<RoomObservation>;
  update(room: string, metadata: string, requestId: string): Promise<RoomObservation>;
  delete(room: string, requestId: string): Promise<RoomObservation>;
  /** get is a linearizable read (the default consistency of both APIs). */
  get(room: string): Promise<RoomObservation>;
  close(): void;
}

/** ClassifiedError: how a thrown error enters the history. */
export interface ClassifiedError {
  readonly type: Exclude<OpType, 'ok'>;
  /** notFound: the room was absent when the operation took effect (an observation). */
  readonly notFound: boolean;
  readonly message: string;
}

/**
 * grpcCallDeadlineMs: a gRPC client's deadline, sent to the server as grpc-timeout. Shorter
 * than the server's 5 s default so clients keep moving through an outage.
 */
export const grpcCallDeadlineMs = 2_000;
/**
 * twirpClientTimeoutSeconds: the SDK gives up after this. LiveKit's SDK sends no deadline, so
 * the server applies its default of 5 s; waiting 8 s lets the chaos run see a server that
 * answers late (DESIGN §1: fail fast, never hang) instead of hiding it behind a client timeout.
 */
export const twirpClientTimeoutSeconds = 8;
/** roomEmptyTimeoutS: long enough that no room expires during a run (expiry is not modelled). */
export const roomEmptyTimeoutS = 86_400;

/** grpc status codes that mean "definitely not applied" (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, UNAUTHENTICATED). */
const GRPC_DEFINITE_FAILURES = new Set([3, 5, 7, 16]);
const GRPC_NOT_FOUND = 5;
const GRPC_UNAVAILABLE = 14;
/** The Twirp codes of the same errors (src/api/errors.ts: PERMISSION_DENIED is `unauthenticated`, as LiveKit). */
const TWIRP_DEFINITE_FAILURES = new Set(['invalid_argument', 'malformed', 'not_found', 'unauthenticated']);

export function grpcRoomApi(cluster: ProcessCluster, nodeId: string): RoomApi {
  const client = new RoomClient(cluster.node(nodeId).grpc, { apiKey: cluster.apiKey, apiSecret: cluster.apiSecret });
  return {
    name: `${nodeId}/grpc`,
    retriesSameRequest: true,
    async create(room, metadata, requestId) {
      const r = await client.createRoom(
        { name: room, metadata, emptyTimeout: roomEmptyTimeoutS, requestId },
        grpcCallDeadlineMs,
      );
      return { found: true, metadata: r.room?.metadata ?? '', created: r.created };
    },
    async update(room, metadata, requestId) {
      await client.updateRoomMetadata({ room, metadata, requestId }, grpcCallDeadlineMs);
      return { found: true };
    },
    async delete(room, requestId) {
      await client.deleteRoom({ room, requestId }, grpcCallDeadlineMs);
      return { found: true };
    },
    async get(room) {
      const r = await client.getRoom({ name: room }, grpcCallDeadlineMs);
      return { found: true, metadata: r.room?.metadata ?? '' };
    },
    close: () => client.close(),
  };
}

export function twirpRoomApi(cluster: ProcessCluster, nodeId: string): RoomApi {
  const sdk = new RoomServiceClient(`http://${cluster.node(nodeId).http}`, cluster.apiKey, cluster.apiSecret, {
    requestTimeout: twirpClientTimeoutSeconds,
  });
  return {
    name: `${nodeId}/twirp`,
    retriesSameRequest: false,
    async create(room, metadata) {
      const r = await sdk.createRoom({ name: room, metadata, emptyTimeout: roomEmptyTimeoutS });
      return { found: true, metadata: r.metadata };
    },
    async update(room, metadata) {
      await sdk.updateRoomMetadata(room, metadata);
      return { found: true };
    },
    async delete(room) {
      await sdk.deleteRoom(room);
      return { found: true };
    },
    async get(room) {
      const rooms = await sdk.listRooms([room]);
      const r = rooms.find((x) => x.name === room);
      return r === undefined ? { found: false } : { found: true, metadata: r.metadata };
    },
    close: () => undefined,
  };
}

/**
 * NOT_PROPOSED_MESSAGES: UNAVAILABLE replies that src/node/node.ts (proposeQueued) gives only
 * for a write it refused before proposing it, so it cannot apply. Classifying them (and calls
 * that never reached a server) as `fail` is not needed for soundness, only for speed: every
 * `info` write may take effect at any later time, and many of them make the check search long.
 * Were a message to change meaning, the cost would be a false alarm, never a missed bug.
 */
const NOT_PROPOSED_MESSAGES = new Set(['no leader can take this write now', 'leadership is being transferred; retry']);
/** GRPC_NOT_SENT: grpc-js fails a call this way when it has no connection to send it on. */
const GRPC_NOT_SENT = 'No connection established';

/** classifyError maps a gRPC or Twirp error (or a transport failure) to fail or info. */
export function classifyError(e: unknown): ClassifiedError {
  if (e instanceof TwirpError) {
    const code = e.code ?? `http ${e.status}`;
    const definite =
      TWIRP_DEFINITE_FAILURES.has(code) || (code === 'unavailable' && NOT_PROPOSED_MESSAGES.has(e.message));
    return { type: definite ? 'fail' : 'info', notFound: code === 'not_found', message: `twirp ${code}: ${e.message}` };
  }
  const g = e as Partial<ServiceError>;
  if (typeof g.code === 'number') {
    const details = g.details ?? '';
    const notProposed =
      g.code === GRPC_UNAVAILABLE && (NOT_PROPOSED_MESSAGES.has(details) || details.startsWith(GRPC_NOT_SENT));
    const definite = GRPC_DEFINITE_FAILURES.has(g.code) || notProposed;
    return {
      type: definite ? 'fail' : 'info',
      notFound: g.code === GRPC_NOT_FOUND,
      message: `grpc ${g.code}: ${details}`,
    };
  }
  // fetch failures: a refused connection never carried the request; a reset or a timeout may have.
  const cause = (e as { cause?: { code?: string } }).cause?.code;
  const message = `${(e as Error).name ?? 'Error'}: ${(e as Error).message}${cause === undefined ? '' : ` (${cause})`}`;
  return { type: cause === 'ECONNREFUSED' ? 'fail' : 'info', notFound: false, message };
}
