import { Metadata, type ServiceError } from '@grpc/grpc-js';
import type { RegistryError } from '../lib/errors.js';
import { ERROR_MAPPING, toClientError } from './errors.js';

/** LEADER_HINT_KEY is the trailing-metadata key naming the leader on UNAVAILABLE (DESIGN §6). */
export const LEADER_HINT_KEY = 'x-room-registry-leader';

/** toServiceError maps any throwable to a gRPC error through the one mapping table (INTERNAL details withheld: toClientError). */
export function toServiceError(e: unknown): Partial<ServiceError> & { code: number } {
  const error: RegistryError = toClientError(e).error;
  const metadata = new Metadata();
  if (error.leaderId !== null) metadata.set(LEADER_HINT_KEY, error.leaderId);
  for (const [k, v] of Object.entries(error.meta))
    metadata.set(`x-room-registry-${k.toLowerCase().replace(/[^a-z0-9-]/g, '-')}`, v);
  return { code: ERROR_MAPPING[error.code].grpc, details: error.message, metadata };
}
