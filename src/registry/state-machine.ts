import {
  Command,
  CommandResult,
  type CreateRoom,
  type UpdateRoomOccupancy,
} from '../gen/roomregistry/command/v1/command.js';
import type { StoredRoom } from '../gen/roomregistry/snapshot/v1/snapshot.js';
import type { Room } from '../gen/roomregistry/v1/rooms.js';
import { assert, unreachable } from '../lib/assert.js';
import type { Index } from '../lib/ids.js';
import { encodeMessage } from '../lib/proto-encode.js';
import type { SnapshotSource, StateMachine } from '../raft/index.js';
import { type DedupEvictionReason, DedupTable } from './dedup.js';
import { ExpiryIndex } from './expiry-index.js';
import { REGISTRY_LIMITS } from './registry-limits.js';
import { RoomRecord, deadlineMs, toRoom } from './room-record.js';
import { SNAPSHOT_FORMAT_VERSION, SnapshotCapture, decodeSnapshot } from './snapshot-codec.js';
import { SortedNames } from './sorted-names.js';
import { QUOTA_FULL_MESSAGE, StateQuota } from './state-quota.js';
import { WatchLog, type WatchRead } from './watch-log.js';

/**
 * REJECTED_ENTRY_REASONS: why `apply` refused an entry. `undecodable`: the bytes are not a
 * Command; `unknown_command`: a Command of a kind this build does not know (a newer node's).
 */
export const REJECTED_ENTRY_REASONS = ['undecodable', 'unknown_command'] as const;
export type RejectedEntryReason = (typeof REJECTED_ENTRY_REASONS)[number];

/** RegistryEvents lets observers (metrics, logs) hear of what `apply` refused (STYLE rule 23). */
export interface RegistryEvents {
  onRejectedEntry?(index: number, reason: RejectedEntryReason, detail: string): void;
  /** onDedupEvicted: a request id was forgotten before its window ended, to keep a bound. */
  onDedupEvicted?(reason: DedupEvictionReason): void;
}

/** RegistryTotals are the lifetime counters metrics read (replicated, so equal on every node). */
export interface RegistryTotals {
  readonly created: number;
  readonly deleted: number;
  readonly expired: number;
}

type Outcome = CommandResult['result'];

const NOT_FOUND_MESSAGE = 'requested room does not exist';

/**
 * RoomRegistry is the replicated room state machine (DESIGN §5). `apply` is deterministic: it
 * reads no clock and no randomness; the leader stamped the entry's time and the proposer chose
 * the sid, so every replica computes the same rooms, dedup table and expiry index. Everything
 * else here is a read of that state.
 */
export class RoomRegistry implements StateMachine {
  private rooms = new Map<string, RoomRecord>();
  private names = new SortedNames();
  private expiry = newExpiryIndex(this.rooms);
  private readonly dedup = new DedupTable((reason) => this.events.onDedupEvicted?.(reason));
  private readonly quota = new StateQuota();
  /** entryQuotaBytes: the state quota the leader stamped into the entry being applied. */
  private entryQuotaBytes = Infinity;
  private readonly watchLog = new WatchLog();
  private applied = 0;
  private totals = { created: 0, deleted: 0, expired: 0 };
  private capture: SnapshotCapture | null = null;
  private captureIds = 0;
  readonly events: RegistryEvents = {};

  // ---- Applying ------------------------------------------------------------------------------

