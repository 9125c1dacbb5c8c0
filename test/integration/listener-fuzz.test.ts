/**
 * Goal: no input at any listener takes a node down, moves leadership or changes a room it was
 * not asked to change (issue 12 "Done when"; DESIGN §10). Method: a real 3-node cluster; write
 * rooms first; then, for FUZZ_SECONDS (default 15), four seeded workers throw at every node's
 * three listeners: raw garbage, truncated and oversized HTTP/1.1 requests, random Twirp bodies
 * (JSON and protobuf, with and without valid tokens), HTTP/2 prefaces followed by garbage,
 * random gRPC frames on real HTTP/2 streams, and garbage Raft calls without the cluster secret.
 * Afterwards every node runs, the leader has the same id and term, every room written before
 * reads back unchanged on every node, and every metric label is one of a fixed set.
 * Replay with FUZZ_SEED=<the printed seed> (the workers interleave by timing, so a replay
 * throws the same inputs, not necessarily in the same order).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signToken } from '../../src/api/auth.js';
import {
  CreateRoomRequest,
  DeleteRoomRequest,
  ListRoomsRequest,
  type Room,
  UpdateRoomMetadataRequest,
} from '../../src/gen/roomregistry/v1/rooms.js';
import { SeededRng } from '../../src/lib/rng.js';
import { type NodeStatusJson, ProcessCluster, parseMetrics } from '../harness/process-cluster.js';
import { grpcFrame, sendHttp2, sendRaw } from '../harness/raw-clients.js';

const seed = Number(process.env['FUZZ_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const fuzzMs = Number(process.env['FUZZ_SECONDS'] ?? 15) * 1000;
const workers = 4;
const keptRooms = 12;
/** waitMs: how long one raw exchange waits for an answer; many inputs get none (the node waits for more bytes). */
const waitMs = 400;

let cluster: ProcessCluster;

const TWIRP_METHODS = [
  'CreateRoom',
  'ListRooms',
  'DeleteRoom',
  'UpdateRoomMetadata',
  'ListParticipants',
  'GetRoom',
  'NoSuchMethod',
  '',
];
/** GRPC_PATHS: TransferLeadership is called only without a valid token (it would move the leader, by design). */
const GRPC_PATHS = [
  'CreateRoom',
  'GetRoom',
  'ListRooms',
  'DeleteRoom',
  'UpdateRoomMetadata',
  'UpdateRoomOccupancy',
  'ReadRevision',
  'WatchRooms',
  'Nope',
]
  .map((m) => `/roomregistry.v1.RoomService/${m}`)
  .concat(['Heartbeat', 'ListMediaNodes', 'Nope'].map((m) => `/roomregistry.v1.MediaNodeService/${m}`));
const PEER_PATHS = ['Raft', 'InstallSnapshot', 'Forward', 'Nope'].map((m) => `/roomregistry.peer.v1.PeerService/${m}`);
const FIELD_NAMES = [
  'name',
  'room',
  'metadata',
  'names',
  'empty_timeout',
  'emptyTimeout',
  'max_participants',
  'node_id',
  'page_size',
  'region',
  'ttl_seconds',
  'x',
];
const HTTP2_PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

const pick = <T>(rng: SeededRng, xs: readonly T[]): T => xs[rng.nextInt(xs.length)] as T;

function randomBytes(rng: SeededRng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.nextInt(256);
  return out;
}

/** mutate flips, inserts, deletes or truncates a few bytes of a valid input. */
function mutate(rng: SeededRng, bytes: Uint8Array): Uint8Array {
  const out = Array.from(bytes);
  for (let n = 1 + rng.nextInt(4); n > 0; n--) {
    const at = rng.nextInt(out.length + 1);
    const kind = rng.nextInt(4);
    if (kind === 0 && out.length > 0) out[at % out.length] = rng.nextInt(256);
    else if (kind === 1) out.splice(at, 0, ...randomBytes(rng, 1 + rng.nextInt(8)));
    else if (kind === 2) out.splice(at, 1 + rng.nextInt(8));
    else out.length = Math.min(out.length, at);
  }
  return new Uint8Array(out);
}

