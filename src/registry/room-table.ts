import { BinaryReader } from '@bufbuild/protobuf/wire';
import { StoredRoom } from '../gen/roomregistry/snapshot/v1/snapshot.js';
import { AssertionError, assert } from '../lib/assert.js';
import { withEncoded } from '../lib/proto-encode.js';
import { NameKey, type SlotNames, compareBytes, hashBytes } from './name-bytes.js';

/** SLAB_BYTES: the size of one shared buffer of records (a record larger than an eighth gets its own). */
const SLAB_BYTES = 1 << 20;
/** RECORD_HEADER_BYTES: before each record in a slab, its slot and length (so a slab can be walked). */
const RECORD_HEADER_BYTES = 8;
/**
 * COMPACT_BELOW: when the live bytes of all slabs fall below this share of what was written to
 * them, the emptiest slab is compacted (its live records move to the slab being filled, and it
 * is freed), until they are above it again: the slabs hold at most about 1/COMPACT_BELOW of the
 * live bytes, and each byte freed costs at most three moved. The test is over all slabs, not
 * each one: rooms deleted in the order they were written (a backlog expiring, a table emptied)
 * empty whole slabs, which are freed without moving a record (a per-slab test moved each
 * record up to three times during such a drain).
 */
const COMPACT_BELOW = 0.75;
/** COMPACT_HOLES_MIN: holes smaller than this in all are left alone (a compaction would free less than it moves). */
const COMPACT_HOLES_MIN = 2 * SLAB_BYTES;
/** SLOTS_INITIAL: the per-slot arrays start this long and double as rooms are added. */
const SLOTS_INITIAL = 1024;
/** NO_SLAB: in slabOf, a free slot. */
const NO_SLAB = -1;
/** NO_SLOT: in the hash table, an empty cell; from slotOf, no such room. */
export const NO_SLOT = -1;
/**
 * INDEX_CELLS_INITIAL / INDEX_LOAD_MAX: the hash table starts small and doubles past this load
 * (linear probing stays short below it).
 */
const INDEX_CELLS_INITIAL = 16;
const INDEX_LOAD_MAX = 0.6;
/** NAME_FIELD_TAG: StoredRoom's name field (2, length-delimited). */
const NAME_FIELD_TAG = (2 << 3) | 2;
/** The protobuf wire types a StoredRoom's fields can have (groups are not used). */
const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

/**
 * decodeUtf8 reads a string field: the bytes are a Buffer view of a slab, whose own decoder is
 * several times faster than TextDecoder on short strings (the records were encoded from JS
 * strings, so they are valid UTF-8 and both read them alike).
 */
const decodeUtf8 = (bytes: Uint8Array): string => (bytes as Buffer).toString('utf8');

/**
 * RoomTable holds the rooms as their encoded StoredRoom bytes, packed into large shared buffers
 * (slabs), instead of a heap object and five strings per room (issue 17): at a million rooms,
 * mark-compact garbage collection walked several million small objects. Each room has a slot:
 * its place in the typed arrays that say where its record and the name inside it lie, its
 * expiry deadline, and which snapshot capture has dealt with it. The heap holds nothing per
 * room: names are found by an open-addressing hash table of slots (linear probing), keyed by
 * the names' UTF-8 bytes in the records, and the ordered indexes beside the table hold slots
 * too (SlotNames). A room is decoded into an object only when read (the API edge, or a write
 * that changes it); snapshots copy the records' bytes as they are.
 *
 * A write puts the new record at the end of the slab being filled and leaves a hole where the
 * old one was; a slab left empty is freed, and when the holes pass a quarter of all slabs the
 * emptiest are compacted (COMPACT_BELOW). Records move, slots do not. Byte views handed out
 * (`recordAt`) are valid only until the next write.
 * Invariants: every room's slot has slabOf >= 0 and its record lies at offsetOf within that
 * slab, after a header naming the slot and its length, with its name at nameStartOf (from the
 * record's start) for nameLengthOf bytes; no two rooms have the same name; the hash table holds
 * each room's slot once, with its name's hash, in the run of occupied cells that starts at that
 * hash, and is at most INDEX_LOAD_MAX full; slabLive sums the records so placed; writtenTotal
 * and liveTotal sum slabWritten and slabLive.
 */
