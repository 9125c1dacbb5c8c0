import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { assert } from '../lib/assert.js';
import {
  type DedupRecord,
  type SnapshotHeader,
  SnapshotRecord,
  type StoredRoom,
} from '../gen/roomregistry/snapshot/v1/snapshot.js';
import type { RoomRecord } from './room-record.js';

/**
 * The snapshot stream: length-delimited SnapshotRecords (a varint length, then the record, as
 * protobuf's own delimited streams), a header first, then every room, then the dedup table,
 * then a footer with the counts (a stream cut short is refused instead of restoring part of
 * the state).
 */
export const SNAPSHOT_FORMAT_VERSION = 1;
/** FRAME_BYTES_MAX: no record comes near it (a room's metadata is at most 512 KiB). */
const FRAME_BYTES_MAX = 16 << 20;
/** RECORD_OVERHEAD_BYTES: a record's bytes beyond its strings, for sizing slices (about). */
const RECORD_OVERHEAD_BYTES = 48;

/** PRE_IMAGE_ABSENT / PRE_IMAGE_DONE: a room created after the capture / one already written. */
const PRE_IMAGE_ABSENT = 'absent';
const PRE_IMAGE_DONE = 'done';
type PreImage = RoomRecord | typeof PRE_IMAGE_ABSENT | typeof PRE_IMAGE_DONE;

/**
 * SnapshotCapture writes the state as it was at capture time while the state machine goes on
 * applying (copy-on-write): capture costs O(1), and the rooms are serialized in slices from
 * the live table. Before a room changes, the state machine hands its old record to
 * `beforeChange`, which keeps it unless this capture already wrote it. When the writer reaches
 * a changed room it writes the kept old record instead; rooms created after the capture are
 * skipped; rooms deleted before the writer reached them are written at the end.
 */
export class SnapshotCapture {
  private readonly preImages = new Map<string, PreImage>();
  private readonly live: Iterator<[string, RoomRecord]>;
  private phase: 'header' | 'rooms' | 'deleted' | 'dedup' | 'done' = 'header';
  private deletedIterator: Iterator<[string, PreImage]> | null = null;
  private dedupAt = 0;
  private roomsWritten = 0;

  constructor(
    /** id: unique per capture, marks the records this capture wrote. */
    readonly id: number,
    private readonly header: SnapshotHeader,
    rooms: Map<string, RoomRecord>,
    private readonly dedup: readonly DedupRecord[],
  ) {
    assert(id > 0, 'capture ids start at 1');
    this.live = rooms.entries();
  }

  /** beforeChange is called with a room's record (undefined: no room) before it is replaced or deleted. */
  beforeChange(name: string, old: RoomRecord | undefined): void {
    if (this.preImages.has(name)) return; // the first old record is the one the capture saw
    if (old === undefined) this.preImages.set(name, PRE_IMAGE_ABSENT);
    else this.preImages.set(name, old.emittedByCapture === this.id ? PRE_IMAGE_DONE : old);
  }

  /**
   * nextChunk encodes about maxBytes of records into one buffer (one writer per slice, so
   * encoding a million rooms does not allocate a million buffers); null once the footer is out.
   */
  nextChunk(maxBytes: number): Uint8Array | null {
    if (this.phase === 'done') return null;
    const writer = new BinaryWriter();
    let bytes = 0;
    const push = (record: SnapshotRecord, sizeBytes: number): void => {
      SnapshotRecord.encode(record, writer.fork()).join();
      bytes += sizeBytes;
    };
    while (bytes < maxBytes && !this.isDone()) this.step(push);
    return writer.finish();
  }

  private isDone(): boolean {
    return this.phase === 'done';
  }

  private step(push: (r: SnapshotRecord, sizeBytes: number) => void): void {
    switch (this.phase) {
      case 'header':
        push({ record: { $case: 'header', value: this.header } }, RECORD_OVERHEAD_BYTES);
        this.phase = 'rooms';
        return;
      case 'rooms': {
        const next = this.live.next();
        if (next.done === true) {
          this.phase = 'deleted';
          this.deletedIterator = this.preImages.entries();
          return;
        }
        const [name, record] = next.value;
        const pre = this.preImages.get(name);
        if (pre === undefined) {
          record.emittedByCapture = this.id;
          this.pushRoom(push, record);
        } else if (typeof pre !== 'string') {
          this.preImages.set(name, PRE_IMAGE_DONE);
          this.pushRoom(push, pre);
        }
        return;
      }
      case 'deleted': {
        const next = this.deletedIterator?.next();
        if (next === undefined || next.done === true) {
          this.phase = 'dedup';
          return;
        }
        const pre = next.value[1];
        if (typeof pre !== 'string') this.pushRoom(push, pre);
        return;
      }
      case 'dedup': {
        const r = this.dedup[this.dedupAt++];
        if (r !== undefined) {
          push(
            { record: { $case: 'dedup', value: r } },
            RECORD_OVERHEAD_BYTES + r.requestId.length + r.result.byteLength,
          );
          return;
        }
        push(
          {
            record: {
              $case: 'footer',
              value: { rooms: this.roomsWritten, dedupRecords: this.dedup.length, leases: 0 },
            },
          },
          RECORD_OVERHEAD_BYTES,
        );
        this.phase = 'done';
        return;
      }
      case 'done':
        return;
    }
  }

