/**
 * Goal: the Session stream (issue 18) answers many calls on one stream by id with exactly what
 * the unary methods answer (codes, dedup by request_id), checks its token at the start and on
 * every request after expiry, honours each call's timeout_ms, bounds the calls it runs at once,
 * stops reading a client that does not read its answers, and ends as it should (half-close,
 * malformed bytes, node shutdown). Method: the real GrpcApi listener in-process over a real
 * one-node RaftNode (memory storage and transport twins) and RoomRegistry; a disk that can be
 * stalled (beforePersist) makes writes wait; grpc-js clients.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, expect, it } from 'vitest';
import { jwtLeewaySeconds, signToken } from '../../src/api/auth.js';
import { GRPC_LIMITS, type GrpcLimits } from '../../src/api/grpc-limits.js';
import { sessionErrorOf } from '../../src/api/grpc-session.js';
import {
  Consistency,
  CreateRoomRequest,
  ListRoomsRequest,
  RoomServiceClient,
  RoomServiceService,
  SessionRequest,
  SessionResponse,
} from '../../src/gen/roomregistry/v1/rooms.js';
import { unavailable } from '../../src/lib/errors.js';
import { nodeId } from '../../src/lib/ids.js';
import { waitUntil } from '../harness/process-cluster.js';
import { type ApiNode, apiKey, apiSecret, startApiNodes } from './api-nodes.js';

const nowSeconds = (): number => Math.floor(Date.now() / 1000);
const goodToken = (): string => signToken(apiKey, apiSecret, { roomCreate: true, roomList: true }, 600, nowSeconds());

/** Served: one node with its listener, and a client of it. */
type Served = ApiNode & { readonly client: RoomServiceClient };

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function serve(limits: GrpcLimits = GRPC_LIMITS): Promise<Served> {
  const [n] = await startApiNodes(['n1'], limits);
  if (n === undefined) throw new Error('no node started');
  const client = new RoomServiceClient(n.grpc, grpc.credentials.createInsecure());
  stops.push(async () => {
    client.close();
    await n.stop();
  });
  await waitUntil('the node leads', async () => n.node.status().role === 'leader', 10_000);
  return { ...n, client };
}

/** Session is a client's Session stream: the answers in arrival order, and how the stream ended. */
interface Session {
  readonly answers: SessionResponse[];
  readonly status: Promise<grpc.StatusObject>;
  send(request: Partial<SessionRequest>): void;
  /** answerOf waits for the (first) answer to `id`. */
  answerOf(id: number): Promise<SessionResponse>;
  end(): void;
}

function open(client: grpc.Client, token: string | null): Session {
  const md = new grpc.Metadata();
  if (token !== null) md.set('authorization', `Bearer ${token}`);
  const call = (client as RoomServiceClient).session(md);
  const answers: SessionResponse[] = [];
  call.on('data', (r: SessionResponse) => answers.push(r));
  call.on('error', () => {}); // the status says it
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  return {
    answers,
    status,
    send: (request) => call.write({ id: 0, timeoutMs: 0, ...request }),
    answerOf: async (id) => {
      await waitUntil(`the answer to ${id}`, async () => answers.some((a) => a.id === id));
      return answers.find((a) => a.id === id) as SessionResponse;
    },
    end: () => call.end(),
  };
}

const errorCode = (a: SessionResponse): number | null => (a.response?.$case === 'error' ? a.response.value.code : null);