export class RoomTable implements SlotNames {
  private count = 0;
  /**
   * index: the hash table, two entries a cell: a slot (or NO_SLOT), then its name's hash. A power
   * of two cells.
   */
  private index = new Int32Array(2 * INDEX_CELLS_INITIAL).fill(NO_SLOT);
  private readonly key = new NameKey();
  /** nameStart / nameEnd: where locateName found the name in the record it was given. */
  private nameStart = 0;
  private nameEnd = 0;
  private slabOf = new Int32Array(SLOTS_INITIAL).fill(NO_SLAB);
  private offsetOf = new Int32Array(SLOTS_INITIAL);
  private lengthOf = new Int32Array(SLOTS_INITIAL);
  private nameStartOf = new Int32Array(SLOTS_INITIAL);
  private nameLengthOf = new Int32Array(SLOTS_INITIAL);
  private deadlines = new Float64Array(SLOTS_INITIAL);
  private capturedBy = new Int32Array(SLOTS_INITIAL);
  /** captureId: the snapshot capture running (or the last one): a record written now is not part of it. */
  private captureId = 0;
  private readonly freeSlots: number[] = [];
  private slotsUsed = 0;
  /** slabs: null where a freed slab was (its index is reused). */
  private readonly slabs: (Buffer | null)[] = [];
  /** readers: one protobuf reader per slab, moved to a record to decode it without a view of its own. */
  private readonly readers: (BinaryReader | null)[] = [];
  private readonly slabWritten: number[] = [];
  private readonly slabLive: number[] = [];
  /** writtenTotal / liveTotal: slabWritten and slabLive summed over the slabs in use. */
  private writtenTotal = 0;
  private liveTotal = 0;
  private readonly freeSlabs: number[] = [];
  /** filling: the shared slab records are appended to (-1: none yet). */
  private filling = -1;
  private liveBytes = 0;
  private compacted = 0;
  /** scratch: where encode puts a record (grown to the largest record encoded; at most the command limit). */
  private scratch = Buffer.allocUnsafeSlow(1024);

  get size(): number {
    return this.count;
  }

  /** recordBytes: the encoded size of every room together (without the slabs' headers and holes). */
  get recordBytes(): number {
    return this.liveBytes;
  }

  /** slabBytes: the memory the slabs hold, holes and headers included. */
  get slabBytes(): number {
    let total = 0;
    for (const s of this.slabs) total += s?.byteLength ?? 0;
    return total;
  }

  /** compactions: slabs compacted so far (their live records moved, the slab freed). */
  get compactions(): number {
    return this.compacted;
  }

  /** slotsEnd: every room's slot is below it (slots are reused, so it is the most rooms ever held at once). */
  get slotsEnd(): number {
    return this.slotsUsed;
  }

  /** slotOf is `name`'s slot (NO_SLOT: no such room). */
  slotOf(name: string): number {
    const key = this.key.set(name);
    return this.find(hashBytes(key.bytes, 0, key.length), key.bytes, 0, key.length);
  }

  /** get decodes `name`'s room into a fresh object (undefined: no such room). */
  get(name: string): StoredRoom | undefined {
    const slot = this.slotOf(name);
    return slot === NO_SLOT ? undefined : this.getAt(slot);
  }

  /** getAt decodes the room in `slot`, which must hold one. */
  getAt(slot: number): StoredRoom {
    const reader = this.readers[this.slabOf[slot] ?? NO_SLAB];
    assert(reader !== undefined && reader !== null, () => `slot ${slot} has no slab`);
    reader.pos = (this.offsetOf[slot] ?? 0) + RECORD_HEADER_BYTES;
    return StoredRoom.decode(reader, this.lengthOf[slot] ?? 0);
  }

