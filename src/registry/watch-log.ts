import { assert } from '../lib/assert.js';
import type { Room } from '../gen/roomregistry/v1/rooms.js';
import { REGISTRY_LIMITS } from './registry-limits.js';
import { type RoomRecord, toRoom } from './room-record.js';

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
  readonly record: RoomRecord;
  readonly revision: number;
}

function eventOf(c: Change): RoomEvent {
  return { type: c.type, room: toRoom(c.record), revision: c.revision };
}

export interface WatchListener {
  onEvent(e: RoomEvent): void;
  /** onReset: the history this watcher followed was replaced (a snapshot was installed); re-list. */
  onReset(oldestRevision: number): void;
}

export type WatchStart = { ok: true; cancel(): void } | { ok: false; oldestRevision: number };

/**
 * WatchLog keeps the most recent changes (bounded in count and bytes) and the live watchers.
 * A watcher resuming from revision r is replayed every kept event above r; if events above r
 * were already dropped it is refused with the oldest revision it could resume from.
 * Invariant: `events` is in revision order and `floorRevision` < every kept event's revision.
 */
export class WatchLog {
  private events: Change[] = [];
  private head = 0;
  private bytes = 0;
  /** floorRevision: every change at or below it may have been dropped. */
  private floorRevision = 0;
  private readonly listeners = new Set<WatchListener>();

  publish(e: Change): void {
    const last = this.events[this.events.length - 1];
    assert(last === undefined || last.revision <= e.revision, 'watch events out of revision order');
    this.events.push(e);
    this.bytes += eventBytes(e);
    while (this.events.length - this.head > REGISTRY_LIMITS.watchEventsMax || this.bytes > REGISTRY_LIMITS.watchEventBytesMax) {
      const dropped = this.events[this.head++];
      assert(dropped !== undefined, 'watch log underflow');
      this.bytes -= eventBytes(dropped);
      this.floorRevision = dropped.revision;
    }
    if (this.head > REGISTRY_LIMITS.watchEventsMax) {
      this.events = this.events.slice(this.head);
      this.head = 0;
    }
    if (this.listeners.size === 0) return;
    const event = eventOf(e);
    for (const l of this.listeners) l.onEvent(event);
  }

  watch(fromRevision: number, appliedRevision: number, listener: WatchListener): WatchStart {
    const from = fromRevision === 0 ? appliedRevision : fromRevision;
    if (from < this.floorRevision) return { ok: false, oldestRevision: this.floorRevision };
    for (let i = this.head; i < this.events.length; i++) {
      const e = this.events[i];
      if (e !== undefined && e.revision > from) listener.onEvent(eventOf(e));
    }
    this.listeners.add(listener);
    return { ok: true, cancel: () => this.listeners.delete(listener) };
  }

  /** reset forgets the history (the state was replaced by a snapshot at `revision`). */
  reset(revision: number): void {
    this.events = [];
    this.head = 0;
    this.bytes = 0;
    this.floorRevision = revision;
    const listeners = [...this.listeners];
    this.listeners.clear();
    for (const l of listeners) l.onReset(revision);
  }
}

function eventBytes(e: Change): number {
  return 128 + e.record.metadata.length * 2;
}
