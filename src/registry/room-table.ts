import { BinaryReader } from '@bufbuild/protobuf/wire';
import { StoredRoom } from '../gen/roomregistry/snapshot/v1/snapshot.js';
import { assert } from '../lib/assert.js';
import { withEncoded } from '../lib/proto-encode.js';

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

/**
 * decodeUtf8 reads a string field: the bytes are a Buffer view of a slab, whose own decoder is
 * several times faster than TextDecoder on short strings (the records were encoded from JS
 * strings, so they are valid UTF-8 and both read them alike).
 */
const decodeUtf8 = (bytes: Uint8Array): string => (bytes as Buffer).toString('utf8');

/**
 * RoomTable holds the rooms as their encoded StoredRoom bytes, packed into large shared buffers
 * (slabs), instead of a heap object and five strings per room (issue 17): at a million rooms,
 * mark-compact garbage collection walked several million small objects. What is left on the
 * heap per room is its name, as the key of the one name → slot map (and the ordered indexes
 * beside the table). Each room has a slot: its place in the typed arrays that say where its
 * record lies, its expiry deadline, and which snapshot capture wrote it. A room is decoded
 * into an object only when read (the API edge, or a write that changes it); snapshots copy
 * the records' bytes as they are.
 *
 * A write puts the new record at the end of the slab being filled and leaves a hole where the
 * old one was; a slab left empty is freed, and when the holes pass a quarter of all slabs the
 * emptiest are compacted (COMPACT_BELOW). Byte views handed out (`bytesOf`) are valid only
 * until the next write.
 * Invariants: every room's slot has slabOf >= 0 and its record lies at offsetOf within that
 * slab, after a header naming the slot and its length; slabLive sums the records so placed;
 * writtenTotal and liveTotal sum slabWritten and slabLive.
 */
export class RoomTable {
  private readonly slots = new Map<string, number>();
  private slabOf = new Int32Array(SLOTS_INITIAL).fill(NO_SLAB);
  private offsetOf = new Int32Array(SLOTS_INITIAL);
  private lengthOf = new Int32Array(SLOTS_INITIAL);
  private deadlines = new Float64Array(SLOTS_INITIAL);
  private capturedBy = new Int32Array(SLOTS_INITIAL);
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

  get size(): number {
    return this.slots.size;
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

  has(name: string): boolean {
    return this.slots.has(name);
  }

  /** get decodes `name`'s room into a fresh object (undefined: no such room). */
  get(name: string): StoredRoom | undefined {
    const slot = this.slots.get(name);
    if (slot === undefined) return undefined;
    const reader = this.readers[this.slabOf[slot] ?? NO_SLAB];
    assert(reader !== undefined && reader !== null, () => `slot ${slot} has no slab`);
    reader.pos = (this.offsetOf[slot] ?? 0) + RECORD_HEADER_BYTES;
    return StoredRoom.decode(reader, this.lengthOf[slot] ?? 0);
  }

  /** bytesOf is `name`'s encoded StoredRoom, a view valid until the next write. */
  bytesOf(name: string): Uint8Array | undefined {
    const slot = this.slots.get(name);
    return slot === undefined ? undefined : this.recordAt(slot);
  }

  /** deadlineOf is the deadline `name` was set with (Infinity: no room, or none). */
  deadlineOf(name: string): number {
    const slot = this.slots.get(name);
    return slot === undefined ? Infinity : (this.deadlines[slot] ?? Infinity);
  }

  /** set stores `room` under its name (added or replaced) with its expiry deadline. */
  set(room: Readonly<StoredRoom>, deadlineMs: number): void {
    // Encoded straight into the slab: no buffer of its own per write.
    withEncoded(StoredRoom, room as StoredRoom, (bytes) => this.setEncoded(room.name, bytes, deadlineMs));
  }

  /** setEncoded stores a room's encoded StoredRoom (from a snapshot) under `name`. */
  setEncoded(name: string, bytes: Uint8Array, deadlineMs: number): void {
    let slot = this.slots.get(name);
    if (slot === undefined) {
      slot = this.newSlot();
      this.slots.set(name, slot);
    } else {
      this.release(slot);
    }
    this.deadlines[slot] = deadlineMs;
    this.place(slot, bytes);
    this.liveBytes += bytes.byteLength;
  }

  delete(name: string): boolean {
    const slot = this.slots.get(name);
    if (slot === undefined) return false;
    this.slots.delete(name);
    this.release(slot);
    this.freeSlots.push(slot);
    return true;
  }

  /**
   * names iterates the room names in insertion order, live: a room added meanwhile is visited,
   * one deleted before it is reached is not (a Map's iterator; snapshot captures rely on it).
   */
  names(): IterableIterator<string> {
    return this.slots.keys();
  }

  /** markCaptured notes that snapshot capture `id` wrote `name`'s current record. */
  markCaptured(name: string, id: number): void {
    const slot = this.slots.get(name);
    assert(slot !== undefined, () => `capture marks ${name}, which does not exist`);
    this.capturedBy[slot] = id;
  }

  /** capturedBy is the id of the last capture that wrote `name`'s current record (0: none). */
  captureOf(name: string): number {
    const slot = this.slots.get(name);
    return slot === undefined ? 0 : (this.capturedBy[slot] ?? 0);
  }

  private recordAt(slot: number): Uint8Array {
    const slab = this.slabs[this.slabOf[slot] ?? NO_SLAB];
    assert(slab !== undefined && slab !== null, () => `slot ${slot} has no slab`);
    const at = (this.offsetOf[slot] ?? 0) + RECORD_HEADER_BYTES;
    return slab.subarray(at, at + (this.lengthOf[slot] ?? 0));
  }

  private newSlot(): number {
    const reused = this.freeSlots.pop();
    const slot = reused ?? this.slotsUsed++;
    if (slot >= this.slabOf.length) this.growSlots();
    this.capturedBy[slot] = 0;
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
