import { assert } from '../lib/assert.js';
import { lowerBound, upperBound } from '../lib/sorted.js';
import { REGISTRY_LIMITS } from './registry-limits.js';

/**
 * SortedNames keeps the room names in order, so ListRooms pages resume after a name in
 * O(log n) without sorting the table. It is a one-level B-tree: sorted chunks of at most
 * sortedNamesChunkMax names; an insert or delete moves at most one chunk's worth of pointers.
 * Invariant: every chunk is non-empty and sorted, and chunk i's names all precede chunk i+1's.
 */
export class SortedNames {
  private chunks: string[][] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(name: string): void {
    if (this.chunks.length === 0) {
      this.chunks.push([name]);
      this.count = 1;
      return;
    }
    const c = this.chunkFor(name);
    const chunk = this.chunks[c];
    assert(chunk !== undefined, 'chunkFor returned no chunk');
    const at = lowerBound(chunk, name);
    assert(chunk[at] !== name, () => `name ${name} added twice`);
    chunk.splice(at, 0, name);
    this.count++;
    if (chunk.length > REGISTRY_LIMITS.sortedNamesChunkMax) {
      this.chunks.splice(c + 1, 0, chunk.splice(chunk.length >> 1));
    }
  }

  delete(name: string): void {
    const c = this.chunkFor(name);
    const chunk = this.chunks[c];
    const at = chunk === undefined ? -1 : lowerBound(chunk, name);
    assert(chunk !== undefined && chunk[at] === name, () => `name ${name} deleted but not held`);
    chunk.splice(at, 1);
    this.count--;
    if (chunk.length === 0) this.chunks.splice(c, 1);
  }

  /** after returns up to `max` names that sort after `afterName` ("" = from the first). */
  after(afterName: string, max: number): string[] {
    const out: string[] = [];
    if (this.chunks.length === 0 || max <= 0) return out;
    let c = afterName === '' ? 0 : this.chunkFor(afterName);
    let i = afterName === '' ? 0 : upperBound(this.chunks[c] ?? [], afterName);
    for (; c < this.chunks.length && out.length < max; c++, i = 0) {
      const chunk = this.chunks[c] ?? [];
      for (; i < chunk.length && out.length < max; i++) out.push(chunk[i] ?? '');
    }
    return out;
  }

  /** chunkFor is the last chunk whose first name is at most `name` (or the first chunk). */
  private chunkFor(name: string): number {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.chunks[mid]?.[0] ?? '') <= name) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