  /**
   * apply runs one committed command and returns the encoded CommandResult for its proposer.
   * An entry it cannot decode or does not know is refused with a failure result, the same on
   * every replica, and changes nothing else: throwing here would stop every replica on the same
   * committed entry, again at each restart. quotaBytes is the state quota stamped in the entry
   * (Infinity for entries without one).
   */
  apply(index: Index, payload: Uint8Array, entryTimeMs: number, quotaBytes = Infinity): Uint8Array {
    assert(index > this.applied, () => `entry ${index} applied after ${this.applied}`);
    this.entryQuotaBytes = quotaBytes;
    this.applied = index;
    const t = Math.floor(entryTimeMs);
    this.dedup.expire(t);
    const command = decodeCommand(payload);
    if (command === null) return this.reject(index, 'undecodable', 'does not decode as a command');
    const c = command.command;
    if (c === undefined) return this.reject(index, 'unknown_command', 'holds a command this build does not know');
    if (command.requestId === '') return encodeResult(this.run(c, index, t), index);
    const { apiKey, requestId } = command;
    const room = roomOf(c);
    const seen = this.dedup.lookup(apiKey, requestId);
    if (seen !== undefined) {
      // A record from an older snapshot has no room: the method alone must match.
      if (seen.command === c.$case && (seen.room === '' || seen.room === room)) return seen.result;
      // The message does not name the other room: the caller may not be allowed to know it.
      return encodeResult(
        failure('INVALID_ARGUMENT', `request_id ${requestId} was already used for another method or room`),
        index,
      );
    }
    const result = encodeResult(this.run(c, index, t), index);
    this.dedup.remember({ apiKey, requestId, command: c.$case, room, result, entryTimeMs: t });
    return result;
  }

  private reject(index: Index, reason: RejectedEntryReason, detail: string): Uint8Array {
    this.events.onRejectedEntry?.(index, reason, detail);
    return encodeResult(failure('INVALID_ARGUMENT', `entry ${index} ${detail}; it was skipped`), index);
  }

  private run(c: NonNullable<Command['command']>, index: number, t: number): Outcome {
    switch (c.$case) {
      case 'createRoom':
        return this.createRoom(c.value, index, t);
      case 'updateRoomMetadata': {
        const old = this.rooms.get(c.value.name);
        if (old === undefined) return failure('NOT_FOUND', NOT_FOUND_MESSAGE);
        const next = {
          ...old,
          metadata: c.value.metadata,
          versionUnixMicro: t * 1000,
          versionTicks: old.versionTicks + 1,
          revision: index,
        };
        if (this.quota.refuses(old, next, this.entryQuotaBytes))
          return failure('RESOURCE_EXHAUSTED', QUOTA_FULL_MESSAGE);
        const room = this.put(c.value.name, next, index);
        return { $case: 'room', value: { room: toRoom(room), created: false } };
      }
      case 'deleteRoom':
        if (!this.rooms.has(c.value.name)) return failure('NOT_FOUND', NOT_FOUND_MESSAGE);
        this.put(c.value.name, undefined, index);
        this.totals.deleted++;
        return { $case: 'deleted', value: {} };
      case 'updateRoomOccupancy':
        return this.updateOccupancy(c.value, index, t);
      case 'expireRooms': {
        let expired = 0;
        for (const name of c.value.names) {
          const r = this.rooms.get(name);
          if (r === undefined || deadlineMs(r) > t) continue; // re-checked: someone may have joined since
          this.put(name, undefined, index);
          expired++;
        }
        this.totals.expired += expired;
        return { $case: 'expired', value: { rooms: expired } };
      }
      case 'mediaNodeHeartbeat': // media nodes: the registry helper's (issue 16, in progress)
      case 'expireMediaNodes':
      case 'updateOccupancyShare':
        return failure('UNIMPLEMENTED', 'media nodes are not applied yet');
      default:
        return unreachable(c);
    }
  }

  private createRoom(c: CreateRoom, index: number, t: number): Outcome {
    const existing = this.rooms.get(c.name);
    if (existing !== undefined) return { $case: 'room', value: { room: toRoom(existing), created: false } };
    if (c.name === '' || c.sid === '') return failure('INVALID_ARGUMENT', 'a room needs a name and a sid');
    const next: StoredRoom = {
      sid: c.sid,
      name: c.name,
      emptyTimeoutS: c.emptyTimeoutS === 0 ? REGISTRY_LIMITS.emptyTimeoutDefaultS : c.emptyTimeoutS,
      departureTimeoutS: c.departureTimeoutS === 0 ? REGISTRY_LIMITS.departureTimeoutDefaultS : c.departureTimeoutS,
      maxParticipants: c.maxParticipants,
      creationTimeMs: t,
      turnPassword: c.turnPassword,
      metadata: c.metadata,
      numParticipants: 0,
      numPublishers: 0,
      nodeId: c.nodeId,
      versionUnixMicro: 0,
      versionTicks: 0,
      revision: index,
      everJoined: false,
      lastLeftMs: 0,
      shares: [],
    };
    if (this.quota.refuses(undefined, next, this.entryQuotaBytes))
      return failure('RESOURCE_EXHAUSTED', QUOTA_FULL_MESSAGE);
    const room = this.put(c.name, next, index);
    this.totals.created++;
    return { $case: 'room', value: { room: toRoom(room), created: true } };
  }