/** randomJson is a JSON text with our field names, odd strings (lone surrogates, escapes) and, rarely, deep nesting. */
function randomJson(rng: SeededRng, depth = 0): string {
  const k = rng.nextInt(depth > 4 ? 4 : 7);
  if (k === 0) return String(rng.nextInt(3) === 0 ? -rng.nextFloat() * 1e20 : rng.nextInt(1 << 30));
  if (k === 1)
    return pick(rng, [
      '"fz-a"',
      '"\\ud800"',
      '"fz-\\udc00x"',
      '""',
      '"\\u0000\\n\\""',
      `"${'x'.repeat(rng.nextInt(600))}"`,
      '"9999999999"',
    ]);
  if (k === 2) return pick(rng, ['true', 'false', 'null']);
  if (k === 3)
    return rng.nextInt(20) === 0 ? `${'['.repeat(60 + rng.nextInt(10))}${']'.repeat(60 + rng.nextInt(10))}` : '[]';
  if (k === 4) return `[${Array.from({ length: rng.nextInt(5) }, () => randomJson(rng, depth + 1)).join(',')}]`;
  const members = Array.from(
    { length: rng.nextInt(5) },
    () => `"${pick(rng, FIELD_NAMES)}":${randomJson(rng, depth + 1)}`,
  );
  return `{${members.join(',')}}`;
}

/** validProtobuf is a well-formed request for a Twirp method, naming only fz- rooms, for mutate() to start from. */
function validProtobuf(rng: SeededRng, method: string): Uint8Array {
  const room = `fz-${rng.nextInt(50)}`;
  if (method === 'ListRooms')
    return ListRoomsRequest.encode(ListRoomsRequest.fromPartial({ names: [room, 'fz-b'] })).finish();
  if (method === 'DeleteRoom') return DeleteRoomRequest.encode(DeleteRoomRequest.fromPartial({ room })).finish();
  if (method === 'UpdateRoomMetadata')
    return UpdateRoomMetadataRequest.encode(UpdateRoomMetadataRequest.fromPartial({ room, metadata: 'm' })).finish();
  return CreateRoomRequest.encode(
    CreateRoomRequest.fromPartial({ name: room, emptyTimeout: 5, metadata: 'fz' }),
  ).finish();
}

function randomAuthorization(rng: SeededRng): string | null {
  const now = Math.floor(Date.now() / 1000);
  const all = { roomCreate: true, roomList: true, roomAdmin: true, room: `fz-${rng.nextInt(50)}` };
  switch (rng.nextInt(6)) {
    case 0:
      return null;
    case 1:
    case 2:
      return `Bearer ${signToken(cluster.apiKey, cluster.apiSecret, all, 600, now)}`;
    case 3:
      return `Bearer ${signToken(cluster.apiKey, cluster.apiSecret, { roomList: true }, 600, now)}`;
    case 4:
      return `Bearer ${signToken(cluster.apiKey, 'not-the-secret-not-the-secret-xx', all, 600, now)}`;
    default:
      return pick(rng, ['Bearer', 'Bearer a.b.c', 'Basic Zm9vOmJhcg==', `Bearer ${'A'.repeat(20_000)}`]);
  }
}

function randomTwirpBody(rng: SeededRng, method: string, json: boolean): Uint8Array {
  const k = rng.nextInt(3);
  if (k === 0) return randomBytes(rng, rng.nextInt(300));
  if (json) return Buffer.from(k === 1 ? randomJson(rng) : mutate(rng, Buffer.from(randomJson(rng))));
  return k === 1 ? validProtobuf(rng, method) : mutate(rng, validProtobuf(rng, method));
}

/** httpRequestBytes is a whole HTTP/1.1 Twirp request, for truncating. */
function httpRequestBytes(rng: SeededRng, host: string): Buffer {
  const method = pick(rng, TWIRP_METHODS);
  const json = rng.nextInt(2) === 0;
  const body = Buffer.from(randomTwirpBody(rng, method, json));
  const auth = randomAuthorization(rng);
  const head = [
    `POST /twirp/livekit.RoomService/${method} HTTP/1.1`,
    `Host: ${host}`,
    `Content-Type: application/${json ? 'json' : 'protobuf'}`,
    `Content-Length: ${body.length}`,
  ];
  if (auth !== null) head.push(`Authorization: ${auth}`);
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`), body]);
}

async function fuzzTwirp(rng: SeededRng, http: string): Promise<void> {
  const method = pick(rng, TWIRP_METHODS);
  const json = rng.nextInt(2) === 0;
  const headers: Record<string, string> = {
    'content-type': pick(rng, [
      json ? 'application/json' : 'application/protobuf',
      'application/json; charset=utf-8',
      'text/plain',
    ] as const),
  };
  const auth = randomAuthorization(rng);
  if (auth !== null) headers['authorization'] = auth;
  if (rng.nextInt(4) === 0) headers['x-twirp-timeout-ms'] = pick(rng, ['-1', '0', '1', 'NaN', '1e309', '99999999']);
  if (rng.nextInt(4) === 0) headers['x-livekit-request-id'] = `fz-${rng.nextInt(20)}`;
  const verb = rng.nextInt(10) === 0 ? pick(rng, ['GET', 'PUT', 'OPTIONS', 'DELETE']) : 'POST';
  const body = verb === 'GET' ? null : randomTwirpBody(rng, method, json);
  const res = await fetch(`http://${http}/twirp/livekit.RoomService/${method}`, {
    method: verb,
    headers,
    body,
    signal: AbortSignal.timeout(5_000),
  }).catch(() => null);
  await res?.arrayBuffer().catch(() => null);
}

