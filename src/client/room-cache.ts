import * as grpc from '@grpc/grpc-js';
import {
  Consistency,
  type GetRoomRequest,
  type GetRoomResponse,
  type ListRoomsRequest,
  type ListRoomsResponse,
  type ReadRevisionRequest,
  type ReadRevisionResponse,
  type Room,
  RoomEventType,
  type WatchRoomsResponse,
} from '../gen/roomregistry/v1/rooms.js';
import { assert } from '../lib/assert.js';
import { CALL_DEADLINE_MS_DEFAULT, callError } from './room-session.js';

/** CacheMember is one node the cache lists and watches from (a ClusterRoomClient member). */
export interface CacheMember {
  readonly id: string;
  listRooms(req: Partial<ListRoomsRequest>, deadlineMs?: number): Promise<ListRoomsResponse>;
  watchRooms(fromRevision: number): grpc.ClientReadableStream<WatchRoomsResponse>;
}

/**
 * CacheServer is how the cache asks the cluster itself (the client's read rule: home first, the
 * other members on UNAVAILABLE): ReadRevision for a linearizable read, and the reads the cache
 * hands over when its watch cannot show it is current in time.
 */
export interface CacheServer {
  readRevision(req: Partial<ReadRevisionRequest>, deadlineMs?: number): Promise<ReadRevisionResponse>;
  getRoom(req: Partial<GetRoomRequest>, deadlineMs?: number): Promise<GetRoomResponse>;
  listRooms(req: Partial<ListRoomsRequest>, deadlineMs?: number): Promise<ListRoomsResponse>;
}

export interface RoomCacheOptions {
  /** listPageRooms: rooms per ListRooms page of a (re-)list (the server's default when 0). */
  readonly listPageRooms?: number;
}

/** RoomCacheStats: what the cache holds and how often it had to start over. */
export interface RoomCacheStats {
  readonly rooms: number;
  /** revision: the highest revision applied (a list page's or an event's). */
  readonly revision: number;
  readonly stalenessMs: number;
  /** relists: lists after the first (the watch history the cache needed was gone). */
  readonly relists: number;
  /** reconnects: watch streams opened after the first. */
  readonly reconnects: number;
}

/** LIST_PAGE_DEADLINE_MS: one page of a (re-)list gives up after this, then the list starts over. */
const LIST_PAGE_DEADLINE_MS = 10_000;
/** RETRY_BACKOFF_MS_FIRST and _MAX: the pause before another list or watch attempt doubles up to the max. */
const RETRY_BACKOFF_MS_FIRST = 25;
const RETRY_BACKOFF_MS_MAX = 1_000;
/**
 * CATCH_UP_WAIT_MS_MAX: a linearizable read waits this long for the watch to bring the revision
 * it needs, then asks the server instead. Why: after the home node restored a snapshot, the
 * revision it names is the snapshot's, which a watch on another member may not reach until the
 * next room change; the server's answer is as correct, only not free.
 */
const CATCH_UP_WAIT_MS_MAX = 1_000;
/** WAITERS_MAX: reads waiting for the watch at once; past it a read goes to the server. */
const WAITERS_MAX = 10_000;

/** Waiter is a linearizable read waiting until the cache has every change up to `revision`. */
interface Waiter {
  readonly revision: number;
  /** changes: how many changes `revision` made (rooms_revision_changes). */
  readonly changes: number;
  readonly resolve: () => void;
}

/**
 * RoomCache keeps every room in this process (issue 18, the pattern of Kubernetes informers): it
 * lists all rooms a page at a time, then follows WatchRooms from the first page's revision. Pages
 * are read at different revisions, so an event or a page entry replaces a cached room only if its
 * revision is above the cached one's: replayed or duplicate events change nothing. A lost stream
 * is resumed on the home node, then the other members; a refusal to resume (OUT_OF_RANGE: the
 * history is gone) lists again and swaps the new map in whole.
 *
 * A LOCAL read answers from memory at once. A linearizable read asks ReadRevision (one round trip,
 * no room data) which revision it needs, waits for the watch to bring it, then answers from memory.
 */
export class RoomCache {
  private rooms = new Map<string, Room>();
  /** revision: the highest revision applied (stats; LOCAL replies). */
  private revision = 0;
  /**
   * caughtUpRevision: every change at or below it is in `rooms`. topRevision: the newest event's,
   * of which topChanges arrived on this stream (it may have more: one ExpireRooms entry changes
   * many rooms at one revision; Infinity when it is known whole). Invariant: caughtUp <= top.
   */
  private caughtUpRevision = 0;
  private topRevision = 0;
  private topChanges = Infinity;
  /** currentAtMs: when the cache last knew it was current (an event, a list, a linearizable read). */
  private currentAtMs = 0;
  private readonly waiters = new Set<Waiter>();
  private stream: grpc.ClientReadableStream<WatchRoomsResponse> | null = null;
  /** endPause: ends the loop's backoff early (close). */
  private endPause: () => void = () => {};
  private closed = false;
  private counts = { relists: 0, reconnects: 0, lists: 0, watches: 0 };
  private readonly started: Promise<void>;
  private markStarted: () => void = () => {};
  private readonly loop: Promise<void>;

