import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { assert } from '../lib/assert.js';
import {
  type DedupRecord,
  type SnapshotFooter,
  type SnapshotHeader,
  SnapshotRecord,
  type StoredLease,
  StoredRoom,
} from '../gen/roomregistry/snapshot/v1/snapshot.js';
import { encodeMessage } from '../lib/proto-encode.js';
import type { LeaseRecord } from './media-leases.js';
import { NO_SLOT, type RoomTable } from './room-table.js';
import { type ScannedRoom, newScannedRoom, scanRoom } from './room-scan.js';

/**
 * The snapshot stream: length-delimited SnapshotRecords (a varint length, then the record, as
 * protobuf's own delimited streams), a header first, then every room, then the media-node
 * leases, then the dedup table, then a footer with the counts (a stream cut short is refused
 * instead of restoring part of the state).
 *
 * SNAPSHOT_FORMAT_VERSION is the newest format this build writes and reads: 2 holds media-node
 * leases and shares (DESIGN §13). A state without either is written as format 1
 * (SNAPSHOT_FORMAT_PLAIN): a build that reads only 1 restores it and loses nothing it knows of
 * (it skips the header's newer fields: the lease expiry total, and the last entry's time and
 * term, which matter only to leases). A state such a build would misread is written as 2, and it
 * refuses that; the version gate keeps it from arising while such a build is a member.
 */
export const SNAPSHOT_FORMAT_VERSION = 2;
export const SNAPSHOT_FORMAT_PLAIN = 1;

/** snapshotFormatFor is the format a state is written in: 2 only when it holds leases or shares. */
export function snapshotFormatFor(holdsMediaNodes: boolean): number {
  return holdsMediaNodes ? SNAPSHOT_FORMAT_VERSION : SNAPSHOT_FORMAT_PLAIN;
}
/** FRAME_BYTES_MAX: no record comes near it (a room's metadata is at most 512 KiB). */
const FRAME_BYTES_MAX = 16 << 20;
/** RECORD_OVERHEAD_BYTES: a record's bytes beyond its strings, for sizing slices (about). */
const RECORD_OVERHEAD_BYTES = 48;

/** ROOM_FIELD_TAG: the tag of SnapshotRecord's room field (2, length-delimited), which frames a room's bytes. */
const ROOM_FIELD_TAG = (2 << 3) | 2;

/**
 * SnapshotCapture writes the state as it was at capture time while the state machine goes on
 * applying (copy-on-write): capture costs O(1), and the rooms are serialized in slices from
 * the live table, slot by slot (records move between slabs, slots do not). From capture on,
 * the table marks every record written as dealt with by this capture (RoomTable.beginCapture),
 * and the writer marks each record it writes, so it never writes a room created or replaced
 * after capture time, nor one twice. Before a room changes, the state machine calls
 * `beforeChange`, which keeps a copy of its record's bytes unless this capture already dealt
 * with it; those rooms (replaced, or deleted, before the writer reached them) are written from
 * the copies at the end. Records are written as the table holds them, encoded: a snapshot
 * decodes no room.
 */
export class SnapshotCapture {
  /** preImages: by name, the capture-time records of the rooms changed before the writer reached them. */
  private readonly preImages = new Map<string, Uint8Array>();
  /** nextSlot / slotsEnd: the next slot to write; slots from slotsEnd on were all taken after capture. */
  private nextSlot = 0;
  private readonly slotsEnd: number;
  private phase: 'header' | 'rooms' | 'changed' | 'leases' | 'dedup' | 'done' = 'header';
  private changedIterator: Iterator<Uint8Array> | null = null;
  private leasesAt = 0;
  private dedupAt = 0;
  private roomsWritten = 0;

  constructor(
    /** id: unique per capture and above every earlier one's, marks the records this capture dealt with. */
    readonly id: number,
    private readonly header: SnapshotHeader,
    private readonly rooms: RoomTable,
    /** leases: a copy of the lease table at capture time (leases are few; records are never changed). */
    private readonly leases: readonly LeaseRecord[],
    private readonly dedup: readonly DedupRecord[],
  ) {
    assert(id > 0, 'capture ids start at 1');
    assert(leases.length === 0 || header.formatVersion === SNAPSHOT_FORMAT_VERSION, 'leases need format 2');
    rooms.beginCapture(id);
    this.slotsEnd = rooms.slotsEnd;
  }

