/**
 * Goal: existing LiveKit applications keep working against room-registry (issue 4). Method: a
 * real 3-node cluster driven by LiveKit's own `livekit-server-sdk` (RoomServiceClient over real
 * HTTP) on leader and followers, binary Twirp bodies encoded by `@livekit/protocol` (an
 * independent implementation), the same calls over gRPC and through the CLI, and seeded fuzzing
 * of every endpoint. Each failure must carry the code LiveKit's server would send.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import {
  CreateRoomRequest as LkCreateRoomRequest,
  DeleteRoomRequest as LkDeleteRoomRequest,
  ListRoomsRequest as LkListRoomsRequest,
  ListRoomsResponse as LkListRoomsResponse,
  Room as LkRoom,
  UpdateRoomMetadataRequest as LkUpdateRoomMetadataRequest,
} from '@livekit/protocol';
import { RoomServiceClient, TwirpError } from 'livekit-server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../../src/api/auth.js';
import { RoomClient } from '../../src/client/room-client.js';
import { Consistency } from '../../src/gen/roomregistry/v1/rooms.js';
import { SeededRng } from '../../src/lib/rng.js';
import { ProcessCluster, cliPath } from '../harness/process-cluster.js';

let cluster: ProcessCluster;
let leader: string;
let followerA: string;
let followerB: string;

const sdk = (id: string): RoomServiceClient =>
  new RoomServiceClient(`http://${cluster.node(id).http}`, cluster.apiKey, cluster.apiSecret);
const tokenSdk = (id: string, token: string): RoomServiceClient =>
  new RoomServiceClient(`http://${cluster.node(id).http}`, undefined, undefined, { token });
const grpcClient = (id: string): RoomClient =>
  new RoomClient(cluster.node(id).grpc, { apiKey: cluster.apiKey, apiSecret: cluster.apiSecret });

function token(video: Record<string, unknown>, ttlSeconds = 600, secret = cluster.apiSecret): string {
  return signToken(cluster.apiKey, secret, video, ttlSeconds, Math.floor(Date.now() / 1000));
}

async function twirpError(p: Promise<unknown>): Promise<TwirpError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(TwirpError);
  return e as TwirpError;
}

/** post sends a raw Twirp request (for the wire details an SDK hides). */
async function post(
  id: string,
  method: string,
  body: Uint8Array | string,
  contentType: string,
  bearer: string | null,
): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': contentType };
  if (bearer !== null) headers['authorization'] = `Bearer ${bearer}`;
  return fetch(`http://${cluster.node(id).http}/twirp/livekit.RoomService/${method}`, {
    method: 'POST',
    headers,
    body,
  });
}

beforeAll(async () => {
  cluster = await ProcessCluster.create(3);
  cluster.startAll();
  leader = await cluster.waitForLeader();
  [followerA = '', followerB = ''] = cluster.nodes.map((n) => n.id).filter((id) => id !== leader);
});

afterAll(async () => {
  await cluster.stop();
});

