/**
 * Goal: the state quota (issue 12 item 5) refuses exactly the writes that grow the state past
 * the quota stamped in the entry, lets deletes, occupancy, expiry and shrinking updates through,
 * and is counted the same on a replica restored from a snapshot. Method: apply commands with a
 * chosen quota per entry and compare the results and the counted bytes.
 */
import { describe, expect, it } from 'vitest';
import { Command, CommandResult } from '../../../src/gen/roomregistry/command/v1/command.js';
import { index } from '../../../src/lib/ids.js';
import { RoomRegistry } from '../../../src/registry/index.js';
import {
  NODE_LINK_BYTES,
  ROOM_RECORD_OVERHEAD_BYTES,
  ROOM_SLOT_BYTES,
  roomRecordBytes,
} from '../../../src/registry/state-quota.js';
import { decodeCommandEntry, encodeCommandEntry } from '../../../src/node/entry-codec.js';
import { cmd } from './commands.js';

const FULL = { $case: 'failure', value: { code: 'RESOURCE_EXHAUSTED', message: 'registry is full' } };

/** QuotaDriver applies commands at consecutive indexes, each with the quota given. */
class QuotaDriver {
  next = 1;
  readonly nowMs = 1_700_000_000_000;
  constructor(readonly registry = new RoomRegistry()) {}
  apply(c: Command, quotaBytes: number): CommandResult {
    return CommandResult.decode(
      this.registry.apply(index(this.next++), Command.encode(c).finish(), this.nowMs, quotaBytes),
    );
  }
}

/** bytesOf is what a room made by cmd.create(name, {metadata}) counts (sid RM_ + 12, turn password 'pw'). */
function bytesOf(name: string, metadata = ''): number {
  return ROOM_RECORD_OVERHEAD_BYTES + name.length + 15 + metadata.length + 2;
}

async function* chunksOf(parts: readonly Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield p;
}

