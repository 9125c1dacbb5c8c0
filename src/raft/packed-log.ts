import { assert } from '../lib/assert.js';
import type { Index, Term } from '../lib/ids.js';
import { ENTRY_KINDS, type Entry } from './types.js';

/**
 * SLAB_BYTES: the size of one shared buffer of entry bytes. At a few hundred bytes an entry,
 * about 3 000 entries share one allocation; a node holds the slabs of one snapshot interval
 * (~100 000 entries, a few dozen MiB) plus one being filled.
 */
const SLAB_BYTES = 1 << 20;
/**
 * OWN_BUFFER_BYTES_MIN: an entry this large gets a buffer of its own. An entry that does not
 * fit in what is left of the slab being filled starts a new slab and the rest is never used,
 * so an eighth bounds that waste at 12.5% of a slab.
 */
const OWN_BUFFER_BYTES_MIN = SLAB_BYTES / 8;
/** POSITIONS_INITIAL: the per-entry arrays start this long and double (or shift down) when full. */
const POSITIONS_INITIAL = 1024;
/** NO_SLAB: in slabOf, an entry without bytes; as `filling`, no slab being filled. */
const NO_SLAB = -1;
/** EMPTY_DATA: the data of every entry without bytes (a noop); nothing can be written into it. */
const EMPTY_DATA = new Uint8Array(0);

/**
 * PackedLog holds a run of log entries without an object per entry: terms and kinds in typed
 * arrays, and the entries' bytes copied into large shared buffers (slabs), each entry's slab,
 * offset and length in typed arrays beside them. A node keeps ~100 000 entries between
 * snapshots; as objects, each with a buffer of its own (on a follower, a view that kept a whole
 * received batch alive), they were much of what a mark-compact collection walks. `entry` builds
 * an Entry on demand, its data a view of the slab: young garbage that dies with the read.
 *
 * Entries are addressed by position: 0 is the first held. Bytes are only ever appended to the
 * slab being filled, never written over, so a view handed out keeps its bytes for good: a
 * truncation leaves its entries' space unused, and a slab freed is only dropped (a view still
 * holding it keeps it alive). A slab is freed once no held entry has bytes in it.
 *
 * Invariants: held entries are at array positions start..end-1; an entry with bytes lies in
 * slab slabOf at offsetOf for lengthOf bytes, one without has slabOf NO_SLAB; slabEntries counts
 * the held entries with bytes in each slab, and every slab but `filling` has at least one
 * (freed ids are null in `slabs` and listed in freeSlabs); fillBytes only grows while `filling`
 * stays the same.
 */
export class PackedLog {
  private start = 0;
  private end = 0;
  private terms = new Float64Array(POSITIONS_INITIAL);
  /** kinds: each entry's kind as its position in ENTRY_KINDS. */
  private kinds = new Uint8Array(POSITIONS_INITIAL);
  private slabOf = new Int32Array(POSITIONS_INITIAL);
  private offsetOf = new Int32Array(POSITIONS_INITIAL);
  private lengthOf = new Int32Array(POSITIONS_INITIAL);
  /** slabs: by id; null where a freed slab was (its id is reused). */
  private slabs: (Uint8Array | null)[] = [];
  private slabEntries: number[] = [];
  private freeSlabs: number[] = [];
  /** filling: the shared slab small entries are appended to (NO_SLAB: none yet). */
  private filling = NO_SLAB;
  /** fillBytes: where the next entry's bytes go in `filling`. */
  private fillBytes = 0;

  get length(): number {
    return this.end - this.start;
  }

  /** capacity: how many entries the per-entry arrays have room for (dropped prefix included). */
  get capacity(): number {
    return this.terms.length;
  }

  /** slabBytes: the memory the slabs hold, unused and truncated space included. */
  get slabBytes(): number {
    let total = 0;
    for (const s of this.slabs) total += s?.byteLength ?? 0;
    return total;
  }

  term(k: number): Term {
    return this.terms[this.at(k)] as Term;
  }

  /** byteLength is the size of entry k's data. */
  byteLength(k: number): number {
    return this.lengthOf[this.at(k)] ?? 0;
  }

