/**
 * Goal: RoomCache's rules that a live cluster rarely shows on cue: pages read at different
 * revisions and replayed events change a room only when newer; a linearizable read waits for
 * the whole of a revision that changed many rooms (one ExpireRooms entry: rooms_revision_changes
 * events), not just its first event; a lost stream resumes from the last revision the cache
 * has whole, home first. Method: members and server faked in memory, their watch
 * streams driven event by event by the test.
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { type CacheMember, type CacheServer, RoomCache } from '../../../src/client/room-cache.js';
import {
  Consistency,
  type ListRoomsResponse,
  type ReadRevisionResponse,
  Room,
  RoomEventType,
  type WatchRoomsResponse,
} from '../../../src/gen/roomregistry/v1/rooms.js';

type FakeStream = EventEmitter & { cancel: () => void; fromRevision: number };

/** FakeMember serves `pages` in order and records every watch it opened. */
class FakeMember implements CacheMember {
  readonly watches: FakeStream[] = [];
  private page = 0;
  constructor(
    readonly id: string,
    private readonly pages: ListRoomsResponse[],
  ) {}

  listRooms(): Promise<ListRoomsResponse> {
    const p = this.pages[this.page++ % this.pages.length] as ListRoomsResponse;
    return Promise.resolve(p);
  }

  watchRooms(fromRevision: number): grpc.ClientReadableStream<WatchRoomsResponse> {
    const s = Object.assign(new EventEmitter(), { fromRevision, cancel: () => {} });
    s.cancel = () => s.emit('error', Object.assign(new Error('cancelled'), { code: grpc.status.CANCELLED }));
    this.watches.push(s);
    return s as unknown as grpc.ClientReadableStream<WatchRoomsResponse>;
  }
}

const room = (name: string, revision: number, metadata = ''): Room => Room.fromPartial({ name, revision, metadata });
const event = (type: RoomEventType, r: Room, revision: number): WatchRoomsResponse => ({ type, room: r, revision });
const page = (revision: number, rooms: Room[], nextPageToken = ''): ListRoomsResponse => ({
  rooms,
  revision,
  nextPageToken,
  stalenessMs: 0,
});

function serverSaying(rr: Omit<ReadRevisionResponse, 'stalenessMs'>): CacheServer {
  const refuse = (): Promise<never> => Promise.reject(new Error('the test expects the cache to answer'));
  return { readRevision: () => Promise.resolve({ ...rr, stalenessMs: 0 }), getRoom: refuse, listRooms: refuse };
}

const caches: RoomCache[] = [];
afterEach(async () => {
  for (const c of caches.splice(0)) await c.close();
});

function start(members: FakeMember[], server: CacheServer): RoomCache {
  const cache = new RoomCache(members, server);
  caches.push(cache);
  return cache;
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setImmediate(r));
}

describe('RoomCache', () => {
  it('watches from the first page; pages and replayed events change a room only when newer', async () => {
    const m = new FakeMember('a', [page(5, [room('a', 3)], 'next'), page(8, [room('b', 7, 'page')])]);
    const cache = start([m], serverSaying({ revision: 8, roomsRevision: 7, roomsRevisionChanges: 1 }));
    await cache.ready();
    expect(m.watches[0]?.fromRevision).toBe(5);
    const w = m.watches[0] as FakeStream;
    w.emit('data', event(RoomEventType.ROOM_EVENT_TYPE_UPDATED, room('b', 6, 'older'), 6)); // older than the page's
    w.emit('data', event(RoomEventType.ROOM_EVENT_TYPE_DELETED, room('a', 3), 7));
    const got = await cache.getRoom({ name: 'b' });
    expect(got.room?.metadata).toBe('page');
    await expect(cache.getRoom({ name: 'a', consistency: Consistency.CONSISTENCY_LOCAL })).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
      details: 'requested room does not exist',
    });
    expect(cache.stats()).toMatchObject({ rooms: 1, revision: 8, relists: 0, reconnects: 0 });
  });

  it('a linearizable read waits for every change of a revision that changed many rooms', async () => {
    const m = new FakeMember('a', [page(5, [room('x', 1), room('y', 1), room('z', 1)])]);
    const cache = start([m], serverSaying({ revision: 12, roomsRevision: 10, roomsRevisionChanges: 3 }));
    await cache.ready();
    const w = m.watches[0] as FakeStream;
    w.emit('data', event(RoomEventType.ROOM_EVENT_TYPE_DELETED, room('x', 1), 10));
    w.emit('data', event(RoomEventType.ROOM_EVENT_TYPE_DELETED, room('y', 1), 10));
    let answered = false;
    const read = cache.getRoom({ name: 'z' }).then(
      () => (answered = true),
      (e: grpc.ServiceError) => e.code,
    );
    for (let turn = 0; turn < 10; turn++) await new Promise((r) => setImmediate(r)); // ReadRevision answered, the read waits
    expect(answered).toBe(false); // two of the three changes at 10 are in
    w.emit('data', event(RoomEventType.ROOM_EVENT_TYPE_DELETED, room('z', 1), 10));
    expect(await read).toBe(grpc.status.NOT_FOUND);
  });

  it('a lost stream resumes from the last whole revision, home first', async () => {
    const pages = [page(5, [room('x', 1)])];
    const [a, b] = [new FakeMember('a', pages), new FakeMember('b', pages)];
    const cache = start([a, b], serverSaying({ revision: 12, roomsRevision: 10, roomsRevisionChanges: 2 }));
    await cache.ready();
    const first = a.watches[0] as FakeStream;
    first.emit('data', event(RoomEventType.ROOM_EVENT_TYPE_CREATED, room('p', 9), 9));
    first.emit('data', event(RoomEventType.ROOM_EVENT_TYPE_CREATED, room('q', 10), 10)); // 1 of 2 at 10
    first.emit('error', Object.assign(new Error('gone'), { code: grpc.status.UNAVAILABLE }));
    await until(() => a.watches.length > 1);
    expect(b.watches).toHaveLength(0); // the stream had worked: its home is asked first again
    const second = a.watches[1] as FakeStream;
    expect(second.fromRevision).toBe(9); // 10 may have arrived in part: it is asked for again
    second.emit('data', event(RoomEventType.ROOM_EVENT_TYPE_CREATED, room('q', 10), 10)); // a duplicate
    second.emit('data', event(RoomEventType.ROOM_EVENT_TYPE_CREATED, room('r', 10), 10));
    expect((await cache.getRoom({ name: 'r' })).room?.name).toBe('r');
    expect(cache.stats()).toMatchObject({ rooms: 4, reconnects: 1 });
  });
});