  /** nameOf decodes the name of the room in `slot`, which must hold one. */
  nameOf(slot: number): string {
    const slab = this.slabOfSlot(slot);
    const start = this.nameAt(slot);
    return slab.toString('utf8', start, start + (this.nameLengthOf[slot] ?? 0));
  }

  /** deadlineOf is the deadline `name` was set with (Infinity: no room, or none). */
  deadlineOf(name: string): number {
    const slot = this.slotOf(name);
    return slot === NO_SLOT ? Infinity : this.deadlineAt(slot);
  }

  /** deadlineAt is the deadline the room in `slot` was set with (Infinity: none). */
  deadlineAt(slot: number): number {
    return this.deadlines[slot] ?? Infinity;
  }

  /** recordBytesAt is the encoded size of the room in `slot`, which must hold one. */
  recordBytesAt(slot: number): number {
    assert((this.slabOf[slot] ?? NO_SLAB) !== NO_SLAB, () => `slot ${slot} holds no record`);
    return this.lengthOf[slot] ?? 0;
  }

  /**
   * set stores `room` under its name (added or replaced) with its expiry deadline; returns its
   * slot. `known` is the room's slot (NO_SLOT: a new room) when the caller has just looked it
   * up with slotOf, so a write looks its name up once.
   */
  set(room: Readonly<StoredRoom>, deadlineMs: number, known?: number): number {
    // Encoded straight into the slab: no buffer of its own per write.
    return withEncoded(StoredRoom, room as StoredRoom, (bytes) => this.setEncoded(bytes, deadlineMs, known));
  }

  /**
   * encode is `room` encoded as set would store it, for a write that must know its size before
   * it is stored (setEncoded then stores these bytes): a view of a buffer of the table's own,
   * valid until the next encode.
   */
  encode(room: Readonly<StoredRoom>): Uint8Array {
    return withEncoded(StoredRoom, room as StoredRoom, (bytes) => {
      if (this.scratch.byteLength < bytes.byteLength) this.scratch = Buffer.allocUnsafeSlow(2 * bytes.byteLength);
      this.scratch.set(bytes);
      return this.scratch.subarray(0, bytes.byteLength);
    });
  }

  /** setEncoded stores a room's encoded StoredRoom (from a snapshot) under the name it holds; returns its slot. */
  setEncoded(bytes: Uint8Array, deadlineMs: number, known?: number): number {
    this.locateName(bytes);
    const hash = hashBytes(bytes, this.nameStart, this.nameEnd);
    let slot = known ?? this.find(hash, bytes, this.nameStart, this.nameEnd);
    const added = slot === NO_SLOT;
    if (added) slot = this.newSlot();
    else this.release(slot);
    this.deadlines[slot] = deadlineMs;
    this.capturedBy[slot] = this.captureId;
    this.nameStartOf[slot] = this.nameStart;
    this.nameLengthOf[slot] = this.nameEnd - this.nameStart;
    this.place(slot, bytes);
    this.liveBytes += bytes.byteLength;
    if (added) this.link(slot, hash);
    return slot;
  }

  /** deleteSlot deletes the room in `slot`, which must hold one; the slot may be reused by the next room added. */
  deleteSlot(slot: number): void {
    this.unlink(slot);
    this.release(slot);
    this.freeSlots.push(slot);
  }

  /** recordAt is the encoded StoredRoom in `slot` (undefined: a free slot), a view valid until the next write. */
  recordAt(slot: number): Uint8Array | undefined {
    const s = this.slabOf[slot] ?? NO_SLAB;
    if (s === NO_SLAB) return undefined;
    const at = (this.offsetOf[slot] ?? 0) + RECORD_HEADER_BYTES;
    return this.slabOfSlot(slot).subarray(at, at + (this.lengthOf[slot] ?? 0));
  }

  /**
   * beginCapture starts snapshot capture `id` (above every earlier one): from now on every
   * record written is marked as dealt with by it, as the capture must not write it.
   */
  beginCapture(id: number): void {
    assert(id > this.captureId, () => `capture ${id} begun after ${this.captureId}`);
    this.captureId = id;
  }