  /** entry builds entry k, which is log index `at`, with its data a view of its slab. */
  entry(k: number, at: Index): Entry {
    const p = this.at(k);
    const kind = ENTRY_KINDS[this.kinds[p] ?? 0];
    assert(kind !== undefined, () => `packed log: entry ${at} has kind ${this.kinds[p]}`);
    const s = this.slabOf[p] ?? NO_SLAB;
    if (s === NO_SLAB) return { index: at, term: this.terms[p] as Term, kind, data: EMPTY_DATA };
    const slab = this.slabs[s];
    assert(slab !== undefined && slab !== null, () => `packed log: entry ${at} in freed slab ${s}`);
    const offset = this.offsetOf[p] ?? 0;
    const data = slab.subarray(offset, offset + (this.lengthOf[p] ?? 0));
    return { index: at, term: this.terms[p] as Term, kind, data };
  }

  /** push copies `e` in after the last entry (the caller checks its index). */
  push(e: Entry): void {
    const kind = ENTRY_KINDS.indexOf(e.kind);
    assert(kind >= 0, () => `packed log: entry ${e.index} has kind ${e.kind}`);
    assert(Number.isSafeInteger(e.term) && e.term >= 0, () => `packed log: entry ${e.index} has term ${e.term}`);
    if (this.end === this.terms.length) this.makeRoom();
    const p = this.end;
    this.terms[p] = e.term;
    this.kinds[p] = kind;
    this.lengthOf[p] = e.data.byteLength;
    this.place(p, e.data);
    this.end++;
  }

  /** truncate keeps the first `length` entries; the space of those dropped is not reused. */
  truncate(length: number): void {
    assert(Number.isInteger(length) && length >= 0 && length <= this.length, () => `packed log: truncate to ${length}`);
    const end = this.start + length;
    for (let p = end; p < this.end; p++) this.release(p);
    this.end = end;
    if (this.start === this.end) this.start = this.end = 0;
  }

  /** dropFirst drops the first `count` entries (a snapshot covers them). */
  dropFirst(count: number): void {
    assert(Number.isInteger(count) && count >= 0 && count <= this.length, () => `packed log: drop ${count}`);
    const start = this.start + count;
    for (let p = this.start; p < start; p++) this.release(p);
    this.start = start;
    if (this.start === this.end) this.start = this.end = 0;
  }

  /**
   * clear drops every entry and every slab; views handed out keep their own slabs alive. The
   * arrays start small again: a log rebased on an installed snapshot starts over.
   */
  clear(): void {
    this.start = this.end = 0;
    this.terms = new Float64Array(POSITIONS_INITIAL);
    this.kinds = new Uint8Array(POSITIONS_INITIAL);
    this.slabOf = new Int32Array(POSITIONS_INITIAL);
    this.offsetOf = new Int32Array(POSITIONS_INITIAL);
    this.lengthOf = new Int32Array(POSITIONS_INITIAL);
    this.slabs = [];
    this.slabEntries = [];
    this.freeSlabs = [];
    this.filling = NO_SLAB;
    this.fillBytes = 0;
  }

  /** checkInvariants recounts every slab's entries against slabEntries (tests call it; it walks everything). */
  checkInvariants(): void {
    const counted = this.slabs.map(() => 0);
    for (let p = this.start; p < this.end; p++) {
      const s = this.slabOf[p] ?? NO_SLAB;
      if (s === NO_SLAB) continue;
      const slab = this.slabs[s];
      assert(slab !== undefined && slab !== null, () => `packed log: position ${p} in freed slab ${s}`);
      const offset = this.offsetOf[p] ?? 0;
      assert(offset + (this.lengthOf[p] ?? 0) <= slab.byteLength, () => `packed log: position ${p} past its slab`);
      assert(s !== this.filling || offset < this.fillBytes, () => `packed log: position ${p} past the fill point`);
      counted[s] = (counted[s] ?? 0) + 1;
    }
    this.slabs.forEach((slab, s) => {
      assert(counted[s] === (this.slabEntries[s] ?? 0), () => `packed log: slab ${s} miscounted`);
      const freed = this.freeSlabs.includes(s);
      assert(freed === (slab === null), () => `packed log: slab ${s} free list disagrees`);
      assert(freed || s === this.filling || counted[s] > 0, () => `packed log: empty slab ${s} held`);
    });
  }

