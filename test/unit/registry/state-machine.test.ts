/**
 * Goal: the room state machine applies every command as LiveKit's rules and DESIGN §5 say,
 * deterministically. Method: apply encoded commands through `apply` with a driven clock and
 * read the results and the state back.
 */
import { describe, expect, it } from 'vitest';
import { RoomRegistry } from '../../../src/registry/index.js';
import { Driver, cmd } from './commands.js';

describe('RoomRegistry commands', () => {
  it('creates with LiveKit defaults, and a second create returns the first room unchanged', () => {
    const d = new Driver(new RoomRegistry());
    const first = d.apply(cmd.create('a', { metadata: 'm1' }));
    expect(first.result?.$case).toBe('room');
    const room = first.result?.$case === 'room' ? first.result.value : null;
    expect(room?.created).toBe(true);
    expect(room?.room).toMatchObject({
      name: 'a',
      emptyTimeout: 300,
      departureTimeout: 20,
      metadata: 'm1',
      creationTimeMs: d.nowMs,
      creationTime: Math.floor(d.nowMs / 1000),
    });
    expect(room?.room?.version).toBeUndefined();
    d.nowMs += 5_000;
    const again = d.apply(cmd.create('a', { metadata: 'other', emptyTimeoutS: 9 }));
    const second = again.result?.$case === 'room' ? again.result.value : null;
    expect(second?.created).toBe(false);
    expect(second?.room).toEqual(room?.room);
    expect(d.registry.roomCount()).toBe(1);
  });

  it('updates metadata with a version bump, deletes, and says NOT_FOUND for unknown rooms', () => {
    const d = new Driver(new RoomRegistry());
    d.apply(cmd.create('a'));
    const u1 = d.apply(cmd.update('a', 'x'));
    const u2 = d.apply(cmd.update('a', ''));
    expect(u1.result?.$case === 'room' && u1.result.value.room?.version?.ticks).toBe(1);
    expect(u2.result?.$case === 'room' && u2.result.value.room?.version).toEqual({
      unixMicro: d.nowMs * 1000,
      ticks: 2,
    });
    expect(d.registry.getRoom('a')?.metadata).toBe('');
    expect(d.registry.getRoom('a')?.revision).toBe(3);
    expect(d.apply(cmd.remove('a')).result?.$case).toBe('deleted');
    for (const c of [cmd.remove('a'), cmd.update('a', 'y'), cmd.occupancy('a', 1)]) {
      expect(d.apply(c).result).toEqual({
        $case: 'failure',
        value: { code: 'NOT_FOUND', message: 'requested room does not exist' },
      });
    }
    expect(d.registry.totalsSoFar()).toEqual({ created: 1, deleted: 1, expired: 0, mediaNodeLeasesExpired: 0 });
  });
});

