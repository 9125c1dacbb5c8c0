/**
 * Goal: a snapshot holds exactly the state at capture time, even while the state machine goes
 * on applying between its slices, and a replica restored from it continues identically
 * (rooms, dedup table and its evictions, expiry). Method: seeded random command streams on two
 * replicas, one of which is rebuilt from a snapshot midway; digests must match at every step.
 */
import { describe, expect, it } from 'vitest';
import { SeededRng } from '../../../src/lib/rng.js';
import { REGISTRY_LIMITS, RoomRegistry, SnapshotFormatError } from '../../../src/registry/index.js';
import type { Command } from '../../../src/gen/roomregistry/command/v1/command.js';
import { Driver, cmd, digest } from './commands.js';

async function* chunksOf(parts: readonly Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield p;
}

function randomCommand(rng: SeededRng, rooms: number): Command {
  const name = `room-${rng.nextInt(rooms)}`;
  const requestId = rng.nextInt(3) === 0 ? `req-${rng.nextInt(rooms * 4)}` : '';
  switch (rng.nextInt(5)) {
    case 0:
      return cmd.create(name, { requestId, emptyTimeoutS: 1 + rng.nextInt(30) });
    case 1:
      return cmd.update(name, `m${rng.nextInt(1000)}`, requestId);
    case 2:
      return cmd.remove(name, requestId);
    case 3:
      return cmd.occupancy(name, rng.nextInt(3));
    default:
      return cmd.expire(name, `room-${rng.nextInt(rooms)}`);
  }
}

/** drain writes a capture in small slices, applying `between()` after each slice. */
function drain(r: RoomRegistry, sliceBytes: number, between: () => void): Uint8Array[] {
  const source = r.captureSnapshot();
  const parts: Uint8Array[] = [];
  for (let c = source.nextChunk(sliceBytes); c !== null; c = source.nextChunk(sliceBytes)) {
    parts.push(c);
    between();
  }
  return parts;
}

describe('RoomRegistry snapshots', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`capture is the state at capture time while writes go on between slices (seed ${seed})`, async () => {
      const rng = new SeededRng(seed);
      const d = new Driver(new RoomRegistry());
      for (let i = 0; i < 400; i++) d.apply(randomCommand(rng, 60));
      const atCapture = digest(d.registry);
      // Tiny slices, several writes between each: creates, deletes and re-creates race the writer.
      const parts = drain(d.registry, 64, () => {
        for (let i = 0; i < 3; i++) d.apply(randomCommand(rng, 60));
      });
      const restored = new RoomRegistry();
      await restored.restore(chunksOf(parts));
      expect(digest(restored)).toBe(atCapture);
    });
  }

  it('a restored replica continues exactly like the original, dedup evictions included', async () => {
    const rng = new SeededRng(99);
    const a = new Driver(new RoomRegistry());
    const script: Command[] = [];
    // More distinct request ids than the dedup table keeps, so eviction order matters.
    const ids = REGISTRY_LIMITS.dedupEntriesMax + 500;
    for (let i = 0; i < ids; i++) script.push(cmd.create(`r${i % 50}`, { requestId: `id-${i}` }));
    for (let i = 0; i < 2_000; i++)
      script.push(
        rng.nextInt(2) === 0 ? cmd.remove(`r${rng.nextInt(50)}`, `id-${rng.nextInt(ids)}`) : randomCommand(rng, 50),
      );
    const half = script.length >> 1;
    for (const c of script.slice(0, half)) a.apply(c);
    const parts = drain(a.registry, 256 << 10, () => {});
    const b = new Driver(new RoomRegistry());
    await b.registry.restore(chunksOf(parts));
    b.next = a.next;
    b.nowMs = a.nowMs;
    for (const c of script.slice(half)) {
      a.nowMs += 7;
      b.nowMs = a.nowMs;
      expect(b.apply(c)).toEqual(a.apply(c));
    }
    expect(digest(b.registry)).toBe(digest(a.registry));
    expect(b.registry.dueRooms(a.nowMs + 1e9, 1e6)).toEqual(a.registry.dueRooms(a.nowMs + 1e9, 1e6));
  });

  it('refuses a stream cut short, and keeps the state it had', async () => {
    const d = new Driver(new RoomRegistry());
    for (let i = 0; i < 20; i++) d.apply(cmd.create(`r${i}`));
    const whole = drain(d.registry, 1 << 20, () => {});
    const bytes = whole[0] ?? new Uint8Array(0);
    const target = new Driver(new RoomRegistry());
    target.apply(cmd.create('keep-me'));
    for (const cut of [bytes.byteLength - 1, bytes.byteLength - 30, 10]) {
      await expect(target.registry.restore(chunksOf([bytes.subarray(0, cut)]))).rejects.toBeInstanceOf(
        SnapshotFormatError,
      );
    }
    expect(target.registry.listRooms(['keep-me'])).toHaveLength(1);
    // Any chunking of the same bytes restores the same state.
    const oneByte = Array.from(bytes.subarray(0, 200), (b) => Uint8Array.of(b));
    await target.registry.restore(chunksOf([...oneByte, bytes.subarray(200)]));
    expect(digest(target.registry)).toBe(digest(d.registry));
  });

  it('ends watchers when a snapshot replaces the state', async () => {
    const d = new Driver(new RoomRegistry());
    d.apply(cmd.create('a'));
    const parts = drain(d.registry, 1 << 20, () => {});
    const other = new Driver(new RoomRegistry());
    let rings = 0;
    other.registry.setWatchNotifier(() => rings++);
    await other.registry.restore(chunksOf(parts));
    expect(rings).toBe(1);
    expect(other.registry.watchChanges(0, 10)).toEqual({ ok: false, oldestRevision: 1 });
  });
});
