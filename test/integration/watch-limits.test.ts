/**
 * Goal: WatchRooms and the public gRPC listener are bounded on a real node (issue 12 items 7, 8):
 * a watcher that never reads is cut off at its byte cap (RESOURCE_EXHAUSTED once it reads, then
 * it resumes from its last revision) while the node keeps serving; watchers past watchersMax and
 * requests past the derived size are refused RESOURCE_EXHAUSTED; the listener advertises its
 * stream cap and closes connections past its connection cap. Method: a one-node cluster of real
 * processes; raw HTTP/2 clients where grpc-js would hide the behaviour (a tiny flow-control
 * window that is never opened, many streams, plain TCP connections).
 */
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signToken } from '../../src/api/auth.js';
import { GRPC_LIMITS } from '../../src/api/grpc-limits.js';
import { RoomClient } from '../../src/client/room-client.js';
import { WatchRoomsRequest, WatchRoomsResponse } from '../../src/gen/roomregistry/v1/rooms.js';
import { ProcessCluster, waitUntil } from '../harness/process-cluster.js';

let cluster: ProcessCluster;
let client: RoomClient;
let token: string;

beforeAll(async () => {
  cluster = await ProcessCluster.launch(1);
  client = cluster.client('n1');
  token = signToken(cluster.apiKey, cluster.apiSecret, { roomList: true }, 600, Math.floor(Date.now() / 1000));
}, 60_000);

afterAll(async () => {
  await cluster.stop();
  expect(cluster.unexpectedExits).toEqual([]);
});

const WATCH_PATH = '/roomregistry.v1.RoomService/WatchRooms';

/** RawWatch is a WatchRooms call on a raw HTTP/2 stream: its messages as they are parsed, and its status. */
interface RawWatch {
  readonly stream: http2.ClientHttp2Stream;
  readonly events: WatchRoomsResponse[];
  readonly status: Promise<{ code: number; message: string }>;
  /** read starts consuming the stream (a raw watch is opened paused). */
  read(): void;
}

function rawWatch(session: http2.ClientHttp2Session, fromRevision: number): RawWatch {
  const stream = session.request({
    ':method': 'POST',
    ':path': WATCH_PATH,
    'content-type': 'application/grpc',
    te: 'trailers',
    authorization: `Bearer ${token}`,
  });
  const body = WatchRoomsRequest.encode({ fromRevision }).finish();
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, 5);
  stream.end(frame);
  stream.pause();
  const events: WatchRoomsResponse[] = [];
  let buffered = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 5 && buffered.length >= 5 + buffered.readUInt32BE(1)) {
      const n = buffered.readUInt32BE(1);
      events.push(WatchRoomsResponse.decode(buffered.subarray(5, 5 + n)));
      buffered = buffered.subarray(5 + n);
    }
  };
  const status = new Promise<{ code: number; message: string }>((resolve, reject) => {
    const settle = (h: http2.IncomingHttpHeaders): void => {
      if (h['grpc-status'] !== undefined)
        resolve({ code: Number(h['grpc-status']), message: decodeURIComponent(String(h['grpc-message'] ?? '')) });
    };
    stream.on('response', settle); // a trailers-only answer
    stream.on('trailers', settle);
    stream.on('error', reject);
  });
  status.catch(() => {});
  return { stream, events, status, read: () => stream.on('data', onData).resume() };
}

/** collect reads a grpc-js watch until `until` holds. */
function collect(
  stream: grpc.ClientReadableStream<WatchRoomsResponse>,
  until: (events: WatchRoomsResponse[]) => boolean,
): Promise<WatchRoomsResponse[]> {
  return new Promise((resolve, reject) => {
    const events: WatchRoomsResponse[] = [];
    stream.on('data', (e: WatchRoomsResponse) => {
      events.push(e);
      if (until(events)) resolve(events);
    });
    stream.on('error', reject);
  });
}

const metric = (series: string): Promise<number> => cluster.metric('n1', `room_registry_${series}`);