describe('state quota', () => {
  it('refuses creates and growing updates past the quota; deletes, occupancy, expiry and shrinking go on', () => {
    const d = new QuotaDriver();
    const meta = 'm'.repeat(1000);
    const quota = 3 * bytesOf('a', meta);
    for (const n of ['a', 'b', 'c'])
      expect(d.apply(cmd.create(n, { metadata: meta, emptyTimeoutS: 1 }), quota).result?.$case).toBe('room');
    expect(d.registry.quotaUsedBytes()).toBe(quota);
    expect(d.apply(cmd.create('d'), quota).result).toEqual(FULL);
    expect(d.apply(cmd.update('a', `${meta}x`), quota).result).toEqual(FULL);
    expect(d.registry.getRoom('a')?.metadata).toBe(meta);
    // A create of an existing room does not grow the state: still answered, unchanged.
    expect(d.apply(cmd.create('a'), quota).result?.$case).toBe('room');
    // Occupancy goes on past the quota (its node id adds 7 bytes here): media nodes must report.
    expect(d.apply(cmd.occupancy('a', 3), quota).result?.$case).toBe('room');
    expect(d.registry.quotaUsedBytes()).toBe(quota + 'media-1'.length);
    expect(d.apply(cmd.update('b', 'small'), quota).result?.$case).toBe('room');
    expect(d.apply(cmd.update('b', meta), quota).result).toEqual(FULL); // the 7 bytes of occupancy count
    expect(d.apply(cmd.update('b', meta.slice(0, 900)), quota).result?.$case).toBe('room');
    expect(d.apply(cmd.remove('c'), quota).result?.$case).toBe('deleted');
    expect(d.apply(cmd.create('d'), quota).result?.$case).toBe('room');
    expect(d.registry.quotaUsedBytes()).toBe(
      bytesOf('a', meta) + 'media-1'.length + bytesOf('b', meta.slice(0, 900)) + bytesOf('d'),
    );
    const expired = new QuotaDriver(d.registry);
    expired.next = d.next;
    (expired as { nowMs: number }).nowMs = d.nowMs + 400_000;
    expect(expired.apply(cmd.expire('b', 'd'), quota).result).toEqual({ $case: 'expired', value: { rooms: 2 } });
    expect(d.registry.quotaUsedBytes()).toBe(bytesOf('a', meta) + 'media-1'.length);
  });

  it('follows the quota stamped in each entry, not a setting of the replica', () => {
    const d = new QuotaDriver();
    expect(d.apply(cmd.create('a', { metadata: 'x'.repeat(500) }), 100).result).toEqual(FULL);
    expect(d.apply(cmd.create('a', { metadata: 'x'.repeat(500) }), 10_000).result?.$case).toBe('room');
    expect(d.apply(cmd.create('b'), Infinity).result?.$case).toBe('room'); // entries written before the quota existed
    expect(d.registry.quotaUsedBytes()).toBe(bytesOf('a', 'x'.repeat(500)) + bytesOf('b'));
  });

  it('counts the same on a replica restored from a snapshot', async () => {
    const d = new QuotaDriver();
    for (let i = 0; i < 50; i++) d.apply(cmd.create(`r${i}`, { metadata: 'y'.repeat(i * 7) }), 1 << 30);
    for (let i = 0; i < 50; i += 3) d.apply(cmd.remove(`r${i}`), 1 << 30);
    const source = d.registry.captureSnapshot();
    const parts: Uint8Array[] = [];
    for (let c = source.nextChunk(256); c !== null; c = source.nextChunk(256)) parts.push(c);
    const restored = new RoomRegistry();
    await restored.restore(chunksOf(parts));
    expect(restored.quotaUsedBytes()).toBe(d.registry.quotaUsedBytes());
    expect(d.registry.quotaUsedBytes()).toBeGreaterThan(0);
  });

  it('measures a record in O(1) from its string lengths', () => {
    const r = {
      sid: 'RM_x',
      name: 'n',
      metadata: 'abc',
      turnPassword: 'pw',
      nodeId: 'node',
      emptyTimeoutS: 0,
      departureTimeoutS: 0,
      maxParticipants: 0,
      creationTimeMs: 0,
      numParticipants: 0,
      numPublishers: 0,
      versionUnixMicro: 0,
      versionTicks: 0,
      revision: 0,
      everJoined: false,
      lastLeftMs: 0,
      shares: [],
    };
    expect(roomRecordBytes(r)).toBe(ROOM_RECORD_OVERHEAD_BYTES + 4 + 1 + 3 + 2 + 4);
  });
});

/** snapshotThroughRestore is a new registry restored from `r`'s snapshot (taken in 256-byte chunks). */
async function snapshotThroughRestore(r: RoomRegistry): Promise<RoomRegistry> {
  const source = r.captureSnapshot();
  const parts: Uint8Array[] = [];
  for (let c = source.nextChunk(256); c !== null; c = source.nextChunk(256)) parts.push(c);
  const restored = new RoomRegistry();
  await restored.restore(chunksOf(parts));
  return restored;
}

