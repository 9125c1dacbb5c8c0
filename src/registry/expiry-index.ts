import { assert } from '../lib/assert.js';
import { lowerBound } from '../lib/sorted.js';

/** BUCKET_MS: deadlines are grouped by the second they fall in (LiveKit's timeouts are whole seconds). */
const BUCKET_MS = 1_000;

/**
 * ExpiryIndex orders the rooms that can expire by deadline, so finding due rooms costs the
 * due rooms, never a scan of the table (the media-node leases use one too, keyed by node id). Rooms sit in per-second buckets (a Set each, in the
 * order they were added); the bucket keys are kept sorted. There are few distinct seconds
 * compared with rooms, so the key array stays short. The index keeps no deadlines of its own
 * (at a million rooms that would be a second map of a million entries): the caller says which
 * deadline a room is filed under, and `deadlineOf` reads a room's current one.
 * Invariant: a room is in exactly the bucket of its current finite deadline, and no bucket is empty.
 */
export class ExpiryIndex {
  private readonly buckets = new Map<number, Set<string>>();
  /** keys: the bucket keys, ascending. */
  private readonly keys: number[] = [];
  private count = 0;

  constructor(private readonly deadlineOf: (name: string) => number) {}

  get size(): number {
    return this.count;
  }

  /** add files `name` under deadlineMs (Infinity: it cannot expire now, so it is not filed). */
  add(name: string, deadlineMs: number): void {
    if (deadlineMs === Infinity) return;
    assert(Number.isFinite(deadlineMs), () => `deadline ${deadlineMs} of ${name} is not a number`);
    const key = Math.floor(deadlineMs / BUCKET_MS);
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = new Set();
      this.buckets.set(key, bucket);
      this.keys.splice(lowerBound(this.keys, key), 0, key);
    }
    assert(!bucket.has(name), () => `${name} filed twice under one deadline`);
    bucket.add(name);
    this.count++;
  }

  /** remove takes `name` out from under deadlineMs, the deadline it was added with. */
  remove(name: string, deadlineMs: number): void {
    if (deadlineMs === Infinity) return;
    const key = Math.floor(deadlineMs / BUCKET_MS);
    const bucket = this.buckets.get(key);
    assert(bucket !== undefined && bucket.delete(name), () => `${name} missing from its expiry bucket`);
    this.count--;
    if (bucket.size > 0) return;
    this.buckets.delete(key);
    const at = lowerBound(this.keys, key);
    assert(this.keys[at] === key, 'expiry bucket key missing');
    this.keys.splice(at, 1);
  }

  /** due returns up to `max` rooms whose deadline is at or before nowMs, earliest seconds first. */
  due(nowMs: number, max: number): string[] {
    const out: string[] = [];
    for (const key of this.keys) {
      if (key * BUCKET_MS > nowMs || out.length >= max) break;
      for (const name of this.buckets.get(key) ?? []) {
        if (out.length >= max) break;
        if (this.deadlineOf(name) <= nowMs) out.push(name);
      }
    }
    return out;
  }

  /**
   * overdue counts the rooms past their deadline and the age of the oldest one. The count is
   * exact (rooms of the current second's bucket are checked one by one); the age is to the
   * second (bucket) resolution.
   */
  overdue(nowMs: number): { rooms: number; oldestAgeMs: number } {
    let rooms = 0;
    let oldestAgeMs = 0;
    for (const key of this.keys) {
      if (key * BUCKET_MS > nowMs) break;
      const bucket = this.buckets.get(key) ?? new Set<string>();
      if (rooms === 0) oldestAgeMs = Math.max(0, nowMs - key * BUCKET_MS);
      if ((key + 1) * BUCKET_MS <= nowMs) {
        rooms += bucket.size;
        continue;
      }
      for (const name of bucket) if (this.deadlineOf(name) <= nowMs) rooms++;
    }
    return { rooms, oldestAgeMs: rooms === 0 ? 0 : oldestAgeMs };
  }
}