describe('RoomRegistry request ids and lists', () => {
  it('applies a retried request id once and returns the first result', () => {
    const d = new Driver(new RoomRegistry());
    const first = d.apply(cmd.create('a', { requestId: 'req-1' }));
    d.apply(cmd.remove('a'));
    const retry = d.apply(cmd.create('a', { requestId: 'req-1' }));
    expect(retry).toEqual(first);
    expect(retry.revision).toBe(1);
    expect(d.registry.roomCount()).toBe(0); // the retry did not create the room again
    const misuse = d.apply(cmd.remove('a', 'req-1'));
    expect(misuse.result).toMatchObject({ $case: 'failure', value: { code: 'INVALID_ARGUMENT' } });
  });

  it('lists by names in request order, skipping unknown ones, and pages all rooms in name order', () => {
    const d = new Driver(new RoomRegistry());
    const names = Array.from({ length: 250 }, (_, i) => `room-${String((i * 37) % 250).padStart(3, '0')}`);
    for (const n of names) d.apply(cmd.create(n));
    expect(d.registry.listRooms(['room-010', 'nope', 'room-002']).map((r) => r.name)).toEqual(['room-010', 'room-002']);
    const seen: string[] = [];
    let after = '';
    do {
      const page = d.registry.listPage(after, 40);
      expect(page.rooms.length).toBeLessThanOrEqual(40);
      seen.push(...page.rooms.map((r) => r.name));
      after = page.nextAfterName;
    } while (after !== '');
    expect(seen).toEqual([...names].sort());
  });

  it('pages names of any script in UTF-8 byte order, resuming after each page exactly', () => {
    const d = new Driver(new RoomRegistry());
    // U+FFFD sorts before U+1F600 by bytes (code points), after it by UTF-16 code units.
    const names = ['a', 'é', '中文', '\uFFFD', '😀', 'a😀', 'a\uFFFD', '\uE000', 'ab', 'ä'];
    for (const n of names) d.apply(cmd.create(n));
    const seen: string[] = [];
    let after = '';
    do {
      const page = d.registry.listPage(after, 3);
      seen.push(...page.rooms.map((r) => r.name));
      after = page.nextAfterName;
    } while (after !== '');
    expect(seen).toEqual([...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
    expect(seen.indexOf('\uFFFD')).toBeLessThan(seen.indexOf('😀'));
    for (const n of names) expect(d.registry.getRoom(n)?.name).toBe(n);
  });
});

describe('RoomRegistry expiry', () => {
  it('expires a room nobody joined empty_timeout after creation, not before', () => {
    const d = new Driver(new RoomRegistry());
    const t0 = d.nowMs;
    d.apply(cmd.create('a', { emptyTimeoutS: 10 }));
    d.apply(cmd.create('b', { emptyTimeoutS: 20 }));
    expect(d.registry.dueRooms(t0 + 9_999, 100)).toEqual([]);
    expect(d.registry.dueRooms(t0 + 10_000, 100)).toEqual(['a']);
    expect(d.registry.overdue(t0 + 15_000)).toEqual({ rooms: 1, oldestAgeMs: 5_000 });
    d.nowMs = t0 + 9_000; // an ExpireRooms stamped before the deadline deletes nothing
    expect(d.apply(cmd.expire('a', 'b')).result).toEqual({ $case: 'expired', value: { rooms: 0 } });
    d.nowMs = t0 + 10_000;
    expect(d.apply(cmd.expire('a', 'b')).result).toEqual({ $case: 'expired', value: { rooms: 1 } });
    expect(d.registry.listRooms(['a', 'b']).map((r) => r.name)).toEqual(['b']);
    expect(d.registry.overdue(t0 + 15_000)).toEqual({ rooms: 0, oldestAgeMs: 0 });
    expect(d.registry.totalsSoFar().expired).toBe(1);
  });

  it('keeps an occupied room, and expires it departure_timeout after the last participant left', () => {
    const d = new Driver(new RoomRegistry());
    const t0 = d.nowMs;
    d.apply(cmd.create('a', { emptyTimeoutS: 10, departureTimeoutS: 30 }));
    d.nowMs = t0 + 5_000;
    d.apply(cmd.occupancy('a', 2));
    expect(d.registry.dueRooms(t0 + 1_000_000, 10)).toEqual([]);
    d.nowMs = t0 + 60_000;
    d.apply(cmd.occupancy('a', 0));
    expect(d.registry.getRoom('a')?.nodeId).toBe('media-1');
    expect(d.registry.dueRooms(t0 + 89_999, 10)).toEqual([]);
    expect(d.registry.dueRooms(t0 + 90_000, 10)).toEqual(['a']);
  });

  it('re-checks each room when the sweep applies: one that got a participant meanwhile stays', () => {
    const d = new Driver(new RoomRegistry());
    d.apply(cmd.create('a', { emptyTimeoutS: 1 }));
    d.apply(cmd.create('b', { emptyTimeoutS: 1 }));
    d.nowMs += 2_000;
    const due = d.registry.dueRooms(d.nowMs, 10);
    expect(due).toEqual(['a', 'b']);
    d.apply(cmd.occupancy('b', 1)); // lands between the sweeper's read and its batch
    expect(d.apply(cmd.expire(...due)).result).toEqual({ $case: 'expired', value: { rooms: 1 } });
    expect(d.registry.listRooms(['a', 'b']).map((r) => r.name)).toEqual(['b']);
  });

  it('hands out due rooms earliest first and bounded by max', () => {
    const d = new Driver(new RoomRegistry());
    for (let i = 0; i < 50; i++) d.apply(cmd.create(`r${i}`, { emptyTimeoutS: 50 - i }));
    d.nowMs += 100_000;
    const due = d.registry.dueRooms(d.nowMs, 5);
    expect(due).toEqual(['r49', 'r48', 'r47', 'r46', 'r45']);
    expect(d.registry.overdue(d.nowMs).rooms).toBe(50);
  });
});

describe('RoomRegistry watch', () => {
  it('records changes for readers, rings the notifier inside apply, and refuses a revision it no longer has', () => {
    const d = new Driver(new RoomRegistry());
    let rings = 0;
    d.registry.setWatchNotifier(() => rings++);
    d.apply(cmd.create('a'));
    d.apply(cmd.update('a', 'x'));
    d.apply(cmd.remove('a'));
    expect(rings).toBe(3);
    const read = d.registry.watchChanges(1, 100);
    expect(read.ok && read.events.map((e) => `${e.type}:${e.room.name}@${e.revision}`)).toEqual([
      'updated:a@2',
      'deleted:a@3',
    ]);
    expect(d.registry.watchChanges(3, 100)).toEqual({ ok: true, events: [] });
    d.apply(cmd.create('b'));
    for (let i = 0; i < 10_001; i++) d.apply(cmd.update('b', String(i)));
    expect(d.registry.watchChanges(2, 100)).toMatchObject({ ok: false });
  });

  it('reads about eventsMax events but never splits a revision (one ExpireRooms changes many rooms)', () => {
    const d = new Driver(new RoomRegistry());
    for (const n of ['a', 'b', 'c']) d.apply(cmd.create(n, { emptyTimeoutS: 1 }));
    d.nowMs += 10_000;
    d.apply(cmd.expire('a', 'b', 'c'));
    const read = d.registry.watchChanges(3, 1);
    expect(read.ok && read.events.map((e) => `${e.type}:${e.room.name}@${e.revision}`)).toEqual([
      'deleted:a@4',
      'deleted:b@4',
      'deleted:c@4',
    ]);
  });
});