describe('LiveKit server SDK (JSON Twirp)', () => {
  it('creates, creates again (same sid), lists, updates and deletes, across leader and followers', async () => {
    const created = await sdk(leader).createRoom({
      name: 'sdk-room',
      emptyTimeout: 600,
      maxParticipants: 7,
      metadata: 'first',
    });
    expect(created.name).toBe('sdk-room');
    expect(created.sid).toMatch(/^RM_[2-9A-HJ-NP-Za-km-z]{12}$/);
    expect(created.emptyTimeout).toBe(600);
    expect(created.departureTimeout).toBe(20);
    expect(created.maxParticipants).toBe(7);
    expect(created.creationTime).toBeGreaterThan(1_700_000_000n);
    expect(created.creationTimeMs / 1000n).toBe(created.creationTime);
    expect(created.enabledCodecs.map((c) => c.mime)).toContain('audio/opus');

    const again = await sdk(followerA).createRoom({ name: 'sdk-room', emptyTimeout: 5, metadata: 'ignored' });
    expect(again.sid).toBe(created.sid);
    expect(again.emptyTimeout).toBe(600);
    expect(again.metadata).toBe('first');

    const listed = await sdk(followerB).listRooms();
    expect(listed.map((r) => r.name)).toContain('sdk-room');
    const byName = await sdk(followerB).listRooms(['sdk-room', 'no-such-room']);
    expect(byName.map((r) => r.sid)).toEqual([created.sid]);

    const updated = await sdk(followerA).updateRoomMetadata('sdk-room', '{"v":2}');
    expect(updated.metadata).toBe('{"v":2}');
    expect(updated.sid).toBe(created.sid);
    const seen = await sdk(followerB).listRooms(['sdk-room']);
    expect(seen[0]?.metadata).toBe('{"v":2}');

    await sdk(followerB).deleteRoom('sdk-room');
    expect(await sdk(leader).listRooms(['sdk-room'])).toEqual([]);
    const gone = await twirpError(sdk(followerA).deleteRoom('sdk-room'));
    expect([gone.status, gone.code, gone.message]).toEqual([404, 'not_found', 'requested room does not exist']);
    const gone2 = await twirpError(sdk(leader).updateRoomMetadata('sdk-room', 'x'));
    expect([gone2.status, gone2.code]).toEqual([404, 'not_found']);
    expect(await sdk(followerA).listParticipants('sdk-room')).toEqual([]);
  });

  it('refuses missing grants with 401 unauthenticated "permissions denied", on every node', async () => {
    for (const id of [leader, followerA]) {
      const listOnly = tokenSdk(id, token({ roomList: true }));
      const e = await twirpError(listOnly.createRoom({ name: 'not-allowed' }));
      expect([e.status, e.code, e.message]).toEqual([401, 'unauthenticated', 'permissions denied']);
      const e2 = await twirpError(listOnly.deleteRoom('whatever'));
      expect(e2.code).toBe('unauthenticated');
      const otherRoom = tokenSdk(id, token({ roomAdmin: true, room: 'other' }));
      expect((await twirpError(otherRoom.updateRoomMetadata('mine', 'x'))).code).toBe('unauthenticated');
      const createOnly = tokenSdk(id, token({ roomCreate: true }));
      expect((await twirpError(createOnly.listRooms())).code).toBe('unauthenticated');
    }
    expect(await sdk(leader).listRooms(['not-allowed'])).toEqual([]);
  });
});

describe('LiveKit server SDK (JSON Twirp) errors', () => {
  it('refuses bad tokens with a plain-text 401, as LiveKit does', async () => {
    for (const bad of [
      token({ roomList: true }, 600, 'wrong-secret-wrong-secret'),
      token({ roomList: true }, -120),
      'not.a.jwt',
    ]) {
      const e = await twirpError(tokenSdk(followerA, bad).listRooms());
      expect(e.status).toBe(401);
      expect(e.code).toBeUndefined();
    }
    const res = await post(leader, 'ListRooms', '{}', 'application/json', null);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ code: 'unauthenticated', msg: 'permissions denied' });
  });

  it('validates with LiveKit limits and codes', async () => {
    const long = await twirpError(sdk(leader).createRoom({ name: 'x'.repeat(257) }));
    expect([long.status, long.code]).toEqual([400, 'invalid_argument']);
    const big = await twirpError(sdk(followerA).createRoom({ name: 'big', metadata: 'm'.repeat(512 * 1024 + 1) }));
    expect([big.status, big.code]).toEqual([400, 'invalid_argument']);
    // The metadata size is checked before the room grant (LIVEKIT.md §3.5); a token with no
    // roomAdmin at all is refused before the body is read (issue 12 item 2).
    const order = await twirpError(
      tokenSdk(leader, token({ roomAdmin: true, room: 'other' })).updateRoomMetadata('r', 'm'.repeat(512 * 1024 + 1)),
    );
    expect(order.code).toBe('invalid_argument');
    const noAdmin = await twirpError(
      tokenSdk(leader, token({ roomList: true })).updateRoomMetadata('r', 'm'.repeat(512 * 1024 + 1)),
    );
    expect(noAdmin.code).toBe('unauthenticated');
    const empty = await twirpError(sdk(leader).createRoom({ name: '' }));
    expect(empty.code).toBe('invalid_argument');
    const huge = await post(
      leader,
      'CreateRoom',
      `{"name":"${'n'.repeat(11 << 20)}"}`,
      'application/json',
      token({ roomCreate: true }),
    );
    expect(huge.status).toBe(413);
  });

  it('answers anything else with bad_route or malformed, errors always exactly application/json', async () => {
    const t = token({ roomCreate: true, roomList: true });
    const get = await fetch(`http://${cluster.node(leader).http}/twirp/livekit.RoomService/ListRooms`);
    expect(get.status).toBe(404);
    expect(get.headers.get('content-type')).toBe('application/json');
    expect(((await get.json()) as { code: string }).code).toBe('bad_route');
    const unknown = await post(leader, 'NoSuchMethod', '{}', 'application/json', t);
    expect([unknown.status, ((await unknown.json()) as { code: string }).code]).toEqual([404, 'bad_route']);
    const text = await post(leader, 'ListRooms', '{}', 'text/plain', t);
    expect([text.status, ((await text.json()) as { code: string }).code]).toEqual([404, 'bad_route']);
    const bad = await post(leader, 'CreateRoom', '{"name": 5}', 'application/json', t);
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toBe('application/json');
    expect(((await bad.json()) as { code: string }).code).toBe('malformed');
    const snake = await post(
      followerA,
      'CreateRoom',
      '{"name":"snake","empty_timeout":"33","unknown":1}',
      'application/json;charset=UTF-8',
      t,
    );
    expect(snake.status).toBe(200);
    const body = (await snake.json()) as Record<string, unknown>;
    expect(body['empty_timeout']).toBe(33);
    expect(typeof body['creation_time']).toBe('string');
    expect(body['version']).toBeNull();
    const del = await post(followerB, 'DeleteRoom', '{"room":"snake"}', 'application/json', t);
    expect([del.status, await del.text()]).toEqual([200, '{}']);
  });
});