  private pushRoom(push: (r: SnapshotRecord, sizeBytes: number) => void, room: StoredRoom): void {
    this.roomsWritten++;
    const sizeBytes =
      RECORD_OVERHEAD_BYTES +
      room.name.length +
      room.sid.length +
      room.turnPassword.length +
      room.metadata.length +
      room.nodeId.length;
    push({ record: { $case: 'room', value: room } }, sizeBytes);
  }
}

function concat(parts: readonly Uint8Array[], bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** DecodedSnapshot is everything but the rooms, which go to the visitor one at a time. */
export interface DecodedSnapshot {
  readonly header: SnapshotHeader;
  readonly dedup: DedupRecord[];
}

/** SnapshotFormatError: the bytes are not a complete snapshot this build can read. */
export class SnapshotFormatError extends Error {
  override readonly name = 'SnapshotFormatError';
}

/** decodeSnapshot reads a snapshot stream (any chunk boundaries), handing each room to `onRoom`. */
export async function decodeSnapshot(
  chunks: AsyncIterable<Uint8Array>,
  onRoom: (r: StoredRoom) => void,
): Promise<DecodedSnapshot> {
  let header: SnapshotHeader | null = null;
  const dedup: DedupRecord[] = [];
  let rooms = 0;
  let ended = false;
  const onRecord = (r: SnapshotRecord): void => {
    if (ended) throw new SnapshotFormatError('snapshot has records after its footer');
    const rec = r.record;
    if (rec === undefined) throw new SnapshotFormatError('snapshot record of an unknown kind');
    if (header === null && rec.$case !== 'header')
      throw new SnapshotFormatError('snapshot does not start with a header');
    switch (rec.$case) {
      case 'header':
        if (header !== null) throw new SnapshotFormatError('snapshot has two headers');
        if (rec.value.formatVersion !== SNAPSHOT_FORMAT_VERSION) {
          throw new SnapshotFormatError(
            `snapshot format ${rec.value.formatVersion} is unknown (this build reads ${SNAPSHOT_FORMAT_VERSION})`,
          );
        }
        header = rec.value;
        return;
      case 'room':
        rooms++;
        onRoom(rec.value);
        return;
      case 'dedup':
        dedup.push(rec.value);
        return;
      case 'footer':
        if (rec.value.rooms !== rooms || rec.value.dedupRecords !== dedup.length) {
          throw new SnapshotFormatError(
            `snapshot footer counts ${rec.value.rooms} rooms / ${rec.value.dedupRecords} ids, the stream had ${rooms} / ${dedup.length}`,
          );
        }
        ended = true;
        return;
    }
  };
  await readFrames(chunks, (body) => onRecord(SnapshotRecord.decode(body)));
  if (!ended || header === null) throw new SnapshotFormatError('snapshot stream ended before its footer');
  return { header, dedup };
}

async function readFrames(chunks: AsyncIterable<Uint8Array>, onFrame: (body: Uint8Array) => void): Promise<void> {
  let pending = new Uint8Array(0);
  for await (const chunk of chunks) {
    const buf = pending.byteLength === 0 ? chunk : concat([pending, chunk], pending.byteLength + chunk.byteLength);
    let at = 0;
    for (;;) {
      const frame = readVarint(buf, at);
      if (frame === null) break; // the length itself continues in the next chunk
      if (frame.value > FRAME_BYTES_MAX)
        throw new SnapshotFormatError(`snapshot frame of ${frame.value} bytes is over the limit`);
      if (buf.byteLength - frame.end < frame.value) break;
      onFrame(buf.subarray(frame.end, frame.end + frame.value));
      at = frame.end + frame.value;
    }
    pending = buf.slice(at);
  }
  if (pending.byteLength > 0)
    throw new SnapshotFormatError(`snapshot stream ends inside a frame (${pending.byteLength} bytes left)`);
}

/** readVarint reads an unsigned varint of at most 32 bits at `at`; null when the bytes end first. */
function readVarint(buf: Uint8Array, at: number): { value: number; end: number } | null {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    const b = buf[at + i];
    if (b === undefined) return null;
    value += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return { value, end: at + i + 1 };
  }
  throw new SnapshotFormatError(`snapshot frame length at byte ${at} is not a valid varint`);
}
