// Goal: the packed room table (issue 17) holds exactly what a plain Map would, through any mix
// of creates, replacements and deletes, while it moves records between slabs to reuse the space
// they free; its name lookups (a hash table over the records' name bytes), the sorted name
// index and the expiry index over its slots answer as plain models do; and a snapshot capture
// that runs meanwhile writes exactly the rooms of capture time. Method: seeded random operations
// checked against Map / sorted-array / scan models, with sizes that make slabs fill, empty and
// compact, a record larger than a slab's share, non-ASCII names, and names whose hashes collide.
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { SnapshotHeader, StoredRoom } from '../../../src/gen/roomregistry/snapshot/v1/snapshot.js';
import { SeededRng } from '../../../src/lib/rng.js';
import { ExpiryIndex } from '../../../src/registry/expiry-index.js';
import { hashBytes } from '../../../src/registry/name-bytes.js';
import { NO_SLOT, RoomTable } from '../../../src/registry/room-table.js';
import { SnapshotCapture, decodeSnapshot } from '../../../src/registry/snapshot-codec.js';
import { SortedNames } from '../../../src/registry/sorted-names.js';

const SEEDS = [1, 2, 3, 4, 5];

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

/** byBytes orders names as the table does: by their UTF-8 bytes (code points). */
function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * NAME_PREFIXES: ASCII, 2-, 3- and 4-byte UTF-8, and U+E000 / U+FFFD, which JS string order puts
 * after the 4-byte ones (surrogates) and byte order before them.
 */
const NAME_PREFIXES = ['room-', '', 'é', '中文', '😀', '\uE000', '\uFFFD', 'a😀'];

function randomName(rng: SeededRng, names: number): string {
  return `${NAME_PREFIXES[rng.nextInt(NAME_PREFIXES.length)] ?? ''}${rng.nextInt(names)}`;
}

/**
 * IndexedTable is the table with the indexes beside it, changed as RoomRegistry.put changes
 * them (a capture told before each change).
 */
class IndexedTable {
  readonly table = new RoomTable();
  readonly sorted = new SortedNames(this.table);
  readonly expiry = new ExpiryIndex((slot) => this.table.deadlineAt(slot));
  capture: SnapshotCapture | null = null;

  set(r: StoredRoom, deadline: number): void {
    const slot = this.table.slotOf(r.name);
    this.capture?.beforeChange(r.name, slot);
    const before = slot === NO_SLOT ? Infinity : this.table.deadlineAt(slot);
    const at = this.table.set(r, deadline);
    if (slot === NO_SLOT) this.sorted.add(at);
    else expect(at).toBe(slot);
    this.expiry.remove(at, before);
    this.expiry.add(at, deadline);
  }

  delete(name: string): boolean {
    const slot = this.table.slotOf(name);
    if (slot === NO_SLOT) return false;
    this.capture?.beforeChange(name, slot);
    this.sorted.delete(slot);
    this.expiry.remove(slot, this.table.deadlineAt(slot));
    this.table.deleteSlot(slot);
    return true;
  }

  /** names: the rooms' names, read slot by slot. */
  names(): string[] {
    const out: string[] = [];
    for (let slot = 0; slot < this.table.slotsEnd; slot++)
      if (this.table.recordAt(slot) !== undefined) out.push(this.table.nameOf(slot));
    return out;
  }
}

type Model = Map<string, { room: StoredRoom; deadline: number }>;