  /** markCaptured notes that snapshot capture `id` wrote the current record of `slot`. */
  markCaptured(slot: number, id: number): void {
    this.capturedBy[slot] = id;
  }

  /**
   * captureAt is the id of the last capture that dealt with slot's current record (wrote it,
   * or was running when it was written); 0: none.
   */
  captureAt(slot: number): number {
    return this.capturedBy[slot] ?? 0;
  }

  compareSlots(a: number, b: number): number {
    const startA = this.nameAt(a);
    const startB = this.nameAt(b);
    const endA = startA + (this.nameLengthOf[a] ?? 0);
    const endB = startB + (this.nameLengthOf[b] ?? 0);
    return compareBytes(this.slabOfSlot(a), startA, endA, this.slabOfSlot(b), startB, endB);
  }

  compareSlotTo(slot: number, key: NameKey): number {
    const start = this.nameAt(slot);
    const end = start + (this.nameLengthOf[slot] ?? 0);
    return compareBytes(this.slabOfSlot(slot), start, end, key.bytes, 0, key.length);
  }

  /** find is the slot of the room named bytes[start, end), whose hash is `hash` (NO_SLOT: none). */
  private find(hash: number, bytes: Uint8Array, start: number, end: number): number {
    const mask = (this.index.length >> 1) - 1;
    for (let cell = hash & mask; ; cell = (cell + 1) & mask) {
      const slot = this.index[2 * cell] ?? NO_SLOT;
      if (slot === NO_SLOT) return NO_SLOT;
      // The hash beside the slot spares a look at the record for nearly every other name of the run.
      if (this.index[2 * cell + 1] !== hash || this.nameLengthOf[slot] !== end - start) continue;
      const at = this.nameAt(slot);
      if (compareBytes(this.slabOfSlot(slot), at, at + (end - start), bytes, start, end) === 0) return slot;
    }
  }

  /** link files a new room's slot in the hash table, which doubles first when it would pass INDEX_LOAD_MAX. */
  private link(slot: number, hash: number): void {
    this.count++;
    if (this.count > (this.index.length >> 1) * INDEX_LOAD_MAX) this.rehash();
    this.insert(slot, hash);
  }

  private insert(slot: number, hash: number): void {
    const mask = (this.index.length >> 1) - 1;
    let cell = hash & mask;
    while (this.index[2 * cell] !== NO_SLOT) cell = (cell + 1) & mask;
    this.index[2 * cell] = slot;
    this.index[2 * cell + 1] = hash;
  }

  /**
   * unlink takes slot out of the hash table by backward-shift deletion: each later slot of the
   * run that may fill the hole (its home is not between the hole and it) moves into it, so no
   * tombstones are left and lookups stay as short as the load makes them.
   */
  private unlink(slot: number): void {
    const mask = (this.index.length >> 1) - 1;
    const start = this.nameAt(slot);
    let hole = hashBytes(this.slabOfSlot(slot), start, start + (this.nameLengthOf[slot] ?? 0)) & mask;
    while (this.index[2 * hole] !== slot) {
      assert(this.index[2 * hole] !== NO_SLOT, () => `slot ${slot} missing from the name index`);
      hole = (hole + 1) & mask;
    }
    for (let cell = (hole + 1) & mask; this.index[2 * cell] !== NO_SLOT; cell = (cell + 1) & mask) {
      const home = (this.index[2 * cell + 1] ?? 0) & mask;
      if (((cell - home) & mask) >= ((cell - hole) & mask)) {
        this.index.copyWithin(2 * hole, 2 * cell, 2 * cell + 2);
        hole = cell;
      }
    }
    this.index[2 * hole] = NO_SLOT;
    this.count--;
  }

  /** rehash moves every entry to a hash table of twice the cells (by the hashes kept: no record is read). */
  private rehash(): void {
    const old = this.index;
    this.index = new Int32Array(old.length * 2).fill(NO_SLOT);
    for (let c = 0; c < old.length; c += 2) {
      const slot = old[c] ?? NO_SLOT;
      if (slot !== NO_SLOT) this.insert(slot, old[c + 1] ?? 0);
    }
  }