it('answers many concurrent calls on one stream by id, with the codes and dedup of the unary calls', async () => {
  const { client, reported } = await serve();
  const s = open(client, goodToken());
  for (let i = 1; i <= 50; i++) s.send({ id: i, request: { $case: 'createRoom', value: room(`r-${i}`) } });
  s.send({
    id: 51,
    request: { $case: 'getRoom', value: { name: 'nowhere', consistency: Consistency.CONSISTENCY_LOCAL } },
  });
  s.send({ id: 52, request: { $case: 'deleteRoom', value: { room: 'nowhere', requestId: '' } } });
  s.send({ id: 53 }); // no call at all: refused, and the stream goes on
  await waitUntil('every call is answered', async () => s.answers.length === 53);
  expect(new Set(s.answers.map((a) => a.id)).size).toBe(53);
  for (let i = 1; i <= 50; i++) {
    const a = await s.answerOf(i);
    expect(a.response?.$case === 'createRoom' && a.response.value.room?.name).toBe(`r-${i}`);
  }
  expect(errorCode(await s.answerOf(51))).toBe(grpc.status.NOT_FOUND);
  expect(errorCode(await s.answerOf(52))).toBe(grpc.status.NOT_FOUND);
  expect(errorCode(await s.answerOf(53))).toBe(grpc.status.INVALID_ARGUMENT);

  // A retried create with the request id of an applied one returns the first result, as unary.
  s.send({ id: 60, request: { $case: 'createRoom', value: room('first', 'same-id') } });
  const first = await s.answerOf(60);
  s.send({ id: 61, request: { $case: 'createRoom', value: room('first', 'same-id') } });
  const retried = await s.answerOf(61);
  expect(first.response?.$case === 'createRoom' && first.response.value.room?.sid).toMatch(/^RM_/);
  expect(retried.response).toEqual(first.response);
  // ... and the id reused for another room is refused, as unary.
  s.send({ id: 62, request: { $case: 'createRoom', value: room('second', 'same-id') } });
  expect(errorCode(await s.answerOf(62))).toBe(grpc.status.INVALID_ARGUMENT);

  // Each call is reported under its unary method's name, as unary calls are.
  expect(reported.filter((r) => r.method === 'CreateRoom' && r.code === 'OK')).toHaveLength(52);
  expect(reported).toContainEqual({ method: 'CreateRoom', code: 'INVALID_ARGUMENT' });
  expect(reported).toContainEqual({ method: 'GetRoom', code: 'NOT_FOUND' });
  expect(reported).toContainEqual({ method: 'DeleteRoom', code: 'NOT_FOUND' });
  expect(reported).toContainEqual({ method: 'Session', code: 'INVALID_ARGUMENT' });
  s.end();
  expect((await s.status).code).toBe(grpc.status.OK);
});

it('ends OK after a half-close only once every call running is answered', async () => {
  const { client, stallDisk, resumeDisk, node } = await serve();
  stallDisk();
  const s = open(client, goodToken());
  for (let i = 1; i <= 5; i++) s.send({ id: i, request: { $case: 'createRoom', value: room(`h-${i}`) } });
  s.end();
  await waitUntil('the creates wait on the disk', async () => node.load().proposals === 5);
  let ended = false;
  void s.status.then(() => (ended = true));
  expect(ended).toBe(false);
  resumeDisk();
  const status = await s.status;
  expect(status.code).toBe(grpc.status.OK);
  expect(s.answers.map((a) => [a.id, a.response?.$case]).sort()).toEqual([1, 2, 3, 4, 5].map((i) => [i, 'createRoom']));
});