function expectSame(t: IndexedTable, model: Model, rng: SeededRng): void {
  const { table } = t;
  expect(table.size).toBe(model.size);
  const sorted = [...model.keys()].sort(byBytes);
  expect(t.names().sort(byBytes)).toEqual(sorted);
  for (const [name, { room: r, deadline }] of model) {
    expect(table.get(name)).toEqual(r);
    expect(table.deadlineOf(name)).toBe(deadline);
  }
  for (let i = 0; i < 50; i++) {
    const name = `${randomName(rng, 400)}x`; // never held
    expect(table.slotOf(name)).toBe(NO_SLOT);
    expect(table.get(name)).toBeUndefined();
  }
  const namesOf = (slots: number[]): string[] => slots.map((s) => table.nameOf(s));
  expect(namesOf(t.sorted.after('', model.size + 1))).toEqual(sorted);
  for (let i = 0; i < 20; i++) {
    const pivot = i % 2 === 0 ? (sorted[rng.nextInt(sorted.length)] ?? '') : randomName(rng, 400);
    expect(namesOf(t.sorted.after(pivot, 7))).toEqual(sorted.filter((n) => byBytes(n, pivot) > 0).slice(0, 7));
  }
  for (const now of [0, 999, 1_000, 12_345, 25_000, 60_000]) {
    const expected = [...model].filter(([, { deadline }]) => deadline <= now).map(([n]) => n);
    const due = namesOf(t.expiry.due(now, 1e9));
    expect(due.sort(byBytes)).toEqual(expected.sort(byBytes));
    const seconds = namesOf(t.expiry.due(now, 1e9)).map((n) => Math.floor((model.get(n)?.deadline ?? 0) / 1000));
    expect(seconds).toEqual([...seconds].sort((a, b) => a - b));
    expect(t.expiry.overdue(now).rooms).toBe(expected.length);
    expect(t.expiry.due(now, 3)).toEqual(t.expiry.due(now, 1e9).slice(0, 3));
  }
}

describe('RoomTable', () => {
  it.each(SEEDS)('matches plain models through random creates, updates and deletes (seed %i)', (seed) => {
    const rng = new SeededRng(seed);
    const t = new IndexedTable();
    const model: Model = new Map();
    for (let step = 1; step <= 6_000; step++) {
      const name = randomName(rng, 60);
      const roll = rng.nextInt(10);
      if (roll < 2) {
        expect(t.delete(name)).toBe(model.delete(name));
      } else {
        // Mostly small records, some of a few KiB, rarely one bigger than a slab's eighth.
        const size = roll === 9 && rng.nextInt(20) === 0 ? 200_000 : roll >= 7 ? rng.nextInt(4_000) : rng.nextInt(120);
        const r = room(name, 'm'.repeat(size), step);
        const deadline = rng.nextInt(2) === 0 ? Infinity : rng.nextInt(60_000);
        t.set(r, deadline);
        model.set(name, { room: r, deadline });
      }
      expect(t.table.slotOf(name) !== NO_SLOT).toBe(model.has(name));
      if (step % 500 === 0) expectSame(t, model, rng);
    }
    expectSame(t, model, rng);
    expect(t.table.compactions).toBeGreaterThan(0);
  });

  it('marks a record as dealt with by the capture that wrote it or was running when it was written', () => {
    const table = new RoomTable();
    const a = table.set(room('a', '', 1), Infinity);
    expect(table.captureAt(a)).toBe(0);
    table.beginCapture(7);
    table.markCaptured(a, 7);
    const b = table.set(room('b', '', 2), Infinity);
    expect(table.captureAt(b)).toBe(7);
    table.beginCapture(8);
    expect(table.captureAt(a)).toBe(7);
    table.deleteSlot(a);
    const c = table.set(room('c', '', 3), Infinity);
    expect(c).toBe(a); // the slot is reused, its mark is the new record's
    expect(table.captureAt(c)).toBe(8);
  });
});