  /** nameAt is where slot's name starts in its slab. */
  private nameAt(slot: number): number {
    return (this.offsetOf[slot] ?? 0) + RECORD_HEADER_BYTES + (this.nameStartOf[slot] ?? 0);
  }

  private slabOfSlot(slot: number): Buffer {
    const slab = this.slabs[this.slabOf[slot] ?? NO_SLAB];
    assert(slab !== undefined && slab !== null, () => `slot ${slot} has no slab`);
    return slab;
  }

  /**
   * locateName sets nameStart / nameEnd to where an encoded StoredRoom holds its name: wherever
   * the encoder put the field (the last one wins, as when decoding), so any writer's records load.
   */
  private locateName(record: Uint8Array): void {
    this.nameStart = this.nameEnd = 0; // no name field: the name is ""
    for (let at = 0; at < record.byteLength;) {
      const tag = varintAt(record, at);
      at = varintEnd(record, at);
      switch (tag & 7) {
        case WIRE_VARINT:
          at = varintEnd(record, at);
          break;
        case WIRE_FIXED64:
          at += 8;
          break;
        case WIRE_LENGTH_DELIMITED: {
          const length = varintAt(record, at);
          at = varintEnd(record, at);
          if (tag === NAME_FIELD_TAG) [this.nameStart, this.nameEnd] = [at, at + length];
          at += length;
          break;
        }
        case WIRE_FIXED32:
          at += 4;
          break;
        default:
          assert(false, () => `room record has a field of wire type ${tag & 7}`);
      }
    }
    assert(this.nameEnd <= record.byteLength, 'room record ends inside its name');
  }

  private newSlot(): number {
    const reused = this.freeSlots.pop();
    const slot = reused ?? this.slotsUsed++;
    if (slot >= this.slabOf.length) this.growSlots();
    return slot;
  }

  private growSlots(): void {
    const n = this.slabOf.length * 2;
    const grow = <T extends Int32Array | Float64Array>(old: T, make: (n: number) => T): T => {
      const next = make(n);
      next.set(old);
      return next;
    };
    this.slabOf = grow(this.slabOf, (k) => new Int32Array(k).fill(NO_SLAB));
    this.offsetOf = grow(this.offsetOf, (k) => new Int32Array(k));
    this.lengthOf = grow(this.lengthOf, (k) => new Int32Array(k));
    this.nameStartOf = grow(this.nameStartOf, (k) => new Int32Array(k));
    this.nameLengthOf = grow(this.nameLengthOf, (k) => new Int32Array(k));
    this.deadlines = grow(this.deadlines, (k) => new Float64Array(k));
    this.capturedBy = grow(this.capturedBy, (k) => new Int32Array(k));
  }

  /** place writes `bytes` as slot's record: at the end of the slab being filled, or in its own slab when large. */
  private place(slot: number, bytes: Uint8Array): void {
    const need = RECORD_HEADER_BYTES + bytes.byteLength;
    let s: number;
    if (need > SLAB_BYTES / 8) {
      s = this.newSlab(need);
    } else {
      if (this.filling < 0 || (this.slabWritten[this.filling] ?? 0) + need > SLAB_BYTES) {
        this.filling = this.newSlab(SLAB_BYTES);
      }
      s = this.filling;
    }
    const slab = this.slabs[s];
    assert(slab !== undefined && slab !== null, () => `slab ${s} is gone`);
    const at = this.slabWritten[s] ?? 0;
    slab.writeUInt32LE(slot, at);
    slab.writeUInt32LE(bytes.byteLength, at + 4);
    slab.set(bytes, at + RECORD_HEADER_BYTES);
    this.slabWritten[s] = at + need;
    this.slabLive[s] = (this.slabLive[s] ?? 0) + need;
    this.writtenTotal += need;
    this.liveTotal += need;
    this.slabOf[slot] = s;
    this.offsetOf[slot] = at;
    this.lengthOf[slot] = bytes.byteLength;
  }

