import { RoomEventType, WatchRoomsResponse } from '../gen/roomregistry/v1/rooms.js';
import { assert } from '../lib/assert.js';
import { RegistryError } from '../lib/errors.js';
import type { RoomEvent, WatchRead } from '../registry/index.js';
import type { GrpcLimits } from './grpc-limits.js';
import { present } from './room-view.js';

/** WatchSource is the state machine's watch seam (src/registry's RoomRegistry). */
export interface WatchSource {
  appliedIndex(): number;
  watchChanges(afterRevision: number, eventsMax: number): WatchRead;
  setWatchNotifier(notify: () => void): void;
}

/** WatchSink is one watcher's stream. */
export interface WatchSink {
  /** write queues one encoded WatchRoomsResponse; `done` runs once the stream took it (at most once). */
  write(bytes: Uint8Array, done: () => void): void;
  /** end finishes the stream with an error status, after what was already written. */
  end(error: RegistryError): void;
}

/** WatchHubStats feed the metrics. */
export interface WatchHubStats {
  readonly watchers: number;
  readonly queuedBytes: number;
  /** cutSlow: watchers ended because watchQueueBytesMax was queued for them. */
  readonly cutSlow: number;
  /** refusedFull: watches refused because watchersMax were open. */
  readonly refusedFull: number;
}

export type WatchLimits = Pick<GrpcLimits, 'watchersMax' | 'watchQueueBytesMax' | 'watchReplayBatchEventsMax'>;

const EVENT_TYPE = {
  created: RoomEventType.ROOM_EVENT_TYPE_CREATED,
  updated: RoomEventType.ROOM_EVENT_TYPE_UPDATED,
  deleted: RoomEventType.ROOM_EVENT_TYPE_DELETED,
} as const;

/** encodeEvent is the one encoding of an event that every watcher is sent. */
export function encodeEvent(e: RoomEvent): Uint8Array {
  return WatchRoomsResponse.encode({
    type: EVENT_TYPE[e.type],
    room: present({ ...e.room }),
    revision: e.revision,
  }).finish();
}

/** RELIST: what a watcher that cannot go on should do. */
const RELIST = 'list the rooms again and watch from that revision';

/**
 * Watcher is one stream's position. Invariant: `queuedBytes` is the sum of the writes not yet
 * done; a live watcher has been sent every change up to the hub's revision.
 */
class Watcher {
  queuedBytes = 0;
  live = false;
  /** ended: no more writes (cut off, refused, or gone); closed: its slot is free. */
  ended = false;
  closed = false;
  /** replaying: a replay step is running (a write's `done` may come back synchronously). */
  replaying = false;
  /** sentRevision: the revision of the last event written; a cut only falls between revisions. */
  sentRevision = 0;
  constructor(
    /** revision: every change at or below it was handed to the sink (or skipped as asked). */
    public revision: number,
    readonly sink: WatchSink,
  ) {}
}

/**
 * WatchHub delivers the state machine's changes to the WatchRooms streams of one node, off the
 * apply path: `apply` only records a change and rings the notifier; the hub runs on the next
 * turn of the event loop, reads the new changes once, encodes each once and hands the same
 * bytes to every live watcher. A watcher resuming from an older revision replays in steps as
 * its stream drains, then joins the live ones. Bytes queued per watcher are counted; a live
 * watcher with more than watchQueueBytesMax queued is ended RESOURCE_EXHAUSTED.
 */
export class WatchHub {
  private readonly watchers = new Set<Watcher>();
  private readonly live = new Set<Watcher>();
  /** revision: the live watchers have been sent every change up to here. */
  private revision: number;
  private scheduled = false;
  private queuedBytes = 0;
  private cutSlow = 0;
  private refusedFull = 0;

  constructor(
    private readonly source: WatchSource,
    private readonly limits: WatchLimits,
    private readonly schedule: (run: () => void) => void = setImmediate,
    private readonly encode: (e: RoomEvent) => Uint8Array = encodeEvent,
  ) {
    this.revision = source.appliedIndex();
    source.setWatchNotifier(() => this.wake());
  }

  stats(): WatchHubStats {
    return {
      watchers: this.watchers.size,
      queuedBytes: this.queuedBytes,
      cutSlow: this.cutSlow,
      refusedFull: this.refusedFull,
    };
  }

  /**
   * add starts a watcher after `fromRevision` (0: from now). It fails RESOURCE_EXHAUSTED when
   * watchersMax streams are open, OUT_OF_RANGE when the changes after the revision are gone.
   * The caller calls `close` once the stream is gone, whatever ended it.
   */
  add(fromRevision: number, sink: WatchSink): { ok: true; close(): void } | { ok: false; error: RegistryError } {
    if (this.watchers.size >= this.limits.watchersMax) {
      this.refusedFull++;
      return {
        ok: false,
        error: new RegistryError(
          'RESOURCE_EXHAUSTED',
          `this node already serves ${this.limits.watchersMax} watchers; watch on another node or later`,
        ),
      };
    }
    this.deliver(); // the live watchers catch up first, so the new one joins at a settled revision
    const from = fromRevision === 0 ? this.source.appliedIndex() : fromRevision;
    const probe = this.source.watchChanges(from, 1);
    if (!probe.ok) {
      return {
        ok: false,
        error: new RegistryError(
          'OUT_OF_RANGE',
          `revision ${from} is older than the oldest change kept (${probe.oldestRevision}); ${RELIST}`,
        ),
      };
    }
    const w = new Watcher(from, sink);
    this.watchers.add(w);
    this.replay(w);
    return { ok: true, close: () => this.close(w) };
  }

