/**
 * Goal: a restore's scan of an encoded StoredRoom (issue 17) gives exactly the deadline and the
 * quota bytes the full decode gives, and hands over the decoded room whenever the room is
 * placed on media nodes (shares or a node id). Method: many seeded random rooms (strings of 1
 * to 4 UTF-8 bytes a character and lone surrogates, empty and large metadata, zero and
 * non-zero numbers, negative times), some with a second copy of some fields appended (the last
 * one counts) or unknown fields of every wire type, scanned and decoded side by side.
 */
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { StoredRoom } from '../../../src/gen/roomregistry/snapshot/v1/snapshot.js';
import { SeededRng } from '../../../src/lib/rng.js';
import { deadlineMs } from '../../../src/registry/room-record.js';
import { newScannedRoom, scanRoom } from '../../../src/registry/room-scan.js';
import { roomRecordBytes } from '../../../src/registry/state-quota.js';

/** Characters of 1, 2, 3 and 4 UTF-8 bytes, and both halves of a surrogate pair alone (each written as U+FFFD). */
const CHARS = ['a', 'Z', '0', '-', 'é', 'ß', '€', '中', '😀', '𝄞', '\ud83d', '\ude00'];

function randomString(rng: SeededRng, lengthMax: number): string {
  if (rng.nextInt(4) === 0) return '';
  const length = rng.nextInt(lengthMax) + 1;
  const ascii = rng.nextInt(2) === 0;
  let s = '';
  for (let i = 0; i < length; i++) s += CHARS[rng.nextInt(ascii ? 4 : CHARS.length)] ?? '';
  return s;
}

/** randomNumber is 0 half the time, else up to `max` (small and multi-byte varints). */
function randomNumber(rng: SeededRng, max: number): number {
  return rng.nextInt(2) === 0 ? 0 : Math.floor(rng.nextFloat() * max);
}

function randomRoom(rng: SeededRng): StoredRoom {
  const placed = rng.nextInt(5) === 0;
  const timeMs = (): number => (rng.nextInt(20) === 0 ? -randomNumber(rng, 1e12) : randomNumber(rng, 2e12));
  return StoredRoom.fromPartial({
    sid: randomString(rng, 20),
    name: randomString(rng, 40),
    emptyTimeoutS: randomNumber(rng, 2 ** 32),
    departureTimeoutS: randomNumber(rng, 100_000),
    maxParticipants: randomNumber(rng, 1000),
    creationTimeMs: timeMs(),
    turnPassword: randomString(rng, 30),
    metadata: rng.nextInt(10) === 0 ? randomString(rng, 70_000) : randomString(rng, 200),
    numParticipants: rng.nextInt(3) === 0 ? randomNumber(rng, 2 ** 32) : 0,
    numPublishers: randomNumber(rng, 100),
    nodeId: placed && rng.nextInt(2) === 0 ? randomString(rng, 12) : '',
    versionUnixMicro: randomNumber(rng, 2 ** 52),
    versionTicks: rng.nextInt(10) === 0 ? -rng.nextInt(100) : randomNumber(rng, 100),
    revision: randomNumber(rng, 2 ** 40),
    everJoined: rng.nextInt(2) === 0,
    lastLeftMs: timeMs(),
    shares: placed
      ? Array.from({ length: rng.nextInt(3) }, (_, i) => ({
          nodeId: `node-${i}`,
          numParticipants: rng.nextInt(10),
          numPublishers: rng.nextInt(10),
        }))
      : [],
  });
}

/** withExtras appends to an encoded room a second copy of some of another room's fields, or unknown fields. */
function withExtras(rng: SeededRng, encoded: Uint8Array): Uint8Array {
  const w = new BinaryWriter();
  w.raw(encoded);
  switch (rng.nextInt(3)) {
    case 0:
      return encoded;
    case 1: {
      const other = randomRoom(rng);
      const fields: Partial<StoredRoom> = {};
      for (const key of Object.keys(other) as (keyof StoredRoom)[])
        if (rng.nextInt(3) === 0) Object.assign(fields, { [key]: other[key] });
      // An empty node id after a non-empty one: the room ends up without one.
      if (rng.nextInt(4) === 0) w.uint32((11 << 3) | 2).string('');
      w.raw(StoredRoom.encode(StoredRoom.fromPartial(fields)).finish());
      return w.finish();
    }
    default:
      w.uint32((40 << 3) | 0).uint64(randomNumber(rng, 2 ** 50));
      w.uint32((41 << 3) | 1).fixed64(rng.nextUint32());
      w.uint32((42 << 3) | 2).string(randomString(rng, 30));
      w.uint32((43 << 3) | 5).fixed32(rng.nextUint32());
      // A known field number with another wire type is an unknown field too.
      w.uint32((9 << 3) | 2).string('not a count');
      // At a tag 0 the decoder stops: what follows is not read.
      if (rng.nextInt(4) === 0)
        w.uint32(0)
          .uint32((9 << 3) | 0)
          .uint32(7);
      return w.finish();
  }
}

describe('scanRoom', () => {
  it('gives the deadline and quota bytes of the full decode, and the decoded room of a placed one', () => {
    const rng = new SeededRng(17);
    const scanned = newScannedRoom();
    let unplacedScans = 0;
    for (let i = 0; i < 5_000; i++) {
      const encoded = withExtras(rng, StoredRoom.encode(randomRoom(rng)).finish());
      const room = StoredRoom.decode(encoded);
      scanRoom(encoded, scanned);
      const what = `room ${i}: ${JSON.stringify(room).slice(0, 300)}`;
      expect(deadlineMs(scanned), what).toBe(deadlineMs(room));
      expect(scanned.quotaBytes, what).toBe(roomRecordBytes(room));
      if (room.shares.length > 0 || room.nodeId !== '') expect(scanned.placed, what).toEqual(room);
      if (scanned.placed === null) unplacedScans++;
    }
    expect(unplacedScans).toBeGreaterThan(2_500); // most rooms are read without decoding
  });

  it('counts a lone surrogate as the encoder writes it: U+FFFD, 3 bytes, 1 unit', () => {
    const room = StoredRoom.fromPartial({ name: 'a\ud800b', metadata: '\udfff😀' });
    const encoded = StoredRoom.encode(room).finish();
    expect(Buffer.from(encoded).includes(Buffer.from([0xef, 0xbf, 0xbd]))).toBe(true);
    const scanned = newScannedRoom();
    scanRoom(encoded, scanned);
    expect(scanned.placed).toBeNull();
    expect(scanned.quotaBytes).toBe(roomRecordBytes(room));
    expect(scanned.quotaBytes).toBe(roomRecordBytes(StoredRoom.decode(encoded)));
  });
});
