/**
 * Goal: a client learns nothing from an INTERNAL error but that it happened; the detail goes to
 * the log (issue 12 item 11). Method: pass throwables through the one choke point and through
 * the gRPC mapping, and check what the client would see and what is kept for the log.
 */
import { status } from '@grpc/grpc-js';
import { expect, it } from 'vitest';
import { ERROR_MAPPING, INTERNAL_ERROR_MESSAGE, toClientError, toRegistryError } from '../../../src/api/errors.js';
import { toServiceError } from '../../../src/api/grpc-errors.js';
import { REGISTRY_ERROR_CODES, RegistryError } from '../../../src/lib/errors.js';

it('hides the detail of unexpected throws and of built INTERNAL errors, and returns it for the log', () => {
  const thrown = toClientError(new TypeError('cannot read /var/lib/rr/n1/wal-000.log'));
  expect(thrown.error.code).toBe('INTERNAL');
  expect(thrown.error.message).toBe(INTERNAL_ERROR_MESSAGE);
  expect(thrown.internalDetail).toContain('/var/lib/rr/n1/wal-000.log');
  expect(thrown.internalDetail).toContain('TypeError');
  const built = toClientError(
    new RegistryError('INTERNAL', 'unexpected command result none', { meta: { state: 'x' } }),
  );
  expect([built.error.message, built.error.meta, built.internalDetail]).toEqual([
    INTERNAL_ERROR_MESSAGE,
    {},
    'unexpected command result none',
  ]);
  expect(toClientError('a string').internalDetail).toBe('internal error: a string');
});

it('passes every other error through unchanged, with nothing to log', () => {
  const notFound = new RegistryError('NOT_FOUND', 'requested room does not exist', { roomName: 'r' });
  expect(toClientError(notFound)).toEqual({ error: notFound, internalDetail: null });
});

it('maps to gRPC with the generic message', () => {
  const e = toServiceError(new Error('peer n2 at 10.0.0.2:7001 refused'));
  expect([e.code, e.details]).toEqual([status.INTERNAL, INTERNAL_ERROR_MESSAGE]);
});

/** TWIRP_HTTP: the HTTP status the Twirp spec gives each of its codes; our mapping must agree with it. */
const TWIRP_HTTP: Readonly<Record<string, number>> = {
  invalid_argument: 400,
  malformed: 400,
  out_of_range: 400,
  not_found: 404,
  unauthenticated: 401,
  unavailable: 503,
  resource_exhausted: 429,
  deadline_exceeded: 408,
  failed_precondition: 412,
  internal: 500,
};

it('maps every registry error code to gRPC, Twirp and an HTTP status that agrees with the Twirp code', () => {
  expect(Object.keys(ERROR_MAPPING).sort()).toEqual([...REGISTRY_ERROR_CODES].sort());
  for (const code of REGISTRY_ERROR_CODES) {
    const m = ERROR_MAPPING[code];
    expect(status[m.grpc], code).toBeDefined();
    expect(m.http, code).toBe(TWIRP_HTTP[m.twirp]);
  }
  // LiveKit answers a missing grant as 401 unauthenticated over Twirp; gRPC says PERMISSION_DENIED.
  expect(ERROR_MAPPING.PERMISSION_DENIED).toEqual({
    grpc: status.PERMISSION_DENIED,
    twirp: 'unauthenticated',
    http: 401,
  });
});

it('turns unknown throwables into INTERNAL and leaves registry errors as they are', () => {
  const own = new RegistryError('UNAVAILABLE', 'no leader');
  expect(toRegistryError(own)).toBe(own);
  expect(toRegistryError(new Error('boom'))).toMatchObject({ code: 'INTERNAL', message: 'internal error: boom' });
  expect(toRegistryError(42)).toMatchObject({ code: 'INTERNAL', message: 'internal error: 42' });
});
