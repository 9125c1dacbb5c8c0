/**
 * Goal: token checks are LiveKit's (HS256, iss = key, exp required, 60 s leeway) and stay so
 * when a verified token is served from the cache. Method: sign tokens, verify them twice at
 * different times and under different key sets.
 */
import { expect, it } from 'vitest';
import { authenticate, signToken, verifyToken } from '../../../src/api/auth.js';

const keys = new Map([['key1', 'secret-one-secret-one']]);
const now = 1_800_000_000;

it('accepts a good token, again from the cache, and still expires it', () => {
  const token = signToken('key1', 'secret-one-secret-one', { roomList: true }, 600, now);
  const first = verifyToken(token, keys, now);
  expect(first).toMatchObject({ ok: true, value: { apiKey: 'key1', video: { roomList: true, roomCreate: false } } });
  expect(verifyToken(token, keys, now + 10)).toEqual(first);
  expect(verifyToken(token, keys, now + 600 + 60 + 1)).toEqual({ ok: false, error: { reason: 'token is expired' } });
  expect(verifyToken(token, keys, now - 61)).toEqual({ ok: false, error: { reason: 'token is not valid yet' } });
});

it('does not honour a cached token once its key has another secret or is gone', () => {
  const token = signToken('key1', 'secret-one-secret-one', { roomCreate: true }, 600, now);
  expect(verifyToken(token, keys, now).ok).toBe(true);
  expect(verifyToken(token, new Map([['key1', 'rotated-secret-rotated']]), now)).toEqual({
    ok: false,
    error: { reason: 'signature is invalid' },
  });
  expect(verifyToken(token, new Map(), now)).toEqual({ ok: false, error: { reason: 'unknown API key' } });
});

it('refuses what LiveKit refuses', () => {
  expect(authenticate(undefined, keys, now)).toMatchObject({ ok: true, value: { apiKey: null } });
  expect(authenticate('Token abc', keys, now).ok).toBe(false);
  expect(authenticate('Bearer not.a.jwt', keys, now).ok).toBe(false);
  const wrong = signToken('key1', 'not-the-secret-at-all', { roomList: true }, 600, now);
  expect(verifyToken(wrong, keys, now)).toEqual({ ok: false, error: { reason: 'signature is invalid' } });
  const noExp = signToken('key1', 'secret-one-secret-one', {}, 600, now).split('.');
  const payload = Buffer.from(JSON.stringify({ iss: 'key1', video: {} })).toString('base64url');
  expect(verifyToken(`${noExp[0]}.${payload}.${noExp[2]}`, keys, now).ok).toBe(false);
});