describe('RoomTable names', () => {
  it('stores an encoded record under the name it holds, wherever its encoder put the name', () => {
    const table = new RoomTable();
    const r = room('a', 'meta', 3);
    const slot = table.set(r, 5_000);
    const bytes = table.recordAt(slot);
    expect(bytes).toBeDefined();
    expect(table.setEncoded(Uint8Array.from(bytes ?? []), 6_000)).toBe(slot); // the same room, replaced
    expect(table.get('a')).toEqual(r);
    expect(table.deadlineOf('a')).toBe(6_000);
    // The name first, then the other fields; and a record whose name field comes twice (the last wins).
    const nameFirst = StoredRoom.encode({ ...r, name: '' }, new BinaryWriter().uint32(18).string('b')).finish();
    const twice = StoredRoom.encode({ ...r, name: 'not-c' }, new BinaryWriter())
      .uint32(18)
      .string('c')
      .finish();
    table.setEncoded(nameFirst, 7_000);
    table.setEncoded(twice, 8_000);
    expect(table.get('b')).toEqual({ ...r, name: 'b' });
    expect(table.get('c')).toEqual({ ...r, name: 'c' });
    expect(table.slotOf('not-c')).toBe(NO_SLOT);
    expect(table.size).toBe(3);
    expect(table.get('missing')).toBeUndefined();
    expect(table.deadlineOf('missing')).toBe(Infinity);
  });

  it('finds names whose hashes collide, through deletes that shift the rest of their run back', () => {
    const byHash = new Map<number, string>();
    let pair: [string, string] | null = null;
    for (let i = 0; pair === null; i++) {
      const name = `c${i}`;
      const hash = hashBytes(Buffer.from(name), 0, Buffer.byteLength(name));
      const other = byHash.get(hash);
      if (other === undefined) byHash.set(hash, name);
      else pair = [other, name];
    }
    const [x, y] = pair;
    const table = new RoomTable(); // a hash table of 16 cells: the fillers collide in it too
    const fillers = ['f1', 'f2', 'f3', 'f4', 'f5'];
    for (const n of [...fillers, x, y]) table.set(room(n, '', 1), Infinity);
    expect([table.get(x)?.name, table.get(y)?.name]).toEqual([x, y]);
    table.deleteSlot(table.slotOf(x));
    expect(table.slotOf(x)).toBe(NO_SLOT);
    expect(table.get(y)?.name).toBe(y);
    for (const n of fillers) expect(table.get(n)?.name).toBe(n);
    table.set(room(x, 'again', 2), Infinity);
    table.deleteSlot(table.slotOf(y));
    expect(table.get(x)?.metadata).toBe('again');
    expect(table.slotOf(y)).toBe(NO_SLOT);
    expect(table.size).toBe(fillers.length + 1);
  });
});

async function* chunksOf(parts: readonly Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield p;
}

describe('RoomTable snapshot capture', () => {
  it.each(SEEDS)(
    'writes the rooms of capture time once each while rooms are created, replaced, deleted, re-created and compacted (seed %i)',
    async (seed) => {
      const rng = new SeededRng(seed);
      const t = new IndexedTable();
      const change = (step: number): void => {
        const name = randomName(rng, 30);
        if (rng.nextInt(3) === 0) t.delete(name);
        else t.set(room(name, 'm'.repeat(rng.nextInt(6_000)), step), rng.nextInt(60_000));
      };
      for (let step = 1; step <= 300; step++) change(step);
      for (const id of [1, 2]) {
        // Two captures, one after the other: the second meets the marks of the first.
        const atCapture = new Map(
          t.names().map((n) => [n, Uint8Array.from(t.table.recordAt(t.table.slotOf(n)) ?? [])]),
        );
        const compactions = t.table.compactions;
        const header = SnapshotHeader.fromPartial({ formatVersion: 1 });
        t.capture = new SnapshotCapture(id, header, t.table, [], []);
        const parts: Uint8Array[] = [];
        let step = 10_000 * id;
        for (let chunk = t.capture.nextChunk(2_048); chunk !== null; chunk = t.capture.nextChunk(2_048)) {
          parts.push(chunk);
          for (let k = 0; k < 20; k++) change(step++);
        }
        t.capture = null;
        expect(t.table.compactions).toBeGreaterThan(compactions);
        const written = new Map<string, Uint8Array>();
        await decodeSnapshot(chunksOf(parts), (encoded) => {
          const { name } = StoredRoom.decode(encoded);
          expect(written.has(name), `${name} written twice`).toBe(false);
          written.set(name, Uint8Array.from(encoded));
        });
        expect(written).toEqual(atCapture);
      }
    },
  );
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
    for (const n of names) table.deleteSlot(table.slotOf(n));
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
      table.deleteSlot(table.slotOf(n));
      if (i % 10_000 === 0) expect(table.slabBytes).toBeLessThanOrEqual(slabsFull);
    }
    expect(table.compactions).toBe(0);
    expect(table.slabBytes).toBeLessThanOrEqual(1 << 20);
  });
});
