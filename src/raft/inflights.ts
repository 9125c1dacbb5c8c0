import { assert } from '../lib/assert.js';
import type { Index } from '../lib/ids.js';

/**
 * Inflights is the pipelining window to one follower: the last index of each append sent and
 * not yet acknowledged, oldest first, in a ring preallocated to `capacity` (inflightAppendsMax).
 * When it is full the leader stops sending to that follower until acknowledgements free room.
 */
export class Inflights {
  private readonly ring: Float64Array;
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    assert(Number.isInteger(capacity) && capacity >= 1, `inflights capacity ${capacity} must be a positive integer`);
    this.ring = new Float64Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  full(): boolean {
    return this.count === this.capacity;
  }

  /** add records an append whose last entry is `last`; appends go out in increasing order. */
  add(last: Index): void {
    assert(!this.full(), 'inflights: add on a full window');
    if (this.count > 0) {
      const newest = this.ring[(this.start + this.count - 1) % this.capacity];
      assert(newest !== undefined && last >= newest, () => `inflights: ${last} added after ${newest}`);
    }
    this.ring[(this.start + this.count) % this.capacity] = last;
    this.count++;
  }

  /** freeLE forgets every append whose last index is at or below `acked`. */
  freeLE(acked: Index): void {
    while (this.count > 0) {
      const oldest = this.ring[this.start];
      assert(oldest !== undefined, 'inflights: ring slot missing');
      if (oldest > acked) break;
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    }
  }

  /** freeFirstOne makes room for one probe when a heartbeat answer shows the follower is alive. */
  freeFirstOne(): void {
    if (this.count === 0) return;
    this.start = (this.start + 1) % this.capacity;
    this.count--;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }
}