describe('state quota from command version 3: the bytes a room occupies', () => {
  /** occupiedNow is what the table holds: its records, a slot's fixed cost per room, a link per placement. */
  const occupiedNow = (r: RoomRegistry, rooms: number, links = 0): number =>
    r.stateBytes().records + rooms * ROOM_SLOT_BYTES + links * NODE_LINK_BYTES;

  it('switches unit at the SetCommandVersion entry, on a live replica and on one restored before it', async () => {
    const d = new QuotaDriver();
    for (let i = 0; i < 20; i++) d.apply(cmd.create(`r${i}`, { metadata: 'z'.repeat(i * 11) }), 1 << 30);
    d.apply(cmd.occupancy('r3', 2), 1 << 30); // a host: one node link
    const estimate = d.registry.quotaUsedBytes();
    expect(estimate).toBeGreaterThan(occupiedNow(d.registry, 20, 1)); // so the test tells them apart
    const before = await snapshotThroughRestore(d.registry);
    expect(d.apply(cmd.setVersion(3), 1 << 30).result?.$case).toBe('commandVersionSet');
    expect(d.registry.quotaUsedBytes()).toBe(occupiedNow(d.registry, 20, 1));
    // A replica restored before the switch applies the same entry and counts the same.
    const other = new QuotaDriver(before);
    other.next = d.next - 1;
    expect(before.quotaUsedBytes()).toBe(estimate);
    other.apply(cmd.setVersion(3), 1 << 30);
    expect(before.quotaUsedBytes()).toBe(d.registry.quotaUsedBytes());
    // And one restored after it, from the snapshot alone.
    const after = await snapshotThroughRestore(d.registry);
    expect(after.commandVersionInUse()).toBe(3);
    expect(after.quotaUsedBytes()).toBe(d.registry.quotaUsedBytes());
  });

  it('refuses exactly the write past the quota, in occupied bytes, and keeps counting through every kind of write', async () => {
    const d = new QuotaDriver();
    d.apply(cmd.setVersion(3), 0);
    expect(d.apply(cmd.create('a1', { metadata: 'm'.repeat(100) }), 1 << 30).result?.$case).toBe('room');
    const one = d.registry.quotaUsedBytes(); // rooms named alike, at indexes below 128, encode alike
    expect(one).toBe(occupiedNow(d.registry, 1));
    const quota = 4 * one;
    for (const n of ['a2', 'a3', 'a4'])
      expect(d.apply(cmd.create(n, { metadata: 'm'.repeat(100) }), quota).result?.$case).toBe('room');
    expect(d.registry.quotaUsedBytes()).toBe(quota);
    expect(d.apply(cmd.create('a5', { metadata: 'm'.repeat(100) }), quota).result).toEqual(FULL);
    expect(d.apply(cmd.update('a1', 'm'.repeat(101)), quota).result).toEqual(FULL);
    // Shorter metadata, though its first update adds the version fields (about 10 bytes) to the record.
    expect(d.apply(cmd.update('a1', 'm'.repeat(50)), quota).result?.$case).toBe('room');
    expect(d.apply(cmd.create('a5'), quota).result).toEqual(FULL); // one byte is not a room
    // Past the quota on writes it never refuses: a host, a media node's share, then they leave.
    d.apply(cmd.occupancy('a2', 3), quota);
    d.apply(cmd.heartbeat('m1'), quota);
    d.apply(cmd.share('a3', 'm1', 2), quota);
    expect(d.registry.quotaUsedBytes()).toBe(occupiedNow(d.registry, 4, 3)); // a2's host; a3's share and host
    expect(d.registry.quotaUsedBytes()).toBeGreaterThan(quota);
    expect((await snapshotThroughRestore(d.registry)).quotaUsedBytes()).toBe(d.registry.quotaUsedBytes());
    d.apply(cmd.remove('a3'), quota);
    d.apply(cmd.remove('a4'), quota);
    expect(d.registry.quotaUsedBytes()).toBe(occupiedNow(d.registry, 2, 1));
    expect(d.apply(cmd.create('a5', { metadata: 'm'.repeat(100) }), quota).result?.$case).toBe('room');
  });
});

describe('command entry codec', () => {
  it('carries the leader-stamped time and quota; format 1 entries decode with no quota', () => {
    const payload = new Uint8Array([7, 8, 9]);
    const v2 = decodeCommandEntry(encodeCommandEntry(1234.5, payload, 2 ** 31));
    expect(v2.ok && { t: v2.value.entryTimeMs, q: v2.value.quotaBytes, p: [...v2.value.payload] }).toEqual({
      t: 1234.5,
      q: 2 ** 31,
      p: [7, 8, 9],
    });
    const v1 = new Uint8Array(12);
    new DataView(v1.buffer).setUint8(0, 1);
    new DataView(v1.buffer).setFloat64(1, 99, true);
    v1.set(payload, 9);
    const old = decodeCommandEntry(v1);
    expect(old.ok && { t: old.value.entryTimeMs, q: old.value.quotaBytes, p: [...old.value.payload] }).toEqual({
      t: 99,
      q: Infinity,
      p: [7, 8, 9],
    });
    expect(decodeCommandEntry(new Uint8Array([2, 0, 0])).ok).toBe(false);
    expect(decodeCommandEntry(new Uint8Array([3, ...new Uint8Array(20)])).ok).toBe(false);
  });
});