it('cuts off a watcher that never reads at its byte cap; the node keeps serving; it resumes from its last revision', async () => {
  const created = await client.createRoom({ name: 'big' });
  const session = http2.connect(`http://${cluster.node('n1').grpc}`, { settings: { initialWindowSize: 1024 } });
  session.on('error', () => {});
  const stalled = rawWatch(session, created.revision);
  const follower = client.watchRooms(created.revision);
  const updates = 20; // 20 × 500 KiB = 10 MiB, past the 4 MiB cap
  const followed = collect(follower, (events) => events.length >= updates);
  await waitUntil('both watchers are open', async () => (await metric('watchers')) === 2);
  let lastRevision = 0;
  for (let i = 0; i < updates; i++)
    lastRevision =
      (await client.updateRoomMetadata({ room: 'big', metadata: `${i}`.padEnd(500 << 10, 'm') })).room?.revision ?? 0;
  await waitUntil(
    'the stalled watcher is cut off',
    async () => (await metric('watchers_ended_total{reason="too_slow"}')) === 1,
  );
  expect((await client.getRoom({ name: 'big' })).room?.metadata.startsWith('19')).toBe(true);
  expect((await followed).map((e) => e.revision).at(-1)).toBe(lastRevision);
  follower.cancel();
  // It was sent about the cap, then the status; reading now, it gets both.
  stalled.read();
  const status = await stalled.status;
  expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  expect(status.message).toMatch(/watcher too slow/);
  expect(stalled.events.length).toBeGreaterThanOrEqual(Math.floor(GRPC_LIMITS.watchQueueBytesMax / (500 << 10)));
  expect(stalled.events.length).toBeLessThan(updates);
  session.close();
  const resumedFrom = stalled.events.at(-1)?.revision ?? 0;
  const resumed = client.watchRooms(resumedFrom);
  const rest = await collect(resumed, (events) => events.at(-1)?.revision === lastRevision);
  resumed.cancel();
  expect(stalled.events.length + rest.length).toBe(updates);
  await waitUntil('the watch slots are free', async () => (await metric('watchers')) === 0);
}, 120_000);

it('refuses a watch past watchersMax with RESOURCE_EXHAUSTED and takes one again once a slot frees', async () => {
  const from = (await client.createRoom({ name: 'cap' })).revision - 1;
  const sessions = [
    http2.connect(`http://${cluster.node('n1').grpc}`),
    http2.connect(`http://${cluster.node('n1').grpc}`),
  ];
  const [a, b] = sessions as [http2.ClientHttp2Session, http2.ClientHttp2Session];
  for (const s of sessions) s.on('error', () => {});
  const open = Array.from({ length: GRPC_LIMITS.watchersMax }, () => rawWatch(a, from));
  await waitUntil('every slot is taken', async () => (await metric('watchers')) === GRPC_LIMITS.watchersMax, 60_000);
  const refused = rawWatch(b, from);
  expect((await refused.status).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  open[0]?.stream.close();
  await waitUntil('a slot is free', async () => (await metric('watchers')) === GRPC_LIMITS.watchersMax - 1);
  const again = rawWatch(b, from);
  again.read();
  await waitUntil('the new watcher gets the change', async () => again.events.length === 1);
  expect(await metric('watchers_ended_total{reason="refused_full"}')).toBe(1);
  for (const s of sessions) s.destroy();
  await waitUntil('the watch slots are free', async () => (await metric('watchers')) === 0);
}, 120_000);

it('advertises its stream cap, and refuses a request larger than the largest valid one with RESOURCE_EXHAUSTED', async () => {
  const session = http2.connect(`http://${cluster.node('n1').grpc}`);
  const settings = await new Promise<http2.Settings>((resolve) => session.once('remoteSettings', resolve));
  session.close();
  expect(settings.maxConcurrentStreams).toBe(GRPC_LIMITS.concurrentStreamsPerConnectionMax);
  // The largest valid request is accepted: 512 KiB of metadata and a 256-byte name.
  await client.createRoom({ name: 'n'.repeat(256), metadata: 'm'.repeat(512 << 10) });
  // A larger one is not read into a request at all.
  await expect(
    client.createRoom({ name: 'too-big', metadata: 'm'.repeat(GRPC_LIMITS.requestBytesMax) }),
  ).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
});

it('closes connections past connectionsMax at once, counts and logs them, and serves again when they go', async () => {
  const address = cluster.node('n1').grpc;
  const [host, port] = [
    address.slice(0, address.lastIndexOf(':')),
    Number(address.slice(address.lastIndexOf(':') + 1)),
  ];
  const connect = (): Promise<net.Socket> =>
    new Promise((resolve, reject) => {
      const s = net.connect(port, host, () => resolve(s));
      s.on('error', reject);
    });
  // The test client's own connection (when the tests above opened one) counts too: the last of these may be refused.
  const held: net.Socket[] = [];
  for (let i = 0; i < GRPC_LIMITS.connectionsMax; i++) held.push(await connect().catch(() => new net.Socket()));
  const extra = await connect();
  const closed = await new Promise<boolean>((resolve) => {
    extra.on('close', () => resolve(true));
    extra.on('error', () => resolve(true));
  });
  expect(closed).toBe(true);
  await waitUntil('the refusal is counted', async () => (await metric('grpc_connections_refused_total')) >= 1);
  await waitUntil('the refusal is logged', async () =>
    readFileSync(cluster.node('n1').logFile, 'utf8').includes('"grpc_connection_refused"'),
  );
  for (const s of held) s.destroy();
  // A client with its own connection (grpc-js shares connections between clients by default).
  const fresh = new RoomClient(
    address,
    { apiKey: cluster.apiKey, apiSecret: cluster.apiSecret },
    { 'grpc.use_local_subchannel_pool': 1 },
  );
  await waitUntil('the node serves new connections again', async () => {
    await fresh.status();
    return true;
  });
  fresh.close();
}, 120_000);