async function fuzzHttpRaw(rng: SeededRng, http: string): Promise<void> {
  const k = rng.nextInt(6);
  const options = { closeAfterWrite: rng.nextInt(3) !== 0, reset: rng.nextInt(3) === 0, waitMs };
  if (k === 0) await sendRaw(http, randomBytes(rng, 1 + rng.nextInt(2_000)), options);
  else if (k === 1) {
    const whole = httpRequestBytes(rng, http);
    await sendRaw(http, whole.subarray(0, rng.nextInt(whole.length)), {
      closeAfterWrite: true,
      reset: rng.nextInt(2) === 0,
      waitMs,
    });
  } else if (k === 2)
    await sendRaw(
      http,
      `POST /twirp/livekit.RoomService/CreateRoom HTTP/1.1\r\nHost: x\r\nX-Big: ${'h'.repeat(70_000)}\r\n\r\n`,
      options,
    );
  else if (k === 3)
    await sendRaw(http, `GET /${'u'.repeat(20_000 + rng.nextInt(50_000))} HTTP/1.1\r\nHost: x\r\n\r\n`, options);
  else if (k === 4) {
    const declared = pick(rng, ['99999999999', '-5', '1e9', '3400000', 'abc']);
    await sendRaw(
      http,
      `POST /twirp/livekit.RoomService/CreateRoom HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n{"na`,
      options,
    );
  } else {
    const chunk = pick(rng, ['ffffffff', 'zz', '-1', '400000']);
    await sendRaw(
      http,
      `POST /twirp/livekit.RoomService/ListRooms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}\r\n{"names":[`,
      options,
    );
  }
}

/** fuzzHttp2 sends random gRPC frames on real HTTP/2 streams (the `grpc` or `peer` listener). */
async function fuzzHttp2(rng: SeededRng, address: string, peer: boolean): Promise<void> {
  const requests = Array.from({ length: 1 + rng.nextInt(4) }, () => {
    const headers: Record<string, string> = {};
    let path = pick(rng, peer ? PEER_PATHS : GRPC_PATHS);
    const auth = randomAuthorization(rng);
    if (peer) {
      headers['x-room-registry-cluster'] = pick(rng, ['test', 'other', '']);
      headers['x-room-registry-node-id'] = pick(rng, ['n1', 'n2', 'n3', 'n9']);
      headers['x-room-registry-secret'] = pick(rng, ['wrong', '', 'cluster-secret-for-tests-not']);
    } else if (auth !== null && auth.length < 20_000) {
      headers['authorization'] = auth;
    } else if (rng.nextInt(4) === 0) {
      path = '/roomregistry.v1.ClusterService/TransferLeadership';
    }
    const message =
      rng.nextInt(2) === 0
        ? randomBytes(rng, rng.nextInt(400))
        : mutate(rng, validProtobuf(rng, pick(rng, TWIRP_METHODS)));
    const framed =
      rng.nextInt(4) === 0 ? message : grpcFrame(message, rng.nextInt(5) === 0 ? rng.nextInt(1 << 24) : message.length);
    if (rng.nextInt(6) === 0) framed[0] = 1; // compressed, with no grpc-encoding
    return { path, headers, body: framed, reset: rng.nextInt(3) === 0 };
  });
  await sendHttp2(address, requests, waitMs);
}

async function fuzzHttp2Raw(rng: SeededRng, address: string): Promise<void> {
  const garbage = randomBytes(rng, rng.nextInt(1_500));
  const bytes = rng.nextInt(2) === 0 ? Buffer.concat([Buffer.from(HTTP2_PREFACE), garbage]) : garbage;
  await sendRaw(address, bytes, { closeAfterWrite: rng.nextInt(2) === 0, reset: rng.nextInt(3) === 0, waitMs });
}