  constructor(
    private readonly members: readonly CacheMember[],
    private readonly server: CacheServer,
    private readonly options: RoomCacheOptions = {},
  ) {
    if (members.length === 0) throw new Error('a room cache needs at least one member');
    this.started = new Promise((resolve) => (this.markStarted = resolve));
    this.loop = this.run();
  }

  /** ready resolves once the first list is in and the watch is started. */
  ready(): Promise<void> {
    return this.started;
  }

  /** close stops the watch; reads after it go to the server. */
  async close(): Promise<void> {
    this.closed = true;
    this.stream?.cancel();
    this.endPause();
    for (const w of this.waiters) w.resolve();
    this.waiters.clear();
    await this.loop;
  }

  /**
   * stalenessMs: ms since the cache last knew it was current: its last event, list, or
   * linearizable read (0 before the first list). A quiet watch is not news, so it grows while
   * no room changes even though the cache may be current all along.
   */
  stalenessMs(): number {
    return this.currentAtMs === 0 ? 0 : Math.max(0, Date.now() - this.currentAtMs);
  }

  stats(): RoomCacheStats {
    return {
      rooms: this.rooms.size,
      revision: this.revision,
      stalenessMs: this.stalenessMs(),
      relists: this.counts.relists,
      reconnects: this.counts.reconnects,
    };
  }

  /**
   * getRoom answers from memory: LOCAL at once (its revision and staleness are the cache's),
   * linearizable once the cache has every change up to what ReadRevision names. A missing room
   * fails NOT_FOUND as the server's GetRoom does; a read past its deadline, DEADLINE_EXCEEDED.
   */
  async getRoom(req: Partial<GetRoomRequest>, deadlineMs = CALL_DEADLINE_MS_DEFAULT): Promise<GetRoomResponse> {
    const untilMs = Date.now() + deadlineMs;
    const at = await this.readAt(req.consistency ?? Consistency.CONSISTENCY_UNSPECIFIED, untilMs);
    if (at === null) return this.server.getRoom(req, remainingMs(untilMs));
    const room = this.rooms.get(req.name ?? '');
    if (room === undefined) throw callError(grpc.status.NOT_FOUND, 'requested room does not exist');
    return { room, ...at };
  }

  /** listRooms by names answers from memory (unknown names skipped, each name once); a full listing goes to the server. */
  async listRooms(req: Partial<ListRoomsRequest>, deadlineMs = CALL_DEADLINE_MS_DEFAULT): Promise<ListRoomsResponse> {
    const names = req.names ?? [];
    if (names.length === 0) return this.server.listRooms(req, deadlineMs);
    const untilMs = Date.now() + deadlineMs;
    const at = await this.readAt(req.consistency ?? Consistency.CONSISTENCY_UNSPECIFIED, untilMs);
    if (at === null) return this.server.listRooms(req, remainingMs(untilMs));
    const rooms: Room[] = [];
    for (const name of new Set(names)) {
      const room = this.rooms.get(name);
      if (room !== undefined) rooms.push(room);
    }
    return { rooms, nextPageToken: '', ...at };
  }

  /**
   * readAt waits until a read may be answered from memory and returns its revision and staleness;
   * null: ask the server (the cache is closed or not started, or its watch did not catch up in
   * CATCH_UP_WAIT_MS_MAX). A read still waiting at untilMs fails DEADLINE_EXCEEDED.
   */
  private async readAt(
    consistency: Consistency,
    untilMs: number,
  ): Promise<{ revision: number; stalenessMs: number } | null> {
    if (this.closed || !(await this.within(this.started, untilMs))) return null;
    if (consistency === Consistency.CONSISTENCY_LOCAL)
      return { revision: this.revision, stalenessMs: this.stalenessMs() };
    const rr = await this.server.readRevision(
      { consistency: Consistency.CONSISTENCY_LINEARIZABLE },
      remainingMs(untilMs),
    );
    const waitUntilMs = Math.min(untilMs, Date.now() + CATCH_UP_WAIT_MS_MAX);
    if (!(await this.within(this.reached(rr.roomsRevision, rr.roomsRevisionChanges), waitUntilMs))) return null;
    if (this.closed) return null;
    this.currentAtMs = Date.now();
    return { revision: Math.max(rr.revision, this.revision), stalenessMs: 0 };
  }

