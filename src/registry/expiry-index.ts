import { assert } from '../lib/assert.js';
import { lowerBound } from '../lib/sorted.js';

/** BUCKET_MS: deadlines are grouped by the second they fall in (LiveKit's timeouts are whole seconds). */
const BUCKET_MS = 1_000;
/** END: no next (or previous) id in a bucket's list. NOT_FILED: in nextOf, an id in no bucket. */
const END = -1;
const NOT_FILED = -2;
/** IDS_INITIAL: the per-id arrays start this long and double as higher ids are filed. */
const IDS_INITIAL = 64;

/** Bucket is one second's list: its first and last id, and how many it holds. */
interface Bucket {
  head: number;
  tail: number;
  size: number;
}

/**
 * ExpiryIndex orders the rooms that can expire by deadline, so finding due rooms costs the
 * due rooms, never a scan of the table. It files small non-negative integer ids: the rooms'
 * table slots (issue 17: nothing on the heap per room), or the media-node leases' ids. Ids sit
 * in per-second buckets, each a doubly-linked list through two typed arrays (in the order they
 * were added, and removed in O(1)); the bucket keys are kept sorted. There are few distinct
 * seconds compared with rooms, so the key array stays short. The index keeps no deadlines of
 * its own: the caller says which deadline an id is filed under, and `deadlineOf` reads its
 * current one.
 * Invariant: an id is in exactly the bucket of its current finite deadline (nextOf is NOT_FILED
 * for an id in none), and no bucket is empty.
 */
export class ExpiryIndex {
  private readonly buckets = new Map<number, Bucket>();
  /** keys: the bucket keys, ascending. */
  private readonly keys: number[] = [];
  private nextOf = new Int32Array(IDS_INITIAL).fill(NOT_FILED);
  private prevOf = new Int32Array(IDS_INITIAL);
  private count = 0;

  constructor(private readonly deadlineOf: (id: number) => number) {}

  get size(): number {
    return this.count;
  }

  /** add files `id` under deadlineMs (Infinity: it cannot expire now, so it is not filed). */
  add(id: number, deadlineMs: number): void {
    if (deadlineMs === Infinity) return;
    assert(Number.isFinite(deadlineMs), () => `deadline ${deadlineMs} of ${id} is not a number`);
    if (id >= this.nextOf.length) this.grow(id);
    assert(this.nextOf[id] === NOT_FILED, () => `${id} filed twice`);
    const key = Math.floor(deadlineMs / BUCKET_MS);
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = { head: END, tail: END, size: 0 };
      this.buckets.set(key, bucket);
      this.keys.splice(lowerBound(this.keys, key), 0, key);
    }
    this.prevOf[id] = bucket.tail;
    this.nextOf[id] = END;
    if (bucket.tail === END) bucket.head = id;
    else this.nextOf[bucket.tail] = id;
    bucket.tail = id;
    bucket.size++;
    this.count++;
  }

  /** remove takes `id` out from under deadlineMs, the deadline it was added with. */
  remove(id: number, deadlineMs: number): void {
    if (deadlineMs === Infinity) return;
    const key = Math.floor(deadlineMs / BUCKET_MS);
    const bucket = this.buckets.get(key);
    const [prev, next] = [this.prevOf[id] ?? END, this.nextOf[id] ?? NOT_FILED];
    assert(bucket !== undefined && next !== NOT_FILED, () => `${id} missing from its expiry bucket`);
    assert(prev !== END || bucket.head === id, () => `${id} filed in another bucket`);
    if (prev === END) bucket.head = next;
    else this.nextOf[prev] = next;
    if (next === END) bucket.tail = prev;
    else this.prevOf[next] = prev;
    this.nextOf[id] = NOT_FILED;
    bucket.size--;
    this.count--;
    if (bucket.size > 0) return;
    this.buckets.delete(key);
    const at = lowerBound(this.keys, key);
    assert(this.keys[at] === key, 'expiry bucket key missing');
    this.keys.splice(at, 1);
  }

  /** due returns up to `max` ids whose deadline is at or before nowMs, earliest seconds first. */
  due(nowMs: number, max: number): number[] {
    const out: number[] = [];
    for (const key of this.keys) {
      if (key * BUCKET_MS > nowMs || out.length >= max) break;
      for (let id = this.buckets.get(key)?.head ?? END; id !== END && out.length < max; id = this.nextOf[id] ?? END) {
        if (this.deadlineOf(id) <= nowMs) out.push(id);
      }
    }
    return out;
  }

  /**
   * overdue counts the ids past their deadline and the age of the oldest one. The count is
   * exact (ids of the current second's bucket are checked one by one); the age is to the
   * second (bucket) resolution.
   */
  overdue(nowMs: number): { rooms: number; oldestAgeMs: number } {
    let rooms = 0;
    let oldestAgeMs = 0;
    for (const key of this.keys) {
      if (key * BUCKET_MS > nowMs) break;
      const bucket = this.buckets.get(key);
      if (rooms === 0) oldestAgeMs = Math.max(0, nowMs - key * BUCKET_MS);
      if ((key + 1) * BUCKET_MS <= nowMs) {
        rooms += bucket?.size ?? 0;
        continue;
      }
      for (let id = bucket?.head ?? END; id !== END; id = this.nextOf[id] ?? END) {
        if (this.deadlineOf(id) <= nowMs) rooms++;
      }
    }
    return { rooms, oldestAgeMs: rooms === 0 ? 0 : oldestAgeMs };
  }

  /** grow lengthens the per-id arrays to hold `id`. */
  private grow(id: number): void {
    const n = Math.max(this.nextOf.length * 2, id + 1);
    const nextOf = new Int32Array(n).fill(NOT_FILED);
    nextOf.set(this.nextOf);
    const prevOf = new Int32Array(n);
    prevOf.set(this.prevOf);
    [this.nextOf, this.prevOf] = [nextOf, prevOf];
  }
}