  private updateOccupancy(c: UpdateRoomOccupancy, index: number, t: number): Outcome {
    const old = this.rooms.get(c.name);
    if (old === undefined) return failure('NOT_FOUND', NOT_FOUND_MESSAGE);
    const leftNow = old.numParticipants > 0 && c.numParticipants === 0;
    const room = this.put(
      c.name,
      {
        ...old,
        numParticipants: c.numParticipants,
        numPublishers: c.numPublishers,
        nodeId: c.nodeId === '' ? old.nodeId : c.nodeId,
        everJoined: old.everJoined || c.numParticipants > 0,
        lastLeftMs: leftNow ? t : old.lastLeftMs,
        revision: index,
      },
      index,
    );
    return { $case: 'room', value: { room: toRoom(room), created: false } };
  }

  /**
   * put is the one place a room changes: the snapshot being written keeps the old record, the
   * name and expiry indexes follow, watchers hear of it. Returns the new record (for a delete, the old one).
   */
  private put(name: string, next: Readonly<StoredRoom> | undefined, index: number): RoomRecord {
    const old = this.rooms.get(name);
    this.capture?.beforeChange(name, old);
    this.quota.changed(old, next);
    if (next === undefined) {
      assert(old !== undefined, () => `delete of ${name}, which does not exist`);
      this.rooms.delete(name);
      this.names.delete(name);
      this.expiry.remove(name, deadlineMs(old));
      this.watchLog.publish({ type: 'deleted', record: old, revision: index });
      return old;
    }
    const record = new RoomRecord(next);
    this.rooms.set(name, record);
    if (old === undefined) this.names.add(name);
    const [before, after] = [old === undefined ? Infinity : deadlineMs(old), deadlineMs(record)];
    if (before !== after) {
      this.expiry.remove(name, before);
      this.expiry.add(name, after);
    }
    this.watchLog.publish({ type: old === undefined ? 'created' : 'updated', record, revision: index });
    return record;
  }

  // ---- Reads ---------------------------------------------------------------------------------

  appliedIndex(): number {
    return this.applied;
  }

  roomCount(): number {
    return this.rooms.size;
  }

  /** quotaUsedBytes is the summed size of the room records, as the state quota counts it. */
  quotaUsedBytes(): number {
    return this.quota.usedBytesNow();
  }

  totalsSoFar(): RegistryTotals {
    return { ...this.totals };
  }

  getRoom(name: string): Room | null {
    const r = this.rooms.get(name);
    return r === undefined ? null : toRoom(r);
  }

  /** listRooms returns the named rooms in the order asked, skipping unknown names (as LiveKit). */
  listRooms(names: readonly string[]): Room[] {
    const out: Room[] = [];
    for (const n of names) {
      const r = this.rooms.get(n);
      if (r !== undefined) out.push(toRoom(r));
    }
    return out;
  }

  /** listPage returns up to pageSize rooms in name order after `afterName`; nextAfterName "" at the end. */
  listPage(afterName: string, pageSize: number): { rooms: Room[]; nextAfterName: string } {
    assert(pageSize > 0, 'page size must be positive');
    const names = this.names.after(afterName, pageSize + 1);
    const more = names.length > pageSize;
    if (more) names.pop();
    const rooms = this.listRooms(names);
    return { rooms, nextAfterName: more ? (names[names.length - 1] ?? '') : '' };
  }

  /** dueRooms are rooms whose deadline is at or before nowMs, earliest first (the sweeper's work). */
  dueRooms(nowMs: number, max: number): string[] {
    return this.expiry.due(nowMs, max);
  }

  /** overdue is the sweeper's backlog at nowMs: rooms past their deadline and the oldest one's age. */
  overdue(nowMs: number): { rooms: number; oldestAgeMs: number } {
    return this.expiry.overdue(nowMs);
  }

