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
import { DedupTable } from './dedup.js';
import { ExpiryIndex } from './expiry-index.js';
import { REGISTRY_LIMITS } from './registry-limits.js';
import { RoomRecord, deadlineMs, toRoom } from './room-record.js';
import { SNAPSHOT_FORMAT_VERSION, SnapshotCapture, decodeSnapshot } from './snapshot-codec.js';
import { SortedNames } from './sorted-names.js';
import { WatchLog, type WatchRead } from './watch-log.js';

/** RoomSnapshotSource is a capture being written: slices of bytes, then null; close abandons it. */
export interface RoomSnapshotSource {
  nextChunk(maxBytes: number): Uint8Array | null;
  close(): void;
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
export class RoomRegistry {
  private rooms = new Map<string, RoomRecord>();
  private names = new SortedNames();
  private expiry = newExpiryIndex(this.rooms);
  private readonly dedup = new DedupTable();
  private readonly watchLog = new WatchLog();
  private applied = 0;
  private totals = { created: 0, deleted: 0, expired: 0 };
  private capture: SnapshotCapture | null = null;
  private captureIds = 0;

  // ---- Applying ------------------------------------------------------------------------------

  /** apply runs one committed command and returns the encoded CommandResult for its proposer. */
  apply(index: Index, payload: Uint8Array, entryTimeMs: number): Uint8Array {
    assert(index > this.applied, () => `entry ${index} applied after ${this.applied}`);
    const command = decodeCommand(payload, index);
    const c = command.command;
    assert(c !== undefined, () => `entry ${index} holds a command this build does not know; upgrade this node`);
    this.applied = index;
    const t = Math.floor(entryTimeMs);
    if (command.requestId !== '') {
      const seen = this.dedup.lookup(command.requestId);
      if (seen !== undefined) {
        if (seen.command === c.$case) return seen.result;
        return encodeResult(failure('INVALID_ARGUMENT', `request_id ${command.requestId} was already used for a ${seen.command}`), index);
      }
    }
    const result = encodeResult(this.run(c, index, t), index);
    if (command.requestId !== '') this.dedup.remember(command.requestId, c.$case, result);
    return result;
  }

  private run(c: NonNullable<Command['command']>, index: number, t: number): Outcome {
    switch (c.$case) {
      case 'createRoom':
        return this.createRoom(c.value, index, t);
      case 'updateRoomMetadata': {
        const old = this.rooms.get(c.value.name);
        if (old === undefined) return failure('NOT_FOUND', NOT_FOUND_MESSAGE);
        const room = this.put(c.value.name, { ...old, metadata: c.value.metadata, versionUnixMicro: t * 1000, versionTicks: old.versionTicks + 1, revision: index }, index);
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
      default:
        return unreachable(c);
    }
  }

  private createRoom(c: CreateRoom, index: number, t: number): Outcome {
    const existing = this.rooms.get(c.name);
    if (existing !== undefined) return { $case: 'room', value: { room: toRoom(existing), created: false } };
    if (c.name === '' || c.sid === '') return failure('INVALID_ARGUMENT', 'a room needs a name and a sid');
    const room = this.put(
      c.name,
      {
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
      },
      index,
    );
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
  captureSnapshot(): RoomSnapshotSource {
    this.capture = null; // a newer capture supersedes an abandoned one
    const capture = new SnapshotCapture(
      ++this.captureIds,
      {
        formatVersion: SNAPSHOT_FORMAT_VERSION,
        appliedIndex: this.applied,
        roomsCreatedTotal: this.totals.created,
        roomsDeletedTotal: this.totals.deleted,
        roomsExpiredTotal: this.totals.expired,
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
    this.dedup.replaceAll(decoded.dedup);
    this.applied = decoded.header.appliedIndex;
    this.totals = { created: decoded.header.roomsCreatedTotal, deleted: decoded.header.roomsDeletedTotal, expired: decoded.header.roomsExpiredTotal };
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

function decodeCommand(payload: Uint8Array, index: number): Command {
  try {
    return Command.decode(payload);
  } catch (e) {
    // The proposer encoded it; bytes that do not decode mean this build cannot apply the log.
    assert(false, () => `entry ${index} does not decode as a command: ${(e as Error).message}`);
  }
}

function failure(code: string, message: string): Outcome {
  return { $case: 'failure', value: { code, message } };
}

function encodeResult(result: Outcome, index: number): Uint8Array {
  return encodeMessage(CommandResult, { result, revision: index });
}