  /** within: whether `p` resolved before untilMs. */
  private async within(p: Promise<void>, untilMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(0, untilMs - Date.now()));
    });
    try {
      return await Promise.race([p.then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** reached resolves once the cache has every change up to `revision` (`changes` of it). */
  private reached(revision: number, changes: number): Promise<void> {
    if (this.has(revision, changes)) return Promise.resolve();
    if (this.waiters.size >= WAITERS_MAX) return new Promise(() => {}); // the caller's bound hands it to the server
    return new Promise((resolve) => {
      const w: Waiter = { revision, changes, resolve };
      this.waiters.add(w);
    });
  }

  private has(revision: number, changes: number): boolean {
    return (
      this.caughtUpRevision >= revision ||
      this.topRevision > revision ||
      (this.topRevision === revision && this.topChanges >= changes)
    );
  }

  /** wake resolves the waiters the cache has now caught up with. */
  private wake(): void {
    for (const w of this.waiters) {
      if (!this.has(w.revision, w.changes)) continue;
      this.waiters.delete(w);
      w.resolve();
    }
  }

  // ---- The list-and-watch loop ---------------------------------------------------------------

  /**
   * run lists (the first time, and after OUT_OF_RANGE), then follows the watch until it ends,
   * then tries again on the next member after a backoff, until close.
   */
  private async run(): Promise<void> {
    let needsList = true;
    let failures = 0;
    for (let attempt = 0; !this.closed; attempt++) {
      const member = this.memberFor(attempt);
      try {
        if (needsList) await this.list(member);
        needsList = false;
        const progressed = await this.follow(member);
        failures = progressed ? 0 : failures + 1;
      } catch (e) {
        needsList ||= (e as Partial<grpc.ServiceError>).code === grpc.status.OUT_OF_RANGE;
        failures++;
      }
      // After a stream that worked, its own member is tried first again: home unless it failed.
      if (failures === 0) attempt = -1;
      if (!this.closed && failures > 0) await this.pause(backoffMs(failures));
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.endPause = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private memberFor(attempt: number): CacheMember {
    const m = this.members[attempt % this.members.length];
    if (m === undefined) throw new Error('no member to watch');
    return m;
  }

  /** list reads every room, a page at a time, into a new map that replaces the old one whole. */
  private async list(member: CacheMember): Promise<void> {
    const rooms = new Map<string, Room>();
    let firstRevision = 0;
    let highest = 0;
    let pageToken = '';
    do {
      const page = await member.listRooms(
        { consistency: Consistency.CONSISTENCY_LINEARIZABLE, pageSize: this.options.listPageRooms ?? 0, pageToken },
        LIST_PAGE_DEADLINE_MS,
      );
      if (this.closed) return;
      if (firstRevision === 0) firstRevision = page.revision;
      highest = Math.max(highest, page.revision);
      for (const room of page.rooms) rooms.set(room.name, room);
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    if (this.counts.lists++ > 0) this.counts.relists++;
    this.rooms = rooms;
    // Changes between the pages' revisions arrive on the watch, which starts at the first page's.
    this.caughtUpRevision = firstRevision;
    this.topRevision = firstRevision;
    this.topChanges = Infinity;
    this.revision = highest;
    this.currentAtMs = Date.now();
    assert(this.revision >= this.caughtUpRevision, 'a listing below its first page');
    this.wake();
  }

  /**
   * follow watches from the revision the cache has whole and applies events until the stream
   * ends; it resolves whether any event came (the member worked), and rejects with the stream's
   * error when none did (OUT_OF_RANGE among them).
   */
  private follow(member: CacheMember): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.counts.watches++ > 0) this.counts.reconnects++;
    // The newest revision may have arrived in part: watch from the one before, and count it again.
    this.topRevision = this.caughtUpRevision;
    this.topChanges = Infinity;
    const stream = member.watchRooms(this.caughtUpRevision);
    this.stream = stream;
    this.markStarted();
    let progressed = false;
    return new Promise((resolve, reject) => {
      stream.on('data', (e: WatchRoomsResponse) => {
        progressed = true;
        this.apply(e);
      });
      stream.on('error', (e: grpc.ServiceError) => {
        this.stream = null;
        if (progressed && e.code !== grpc.status.OUT_OF_RANGE) resolve(true);
        else reject(e);
      });
      stream.on('end', () => {
        this.stream = null;
        resolve(progressed);
      });
    });
  }

  /** apply takes one event: the room changes only if the event is newer than what the cache has. */
  private apply(e: WatchRoomsResponse): void {
    if (this.closed || e.room === undefined) return;
    if (e.revision > this.topRevision) {
      // Events come in revision order, each revision whole: a newer one completes the last.
      this.caughtUpRevision = this.topRevision;
      this.topRevision = e.revision;
      this.topChanges = 1;
    } else if (e.revision === this.topRevision) {
      this.topChanges++;
    }
    const cached = this.rooms.get(e.room.name);
    if (cached === undefined || e.revision > cached.revision) {
      if (e.type === RoomEventType.ROOM_EVENT_TYPE_DELETED) this.rooms.delete(e.room.name);
      else this.rooms.set(e.room.name, e.room);
    }
    this.revision = Math.max(this.revision, e.revision);
    this.currentAtMs = Date.now();
    assert(this.caughtUpRevision <= this.topRevision, 'the cache caught up past its newest event');
    this.wake();
  }
}

/** remainingMs: what is left of a call's deadline; none left fails the call as grpc-js would. */
function remainingMs(untilMs: number): number {
  const ms = untilMs - Date.now();
  if (ms <= 0) throw callError(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded');
  return ms;
}

function backoffMs(failures: number): number {
  return Math.min(RETRY_BACKOFF_MS_MAX, RETRY_BACKOFF_MS_FIRST << Math.min(failures, 10));
}
