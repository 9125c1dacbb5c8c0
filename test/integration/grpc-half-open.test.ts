/**
 * Goal: a watcher whose host vanished without closing its connection (half-open: no FIN, no RST)
 * gives its watch slot back (issue 12 item 7): the listener pings every connection and drops one
 * that does not answer. Method: the real GrpcApi listener in-process over a real RoomRegistry,
 * with the keepalive shortened; a TCP proxy between a grpc-js watcher and the listener stops
 * forwarding in both directions while keeping both sockets open.
 */
import net from 'node:net';
import { afterAll, it } from 'vitest';
import { GrpcApi } from '../../src/api/grpc-server.js';
import { GRPC_LIMITS } from '../../src/api/grpc-limits.js';
import type { MediaNodeHandlers } from '../../src/api/media-node-handlers.js';
import type { RoomHandlers } from '../../src/api/room-handlers.js';
import { RoomClient } from '../../src/client/room-client.js';
import { RoomRegistry } from '../../src/registry/index.js';
import { waitUntil } from '../harness/process-cluster.js';
import { Driver, cmd } from '../unit/registry/commands.js';

const apiKey = 'half-open-key';
const apiSecret = 'half-open-secret-half-open-secret';
const closers: (() => void)[] = [];

afterAll(() => {
  for (const close of closers) close();
});

it('drops a half-open watcher by keepalive and frees its slot', async () => {
  const d = new Driver(new RoomRegistry());
  const api = new GrpcApi(
    {} as RoomHandlers, // WatchRooms does not use the handlers
    {} as MediaNodeHandlers,
    d.registry,
    { status: () => ({}) as never, transferLeadership: () => '', membership: {} as never },
    {
      apiKeys: new Map([[apiKey, apiSecret]]),
      adminKeys: new Set(),
      defaultDeadlineMs: 5_000,
      maxDeadlineMs: 5_000,
      limits: { ...GRPC_LIMITS, keepaliveIntervalMs: 300, keepaliveTimeoutMs: 200 },
    },
  );
  const port = await api.listen('127.0.0.1:0');
  closers.push(() => void api.close(0));
  let blackhole = (): void => {};
  const proxy = net.createServer((down) => {
    const up = net.connect(port, '127.0.0.1');
    down.pipe(up);
    up.pipe(down);
    for (const s of [up, down]) s.on('error', () => {});
    blackhole = () => {
      down.unpipe(up);
      up.unpipe(down);
      down.pause();
      up.pause();
    };
    closers.push(() => {
      up.destroy();
      down.destroy();
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  closers.push(() => proxy.close());
  const address = proxy.address();
  const client = new RoomClient(`127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`, {
    apiKey,
    apiSecret,
  });
  closers.push(() => client.close());
  const stream = client.watchRooms(0);
  stream.on('error', () => {});
  let received = 0;
  stream.on('data', () => received++);
  await waitUntil('the watch is open', async () => api.stats().watch.watchers === 1);
  d.apply(cmd.create('a'));
  await waitUntil('the watcher hears the change', async () => received === 1);
  blackhole();
  await waitUntil('the half-open watcher is dropped', async () => api.stats().watch.watchers === 0, 15_000);
});