  /** watchChanges reads the kept changes above `afterRevision` (whole revisions, about `eventsMax`). */
  watchChanges(afterRevision: number, eventsMax: number): WatchRead {
    return this.watchLog.changesAfter(afterRevision, eventsMax);
  }

  /**
   * setWatchNotifier names the one function rung, inside `apply` and `restore`, when changes were
   * recorded or the history was replaced. It must only schedule: delivery to watchers happens
   * after, off the apply path.
   */
  setWatchNotifier(notify: () => void): void {
    this.watchLog.setNotifier(notify);
  }

  // ---- Snapshots -----------------------------------------------------------------------------

  /** captureSnapshot freezes the state in O(1); the source serializes it in slices (copy-on-write). */
  captureSnapshot(): SnapshotSource {
    this.capture = null; // a newer capture supersedes an abandoned one
    const capture = new SnapshotCapture(
      ++this.captureIds,
      {
        formatVersion: SNAPSHOT_FORMAT_VERSION,
        appliedIndex: this.applied,
        roomsCreatedTotal: this.totals.created,
        roomsDeletedTotal: this.totals.deleted,
        roomsExpiredTotal: this.totals.expired,
        mediaNodeLeasesExpiredTotal: 0,
        lastEntryTimeMs: 0,
        lastEntryTerm: 0,
      },
      this.rooms,
      this.dedup.records(),
    );
    this.capture = capture;
    const release = (): void => {
      if (this.capture === capture) this.capture = null;
    };
    return {
      nextChunk: (maxBytes) => {
        const chunk = capture.nextChunk(maxBytes);
        if (chunk === null) release();
        return chunk;
      },
      close: release,
    };
  }

  /** restore replaces the whole state with a snapshot's; the old state serves until it is complete. */
  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const rooms = new Map<string, RoomRecord>();
    const names = new SortedNames();
    const expiry = newExpiryIndex(rooms);
    const decoded = await decodeSnapshot(chunks, (r: StoredRoom) => {
      assert(!rooms.has(r.name), () => `snapshot holds room ${r.name} twice`);
      const record = new RoomRecord(r);
      rooms.set(r.name, record);
      names.add(r.name);
      expiry.add(r.name, deadlineMs(record));
    });
    this.capture = null;
    this.rooms = rooms;
    this.names = names;
    this.expiry = expiry;
    this.quota.reset(rooms.values());
    this.dedup.replaceAll(decoded.dedup);
    this.applied = decoded.header.appliedIndex;
    this.totals = {
      created: decoded.header.roomsCreatedTotal,
      deleted: decoded.header.roomsDeletedTotal,
      expired: decoded.header.roomsExpiredTotal,
    };
    this.watchLog.reset(this.applied);
  }
}

/** newExpiryIndex indexes the rooms of `rooms` by deadline, reading current deadlines from it. */
function newExpiryIndex(rooms: ReadonlyMap<string, RoomRecord>): ExpiryIndex {
  return new ExpiryIndex((name) => {
    const r = rooms.get(name);
    return r === undefined ? Infinity : deadlineMs(r);
  });
}

/** roomOf is the room a command names, "" for one that names many (the sweeper's). */
function roomOf(c: NonNullable<Command['command']>): string {
  switch (c.$case) {
    case 'createRoom':
    case 'updateRoomMetadata':
    case 'deleteRoom':
    case 'updateRoomOccupancy':
      return c.value.name;
    case 'updateOccupancyShare':
      return c.value.name;
    case 'expireRooms':
    case 'mediaNodeHeartbeat':
    case 'expireMediaNodes':
      return '';
    default:
      return unreachable(c);
  }
}

/** decodeCommand is null for bytes that are not a Command (the decoder's wording is dropped: results must not depend on it). */
function decodeCommand(payload: Uint8Array): Command | null {
  try {
    return Command.decode(payload);
  } catch {
    return null;
  }
}

function failure(code: string, message: string): Outcome {
  return { $case: 'failure', value: { code, message } };
}

function encodeResult(result: Outcome, index: number): Uint8Array {
  return encodeMessage(CommandResult, { result, revision: index });
}
