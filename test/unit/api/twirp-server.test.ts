/**
 * Goal: the Twirp edge answers INTERNAL with a generic message and hands the detail to the log
 * (item 11), labels unknown methods `unknown` (item 3), and checks the method's grant before
 * it reads a byte of the body (item 2), and passes X-Livekit-Request-Id on whole (issue 19). Method: a TwirpServer with stub methods on a real
 * in-process HTTP listener, driven by fetch; onRequest records what the metrics and log see.
 */
import type { Server } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Grants, requireCreate, signToken } from '../../../src/api/auth.js';
import { startHttpServer } from '../../../src/api/http-server.js';
import { type TwirpMethod, TwirpServer } from '../../../src/api/twirp-server.js';
import { RegistryError } from '../../../src/lib/errors.js';

const keys = new Map([['key1', 'secret-one-secret-one-secret-one']]);
const seen: Array<{ method: string; code: string; detail: string | null; requestId: string }> = [];
const handedRequestIds: string[] = [];
let decoded = 0;
let server: Server;
let base: string;

function stub(call: () => Promise<unknown>): TwirpMethod<unknown, unknown> {
  return {
    authorize: requireCreate,
    decodeJson: (b) => {
      decoded++;
      return b;
    },
    decodeBinary: (b) => b,
    call,
    encodeJson: (r) => r,
    encodeBinary: () => new Uint8Array(0),
  };
}

beforeAll(async () => {
  const twirp = new TwirpServer(
    {
      Boom: stub(() => Promise.reject(new Error('wal segment /data/n1/000.wal is corrupt'))),
      Built: stub(() => Promise.reject(new RegistryError('INTERNAL', 'unexpected command result none'))),
      Fine: stub(() => Promise.resolve({ ok: true })),
      Echo: {
        ...stub(() => Promise.resolve({})),
        call: (_req, ctx) => Promise.resolve(handedRequestIds.push(ctx.requestId)),
      },
    },
    {
      apiKeys: keys,
      defaultDeadlineMs: 1_000,
      maxDeadlineMs: 1_000,
      onRequest: (method, code, _ms, requestId, detail) => seen.push({ method, code, detail, requestId }),
    },
  );
  const started = await startHttpServer('127.0.0.1:0', {
    status: () => {
      throw new Error('not used');
    },
    ready: () => ({ ok: true, reason: '' }),
    metrics: () => Promise.reject(new Error('registry at 0xdeadbeef')),
    twirp: (req, res) => twirp.handle(req, res),
  });
  server = started.server;
  base = `http://127.0.0.1:${started.port}`;
});

afterAll(() => {
  server.close();
});

const bearer = (video: Partial<Grants['video']>): string =>
  `Bearer ${signToken('key1', 'secret-one-secret-one-secret-one', video, 600, Math.floor(Date.now() / 1000))}`;

async function call(method: string, authorization: string | null): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (authorization !== null) headers['authorization'] = authorization;
  const res = await fetch(`${base}/twirp/livekit.RoomService/${method}`, { method: 'POST', headers, body: '{}' });
  return { status: res.status, body: await res.text() };
}

it('tells the client "internal error" and gives onRequest the detail', async () => {
  seen.length = 0;
  for (const method of ['Boom', 'Built']) {
    expect(await call(method, bearer({ roomCreate: true }))).toEqual({
      status: 500,
      body: '{"code":"internal","msg":"internal error"}',
    });
  }
  expect(seen.map((s) => [s.method, s.code])).toEqual([
    ['Boom', 'internal'],
    ['Built', 'internal'],
  ]);
  expect(seen[0]?.detail).toContain('/data/n1/000.wal is corrupt');
  expect(seen[1]?.detail).toBe('unexpected command result none');
  expect(await call('Fine', bearer({ roomCreate: true }))).toEqual({ status: 200, body: '{"ok":true}' });
});

it('hides the detail of a failing non-Twirp route too', async () => {
  const res = await fetch(`${base}/metrics`);
  expect([res.status, await res.text()]).toEqual([500, 'internal error\n']);
});

it('labels unknown methods "unknown"', async () => {
  seen.length = 0;
  await call('Nope-1', bearer({ roomCreate: true }));
  await fetch(`${base}/twirp/other.Service/X`, { method: 'POST' });
  expect(seen.map((s) => [s.method, s.code])).toEqual([
    ['unknown', 'bad_route'],
    ['unknown', 'bad_route'],
  ]);
});

it('refuses a token without the grant before decoding the body', async () => {
  decoded = 0;
  expect(await call('Fine', bearer({ roomList: true }))).toEqual({
    status: 401,
    body: '{"code":"unauthenticated","msg":"permissions denied"}',
  });
  expect(await call('Fine', null)).toEqual({
    status: 401,
    body: '{"code":"unauthenticated","msg":"permissions denied"}',
  });
  expect(decoded).toBe(0);
});

// A key cut to 128 characters made two requests sharing that prefix look like one retried; the handlers refuse
// a key that is too long (validateRequestId), so the listener must hand it on whole.
it('hands X-Livekit-Request-Id to the method and the log whole, however long', async () => {
  seen.length = 0;
  const long = 'k'.repeat(200);
  const res = await fetch(`${base}/twirp/livekit.RoomService/Echo`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: bearer({ roomCreate: true }),
      'x-livekit-request-id': long,
    },
    body: '{}',
  });
  expect(res.status).toBe(200);
  expect(handedRequestIds).toEqual([long]);
  expect(seen.map((s) => s.requestId)).toEqual([long]);
});
