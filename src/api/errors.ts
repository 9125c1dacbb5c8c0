import { status as GrpcStatus } from '@grpc/grpc-js';
import { RegistryError, type RegistryErrorCode } from '../lib/errors.js';

/** TwirpCode is a Twirp error code as it appears in `{"code": …}` bodies. */
export type TwirpCode =
  | 'invalid_argument'
  | 'malformed'
  | 'not_found'
  | 'unauthenticated'
  | 'permission_denied'
  | 'unavailable'
  | 'resource_exhausted'
  | 'deadline_exceeded'
  | 'out_of_range'
  | 'failed_precondition'
  | 'internal'
  | 'bad_route'
  | 'canceled';

/**
 * ERROR_MAPPING is the one exhaustive mapping of registry errors to the wire (STYLE rule 15).
 * Twirp follows LiveKit's server: a missing grant is 401 `unauthenticated` there (LIVEKIT.md
 * §3.9), while gRPC says PERMISSION_DENIED (DESIGN §6).
 */
export const ERROR_MAPPING: Readonly<Record<RegistryErrorCode, { grpc: GrpcStatus; twirp: TwirpCode; http: number }>> =
  {
    INVALID_ARGUMENT: { grpc: GrpcStatus.INVALID_ARGUMENT, twirp: 'invalid_argument', http: 400 },
    MALFORMED: { grpc: GrpcStatus.INVALID_ARGUMENT, twirp: 'malformed', http: 400 },
    NOT_FOUND: { grpc: GrpcStatus.NOT_FOUND, twirp: 'not_found', http: 404 },
    UNAUTHENTICATED: { grpc: GrpcStatus.UNAUTHENTICATED, twirp: 'unauthenticated', http: 401 },
    PERMISSION_DENIED: { grpc: GrpcStatus.PERMISSION_DENIED, twirp: 'unauthenticated', http: 401 },
    UNAVAILABLE: { grpc: GrpcStatus.UNAVAILABLE, twirp: 'unavailable', http: 503 },
    RESOURCE_EXHAUSTED: { grpc: GrpcStatus.RESOURCE_EXHAUSTED, twirp: 'resource_exhausted', http: 429 },
    DEADLINE_EXCEEDED: { grpc: GrpcStatus.DEADLINE_EXCEEDED, twirp: 'deadline_exceeded', http: 408 },
    OUT_OF_RANGE: { grpc: GrpcStatus.OUT_OF_RANGE, twirp: 'out_of_range', http: 400 },
    // A command newer than a member can apply (version gating, DESIGN §12): retrying will not help until it is upgraded.
    FAILED_PRECONDITION: { grpc: GrpcStatus.FAILED_PRECONDITION, twirp: 'failed_precondition', http: 412 },
    INTERNAL: { grpc: GrpcStatus.INTERNAL, twirp: 'internal', http: 500 },
  };

/** toRegistryError turns unknown throwables into INTERNAL, keeping their detail (for the log, not for clients). */
export function toRegistryError(e: unknown): RegistryError {
  if (e instanceof RegistryError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new RegistryError('INTERNAL', `internal error: ${message}`);
}

/**
 * INTERNAL_ERROR_MESSAGE is all a client learns of an INTERNAL error: the detail can name
 * files, peers or our own state, and tells a client nothing it can act on.
 */
export const INTERNAL_ERROR_MESSAGE = 'internal error';

/** ClientError is a failure as the client is told it, and the detail of an INTERNAL one for the log. */
export interface ClientError {
  readonly error: RegistryError;
  readonly internalDetail: string | null;
}

/**
 * toClientError is the one choke point between a failure and a client (Twirp and gRPC alike):
 * an INTERNAL error, thrown or built, goes out as INTERNAL_ERROR_MESSAGE with no meta and its
 * detail (with the stack of an unexpected throw) comes back for the log line.
 */
export function toClientError(e: unknown): ClientError {
  const error = toRegistryError(e);
  if (error.code !== 'INTERNAL') return { error, internalDetail: null };
  if (error.message === INTERNAL_ERROR_MESSAGE && Object.keys(error.meta).length === 0)
    return { error, internalDetail: null };
  const detail = e instanceof Error && !(e instanceof RegistryError) ? (e.stack ?? error.message) : error.message;
  return { error: new RegistryError('INTERNAL', INTERNAL_ERROR_MESSAGE), internalDetail: detail };
}