it('refuses a stream without a valid token UNAUTHENTICATED, and ends one whose token expired', async () => {
  const { client, node } = await serve();
  for (const token of [
    null,
    signToken(apiKey, 'not-the-secret-not-the-secret', { roomList: true }, 600, nowSeconds()),
  ]) {
    const s = open(client, token);
    s.send({ id: 1, request: { $case: 'getRoom', value: { name: 'x', consistency: 0 } } });
    const status = await s.status;
    expect(status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(s.answers).toEqual([]);
  }

  // Valid for a second or two: `exp` plus the leeway is the next second.
  const exp = nowSeconds() - jwtLeewaySeconds + 1;
  const shortLived = signToken(apiKey, apiSecret, { roomCreate: true }, 0, exp);
  const s = open(client, shortLived);
  s.send({ id: 1, request: { $case: 'createRoom', value: room('before-expiry') } });
  expect((await s.answerOf(1)).response?.$case).toBe('createRoom');
  await waitUntil('the token is past its expiry and leeway', async () => nowSeconds() > exp + jwtLeewaySeconds);
  const appliedBefore = node.status().appliedIndex;
  s.send({ id: 2, request: { $case: 'createRoom', value: room('after-expiry') } });
  const status = await s.status;
  expect(status.code).toBe(grpc.status.UNAUTHENTICATED);
  expect(status.details).toMatch(/token expired; open a new session/);
  expect(s.answers.map((a) => a.id)).toEqual([1]);
  expect(node.status().appliedIndex).toBe(appliedBefore);
});

it("answers DEADLINE_EXCEEDED at a call's timeout_ms when its write cannot commit, and refuses an id in flight", async () => {
  const { client, stallDisk } = await serve();
  const s = open(client, goodToken());
  stallDisk();
  const sentAtMs = Date.now();
  s.send({ id: 7, timeoutMs: 200, request: { $case: 'createRoom', value: room('stuck') } });
  s.send({
    id: 7,
    request: { $case: 'getRoom', value: { name: 'stuck', consistency: Consistency.CONSISTENCY_LOCAL } },
  });
  await waitUntil('both answers to id 7', async () => s.answers.length === 2);
  expect(s.answers.map(errorCode)).toEqual([grpc.status.INVALID_ARGUMENT, grpc.status.DEADLINE_EXCEEDED]);
  // Not before its timeout (an upper bound would time the machine; the call's own deadline does).
  expect(Date.now() - sentAtMs).toBeGreaterThanOrEqual(190);
});

it('runs at most sessionInFlightMax calls of a stream at once and answers every call sent past it', async () => {
  const inFlightMax = 4;
  const { client, stallDisk, resumeDisk, node } = await serve({ ...GRPC_LIMITS, sessionInFlightMax: inFlightMax });
  stallDisk();
  const s = open(client, goodToken());
  for (let i = 1; i <= 40; i++) s.send({ id: i, request: { $case: 'createRoom', value: room(`f-${i}`) } });
  await waitUntil('the first calls wait on the disk', async () => node.load().proposals === inFlightMax);
  // A round trip on the same connection, sent after all 40: by its answer, the node has their bytes.
  await new Promise<void>((resolve) =>
    client.getRoom({ name: 'x', consistency: Consistency.CONSISTENCY_LOCAL }, new grpc.Metadata(), () => resolve()),
  );
  expect(node.load().proposals).toBe(inFlightMax);
  resumeDisk();
  await waitUntil('all 40 are answered', async () => s.answers.length === 40);
  expect(s.answers.map((a) => a.id).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  expect(s.answers.every((a) => a.response?.$case === 'createRoom')).toBe(true);
});

it('stops reading a stream whose client does not read its answers, and answers every call once it reads', async () => {
  const served = await serve();
  const md = tokenMetadata();
  // Answers of 32 KiB each: HTTP/2's window (64 KiB a stream) holds two, so the node's writes soon wait.
  const created = await new Promise<grpc.ServiceError | null>((resolve) =>
    served.client.createRoom(
      CreateRoomRequest.fromPartial({ name: 'big', metadata: 'm'.repeat(32 * 1024) }),
      md,
      resolve,
    ),
  );
  expect(created).toBeNull();
  const s = openPaused(served.client, md);
  const sent = 2_000;
  const getBig = { name: 'big', consistency: Consistency.CONSISTENCY_LOCAL };
  for (let id = 1; id <= sent; id++) s.call.write({ id, timeoutMs: 0, request: { $case: 'getRoom', value: getBig } });
  await expectHeldBack(served, md, 'GetRoom', sent);

  expect(s.answers).toEqual([]);
  s.call.resume();
  await waitUntil('every call is answered', async () => s.answers.length === sent);
  expect(s.answers.map((a) => a.id).sort((a, b) => a - b)).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
  expect(s.answers.every((a) => a.response?.$case === 'getRoom' && a.response.value.room?.name === 'big')).toBe(true);
  s.call.end();
  expect((await s.status).code).toBe(grpc.status.OK);
  expect(s.answers).toHaveLength(sent);
});

it('stops reading a stream whose client does not read its refusals, and refuses every call once it reads', async () => {
  const served = await serve();
  const md = tokenMetadata();
  const s = openPaused(served.client, md);
  // Requests without a call, each refused on the stream: answers of ~70 bytes, some 800 fill the buffers on the way.
  const sent = 8_000;
  for (let id = 1; id <= sent; id++) s.call.write({ id, timeoutMs: 0 });
  await expectHeldBack(served, md, 'Session', sent);

  expect(s.answers).toEqual([]);
  s.call.resume();
  await waitUntil('every call is refused', async () => s.answers.length === sent);
  expect(s.answers.map((a) => a.id).sort((a, b) => a - b)).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
  expect(s.answers.every((a) => errorCode(a) === grpc.status.INVALID_ARGUMENT)).toBe(true);
  s.call.end();
  expect((await s.status).code).toBe(grpc.status.OK);
});

it('ends a stream INVALID_ARGUMENT on bytes that do not decode, after answering the calls before them', async () => {
  const { client, stallDisk, resumeDisk, node } = await serve();
  stallDisk();
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${goodToken()}`);
  const raw = client.makeBidiStreamRequest(
    RoomServiceService.session.path,
    (b: Buffer) => b,
    (b: Buffer) => SessionResponse.decode(b),
    md,
  );
  const answers: SessionResponse[] = [];
  raw.on('data', (r: SessionResponse) => answers.push(r));
  raw.on('error', () => {});
  const status = new Promise<grpc.StatusObject>((resolve) => raw.on('status', resolve));
  raw.write(
    Buffer.from(
      SessionRequest.encode({ id: 1, timeoutMs: 0, request: { $case: 'createRoom', value: room('m') } }).finish(),
    ),
  );
  await waitUntil('the create waits on the disk', async () => node.load().proposals === 1);
  raw.write(Buffer.from([0x0b, 0x0c])); // a group: no request of ours uses one
  resumeDisk();
  const ended = await status;
  expect(ended.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(ended.details).toMatch(/could not be decoded/);
  expect(answers.map((a) => [a.id, a.response?.$case])).toEqual([[1, 'createRoom']]);
});

it('ends open sessions UNAVAILABLE when the listener closes', async () => {
  const { client, api } = await serve();
  const s = open(client, goodToken());
  s.send({ id: 1, request: { $case: 'createRoom', value: room('c') } });
  await s.answerOf(1);
  const closed = api.close(5_000);
  const status = await s.status;
  expect(status.code).toBe(grpc.status.UNAVAILABLE);
  expect(status.details).toMatch(/open a session on another node/);
  await closed;
});

it('carries the leader hint of an UNAVAILABLE in SessionError.leader, as unary calls carry it in metadata', () => {
  expect(sessionErrorOf(unavailable('no leader can take this write now', nodeId('n2')))).toEqual({
    code: grpc.status.UNAVAILABLE,
    message: 'no leader can take this write now (leader is n2)',
    leader: 'n2',
  });
  expect(sessionErrorOf(new Error('boom'))).toEqual({
    code: grpc.status.INTERNAL,
    message: 'internal error',
    leader: '',
  });
});

const tokenMetadata = (): grpc.Metadata => {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${goodToken()}`);
  return md;
};

/**
 * openPaused opens a Session whose answers are read but paused: grpc-js takes 16, then stops
 * reading the HTTP/2 stream, whose window fills (with no read at all it would keep taking answers
 * into a queue of its own). `call.resume()` reads on.
 */
function openPaused(client: RoomServiceClient, md: grpc.Metadata) {
  const call = client.session(md);
  const answers: SessionResponse[] = [];
  call.on('data', (r: SessionResponse) => answers.push(r));
  call.pause();
  call.on('error', () => {}); // the status says it
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  return { call, answers, status };
}

/**
 * expectHeldBack: `sent` calls went on the one session of `served`, whose client does not read.
 * The node takes (runs or refuses: reported under `method`) well under `sent` of them, waits for
 * the client to read, and takes no more across round trips on another connection.
 */
async function expectHeldBack(served: Served, md: grpc.Metadata, method: string, sent: number): Promise<void> {
  const taken = (): number => served.reported.filter((r) => r.method === method).length;
  // Another connection: the session's own has its window full.
  const other = new RoomServiceClient(served.grpc, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
  });
  stops.push(async () => other.close());
  const roundTrip = (): Promise<void> =>
    new Promise((resolve) => other.listRooms(ListRoomsRequest.fromPartial({ names: ['x'] }), md, () => resolve()));
  // Settled: the node waits for the client to read (or, without that push-back, took the whole
  // stream), and takes no more of it across a round trip, which turns its event loop over.
  const settled = async (): Promise<boolean> => {
    const before = taken();
    await roundTrip();
    const waiting = served.api.stats().sessionsWaitingForDrain === 1;
    return before > 0 && taken() === before && (waiting || before === sent);
  };
  await waitUntil('the node stops taking calls of the stream nobody reads', settled);
  const held = taken();
  // What the buffers on the way hold and the calls running when a write first waited, not all sent.
  expect(held).toBeLessThan(sent / 4);
  expect(served.api.stats().sessionsWaitingForDrain).toBe(1);
  expect(await settled()).toBe(true);
  expect(taken()).toBe(held);
}

function room(name: string, requestId = ''): CreateRoomRequest {
  return CreateRoomRequest.fromPartial({ name, requestId });
}
