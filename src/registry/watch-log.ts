import { assert } from '../lib/assert.js';
import type { Room } from '../gen/roomregistry/v1/rooms.js';
import { REGISTRY_LIMITS } from './registry-limits.js';

/** RoomEvent is one applied change as watchers see it. */
export interface RoomEvent {
  readonly type: 'created' | 'updated' | 'deleted';
  /** room: the room after the change (for deleted, as it was). */
  readonly room: Room;
  readonly revision: number;
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
  private events: RoomEvent[] = [];
  private head = 0;
  private bytes = 0;
  /** floorRevision: every change at or below it may have been dropped. */
  private floorRevision = 0;
  private readonly listeners = new Set<WatchListener>();

  publish(e: RoomEvent): void {
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
    for (const l of this.listeners) l.onEvent(e);
  }

  watch(fromRevision: number, appliedRevision: number, listener: WatchListener): WatchStart {
    const from = fromRevision === 0 ? appliedRevision : fromRevision;
    if (from < this.floorRevision) return { ok: false, oldestRevision: this.floorRevision };
    for (let i = this.head; i < this.events.length; i++) {
      const e = this.events[i];
      if (e !== undefined && e.revision > from) listener.onEvent(e);
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

function eventBytes(e: RoomEvent): number {
  return 128 + e.room.metadata.length * 2;
}
