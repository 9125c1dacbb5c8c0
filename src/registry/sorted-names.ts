import { assert } from '../lib/assert.js';
import { NameKey, type SlotNames } from './name-bytes.js';
import { REGISTRY_LIMITS } from './registry-limits.js';

/**
 * SortedNames keeps the rooms in name order, so ListRooms pages resume after a name in
 * O(log n) without sorting the table. It holds slots, not names (issue 17), and orders them by
 * their names' UTF-8 bytes in the room table (SlotNames): code-point order. The whole ListRooms
 * path uses that order: a page token's "after" name is compared as UTF-8 bytes too, so a page
 * resumes exactly after the last room of the page before. (JS string order, by UTF-16 code
 * units, differs from it only between characters at U+10000 and above and those at U+E000 to
 * U+FFFF; room names may hold both, validate.ts refuses only lone surrogates.)
 * It is a one-level B-tree: sorted chunks of at most sortedNamesChunkMax slots; an insert or
 * delete moves at most one chunk's worth of slots.
 * Invariant: every chunk is non-empty and sorted (chunk c's slots in chunks[c][0, lengths[c])),
 * and chunk c's names all precede chunk c+1's.
 */
export class SortedNames {
  private readonly chunks: Int32Array[] = [];
  private readonly lengths: number[] = [];
  private count = 0;
  private readonly key = new NameKey();

  constructor(private readonly names: SlotNames) {}

  get size(): number {
    return this.count;
  }

  add(slot: number): void {
    if (this.chunks.length === 0) {
      this.chunks.push(newChunk());
      this.lengths.push(0);
    }
    const c = this.chunkFor((first) => this.names.compareSlots(first, slot) <= 0);
    const chunk = this.chunks[c] ?? newChunk();
    const length = this.lengths[c] ?? 0;
    const at = this.lowerBound(c, (s) => this.names.compareSlots(s, slot) < 0);
    assert(at === length || this.names.compareSlots(chunk[at] ?? 0, slot) !== 0, () => `slot ${slot} added twice`);
    chunk.copyWithin(at + 1, at, length);
    chunk[at] = slot;
    this.lengths[c] = length + 1;
    this.count++;
    if (length + 1 > REGISTRY_LIMITS.sortedNamesChunkMax) this.split(c);
  }

  delete(slot: number): void {
    const c = this.chunkFor((first) => this.names.compareSlots(first, slot) <= 0);
    const chunk = this.chunks[c];
    const length = this.lengths[c] ?? 0;
    const at = this.lowerBound(c, (s) => this.names.compareSlots(s, slot) < 0);
    assert(chunk !== undefined && at < length && chunk[at] === slot, () => `slot ${slot} deleted but not held`);
    chunk.copyWithin(at, at + 1, length);
    this.lengths[c] = length - 1;
    this.count--;
    if (length > 1) return;
    this.chunks.splice(c, 1);
    this.lengths.splice(c, 1);
  }

  /**
   * fill builds the index of an empty SortedNames from `slots` at once (a restore): one sort,
   * then full chunks, instead of an insert each.
   */
  fill(slots: Int32Array): void {
    assert(this.count === 0, 'fill of a non-empty SortedNames');
    slots.sort((a, b) => this.names.compareSlots(a, b));
    const max = REGISTRY_LIMITS.sortedNamesChunkMax;
    for (let from = 0; from < slots.length; from += max) {
      const chunk = newChunk();
      chunk.set(slots.subarray(from, from + max));
      this.chunks.push(chunk);
      this.lengths.push(Math.min(max, slots.length - from));
    }
    this.count = slots.length;
  }

  /** after returns up to `max` slots whose names sort after `afterName` ("" = from the first). */
  after(afterName: string, max: number): number[] {
    const out: number[] = [];
    if (this.chunks.length === 0 || max <= 0) return out;
    const key = this.key.set(afterName);
    let c = this.chunkFor((first) => this.names.compareSlotTo(first, key) <= 0);
    let i = this.lowerBound(c, (s) => this.names.compareSlotTo(s, key) <= 0);
    for (; c < this.chunks.length && out.length < max; c++, i = 0) {
      const chunk = this.chunks[c] ?? newChunk();
      const length = this.lengths[c] ?? 0;
      for (; i < length && out.length < max; i++) out.push(chunk[i] ?? 0);
    }
    return out;
  }

  /** split moves the upper half of chunk c into a new chunk after it. */
  private split(c: number): void {
    const chunk = this.chunks[c] ?? newChunk();
    const length = this.lengths[c] ?? 0;
    const half = length >> 1;
    const upper = newChunk();
    upper.set(chunk.subarray(half, length));
    this.chunks.splice(c + 1, 0, upper);
    this.lengths.splice(c + 1, 0, length - half);
    this.lengths[c] = half;
  }

  /** chunkFor is the last chunk whose first slot passes `atOrBefore` (or the first chunk). */
  private chunkFor(atOrBefore: (first: number) => boolean): number {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (atOrBefore(this.chunks[mid]?.[0] ?? 0)) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** lowerBound is the first position in chunk c whose slot fails `before` (its length when none). */
  private lowerBound(c: number, before: (slot: number) => boolean): number {
    const chunk = this.chunks[c] ?? newChunk();
    let lo = 0;
    let hi = this.lengths[c] ?? 0;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (before(chunk[mid] ?? 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** newChunk has room for one slot over the maximum: a chunk splits once it holds that many. */
function newChunk(): Int32Array {
  return new Int32Array(REGISTRY_LIMITS.sortedNamesChunkMax + 1);
}