  /**
   * beforeChange is called before room `name` is created (slot NO_SLOT), replaced or deleted
   * (its slot) in the table. The first change of a room this capture has not dealt with keeps
   * the record the capture saw; any later change finds it kept, or the record marked.
   */
  beforeChange(name: string, slot: number): void {
    if (slot === NO_SLOT || this.rooms.captureAt(slot) === this.id || this.preImages.has(name)) return;
    const old = this.rooms.recordAt(slot);
    assert(old !== undefined, () => `room ${name} changed in free slot ${slot}`);
    this.preImages.set(name, old.slice());
  }

  /**
   * nextChunk encodes about maxBytes of records into one buffer (one writer per slice, so
   * encoding a million rooms does not allocate a million buffers); null once the footer is out.
   */
  nextChunk(maxBytes: number): Uint8Array | null {
    if (this.phase === 'done') return null;
    const writer = new BinaryWriter();
    let bytes = 0;
    const push = (record: SnapshotRecord | Uint8Array, sizeBytes: number): void => {
      if (record instanceof Uint8Array) writer.fork().uint32(ROOM_FIELD_TAG).bytes(record).join();
      else SnapshotRecord.encode(record, writer.fork()).join();
      bytes += sizeBytes;
    };
    while (bytes < maxBytes && !this.isDone()) this.step(push);
    return writer.finish();
  }

  private isDone(): boolean {
    return this.phase === 'done';
  }