  /** at maps position k to its array position. */
  private at(k: number): number {
    assert(Number.isInteger(k) && k >= 0 && k < this.length, () => `packed log: position ${k} of ${this.length}`);
    return this.start + k;
  }

  /** place copies an entry's bytes into the slab being filled, or a buffer of its own if large. */
  private place(p: number, data: Uint8Array): void {
    const bytes = data.byteLength;
    if (bytes === 0) {
      this.slabOf[p] = NO_SLAB;
      this.offsetOf[p] = 0;
      return;
    }
    let s: number;
    let offset = 0;
    if (bytes >= OWN_BUFFER_BYTES_MIN) {
      assert(bytes <= 0x7fff_ffff, () => `packed log: entry of ${bytes} bytes`);
      s = this.newSlab(bytes);
    } else {
      if (this.filling === NO_SLAB || this.fillBytes + bytes > SLAB_BYTES) this.startSlab();
      s = this.filling;
      offset = this.fillBytes;
      this.fillBytes += bytes;
    }
    const slab = this.slabs[s];
    assert(slab !== undefined && slab !== null, 'packed log: placing into a freed slab');
    slab.set(data, offset);
    this.slabOf[p] = s;
    this.offsetOf[p] = offset;
    this.slabEntries[s] = (this.slabEntries[s] ?? 0) + 1;
  }

  /** startSlab replaces the slab being filled, freeing the old one if no entry is left in it. */
  private startSlab(): void {
    const old = this.filling;
    this.filling = this.newSlab(SLAB_BYTES);
    this.fillBytes = 0;
    if (old !== NO_SLAB && this.slabEntries[old] === 0) this.freeSlab(old);
  }

  private newSlab(bytes: number): number {
    const s = this.freeSlabs.pop() ?? this.slabs.length;
    this.slabs[s] = new Uint8Array(bytes);
    this.slabEntries[s] = 0;
    return s;
  }

  /** release forgets the bytes of the entry at array position p; its slab goes with its last entry. */
  private release(p: number): void {
    const s = this.slabOf[p] ?? NO_SLAB;
    if (s === NO_SLAB) return;
    const left = (this.slabEntries[s] ?? 0) - 1;
    assert(left >= 0, () => `packed log: slab ${s} released more entries than it held`);
    this.slabEntries[s] = left;
    // The slab being filled stays even when empty: the next entries go after what it holds.
    if (left === 0 && s !== this.filling) this.freeSlab(s);
  }

  private freeSlab(s: number): void {
    assert(this.slabEntries[s] === 0, () => `packed log: freeing slab ${s}, which holds entries`);
    this.slabs[s] = null;
    this.freeSlabs.push(s);
  }

  /**
   * makeRoom frees room at the end of the full arrays. When the dropped prefix is at least half
   * of them, the held entries move down over it: that costs no more than the entries dropped
   * since the last move, so O(1) per entry over time. Otherwise the arrays double.
   */
  private makeRoom(): void {
    const length = this.length;
    const capacity = this.terms.length;
    if (this.start >= capacity / 2) {
      for (const a of [this.terms, this.kinds, this.slabOf, this.offsetOf, this.lengthOf]) {
        a.copyWithin(0, this.start, this.end);
      }
    } else {
      this.terms = grown(this.terms.subarray(this.start, this.end), new Float64Array(2 * capacity));
      this.kinds = grown(this.kinds.subarray(this.start, this.end), new Uint8Array(2 * capacity));
      this.slabOf = grown(this.slabOf.subarray(this.start, this.end), new Int32Array(2 * capacity));
      this.offsetOf = grown(this.offsetOf.subarray(this.start, this.end), new Int32Array(2 * capacity));
      this.lengthOf = grown(this.lengthOf.subarray(this.start, this.end), new Int32Array(2 * capacity));
    }
    this.start = 0;
    this.end = length;
    assert(this.end < this.terms.length, 'packed log: no room made');
  }
}

function grown<T extends Float64Array | Uint8Array | Int32Array>(held: T, into: T): T {
  into.set(held);
  return into;
}
