import type { DedupRecord } from '../gen/roomregistry/snapshot/v1/snapshot.js';
import { assert } from '../lib/assert.js';
import { NameKey, compareBytes, hashBytes } from './name-bytes.js';

/** SLAB_BYTES: the size of one shared buffer of records (a record larger than an eighth gets its own). */
const SLAB_BYTES = 1 << 20;
/** SLOTS_INITIAL: the ring of per-id arrays starts this long and doubles when full (a power of two). */
const SLOTS_INITIAL = 1024;
/** NO_SLOT: in the hash table, an empty cell; from find, no such id. */
export const NO_SLOT = -1;
/** NO_ID: from InternedStrings.idOf, a string not held. */
const NO_ID = -1;
/** KEY_SEED_MULTIPLIER: spreads an API key's id over the 32 bits of the seed its ids are hashed with. */
const KEY_SEED_MULTIPLIER = 0x9e3779b1;

/** DedupEntry is a request id's first use, as apply (or a snapshot) hands it to the dedup table. */
export interface DedupEntry {
  readonly apiKey: string;
  readonly requestId: string;
  /** command: the oneof case of the command that used the id (a reuse for another is refused). */
  readonly command: string;
  /** room: the room it named ("" for none, or unknown: a record from an older snapshot). */
  readonly room: string;
  readonly result: Uint8Array;
  /** entryTimeMs: the entry time of its first use; null until stamped (from an older snapshot). */
  readonly entryTimeMs: number | null;
}

/**
 * DedupStore holds the dedup table's remembered ids packed, so that the heap holds no object
 * per id (at the 100 000 ids of REGISTRY_LIMITS, the objects, strings and buffers of one id
 * each were most of a loaded leader's heap; bench/RESULTS.md). Each id's request id and room
 * (UTF-8) and result bytes are appended, in first-use order, to large shared buffers (slabs);
 * the rest of it lives in typed arrays at its slot: where its bytes lie, its API key and
 * command as ids of interned strings (one key makes most requests), its entry time and its
 * counted size. The slots form a ring, oldest first. An open-addressing hash table of slots
 * (linear probing), keyed by the API key's id and the request id's bytes, finds an id.
 *
 * Ids leave only oldest first (the table evicts in first-use order), so each slab's records
 * leave in the order they were written, and a slab is dropped once its last one has left: no
 * record moves, and no slab is written again once full or dropped, so the views `recordAt`
 * hands out (a snapshot's) stay valid for as long as they are held.
 * Invariants: the ids are the `count` slots from `first` around the ring; each has a record of
 * requestIdBytesOf + roomBytesOf + resultBytesOf bytes at offsetOf in slab slabOf, which counts
 * it in slabLive; no two ids have the same API key and request id; the hash table holds each
 * id's slot once, in the run of occupied cells that starts at its hash (hashOf), and has twice
 * as many cells as the ring has slots, so it is at most half full.
 */
export class DedupStore {
  /** first: the slot of the oldest id; the ring has mask + 1 slots. */
  private first = 0;
  private count = 0;
  private mask = SLOTS_INITIAL - 1;
  private slabOf = new Int32Array(SLOTS_INITIAL);
  private offsetOf = new Int32Array(SLOTS_INITIAL);
  private requestIdBytesOf = new Int32Array(SLOTS_INITIAL);
  private roomBytesOf = new Int32Array(SLOTS_INITIAL);
  private resultBytesOf = new Int32Array(SLOTS_INITIAL);
  private apiKeyOf = new Int32Array(SLOTS_INITIAL);
  private commandOf = new Int32Array(SLOTS_INITIAL);
  private hashOf = new Int32Array(SLOTS_INITIAL);
  private countedBytesOf = new Int32Array(SLOTS_INITIAL);
  /** entryTimeOf: NaN for none (null: a record from an older snapshot, not stamped yet). */
  private entryTimeOf = new Float64Array(SLOTS_INITIAL);
  /** index: the hash table, one slot (or NO_SLOT) a cell; a power of two cells. */
  private index = new Int32Array(2 * SLOTS_INITIAL).fill(NO_SLOT);
  private readonly apiKeys = new InternedStrings();
  private readonly commands = new InternedStrings();
  private readonly key = new NameKey();
  /** slabs: null where a dropped slab was (its index is reused, never its buffer). */
  private readonly slabs: (Buffer | null)[] = [];
  /** slabLive: how many ids have their record in each slab. */
  private readonly slabLive: number[] = [];
  private readonly freeSlabs: number[] = [];
  /** filling: the shared slab records are appended to (-1: none yet), written up to fillingAt. */
  private filling = -1;
  private fillingAt = 0;
  /** placedAt: where in its slab `place` put the last record. */
  private placedAt = 0;