describe('binary Twirp, encoded by @livekit/protocol', () => {
  it('creates, lists, updates and deletes with protobuf bodies', async () => {
    const t = token({ roomCreate: true, roomList: true });
    const res = await post(
      followerA,
      'CreateRoom',
      new LkCreateRoomRequest({ name: 'bin-room', emptyTimeout: 42, metadata: 'b' }).toBinary(),
      'application/protobuf',
      t,
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/protobuf');
    const room = LkRoom.fromBinary(new Uint8Array(await res.arrayBuffer()));
    expect([room.name, room.emptyTimeout, room.metadata, room.departureTimeout]).toEqual(['bin-room', 42, 'b', 20]);
    expect(room.sid).toMatch(/^RM_/);

    const list = await post(
      followerB,
      'ListRooms',
      new LkListRoomsRequest({ names: ['bin-room'] }).toBinary(),
      'application/protobuf',
      t,
    );
    const listed = LkListRoomsResponse.fromBinary(new Uint8Array(await list.arrayBuffer()));
    expect(listed.rooms.map((r) => r.sid)).toEqual([room.sid]);

    const admin = token({ roomAdmin: true, room: 'bin-room' });
    const upd = await post(
      leader,
      'UpdateRoomMetadata',
      new LkUpdateRoomMetadataRequest({ room: 'bin-room', metadata: 'c' }).toBinary(),
      'application/protobuf',
      admin,
    );
    expect(LkRoom.fromBinary(new Uint8Array(await upd.arrayBuffer())).metadata).toBe('c');

    const del = await post(
      leader,
      'DeleteRoom',
      new LkDeleteRoomRequest({ room: 'bin-room' }).toBinary(),
      'application/protobuf',
      t,
    );
    expect([del.status, (await del.arrayBuffer()).byteLength]).toEqual([200, 0]);
    const again = await post(
      leader,
      'DeleteRoom',
      new LkDeleteRoomRequest({ room: 'bin-room' }).toBinary(),
      'application/protobuf',
      t,
    );
    expect(again.status).toBe(404);
    expect(again.headers.get('content-type')).toBe('application/json');
    expect(await again.json()).toEqual({ code: 'not_found', msg: 'requested room does not exist' });
  });
});

describe('gRPC API (client generated from proto/)', () => {
  it('serves the same calls with gRPC codes', async () => {
    const [a, b] = [grpcClient(followerA), grpcClient(followerB)];
    try {
      const c = await a.createRoom({ name: 'grpc-room', metadata: 'g', requestId: 'req-1' });
      expect(c.created).toBe(true);
      const retry = await b.createRoom({ name: 'grpc-room', requestId: 'req-1' });
      expect(retry.room?.sid).toBe(c.room?.sid);
      const got = await b.getRoom({ name: 'grpc-room' });
      expect(got.room?.metadata).toBe('g');
      expect(got.revision).toBeGreaterThanOrEqual(c.revision);
      const upd = await b.updateRoomMetadata({ room: 'grpc-room', metadata: 'h' });
      expect(upd.room?.version?.ticks).toBe(1);
      const local = await a.getRoom({ name: 'grpc-room', consistency: Consistency.CONSISTENCY_LINEARIZABLE });
      expect(local.room?.metadata).toBe('h');
      await a.deleteRoom({ room: 'grpc-room' });
      await expect(b.getRoom({ name: 'grpc-room' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
      await expect(b.deleteRoom({ room: 'grpc-room' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
      await expect(a.createRoom({ name: '' })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
      const status = await a.status();
      expect(status.leader).toBe(leader);
    } finally {
      a.close();
      b.close();
    }
  });

  it('says UNAUTHENTICATED for a bad token and PERMISSION_DENIED for a missing grant', async () => {
    const wrong = new RoomClient(cluster.node(leader).grpc, {
      apiKey: cluster.apiKey,
      apiSecret: 'not-the-secret-not-the-secret',
    });
    const listOnly = new RoomClient(cluster.node(leader).grpc, { token: token({ roomList: true }) });
    try {
      await expect(wrong.listRooms({})).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
      await expect(listOnly.createRoom({ name: 'nope' })).rejects.toMatchObject({
        code: grpc.status.PERMISSION_DENIED,
      });
    } finally {
      wrong.close();
      listOnly.close();
    }
  });

  it('answers malformed protobuf with INVALID_ARGUMENT', async () => {
    const Raw = grpc.makeGenericClientConstructor(
      {
        createRoom: {
          path: '/roomregistry.v1.RoomService/CreateRoom',
          requestStream: false,
          responseStream: false,
          requestSerialize: (b: Buffer) => b,
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (b: Buffer) => b,
          responseDeserialize: (b: Buffer) => b,
        },
      },
      'Raw',
    );
    const raw = new Raw(cluster.node(leader).grpc, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      createRoom(req: Buffer, md: grpc.Metadata, cb: (e: grpc.ServiceError | null) => void): void;
    };
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token({ roomCreate: true })}`);
    const error = await new Promise<grpc.ServiceError | null>((resolve) =>
      raw.createRoom(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), md, resolve),
    );
    raw.close();
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});

describe('gRPC MediaNodeService', () => {
  it('serves MediaNodeService on the same listener, with the same auth and error codes (issue 16)', async () => {
    const a = grpcClient(followerA);
    const listOnly = new RoomClient(cluster.node(leader).grpc, { token: token({ roomList: true }) });
    try {
      // No media node has heartbeated in this file: both reads find none, at a revision.
      const all = await a.listMediaNodes({});
      expect(all.nodes).toEqual([]);
      expect(all.revision).toBeGreaterThan(0);
      const local = await a.listMediaNodes({ region: 'nowhere', consistency: Consistency.CONSISTENCY_LOCAL });
      expect(local.nodes).toEqual([]);
      await expect(a.heartbeat({ nodeId: '' })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
      await expect(a.heartbeat({ nodeId: 'sfu-1', ttlSeconds: 301 })).rejects.toMatchObject({
        code: grpc.status.INVALID_ARGUMENT,
      });
      await expect(listOnly.heartbeat({ nodeId: 'sfu-1' })).rejects.toMatchObject({
        code: grpc.status.PERMISSION_DENIED,
      });
      // With no live media node, a room created without a node_id stays without one.
      const created = await a.createRoom({ name: 'grpc-unplaced' });
      expect(created.room?.nodeId).toBe('');
      await a.deleteRoom({ room: 'grpc-unplaced' });
    } finally {
      a.close();
      listOnly.close();
    }
  });
});

describe('CLI', () => {
  const run = promisify(execFile);
  const conn = (): string[] => [
    '--url',
    cluster.node(followerA).grpc,
    '--api-key',
    cluster.apiKey,
    '--api-secret',
    cluster.apiSecret,
  ];
  const cli = async (...args: string[]): Promise<unknown> => {
    const { stdout } = await run(process.execPath, [cliPath, ...args, '--json', ...conn()]);
    return JSON.parse(stdout);
  };
  const cliTable = async (...args: string[]): Promise<string[]> => {
    const { stdout } = await run(process.execPath, [cliPath, ...args, ...conn()]);
    return stdout.trimEnd().split('\n');
  };

  it('creates, lists, gets, updates and deletes rooms', async () => {
    expect(await cli('rooms', 'create', 'cli-room', '--metadata', 'from-cli')).toMatchObject({
      created: true,
      room: { name: 'cli-room', metadata: 'from-cli' },
    });
    expect(await cli('rooms', 'list')).toMatchObject({
      rooms: expect.arrayContaining([expect.objectContaining({ name: 'cli-room' })]),
    });
    expect(await cli('rooms', 'get', 'cli-room', '--local')).toMatchObject({ room: { name: 'cli-room' } });
    expect(await cli('rooms', 'update', 'cli-room', '--metadata', 'changed')).toMatchObject({
      room: { metadata: 'changed' },
    });
    expect(await cli('rooms', 'delete', 'cli-room')).toMatchObject({ deleted: true });
    await expect(cli('rooms', 'get', 'cli-room')).rejects.toMatchObject({ code: 1 });
    expect(await cli('status')).toMatchObject({ leader });
  });

  it('prints tables by default: one line a room, metadata cut short, control characters escaped', async () => {
    await cli('rooms', 'create', 'cli-table-a', '--metadata', 'm'.repeat(40));
    await cli('rooms', 'create', 'cli-table-b', '--metadata', 'one\ntwo');
    const lines = await cliTable('rooms', 'list', 'cli-table-a', 'cli-table-b');
    expect(lines[0]).toMatch(/^NAME +SID +PARTICIPANTS +PUBLISHERS +NODE +AGE +METADATA$/);
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(/^cli-table-a +RM_\w+ +0 +0 +- +\d+[smhd] +m{31}…$/);
    expect(lines[2]).toMatch(/ one\\x0atwo$/);
    expect(lines[3]).toMatch(/^2 rooms at revision \d+$/);
    expect((await cliTable('status'))[1]).toContain(leader);
    expect(await cliTable('nodes', 'list', '--region', 'nowhere')).toEqual([
      expect.stringMatching(/^0 media nodes at revision \d+$/),
    ]);
    expect(await cliTable('rooms', 'delete', 'cli-table-b')).toEqual([
      expect.stringMatching(/^deleted cli-table-b at revision \d+$/),
    ]);
  });
});

describe('fuzzed input', () => {
  it('gets clear errors, never a crash, and changes nothing without a write grant', async () => {
    const rng = new SeededRng(20261125);
    const methods = ['CreateRoom', 'ListRooms', 'DeleteRoom', 'UpdateRoomMetadata', 'ListParticipants'];
    const listOnly = token({ roomList: true, roomAdmin: true, room: 'x' });
    const before = await cluster.status(leader);
    for (let i = 0; i < 400; i++) {
      const id = cluster.nodes[i % 3]?.id ?? leader;
      const method = methods[rng.nextInt(methods.length)] ?? 'ListRooms';
      const binary = rng.nextInt(2) === 0;
      const body = binary ? randomBytes(rng, rng.nextInt(300)) : randomJson(rng, 3);
      const res = await post(id, method, body, binary ? 'application/protobuf' : 'application/json', listOnly);
      expect(res.status, `${method} ${binary ? 'binary' : 'json'} #${i}`).toBeLessThan(500);
      if (res.status !== 200) expect(res.headers.get('content-type')).toBe('application/json');
    }
    for (const n of cluster.nodes) {
      const s = await cluster.status(n.id);
      expect(s, `${n.id} must still be up`).not.toBeNull();
      expect(s?.rooms).toBe(before?.rooms);
    }
  });
});

function randomBytes(rng: SeededRng, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rng.nextInt(256);
  return b;
}

function randomJson(rng: SeededRng, depth: number): string {
  const value = (d: number): unknown => {
    switch (rng.nextInt(d <= 0 ? 4 : 7)) {
      case 0:
        return rng.nextInt(1000) - 500;
      case 1:
        return 'x'.repeat(rng.nextInt(5));
      case 2:
        return null;
      case 3:
        return rng.nextInt(2) === 0;
      case 4:
        return Array.from({ length: rng.nextInt(4) }, () => value(d - 1));
      default: {
        const keys = ['name', 'room', 'names', 'metadata', 'empty_timeout', 'emptyTimeout', 'max_participants', 'zzz'];
        return Object.fromEntries(
          Array.from({ length: rng.nextInt(4) }, () => [keys[rng.nextInt(keys.length)] ?? 'k', value(d - 1)]),
        );
      }
    }
  };
  const text = JSON.stringify(value(depth));
  return rng.nextInt(10) === 0 ? text.slice(0, rng.nextInt(text.length + 1)) : text;
}
