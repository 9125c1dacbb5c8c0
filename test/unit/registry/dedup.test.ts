/**
 * Goal: the dedup table follows issue 12 item 9: ids are keyed by (API key, request id); a
 * reused id for another method or room is INVALID_ARGUMENT without naming the other room; an
 * id is kept for REGISTRY_LIMITS.dedupWindowMs of entry time unless the entry or byte bound
 * forces it out (announced); replicas restored from a snapshot (of this build or an older one)
 * evict identically. Method: apply commands through `apply` with a driven entry time and read
 * results back; snapshots go through captureSnapshot/restore.
 */
import { describe, expect, it } from 'vitest';
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import type { CommandResult } from '../../../src/gen/roomregistry/command/v1/command.js';
import { SnapshotRecord } from '../../../src/gen/roomregistry/snapshot/v1/snapshot.js';
import { type DedupEvictionReason, REGISTRY_LIMITS, RoomRegistry } from '../../../src/registry/index.js';
import { Driver, cmd } from './commands.js';

const WINDOW_MS = REGISTRY_LIMITS.dedupWindowMs;

async function* chunksOf(parts: readonly Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield p;
}

function snapshotOf(r: RoomRegistry): Uint8Array[] {
  const source = r.captureSnapshot();
  const parts: Uint8Array[] = [];
  for (let c = source.nextChunk(1 << 20); c !== null; c = source.nextChunk(1 << 20)) parts.push(c);
  return parts;
}

/** asOlderBuildWroteIt rewrites a snapshot's dedup records as a build before api_key, room and times wrote them. */
function asOlderBuildWroteIt(parts: readonly Uint8Array[]): Uint8Array {
  const bytes = Buffer.concat(parts);
  const writer = new BinaryWriter();
  for (let at = 0; at < bytes.byteLength;) {
    const reader = new BinaryReader(bytes.subarray(at));
    const length = reader.uint32();
    const start = at + reader.pos;
    const record = SnapshotRecord.decode(bytes.subarray(start, start + length));
    if (record.record?.$case === 'dedup') {
      const { requestId, command, result } = record.record.value;
      record.record.value = { requestId, command, result, apiKey: '', room: '' };
    }
    SnapshotRecord.encode(record, writer.fork()).join();
    at = start + length;
  }
  return writer.finish();
}

function created(r: CommandResult): boolean | undefined {
  return r.result?.$case === 'room' ? r.result.value.created : undefined;
}

function evictionsOf(d: Driver): DedupEvictionReason[] {
  const seen: DedupEvictionReason[] = [];
  d.registry.events.onDedupEvicted = (reason) => seen.push(reason);
  return seen;
}

describe('RoomRegistry dedup', () => {
  it('keys ids by API key: the same id under another key is another request', () => {
    const d = new Driver(new RoomRegistry());
    const first = d.apply(cmd.create('a', { requestId: 'id-1', apiKey: 'key-a' }));
    const other = d.apply(cmd.create('b', { requestId: 'id-1', apiKey: 'key-b' }));
    expect(created(first)).toBe(true);
    expect(created(other)).toBe(true);
    expect(other.result?.$case === 'room' && other.result.value.room?.name).toBe('b');
    expect(d.apply(cmd.create('b', { requestId: 'id-1', apiKey: 'key-b' }))).toEqual(other); // a retry
  });

  it("refuses an id reused for another room or method, without naming the first one's room", () => {
    const d = new Driver(new RoomRegistry());
    d.apply(cmd.create('room-a'));
    d.apply(cmd.create('secret-room-b'));
    const b = d.apply(cmd.update('secret-room-b', 'private', 'id-b', 'key'));
    // The same key (another token of it, scoped to room-a) reuses room-b's id on its own room.
    const replay = d.apply(cmd.update('room-a', 'x', 'id-b', 'key'));
    expect(replay.result).toMatchObject({ $case: 'failure', value: { code: 'INVALID_ARGUMENT' } });
    expect(JSON.stringify(replay)).not.toContain('secret-room-b');
    expect(JSON.stringify(replay)).not.toContain('private');
    expect(d.registry.getRoom('room-a')?.metadata).toBe('');
    expect(d.apply(cmd.remove('secret-room-b', 'id-b', 'key')).result).toMatchObject({
      $case: 'failure',
      value: { code: 'INVALID_ARGUMENT' },
    });
    expect(d.apply(cmd.update('secret-room-b', 'other args', 'id-b', 'key'))).toEqual(b); // same method and room: a retry
  });

  it('keeps an id for the whole window of entry time, and forgets it after', () => {
    const d = new Driver(new RoomRegistry());
    const t0 = d.nowMs;
    const first = d.apply(cmd.create('a', { requestId: 'id', apiKey: 'k' }));
    d.apply(cmd.remove('a'));
    d.nowMs = t0 + WINDOW_MS - 1;
    expect(d.apply(cmd.create('a', { requestId: 'id', apiKey: 'k' }))).toEqual(first);
    expect(d.registry.roomCount()).toBe(0);
    d.nowMs = t0 + WINDOW_MS;
    const again = d.apply(cmd.create('a', { requestId: 'id', apiKey: 'k' }));
    expect(created(again)).toBe(true);
    expect(again.revision).toBe(4);
  });
});