  get size(): number {
    return this.count;
  }

  /** slotAt is the slot of the i-th oldest id (0: the oldest). */
  slotAt(i: number): number {
    assert(i >= 0 && i < this.count, () => `dedup id ${i} of ${this.count}`);
    return (this.first + i) & this.mask;
  }

  /** find is the slot of (apiKey, requestId) (NO_SLOT: not held); it allocates nothing. */
  find(apiKey: string, requestId: string): number {
    const keyId = this.apiKeys.idOf(apiKey);
    if (keyId === NO_ID) return NO_SLOT;
    const key = this.key.set(requestId);
    return this.index[this.cellOf(hashOfId(keyId, key), keyId, key)] ?? NO_SLOT;
  }

  /** push adds an id not held as the newest, counted as countedBytes; returns its slot. */
  push(e: DedupEntry, countedBytes: number): number {
    assert(e.entryTimeMs === null || Number.isFinite(e.entryTimeMs), () => `dedup entry time ${e.entryTimeMs}`);
    assert(countedBytes >= 0 && countedBytes <= 0x7fff_ffff, () => `dedup id counted as ${countedBytes} bytes`);
    if (this.count === this.mask + 1) this.grow();
    const keyId = this.apiKeys.acquire(e.apiKey);
    const key = this.key.set(e.requestId);
    const hash = hashOfId(keyId, key);
    const cell = this.cellOf(hash, keyId, key);
    assert(this.index[cell] === NO_SLOT, () => `request id ${e.requestId} remembered twice`);
    const slot = (this.first + this.count) & this.mask;
    this.write(slot, key, e);
    this.apiKeyOf[slot] = keyId;
    this.commandOf[slot] = this.commands.acquire(e.command);
    this.hashOf[slot] = hash;
    this.countedBytesOf[slot] = countedBytes;
    this.entryTimeOf[slot] = e.entryTimeMs ?? NaN;
    this.index[cell] = slot;
    this.count++;
    return slot;
  }

  /** shift forgets the oldest id, which must exist. */
  shift(): void {
    assert(this.count > 0, 'dedup store shifted while empty');
    const slot = this.first;
    this.unlink(slot);
    this.apiKeys.release(this.apiKeyOf[slot] ?? NO_ID);
    this.commands.release(this.commandOf[slot] ?? NO_ID);
    const s = this.slabOf[slot] ?? -1;
    const live = (this.slabLive[s] ?? 0) - 1;
    assert(live >= 0, () => `slab ${s} held no record of slot ${slot}`);
    this.slabLive[s] = live;
    if (live === 0 && s !== this.filling) this.dropSlab(s);
    this.first = (this.first + 1) & this.mask;
    this.count--;
  }

  /** entryTimeAt is the entry time of slot's first use (null: not stamped yet). */
  entryTimeAt(slot: number): number | null {
    const t = this.entryTimeOf[slot] ?? NaN;
    return Number.isNaN(t) ? null : t;
  }

  setEntryTimeAt(slot: number, entryTimeMs: number): void {
    assert(Number.isFinite(entryTimeMs), () => `dedup entry time ${entryTimeMs}`);
    this.entryTimeOf[slot] = entryTimeMs;
  }

  /** countedBytesAt is what slot's id counts against the byte bound (as given to push). */
  countedBytesAt(slot: number): number {
    return this.countedBytesOf[slot] ?? 0;
  }

  /**
   * recordAt decodes slot's id as a snapshot holds it. Its result is a view of the slab (the
   * generated type wants a Buffer), valid after the id leaves too: slabs are never rewritten.
   */
  recordAt(slot: number): DedupRecord {
    const slab = this.slabAt(slot);
    const idAt = this.offsetOf[slot] ?? 0;
    const roomAt = idAt + (this.requestIdBytesOf[slot] ?? 0);
    const resultAt = roomAt + (this.roomBytesOf[slot] ?? 0);
    const entryTimeMs = this.entryTimeAt(slot);
    // One literal for every record (entryTimeMs undefined, not left out: the encoder skips both).
    return {
      requestId: slab.toString('utf8', idAt, roomAt),
      command: this.commands.stringOf(this.commandOf[slot] ?? NO_ID),
      result: slab.subarray(resultAt, resultAt + (this.resultBytesOf[slot] ?? 0)),
      apiKey: this.apiKeys.stringOf(this.apiKeyOf[slot] ?? NO_ID),
      room: slab.toString('utf8', roomAt, resultAt),
      entryTimeMs: entryTimeMs ?? undefined,
    };
  }

