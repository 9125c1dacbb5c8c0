/**
 * Goal: a client learns nothing from an INTERNAL error but that it happened; the detail goes to
 * the log (issue 12 item 11). Method: pass throwables through the one choke point and through
 * the gRPC mapping, and check what the client would see and what is kept for the log.
 */
import { status } from '@grpc/grpc-js';
import { expect, it } from 'vitest';
import { INTERNAL_ERROR_MESSAGE, toClientError } from '../../../src/api/errors.js';
import { toServiceError } from '../../../src/api/grpc-errors.js';
import { RegistryError } from '../../../src/lib/errors.js';

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