  private newSlab(bytes: number): number {
    const slab = Buffer.allocUnsafeSlow(bytes);
    const s = this.freeSlabs.pop() ?? this.slabs.length;
    this.slabs[s] = slab;
    this.readers[s] = new BinaryReader(slab, decodeUtf8);
    this.slabWritten[s] = 0;
    this.slabLive[s] = 0;
    return s;
  }

  /** release leaves a hole where slot's record was, freeing its slab when empty and compacting when the holes pass COMPACT_BELOW. */
  private release(slot: number): void {
    const s = this.slabOf[slot] ?? NO_SLAB;
    assert(s !== NO_SLAB, () => `slot ${slot} holds no record`);
    const length = this.lengthOf[slot] ?? 0;
    this.slabOf[slot] = NO_SLAB; // before any compaction below: this record is no longer live there
    this.liveBytes -= length;
    const live = (this.slabLive[s] ?? 0) - RECORD_HEADER_BYTES - length;
    this.slabLive[s] = live;
    this.liveTotal -= RECORD_HEADER_BYTES + length;
    if (s !== this.filling && live === 0) this.freeSlab(s);
    while (
      this.writtenTotal - this.liveTotal > COMPACT_HOLES_MIN &&
      this.liveTotal < this.writtenTotal * COMPACT_BELOW
    ) {
      const emptiest = this.emptiestSlab();
      if (emptiest === null) return;
      this.compact(emptiest);
    }
  }

  /** emptiestSlab: the slab in use, other than the one being filled, with the lowest share of live bytes (null: none with a hole). */
  private emptiestSlab(): number | null {
    let best: number | null = null;
    let bestShare = Infinity;
    for (let s = 0; s < this.slabs.length; s++) {
      const written = this.slabWritten[s] ?? 0;
      if (s === this.filling || this.slabs[s] === null || written === 0) continue;
      const share = (this.slabLive[s] ?? 0) / written;
      if (share < bestShare) [best, bestShare] = [s, share];
    }
    return bestShare < 1 ? best : null;
  }

  /** compact moves slab s's live records to the slab being filled and frees s. */
  private compact(s: number): void {
    const slab = this.slabs[s];
    assert(slab !== undefined && slab !== null, () => `slab ${s} is gone`);
    const end = this.slabWritten[s] ?? 0;
    for (let at = 0; at < end;) {
      const slot = slab.readUInt32LE(at);
      const length = slab.readUInt32LE(at + 4);
      if (this.slabOf[slot] === s && this.offsetOf[slot] === at) {
        // place may open a new slab, never this one: it is not the one being filled.
        this.slabLive[s] = (this.slabLive[s] ?? 0) - RECORD_HEADER_BYTES - length;
        this.liveTotal -= RECORD_HEADER_BYTES + length;
        this.place(slot, slab.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + length));
      }
      at += RECORD_HEADER_BYTES + length;
    }
    assert(this.slabLive[s] === 0, () => `slab ${s} still holds ${this.slabLive[s]} bytes after compaction`);
    this.freeSlab(s);
    this.compacted++;
  }

  private freeSlab(s: number): void {
    assert(this.slabLive[s] === 0, () => `slab ${s} freed with ${this.slabLive[s]} live bytes`);
    this.writtenTotal -= this.slabWritten[s] ?? 0;
    this.slabs[s] = null;
    this.readers[s] = null;
    this.slabWritten[s] = 0;
    this.slabLive[s] = 0;
    this.freeSlabs.push(s);
  }
}

/** varintAt reads the varint at `at` (tags and lengths: 32 bits at most). */
function varintAt(bytes: Uint8Array, at: number): number {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    const b = bytes[at + i] ?? 0;
    value += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return value;
  }
  throw new AssertionError(`room record has a varint over 32 bits at byte ${at}`);
}

/** varintEnd is where the varint at `at` ends. */
function varintEnd(bytes: Uint8Array, at: number): number {
  let end = at;
  while (((bytes[end] ?? 0) & 0x80) !== 0) end++;
  return end + 1;
}
