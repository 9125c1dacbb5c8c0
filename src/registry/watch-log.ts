import { assert } from '../lib/assert.js';
import type { Room } from '../gen/roomregistry/v1/rooms.js';
import { REGISTRY_LIMITS } from './registry-limits.js';
import type { StoredRoom } from '../gen/roomregistry/snapshot/v1/snapshot.js';
import { toRoom } from './room-record.js';

type ChangeType = 'created' | 'updated' | 'deleted';

/** RoomEvent is one applied change as watchers see it. */
export interface RoomEvent {
  readonly type: ChangeType;
  /** room: the room after the change (for deleted, as it was). */
  readonly room: Room;
  readonly revision: number;
}

/**
 * Change is a kept event: the immutable record, turned into a Room only for a watcher, so an
 * apply with nobody watching (a sweep of a million rooms) allocates no Room per change.
 */
interface Change {
  readonly type: ChangeType;
  readonly record: Readonly<StoredRoom>;
  readonly revision: number;
}

function eventOf(c: Change): RoomEvent {
  return { type: c.type, room: toRoom(c.record), revision: c.revision };
}

/**
 * WatchRead is a read of the kept changes: the events after a revision, or a refusal naming the
 * oldest revision a watcher could resume from (the changes it asked for were dropped or replaced).
 */
export type WatchRead = { ok: true; events: RoomEvent[] } | { ok: false; oldestRevision: number };

/**
 * WatchLog keeps the most recent changes (bounded in count and bytes) for watchers to read.
 * It delivers nothing itself: `publish` runs inside `apply`, so it only records the change and
 * rings the notifier; the API layer reads the new changes later, off the apply path, encodes
 * each once and fans it out (src/api/watch-hub.ts). A reader resuming from revision r gets
 * every kept event above r; if events above r were already dropped it is refused.
 * Invariant: `events` is in revision order and `floorRevision` < every kept event's revision.
 */
export class WatchLog {
  private events: Change[] = [];
  private head = 0;
  private bytes = 0;
  /** floorRevision: every change at or below it may have been dropped. */
  private floorRevision = 0;
  /**
   * newestRevision: of the newest change recorded, or the reset's revision when none came
   * since (a watcher that re-listed after a reset has reached it); newestChanges: how many
   * changes it made (one ExpireRooms entry changes many rooms at one revision; 0 after a reset).
   * Invariant: newestRevision >= floorRevision, and >= every kept event's revision.
   */
  private newestRevision = 0;
  private newestChanges = 0;
  /** notify: rung after every recorded change and every reset; it must only schedule work. */
  private notify: () => void = () => {};

  setNotifier(notify: () => void): void {
    this.notify = notify;
  }

  publish(e: Change): void {
    const last = this.events[this.events.length - 1];
    assert(last === undefined || last.revision <= e.revision, 'watch events out of revision order');
    this.events.push(e);
    this.bytes += eventBytes(e);
    this.newestChanges = e.revision === this.newestRevision ? this.newestChanges + 1 : 1;
    this.newestRevision = e.revision;
    while (
      this.events.length - this.head > REGISTRY_LIMITS.watchEventsMax ||
      this.bytes > REGISTRY_LIMITS.watchEventBytesMax
    ) {
      const dropped = this.events[this.head++];
      assert(dropped !== undefined, 'watch log underflow');
      this.bytes -= eventBytes(dropped);
      this.floorRevision = dropped.revision;
    }
    if (this.head > REGISTRY_LIMITS.watchEventsMax) {
      this.events = this.events.slice(this.head);
      this.head = 0;
    }
    this.notify();
  }

  /**
   * changesAfter returns the kept events with a revision above `afterRevision`, in order: at
   * least `eventsMax` of them when there are that many, and never part of a revision (one
   * ExpireRooms entry changes many rooms at one revision), so a reader that resumes from the
   * last revision it got misses nothing.
   */
  changesAfter(afterRevision: number, eventsMax: number): WatchRead {
    assert(eventsMax > 0, 'a watch read must ask for at least one event');
    if (afterRevision < this.floorRevision) return { ok: false, oldestRevision: this.floorRevision };
    const out: RoomEvent[] = [];
    for (let i = this.firstAfter(afterRevision); i < this.events.length; i++) {
      const e = this.events[i];
      assert(e !== undefined, 'watch log hole');
      if (out.length >= eventsMax && e.revision !== out[out.length - 1]?.revision) break;
      out.push(eventOf(e));
    }
    return { ok: true, events: out };
  }

  /** firstAfter is the position of the first kept event above `revision` (binary search). */
  private firstAfter(revision: number): number {
    let [lo, hi] = [this.head, this.events.length];
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.events[mid]?.revision ?? Infinity) > revision) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /**
   * newest is the revision of the newest change (or of the last reset) and how many changes it
   * made: a watcher that has all of them has every change applied here so far. Heartbeats and
   * other entries that change no room leave it alone, so a reader waiting for it never waits
   * for an event that will not come.
   */
  newest(): { revision: number; changes: number } {
    assert(this.newestRevision >= this.floorRevision, 'newest change below the floor');
    return { revision: this.newestRevision, changes: this.newestChanges };
  }

  /** reset forgets the history (the state was replaced by a snapshot at `revision`). */
  reset(revision: number): void {
    this.events = [];
    this.head = 0;
    this.bytes = 0;
    this.floorRevision = revision;
    this.newestRevision = revision;
    this.newestChanges = 0;
    this.notify();
  }
}

function eventBytes(e: Change): number {
  return 128 + e.record.metadata.length * 2;
}