  private step(push: Push): void {
    switch (this.phase) {
      case 'header':
        push({ record: { $case: 'header', value: this.header } }, RECORD_OVERHEAD_BYTES);
        this.phase = 'rooms';
        return;
      case 'rooms':
        this.stepRooms(push);
        return;
      case 'changed': {
        const next = this.changedIterator?.next();
        if (next === undefined || next.done === true) {
          this.phase = 'leases';
          return;
        }
        this.pushRoom(push, next.value);
        return;
      }
      case 'leases': {
        const lease = this.leases[this.leasesAt++];
        if (lease === undefined) {
          this.phase = 'dedup';
          return;
        }
        push(
          { record: { $case: 'lease', value: lease } },
          RECORD_OVERHEAD_BYTES + lease.nodeId.length + lease.region.length,
        );
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
              value: { rooms: this.roomsWritten, dedupRecords: this.dedup.length, leases: this.leases.length },
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

  /** stepRooms writes the next slot's room, unless the slot is free or its record was dealt with. */
  private stepRooms(push: Push): void {
    if (this.nextSlot >= this.slotsEnd) {
      this.phase = 'changed';
      this.changedIterator = this.preImages.values();
      return;
    }
    const slot = this.nextSlot++;
    const bytes = this.rooms.recordAt(slot);
    if (bytes === undefined || this.rooms.captureAt(slot) === this.id) return;
    this.rooms.markCaptured(slot, this.id);
    this.pushRoom(push, bytes);
  }

  private pushRoom(push: Push, room: Uint8Array): void {
    this.roomsWritten++;
    push(room, RECORD_OVERHEAD_BYTES + room.byteLength);
  }
}

/** Push adds one record to the chunk being encoded: a SnapshotRecord, or a room's encoded StoredRoom. */
type Push = (record: SnapshotRecord | Uint8Array, sizeBytes: number) => void;

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
  /** leases: the media-node leases (none in format 1). */
  readonly leases: StoredLease[];
}

/** SnapshotFormatError: the bytes are not a complete snapshot this build can read. */
export class SnapshotFormatError extends Error {
  override readonly name = 'SnapshotFormatError';
}

/**
 * decodeSnapshot reads a snapshot stream (any chunk boundaries), handing each room to `onRoom`
 * as its encoded StoredRoom and what a restore needs of it (both valid during the call only:
 * a view of the stream, and one ScannedRoom reused for every room).
 */
export async function decodeSnapshot(
  chunks: AsyncIterable<Uint8Array>,
  onRoom: (encoded: Uint8Array, room: Readonly<ScannedRoom>) => void,
): Promise<DecodedSnapshot> {
  let header: SnapshotHeader | null = null;
  const dedup: DedupRecord[] = [];
  const leases: StoredLease[] = [];
  let rooms = 0;
  let ended = false;
  const scanned = newScannedRoom();
  const onRoomBytes = (encoded: Uint8Array): void => {
    scanRoom(encoded, scanned);
    const placed = scanned.placed;
    if (placed !== null && placed.shares.length > 0) requireMediaNodes(header, `room ${placed.name} has shares`);
    rooms++;
    onRoom(encoded, scanned);
  };
  /** onRecord takes a decoded record, or a room's encoded StoredRoom taken from its frame. */
  const onRecord = (rec: SnapshotRecord['record'] | Uint8Array): void => {
    if (ended) throw new SnapshotFormatError('snapshot has records after its footer');
    if (rec === undefined) throw new SnapshotFormatError('snapshot record of an unknown kind');
    if (header === null && (rec instanceof Uint8Array || rec.$case !== 'header'))
      throw new SnapshotFormatError('snapshot does not start with a header');
    if (rec instanceof Uint8Array) {
      onRoomBytes(rec);
      return;
    }
    switch (rec.$case) {
      case 'header':
        if (header !== null) throw new SnapshotFormatError('snapshot has two headers');
        checkFormat(rec.value.formatVersion);
        header = rec.value;
        return;
      case 'room':
        onRoomBytes(encodeMessage(StoredRoom, rec.value));
        return;
      case 'lease':
        requireMediaNodes(header, `it holds the lease of ${rec.value.nodeId}`);
        leases.push(rec.value);
        return;
      case 'dedup':
        dedup.push(rec.value);
        return;
      case 'footer':
        checkFooter(rec.value, { rooms, dedupRecords: dedup.length, leases: leases.length });
        ended = true;
        return;
    }
  };
  // A room's frame (as every writer makes it) is read without decoding the record.
  await readFrames(chunks, (body) => onRecord(roomBytesOf(body) ?? SnapshotRecord.decode(body).record));
  if (!ended || header === null) throw new SnapshotFormatError('snapshot stream ended before its footer');
  return { header, dedup, leases };
}

/**
 * roomBytesOf is the StoredRoom inside a room record's frame, when the frame holds just that
 * field (as every writer makes it); null otherwise (the caller decodes the record).
 */
function roomBytesOf(body: Uint8Array): Uint8Array | null {
  if (body[0] !== ROOM_FIELD_TAG) return null;
  const length = readVarint(body, 1);
  if (length === null || length.end + length.value !== body.byteLength) return null;
  return body.subarray(length.end);
}

/** checkFormat refuses a format this build does not read (it reads every one up to its own). */
function checkFormat(formatVersion: number): void {
  if (formatVersion >= SNAPSHOT_FORMAT_PLAIN && formatVersion <= SNAPSHOT_FORMAT_VERSION) return;
  throw new SnapshotFormatError(
    `snapshot format ${formatVersion} is unknown (this build reads ${SNAPSHOT_FORMAT_PLAIN} to ${SNAPSHOT_FORMAT_VERSION})`,
  );
}

/** requireMediaNodes refuses media-node state in a format 1 snapshot (no writer puts it there). */
function requireMediaNodes(header: SnapshotHeader | null, what: string): void {
  if (header !== null && header.formatVersion >= SNAPSHOT_FORMAT_VERSION) return;
  throw new SnapshotFormatError(`snapshot of format ${header?.formatVersion ?? 0} is inconsistent: ${what}`);
}

function checkFooter(footer: SnapshotFooter, seen: SnapshotFooter): void {
  if (footer.rooms === seen.rooms && footer.dedupRecords === seen.dedupRecords && footer.leases === seen.leases) return;
  throw new SnapshotFormatError(
    `snapshot footer counts ${footer.rooms} rooms / ${footer.dedupRecords} ids / ${footer.leases} leases, ` +
      `the stream had ${seen.rooms} / ${seen.dedupRecords} / ${seen.leases}`,
  );
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
