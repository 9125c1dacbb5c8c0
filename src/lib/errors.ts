import type { NodeId } from './ids.js';

/**
 * REGISTRY_ERROR_CODES is the one catalogue of errors a request can end with. src/api/errors.ts
 * maps each exhaustively to a gRPC status, a Twirp code and an HTTP status.
 */
export const REGISTRY_ERROR_CODES = [
  'INVALID_ARGUMENT',
  'MALFORMED',
  'NOT_FOUND',
  'UNAUTHENTICATED',
  'PERMISSION_DENIED',
  'UNAVAILABLE',
  'RESOURCE_EXHAUSTED',
  'DEADLINE_EXCEEDED',
  'OUT_OF_RANGE',
  'FAILED_PRECONDITION',
  'INTERNAL',
] as const;
export type RegistryErrorCode = (typeof REGISTRY_ERROR_CODES)[number];

export function isRegistryErrorCode(s: string): s is RegistryErrorCode {
  return (REGISTRY_ERROR_CODES as readonly string[]).includes(s);
}

/** RegistryError is an operating error with the fields a client needs to act on it. */
export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  readonly code: RegistryErrorCode;
  /** leaderId: for UNAVAILABLE, the leader when known, so a client can go there. */
  readonly leaderId: NodeId | null;
  /** roomName: the room a NOT_FOUND or INVALID_ARGUMENT is about. */
  readonly roomName: string | null;
  /** meta: extra key/values carried to clients (Twirp `meta`, gRPC trailers). */
  readonly meta: Readonly<Record<string, string>>;

  constructor(
    code: RegistryErrorCode,
    message: string,
    extra: { leaderId?: NodeId | null; roomName?: string | null; meta?: Record<string, string> } = {},
  ) {
    super(message);
    this.code = code;
    this.leaderId = extra.leaderId ?? null;
    this.roomName = extra.roomName ?? null;
    this.meta = extra.meta ?? {};
  }
}

/** unavailable builds the error for "no quorum or no leader", naming the leader when known. */
export function unavailable(message: string, leaderId: NodeId | null): RegistryError {
  return new RegistryError('UNAVAILABLE', leaderId === null ? message : `${message} (leader is ${leaderId})`, {
    leaderId,
  });
}