  /** wake is the notifier: it runs inside apply, so it only schedules the delivery. */
  private wake(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => {
      this.scheduled = false;
      this.deliver();
    });
  }

  /** deliver sends the changes since the hub's revision to every live watcher, each encoded once. */
  private deliver(): void {
    const applied = this.source.appliedIndex();
    if (this.live.size === 0 || applied === this.revision) {
      this.revision = Math.max(this.revision, applied);
      return;
    }
    const read = this.source.watchChanges(this.revision, Number.MAX_SAFE_INTEGER);
    this.revision = applied;
    if (!read.ok) {
      for (const w of [...this.live])
        this.end(
          w,
          new RegistryError(
            'OUT_OF_RANGE',
            `the changes this watcher followed were replaced (snapshot or overflow at revision ${read.oldestRevision}); ${RELIST}`,
          ),
        );
      return;
    }
    for (const e of read.events) {
      const bytes = this.encode(e);
      for (const w of this.live) {
        if (e.revision <= w.revision) continue; // it asked to start after this one
        if (e.revision !== w.sentRevision && w.queuedBytes > this.limits.watchQueueBytesMax) this.cut(w);
        else this.send(w, bytes, e.revision);
      }
    }
    for (const w of this.live) {
      if (w.queuedBytes > this.limits.watchQueueBytesMax) this.cut(w);
      else w.revision = Math.max(w.revision, applied);
    }
  }

  /**
   * replay sends a resuming watcher the kept changes up to the hub's revision, a step at a time,
   * while its queue is under the cap; its stream draining calls it again. Once it has everything
   * up to the hub's revision it is live.
   */
  private replay(w: Watcher): void {
    if (w.replaying) return; // the running step re-checks the queue
    w.replaying = true;
    try {
      this.replaySteps(w);
    } finally {
      w.replaying = false;
    }
  }

  private replaySteps(w: Watcher): void {
    while (!w.ended && !w.live && w.queuedBytes < this.limits.watchQueueBytesMax) {
      if (w.revision >= this.revision) {
        w.live = true;
        this.live.add(w);
        return;
      }
      const read = this.source.watchChanges(w.revision, this.limits.watchReplayBatchEventsMax);
      if (!read.ok) {
        this.end(
          w,
          new RegistryError(
            'OUT_OF_RANGE',
            `revision ${w.revision} is older than the oldest change kept (${read.oldestRevision}); ${RELIST}`,
          ),
        );
        return;
      }
      const before = w.revision;
      for (const e of read.events) {
        if (e.revision > this.revision) break; // the live delivery sends these
        if (w.ended || (e.revision !== w.revision && w.queuedBytes >= this.limits.watchQueueBytesMax)) return; // only whole revisions
        this.send(w, this.encode(e), e.revision);
        w.revision = e.revision;
      }
      if (w.revision === before) w.revision = this.revision; // nothing kept between: caught up
    }
  }

  private send(w: Watcher, bytes: Uint8Array, revision: number): void {
    assert(!w.ended, 'a write to an ended watcher');
    const n = bytes.byteLength;
    w.queuedBytes += n;
    this.queuedBytes += n;
    w.sentRevision = revision;
    let done = false;
    w.sink.write(bytes, () => {
      if (done || w.closed) return;
      done = true;
      w.queuedBytes -= n;
      this.queuedBytes -= n;
      if (!w.live && !w.ended) this.replay(w);
    });
  }

  /** cut ends a live watcher that fell too far behind; it keeps its slot until its stream is gone. */
  private cut(w: Watcher): void {
    this.cutSlow++;
    this.end(
      w,
      new RegistryError(
        'RESOURCE_EXHAUSTED',
        `watcher too slow: more than ${this.limits.watchQueueBytesMax} bytes of events queued; watch again from the last revision received`,
      ),
    );
  }

  private end(w: Watcher, error: RegistryError): void {
    if (w.ended) return;
    w.ended = true;
    this.live.delete(w);
    w.sink.end(error);
  }

  /** endAll ends every watcher with `error` (the node is shutting down); each keeps its slot until its stream is gone. */
  endAll(error: RegistryError): void {
    for (const w of this.watchers) this.end(w, error);
  }

  /** close frees a watcher's slot and its queued bytes: its stream is gone. */
  private close(w: Watcher): void {
    if (w.closed) return;
    w.closed = true;
    w.ended = true;
    this.live.delete(w);
    this.watchers.delete(w);
    this.queuedBytes -= w.queuedBytes;
    w.queuedBytes = 0;
  }
}
