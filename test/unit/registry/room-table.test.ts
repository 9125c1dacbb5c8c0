// Goal: the packed room table (issue 17) holds exactly what a plain Map would, through any mix
// of creates, replacements and deletes, while it moves records between slabs to reuse the space
// they free. Method: seeded random operations checked against a Map model after every step,
// with sizes that make slabs fill, empty and compact, and a record larger than a slab's share.
import { describe, expect, it } from 'vitest';
import type { StoredRoom } from '../../../src/gen/roomregistry/snapshot/v1/snapshot.js';
import { SeededRng } from '../../../src/lib/rng.js';
import { RoomTable } from '../../../src/registry/room-table.js';

function room(name: string, metadata: string, revision: number): StoredRoom {
  return {
    sid: `RM_${name}`,
    name,
    emptyTimeoutS: 300,
    departureTimeoutS: 20,
    maxParticipants: 0,
    creationTimeMs: 1_700_000_000_000 + revision,
    turnPassword: '',
    metadata,
    numParticipants: 0,
    numPublishers: 0,
    nodeId: '',
    versionUnixMicro: 0,
    versionTicks: 0,
    revision,
    everJoined: false,
    lastLeftMs: 0,
    shares: [],
  };
}

function expectSame(table: RoomTable, model: Map<string, { room: StoredRoom; deadline: number }>): void {
  expect(table.size).toBe(model.size);
  expect([...table.names()].sort()).toEqual([...model.keys()].sort());
  for (const [name, { room: r, deadline }] of model) {
    expect(table.get(name)).toEqual(r);
    expect(table.deadlineOf(name)).toBe(deadline);
  }
}

describe('RoomTable', () => {
  it.each([1, 2, 3, 4, 5])('matches a Map through random creates, updates and deletes (seed %i)', (seed) => {
    const rng = new SeededRng(seed);
    const table = new RoomTable();
    const model = new Map<string, { room: StoredRoom; deadline: number }>();
    for (let step = 1; step <= 6_000; step++) {
      const name = `room-${rng.nextInt(400)}`;
      const roll = rng.nextInt(10);
      if (roll < 2) {
        expect(table.delete(name)).toBe(model.delete(name));
      } else {
        // Mostly small records, some of a few KiB, rarely one bigger than a slab's eighth.
        const size = roll === 9 && rng.nextInt(20) === 0 ? 200_000 : roll >= 7 ? rng.nextInt(4_000) : rng.nextInt(120);
        const r = room(name, 'm'.repeat(size), step);
        const deadline = rng.nextInt(2) === 0 ? Infinity : step * 1000;
        table.set(r, deadline);
        model.set(name, { room: r, deadline });
      }
      expect(table.has(name)).toBe(model.has(name));
      if (step % 500 === 0) expectSame(table, model);
    }
    expectSame(table, model);
    expect(table.compactions).toBeGreaterThan(0);
  });

  it('marks what a capture wrote only until the room is replaced or its slot reused', () => {
    const table = new RoomTable();
    table.set(room('a', '', 1), Infinity);
    table.markCaptured('a', 7);
    expect(table.captureOf('a')).toBe(7);
    table.delete('a');
    table.set(room('b', '', 2), Infinity); // reuses a's slot
    expect(table.captureOf('b')).toBe(0);
    expect(table.captureOf('a')).toBe(0);
  });

  it('hands out the encoded record, which decodes to the room', () => {
    const table = new RoomTable();
    const r = room('a', 'meta', 3);
    table.set(r, 5_000);
    const bytes = table.bytesOf('a');
    expect(bytes).toBeDefined();
    table.setEncoded('copy', Uint8Array.from(bytes ?? []), 6_000);
    expect(table.get('copy')).toEqual(r); // the bytes name 'a': the key is the caller's
    expect(table.deadlineOf('copy')).toBe(6_000);
    expect(table.bytesOf('missing')).toBeUndefined();
    expect(table.deadlineOf('missing')).toBe(Infinity);
  });
});

describe('RoomTable space', () => {
  it('keeps the slabs close to the live bytes as rooms are replaced, and frees them all when emptied', () => {
    const table = new RoomTable();
    const rng = new SeededRng(7);
    const names = Array.from({ length: 20_000 }, (_, i) => `r${i}`);
    for (const n of names) table.set(room(n, 'x'.repeat(100), 1), Infinity);
    for (let round = 2; round <= 6; round++) {
      // In a random order, so the holes are spread over every slab and only compaction reclaims them.
      for (let k = 0; k < names.length; k++) {
        const n = names[rng.nextInt(names.length)] ?? '';
        table.set(room(n, 'y'.repeat(100 + round), round), Infinity);
      }
      for (const n of names) table.set(room(n, 'y'.repeat(100 + round), round), Infinity);
    }
    // Each slab is compacted below 3/4 live: with the headers, the slabs stay under 1.5x the records.
    expect(table.slabBytes).toBeLessThan(table.recordBytes * 1.5 + (1 << 20) * 2);
    expect(table.get('r123')?.metadata).toBe('y'.repeat(106));
    expect(table.compactions).toBeGreaterThan(0);
    for (const n of names) table.delete(n);
    expect(table.size).toBe(0);
    expect(table.recordBytes).toBe(0);
    expect(table.slabBytes).toBeLessThanOrEqual(1 << 20); // at most the slab being filled
  });

  it('frees the slabs of rooms deleted in the order they were written without moving a record', () => {
    // A backlog of rooms expiring in creation order: each slab empties whole and is freed, so
    // the drain copies nothing (with a per-slab compaction test it moved each record up to 3 times).
    const table = new RoomTable();
    const names = Array.from({ length: 50_000 }, (_, i) => `r${i}`);
    for (const n of names) table.set(room(n, 'x'.repeat(100), 1), Infinity);
    const slabsFull = table.slabBytes;
    for (const [i, n] of names.entries()) {
      table.delete(n);
      if (i % 10_000 === 0) expect(table.slabBytes).toBeLessThanOrEqual(slabsFull);
    }
    expect(table.compactions).toBe(0);
    expect(table.slabBytes).toBeLessThanOrEqual(1 << 20);
  });
});