  /** cellOf is the cell holding the id (keyId, key), or the empty cell that ends its run when none does. */
  private cellOf(hash: number, keyId: number, key: NameKey): number {
    const mask = this.index.length - 1;
    for (let cell = hash & mask; ; cell = (cell + 1) & mask) {
      const slot = this.index[cell] ?? NO_SLOT;
      if (slot === NO_SLOT || this.holds(slot, hash, keyId, key)) return cell;
    }
  }

  /** holds says whether slot's id is (keyId, key); its hash, key and length are compared before its bytes. */
  private holds(slot: number, hash: number, keyId: number, key: NameKey): boolean {
    if (this.hashOf[slot] !== hash || this.apiKeyOf[slot] !== keyId) return false;
    if (this.requestIdBytesOf[slot] !== key.length) return false;
    const at = this.offsetOf[slot] ?? 0;
    return compareBytes(this.slabAt(slot), at, at + key.length, key.bytes, 0, key.length) === 0;
  }

  /**
   * unlink takes slot out of the hash table by backward-shift deletion: each later slot of the
   * run that may fill the hole (its home is not between the hole and it) moves into it, so no
   * tombstones are left (as RoomTable's).
   */
  private unlink(slot: number): void {
    const mask = this.index.length - 1;
    let hole = (this.hashOf[slot] ?? 0) & mask;
    while (this.index[hole] !== slot) {
      assert(this.index[hole] !== NO_SLOT, () => `dedup slot ${slot} missing from the hash table`);
      hole = (hole + 1) & mask;
    }
    for (let cell = (hole + 1) & mask; this.index[cell] !== NO_SLOT; cell = (cell + 1) & mask) {
      const home = (this.hashOf[this.index[cell] ?? 0] ?? 0) & mask;
      if (((cell - home) & mask) >= ((cell - hole) & mask)) {
        this.index[hole] = this.index[cell] ?? NO_SLOT;
        hole = cell;
      }
    }
    this.index[hole] = NO_SLOT;
  }

  /**
   * grow doubles the ring, moving the ids to slots 0.. in order (the ring wraps at most once,
   * so each array is two copies), and rebuilds the hash table for the new slots from hashOf.
   */
  private grow(): void {
    const n = 2 * (this.mask + 1);
    const [first, count] = [this.first, this.count];
    const unwrap = <T extends Int32Array | Float64Array>(old: T, next: T): T => {
      next.set(old.subarray(first));
      next.set(old.subarray(0, first), old.length - first);
      return next;
    };
    this.slabOf = unwrap(this.slabOf, new Int32Array(n));
    this.offsetOf = unwrap(this.offsetOf, new Int32Array(n));
    this.requestIdBytesOf = unwrap(this.requestIdBytesOf, new Int32Array(n));
    this.roomBytesOf = unwrap(this.roomBytesOf, new Int32Array(n));
    this.resultBytesOf = unwrap(this.resultBytesOf, new Int32Array(n));
    this.apiKeyOf = unwrap(this.apiKeyOf, new Int32Array(n));
    this.commandOf = unwrap(this.commandOf, new Int32Array(n));
    this.hashOf = unwrap(this.hashOf, new Int32Array(n));
    this.countedBytesOf = unwrap(this.countedBytesOf, new Int32Array(n));
    this.entryTimeOf = unwrap(this.entryTimeOf, new Float64Array(n));
    this.first = 0;
    this.mask = n - 1;
    this.index = new Int32Array(2 * n).fill(NO_SLOT);
    const cellMask = this.index.length - 1;
    for (let slot = 0; slot < count; slot++) {
      let cell = (this.hashOf[slot] ?? 0) & cellMask;
      while (this.index[cell] !== NO_SLOT) cell = (cell + 1) & cellMask;
      this.index[cell] = slot;
    }
  }

