/**
 * Goal: RoomRegistry.roomsRevision (what ReadRevision's rooms_revision reports, issue 18) names
 * the newest room change and how many changes it made, so a watch-fed cache knows what to wait
 * for: a heartbeat or a failed command moves the applied index but not it, an ExpireRooms
 * batch counts every room it changed, and after a snapshot restore it is the snapshot's index
 * (where a watcher that re-listed stands). Method: apply commands with the Driver, read it back.
 */
import { describe, expect, it } from 'vitest';
import { RoomRegistry } from '../../../src/registry/index.js';
import { Driver, cmd } from './commands.js';

async function* chunksOf(r: RoomRegistry): AsyncIterable<Uint8Array> {
  const source = r.captureSnapshot();
  for (let c = source.nextChunk(4096); c !== null; c = source.nextChunk(4096)) yield c;
}

describe('RoomRegistry.roomsRevision', () => {
  it('is 0 before any room changed, then the newest change', () => {
    const d = new Driver(new RoomRegistry());
    expect(d.registry.roomsRevision()).toEqual({ revision: 0, changes: 0 });
    d.apply(cmd.create('a')); // 1
    d.apply(cmd.update('a', 'm')); // 2
    expect(d.registry.roomsRevision()).toEqual({ revision: 2, changes: 1 });
  });

  it('stays put through entries that change no room (heartbeats, refused commands)', () => {
    const d = new Driver(new RoomRegistry());
    d.apply(cmd.create('a')); // 1
    d.apply(cmd.heartbeat('sfu-1')); // 2
    d.apply(cmd.remove('missing')); // 3: NOT_FOUND, nothing changes
    expect(d.registry.appliedIndex()).toBe(3);
    expect(d.registry.roomsRevision()).toEqual({ revision: 1, changes: 1 });
  });

  it('counts every room one ExpireRooms entry changed at its one revision', () => {
    const d = new Driver(new RoomRegistry());
    for (const name of ['a', 'b', 'c', 'd']) d.apply(cmd.create(name)); // 1..4
    d.nowMs += 301_000; // past the default empty timeout: the expiry re-check lets them go
    d.apply(cmd.expire('a', 'b', 'c', 'missing')); // 5: three rooms expire
    expect(d.registry.roomsRevision()).toEqual({ revision: 5, changes: 3 });
    const seen = d.registry.watchChanges(4, 100);
    expect(seen.ok && seen.events.map((e) => e.revision)).toEqual([5, 5, 5]);
  });

  it('after a snapshot restore is the snapshot index, with no changes counted, until a room changes', async () => {
    const d = new Driver(new RoomRegistry());
    d.apply(cmd.create('a')); // 1
    d.apply(cmd.heartbeat('sfu-1')); // 2
    d.apply(cmd.heartbeat('sfu-1')); // 3
    const restored = new RoomRegistry();
    await restored.restore(chunksOf(d.registry));
    expect(restored.roomsRevision()).toEqual({ revision: 3, changes: 0 });
    const r = new Driver(restored);
    r.next = 4;
    r.apply(cmd.create('b'));
    expect(restored.roomsRevision()).toEqual({ revision: 4, changes: 1 });
  });
});