/** worker throws one seeded input after another at random listeners until the deadline; it counts them. */
async function worker(rng: SeededRng, deadlineMs: number, counts: Map<string, number>): Promise<void> {
  while (Date.now() < deadlineMs) {
    const node = pick(rng, cluster.nodes);
    const kind = pick(rng, [
      'twirp',
      'twirp',
      'twirp',
      'http-raw',
      'http-raw',
      'grpc-h2',
      'grpc-h2',
      'grpc-raw',
      'peer-h2',
      'peer-raw',
    ] as const);
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
    if (kind === 'twirp') await fuzzTwirp(rng, node.http);
    else if (kind === 'http-raw') await fuzzHttpRaw(rng, node.http);
    else if (kind === 'grpc-h2') await fuzzHttp2(rng, node.grpc, false);
    else if (kind === 'grpc-raw') await fuzzHttp2Raw(rng, node.grpc);
    else if (kind === 'peer-h2') await fuzzHttp2(rng, node.peer, true);
    else await fuzzHttp2Raw(rng, node.peer);
  }
}

async function statuses(): Promise<NodeStatusJson[]> {
  const all = await Promise.all(cluster.nodes.map((n) => cluster.status(n.id)));
  return all.map((s, i) => {
    if (s === null) throw new Error(`${cluster.nodes[i]?.id} does not answer /status`);
    return s;
  });
}

beforeAll(async () => {
  console.log(`listener fuzz: FUZZ_SEED=${seed} FUZZ_SECONDS=${fuzzMs / 1000}`);
  cluster = await ProcessCluster.launch(3);
});

afterAll(async () => {
  const kept = await cluster.stop(process.env['FUZZ_KEEP'] === '1');
  if (kept !== null) console.log(`cluster logs kept in ${kept}`);
});

it(
  'survives seeded garbage at every listener with the leader and the rooms unchanged',
  { timeout: fuzzMs + 90_000 },
  async () => {
    const leader = await cluster.waitForLeader();
    const rooms = new Map<string, Room>();
    const setup = new SeededRng(seed);
    for (let i = 0; i < keptRooms; i++) {
      const name = `keep-${i}-${randomBytes(setup, 12).reduce((s, b) => s + b.toString(16).padStart(2, '0'), '')}`;
      const reply = await cluster
        .client(leader)
        .createRoom({ name, emptyTimeout: 3_600, maxParticipants: i, metadata: `{"i":${i},"s":"\u00e9\ud83d\ude00"}` });
      if (reply.room === undefined) throw new Error('CreateRoom returned no room');
      rooms.set(name, reply.room);
    }
    const before = await statuses();
    const term = before.find((s) => s.id === leader)?.term;

    const counts = new Map<string, number>();
    const deadlineMs = Date.now() + fuzzMs;
    await Promise.all(
      Array.from({ length: workers }, (_, w) => worker(new SeededRng(seed + 1 + w), deadlineMs, counts)),
    );
    console.log(`listener fuzz (seed ${seed}): ${JSON.stringify(Object.fromEntries(counts))}`);

    expect(cluster.unexpectedExits).toEqual([]);
    const after = await statuses();
    expect(after.map((s) => [s.id, s.leader, s.term])).toEqual(before.map((s) => [s.id, leader, term]));
    for (const n of cluster.nodes) {
      for (const [name, room] of rooms) expect((await cluster.client(n.id).getRoom({ name })).room).toEqual(room);
    }
    await expectFixedLabels();
  },
);

/** expectFixedLabels: every api_requests_total series on every node names a known method, code and protocol. */
async function expectFixedLabels(): Promise<void> {
  const methods = new Set([
    'CreateRoom',
    'ListRooms',
    'DeleteRoom',
    'UpdateRoomMetadata',
    'ListParticipants',
    'GetRoom',
    'UpdateRoomOccupancy',
    'ReadRevision',
    'WatchRooms',
    'Heartbeat',
    'ListMediaNodes',
    'Status',
    'TransferLeadership',
    'unknown',
  ]);
  for (const n of cluster.nodes) {
    const text = await (await fetch(`http://${n.http}/metrics`)).text();
    for (const series of parseMetrics(text).keys()) {
      const m = /^room_registry_api_requests_total\{method="([^"]*)",code="([^"]*)",protocol="([^"]*)"\}$/.exec(series);
      if (series.startsWith('room_registry_api_requests_total') && m === null)
        throw new Error(`unexpected series ${series}`);
      if (m !== null)
        expect(
          methods.has(m[1] ?? '') && /^[a-zA-Z_]{1,24}$/.test(m[2] ?? '') && ['grpc', 'twirp'].includes(m[3] ?? ''),
        ).toBe(true);
    }
  }
}