  /** write appends slot's record (request id, room, result) to a slab and notes where it lies. */
  private write(slot: number, key: NameKey, e: DedupEntry): void {
    const roomBytes = Buffer.byteLength(e.room, 'utf8');
    const s = this.place(key.length + roomBytes + e.result.byteLength);
    const slab = this.slabs[s];
    assert(slab !== undefined && slab !== null, () => `slab ${s} is gone`);
    const at = this.placedAt;
    key.bytes.copy(slab, at, 0, key.length);
    const written = slab.write(e.room, at + key.length, roomBytes, 'utf8');
    assert(written === roomBytes, () => `room ${e.room} took ${written} bytes, not ${roomBytes}`);
    slab.set(e.result, at + key.length + roomBytes);
    this.slabOf[slot] = s;
    this.offsetOf[slot] = at;
    this.requestIdBytesOf[slot] = key.length;
    this.roomBytesOf[slot] = roomBytes;
    this.resultBytesOf[slot] = e.result.byteLength;
  }

  /** place reserves `bytes` at the end of the slab being filled, or in a slab of its own when large; returns the slab. */
  private place(bytes: number): number {
    let s: number;
    if (bytes > SLAB_BYTES / 8) {
      s = this.newSlab(bytes);
      this.placedAt = 0;
    } else {
      if (this.filling < 0 || this.fillingAt + bytes > SLAB_BYTES) this.startFilling();
      s = this.filling;
      this.placedAt = this.fillingAt;
      this.fillingAt += bytes;
    }
    this.slabLive[s] = (this.slabLive[s] ?? 0) + 1;
    return s;
  }

  /** startFilling opens a new shared slab; the full one is dropped now if every record in it has left. */
  private startFilling(): void {
    const full = this.filling;
    this.filling = this.newSlab(SLAB_BYTES);
    this.fillingAt = 0;
    if (full >= 0 && this.slabLive[full] === 0) this.dropSlab(full);
  }

  private newSlab(bytes: number): number {
    const s = this.freeSlabs.pop() ?? this.slabs.length;
    this.slabs[s] = Buffer.allocUnsafeSlow(bytes);
    this.slabLive[s] = 0;
    return s;
  }

  private dropSlab(s: number): void {
    assert(this.slabLive[s] === 0 && s !== this.filling, () => `slab ${s} dropped while in use`);
    this.slabs[s] = null;
    this.freeSlabs.push(s);
  }

  private slabAt(slot: number): Buffer {
    const slab = this.slabs[this.slabOf[slot] ?? -1];
    assert(slab !== undefined && slab !== null, () => `dedup slot ${slot} has no slab`);
    return slab;
  }
}

/** hashOfId hashes an id: its request id's bytes, seeded by its API key's id. */
function hashOfId(keyId: number, key: NameKey): number {
  return hashBytes(key.bytes, 0, key.length, Math.imul(keyId + 1, KEY_SEED_MULTIPLIER));
}

/**
 * InternedStrings gives each distinct string a small id and holds it once however many ids use
 * it (one API key makes most requests; commands are a few oneof cases). A string that no id
 * uses any more is dropped, so they are bounded by the ids held.
 */
class InternedStrings {
  private readonly ids = new Map<string, number>();
  private readonly strings: string[] = [];
  /** uses: how many ids use each string (0: a free id, its string ""). */
  private readonly uses: number[] = [];
  private readonly freeIds: number[] = [];

  idOf(s: string): number {
    return this.ids.get(s) ?? NO_ID;
  }

  /** acquire is s's id, counting one more use of it. */
  acquire(s: string): number {
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.freeIds.pop() ?? this.strings.length;
      this.ids.set(s, id);
      this.strings[id] = s;
      this.uses[id] = 0;
    }
    this.uses[id] = (this.uses[id] ?? 0) + 1;
    return id;
  }

  /** release counts one use of id fewer, dropping its string after the last. */
  release(id: number): void {
    const s = this.stringOf(id);
    const uses = (this.uses[id] ?? 0) - 1;
    this.uses[id] = uses;
    if (uses > 0) return;
    this.ids.delete(s);
    this.strings[id] = '';
    this.freeIds.push(id);
  }

  /** stringOf is the string of id, which must be in use. */
  stringOf(id: number): string {
    const s = this.strings[id];
    assert(s !== undefined && (this.uses[id] ?? 0) > 0, () => `interned string ${id} is not in use`);
    return s;
  }
}
