/**
 * Goal: the registry says which command version the replicated state already uses (DESIGN
 * §12): the highest version among the commands applied, failed ones included (they are in the
 * log), 1 until the first version 2 command; the same on a replica restored from a snapshot,
 * and 1 from the snapshot of a build that did not record it. Method: commands through the
 * Driver, snapshots captured and restored, and an older build's snapshot made by clearing the
 * header field (proto3 does not write a zero, so the bytes are as that build wrote them).
 */
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { SnapshotRecord } from '../../../src/gen/roomregistry/snapshot/v1/snapshot.js';
import { index } from '../../../src/lib/ids.js';
import { RoomRegistry } from '../../../src/registry/index.js';
import { Driver, cmd } from './commands.js';

async function* chunksOf(parts: readonly Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield p;
}

function snapshotOf(r: RoomRegistry): Uint8Array[] {
  const source = r.captureSnapshot();
  const parts: Uint8Array[] = [];
  for (let c = source.nextChunk(1 << 20); c !== null; c = source.nextChunk(1 << 20)) parts.push(c);
  return parts;
}

/** rewriteHeader re-encodes a snapshot with its header changed by `edit` (the other records as they were). */
function rewriteHeader(parts: readonly Uint8Array[], edit: (h: { commandVersionInUse: number }) => void): Uint8Array {
  const bytes = Buffer.concat(parts);
  const writer = new BinaryWriter();
  let headers = 0;
  for (let at = 0; at < bytes.byteLength;) {
    const reader = new BinaryReader(bytes.subarray(at));
    const length = reader.uint32();
    const start = at + reader.pos;
    const record = SnapshotRecord.decode(bytes.subarray(start, start + length));
    if (record.record?.$case === 'header') {
      edit(record.record.value);
      headers++;
    }
    SnapshotRecord.encode(record, writer.fork()).join();
    at = start + length;
  }
  expect(headers).toBe(1);
  return writer.finish();
}

function headerVersionOf(parts: readonly Uint8Array[]): number {
  let seen = -1;
  rewriteHeader(parts, (h) => {
    seen = h.commandVersionInUse;
  });
  return seen;
}

describe('RoomRegistry command version in use', () => {
  it('is 1 until a version 2 command applies, failed or not, and never goes back', () => {
    const d = new Driver(new RoomRegistry());
    expect(d.registry.commandVersionInUse()).toBe(1);
    d.apply(cmd.create('a'));
    d.apply(cmd.occupancy('a', 1));
    d.apply(cmd.expire('a'));
    expect(d.registry.commandVersionInUse()).toBe(1);
    // Bytes that are not a command, and a command of a kind this build does not know, change nothing.
    d.registry.apply(index(d.next++), new Uint8Array([0xff, 0xff]), d.nowMs);
    d.registry.apply(index(d.next++), new Uint8Array(0), d.nowMs);
    expect(d.registry.commandVersionInUse()).toBe(1);

    const failed = d.apply(cmd.share('no-such-room', 'm1', 1));
    expect(failed.result?.$case).toBe('failure');
    expect(d.registry.commandVersionInUse()).toBe(2);
    d.apply(cmd.create('b'));
    d.apply(cmd.remove('b'));
    expect(d.registry.commandVersionInUse()).toBe(2);
  });

  it('counts a version 2 command whose request id was already used (the entry is in the log)', () => {
    const d = new Driver(new RoomRegistry());
    d.apply(cmd.create('a', { requestId: 'r1' }));
    d.apply({ ...cmd.heartbeat('m1'), requestId: 'r1' }); // refused as a reuse, applied all the same
    expect(d.registry.commandVersionInUse()).toBe(2);
  });

  it('is kept in the snapshot and restored from it; a snapshot at 1 restores 1', async () => {
    const two = new Driver(new RoomRegistry());
    two.apply(cmd.create('a'));
    two.apply(cmd.heartbeat('m1'));
    two.apply(cmd.expireNodes('m1'));
    const parts = snapshotOf(two.registry);
    expect(headerVersionOf(parts)).toBe(2);
    const restored = new RoomRegistry();
    await restored.restore(chunksOf(parts));
    expect(restored.commandVersionInUse()).toBe(2);

    const one = new Driver(new RoomRegistry());
    one.apply(cmd.create('a'));
    const partsAtOne = snapshotOf(one.registry);
    expect(headerVersionOf(partsAtOne)).toBe(1);
    await restored.restore(chunksOf(partsAtOne)); // the whole state is replaced, this too
    expect(restored.commandVersionInUse()).toBe(1);
  });

  it('reads 1 from a snapshot of a build that did not record it', async () => {
    const d = new Driver(new RoomRegistry());
    d.apply(cmd.create('a'));
    const old = rewriteHeader(snapshotOf(d.registry), (h) => {
      h.commandVersionInUse = 0;
    });
    const restored = new RoomRegistry();
    new Driver(restored).apply(cmd.heartbeat('m1')); // at 2 before the restore
    expect(restored.commandVersionInUse()).toBe(2);
    await restored.restore(chunksOf([old]));
    expect(restored.commandVersionInUse()).toBe(1);
    expect(restored.appliedIndex()).toBe(1);
  });
});

describe('SetCommandVersion', () => {
  it('raises the version in use to the one it names, never lowers it, and answers with the version in use', () => {
    const d = new Driver(new RoomRegistry());
    expect(d.registry.commandVersionToSet(2)).toBeNull(); // a member may not know SetCommandVersion
    expect(d.registry.commandVersionToSet(3)).toBe(3);
    expect(d.apply(cmd.setVersion(3)).result).toEqual({
      $case: 'commandVersionSet',
      value: { commandVersionInUse: 3 },
    });
    expect(d.registry.commandVersionInUse()).toBe(3);
    expect(d.registry.commandVersionToSet(3)).toBeNull();
    expect(d.apply(cmd.setVersion(1)).result).toEqual({
      $case: 'commandVersionSet',
      value: { commandVersionInUse: 3 },
    });
    expect(d.apply(cmd.heartbeat('m1')).result?.$case).toBe('lease');
    expect(d.registry.commandVersionInUse()).toBe(3);
  });
});