describe('RoomRegistry dedup bounds and snapshots', () => {
  it('forces the oldest ids out past the entry bound, and says so', () => {
    const d = new Driver(new RoomRegistry());
    const evicted = evictionsOf(d);
    const extra = 3;
    for (let i = 0; i < REGISTRY_LIMITS.dedupEntriesMax + extra; i++) d.apply(cmd.remove('none', `id-${i}`, 'k'));
    expect(evicted).toEqual(Array(extra).fill('entries'));
    d.apply(cmd.create('none'));
    // The oldest ids are gone (the delete applies now), the next one is still remembered.
    expect(d.apply(cmd.remove('none', 'id-0', 'k')).result?.$case).toBe('deleted');
    expect(d.apply(cmd.remove('none', `id-${extra}`, 'k')).result).toMatchObject({
      $case: 'failure',
      value: { code: 'NOT_FOUND' },
    });
  });

  it('forces the oldest ids out past the byte bound, and says so', () => {
    const d = new Driver(new RoomRegistry());
    const evicted = evictionsOf(d);
    const metadata = 'm'.repeat(512 * 1024);
    const fit = Math.floor(REGISTRY_LIMITS.dedupBytesMax / metadata.length);
    for (let i = 0; i < fit + 2; i++) d.apply(cmd.create(`big-${i}`, { metadata, requestId: `id-${i}`, apiKey: 'k' }));
    expect(evicted.length).toBeGreaterThanOrEqual(2);
    expect(new Set(evicted)).toEqual(new Set(['bytes']));
    d.apply(cmd.remove('big-0'));
    expect(created(d.apply(cmd.create('big-0', { metadata, requestId: 'id-0', apiKey: 'k' })))).toBe(true); // forgotten: applied again
  });

  it('carries keys, rooms and times through a snapshot: the restored replica evicts as the original', async () => {
    const a = new Driver(new RoomRegistry());
    const t0 = a.nowMs;
    for (let i = 0; i < 10; i++) {
      a.nowMs = t0 + i * 60_000;
      a.apply(cmd.create(`r${i}`, { requestId: `id-${i}`, apiKey: `k${i % 2}` }));
    }
    const b = new Driver(new RoomRegistry());
    await b.registry.restore(chunksOf(snapshotOf(a.registry)));
    b.next = a.next;
    // Retries at each minute past the window: both replicas forget the same ids at the same time.
    for (let i = 0; i < 10; i++) {
      a.nowMs = t0 + WINDOW_MS + i * 60_000 - 1;
      b.nowMs = a.nowMs;
      for (const c of [
        cmd.remove(`r${i}`),
        cmd.create(`r${i}`, { requestId: `id-${i}`, apiKey: `k${i % 2}` }),
        cmd.update(`r${(i + 1) % 10}`, 'x', `id-${(i + 1) % 10}`, `k${(i + 1) % 2}`),
      ]) {
        expect(b.apply(c)).toEqual(a.apply(c));
      }
    }
    expect(b.registry.listPage('', 100)).toEqual(a.registry.listPage('', 100));
  });

  it('reads an older snapshot (no key, room or time): its ids hold for a window from the first entry after', async () => {
    const source = new Driver(new RoomRegistry());
    source.apply(cmd.create('a', { requestId: 'old-id' }));
    const old = asOlderBuildWroteIt(snapshotOf(source.registry));
    const d = new Driver(new RoomRegistry());
    await d.registry.restore(chunksOf([old]));
    d.next = 2;
    d.nowMs = source.nowMs + 5 * WINDOW_MS; // long after the id's first use: its time is unknown
    d.apply(cmd.remove('a'));
    d.nowMs += WINDOW_MS - 1;
    expect(d.apply(cmd.create('a', { requestId: 'old-id' })).revision).toBe(1); // still remembered
    d.nowMs += 1;
    expect(created(d.apply(cmd.create('a', { requestId: 'old-id' })))).toBe(true);
  });
});
