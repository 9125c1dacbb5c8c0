import {
  Command,
  CommandResult,
  type CreateRoom,
  type MediaNodeHeartbeat,
  type UpdateOccupancyShare,
  type UpdateRoomOccupancy,
} from '../gen/roomregistry/command/v1/command.js';
import { StoredRoom } from '../gen/roomregistry/snapshot/v1/snapshot.js';
import type { Room } from '../gen/roomregistry/v1/rooms.js';
import { assert, unreachable } from '../lib/assert.js';
import type { Index } from '../lib/ids.js';
import { encodeMessage } from '../lib/proto-encode.js';
import type { SnapshotSource, StateMachine } from '../raft/index.js';
import { type DedupEvictionReason, DedupTable } from './dedup.js';
import { ExpiryIndex } from './expiry-index.js';
import { MediaLeases, type MediaNodeView, leaseRecord } from './media-leases.js';
import { BASELINE_VERSIONS } from '../lib/versions.js';
import { REGISTRY_LIMITS } from './registry-limits.js';
import { deadlineMs, toRoom } from './room-record.js';
import { NO_SLOT, RoomTable } from './room-table.js';
import { RoomsByNode, hasShare, occupancyAfter, unattributedOf, withShare } from './room-shares.js';
import { SnapshotCapture, decodeSnapshot, snapshotFormatFor } from './snapshot-codec.js';
import { SortedNames } from './sorted-names.js';
import { QUOTA_FULL_MESSAGE, type QuotaUnit, StateQuota, occupiedBytes } from './state-quota.js';
import { QUOTA_COUNTS_OCCUPIED_BYTES_VERSION, commandVersionOfCase, commandVersionOfCommand } from './versions.js';
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
  /** mediaNodeLeasesExpired: media-node leases removed by ExpireMediaNodes. */
  readonly mediaNodeLeasesExpired: number;
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
  private rooms = new RoomTable();
  private names = new SortedNames(this.rooms);
  private expiry = newExpiryIndex(this.rooms);
  private leases = new MediaLeases();
  /** sharers: media node -> the rooms it holds a share in (every node of every room's shares). */
  private sharers = new RoomsByNode();
  /** hosts: media node -> the rooms whose nodeId it is (rooms with nodeId "" are in none). */
  private hosts = new RoomsByNode();
  /** lastEntryTimeMs / lastEntryTerm: of the last command entry applied (term 0: none known). */
  private lastEntryTimeMs = 0;
  private lastEntryTerm = 0;
  /** versionInUse: the highest command version among the commands applied (commandVersionInUse). */
  private versionInUse = BASELINE_VERSIONS.command;
  private readonly dedup = new DedupTable((reason) => this.events.onDedupEvicted?.(reason));
  private readonly quota = new StateQuota();
  /** entryQuotaBytes: the state quota the leader stamped into the entry being applied. */
  private entryQuotaBytes = Infinity;
  private readonly watchLog = new WatchLog();
  private applied = 0;
  private totals = { created: 0, deleted: 0, expired: 0, mediaNodeLeasesExpired: 0 };
  private capture: SnapshotCapture | null = null;
  private captureIds = 0;
  readonly events: RegistryEvents = {};

  // ---- Applying ------------------------------------------------------------------------------

  /**
   * apply runs one committed command and returns the encoded CommandResult for its proposer.
   * An entry it cannot decode or does not know is refused with a failure result, the same on
   * every replica, and changes nothing else: throwing here would stop every replica on the same
   * committed entry, again at each restart. quotaBytes is the state quota stamped in the entry
   * (Infinity for entries without one); term is the entry's term (0: unknown, as in tests).
   */
  apply(index: Index, payload: Uint8Array, entryTimeMs: number, quotaBytes = Infinity, term = 0): Uint8Array {
    assert(index > this.applied, () => `entry ${index} applied after ${this.applied}`);
    this.entryQuotaBytes = quotaBytes;
    this.applied = index;
    const t = Math.floor(entryTimeMs);
    this.observeEntry(t, term);
    this.dedup.expire(t);
    const command = decodeCommand(payload);
    if (command === null) return this.reject(index, 'undecodable', 'does not decode as a command');
    const c = command.command;
    if (c === undefined) return this.reject(index, 'unknown_command', 'holds a command this build does not know');
    this.versionInUse = Math.max(this.versionInUse, commandVersionOfCommand(c));
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

  /**
   * observeEntry runs before every command entry, whatever it holds. On the first entry of a
   * newer term it extends every lease still live at the previous entry by the time between the
   * two (etcd extends leases when a leader is promoted). Why: heartbeats are log entries, and
   * from the old leader's last entry until the new leader's first, nothing could be committed,
   * so a media node that kept heartbeating would otherwise lose its lease to the election.
   * Terms and entry times are in the log, so every replica extends exactly the same leases.
   * Term 0 (tests, callers that do not know it) never extends.
   */
  private observeEntry(t: number, term: number): void {
    if (term > 0 && this.lastEntryTerm > 0 && term > this.lastEntryTerm && t > this.lastEntryTimeMs) {
      this.leases.extendLive(this.lastEntryTimeMs, t - this.lastEntryTimeMs);
    }
    if (term > 0) {
      assert(term >= this.lastEntryTerm, () => `entry of term ${term} after one of term ${this.lastEntryTerm}`);
      this.lastEntryTerm = term;
    }
    this.lastEntryTimeMs = t;
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
        const room = this.grow(c.value.name, old, next, index);
        if (room === null) return failure('RESOURCE_EXHAUSTED', QUOTA_FULL_MESSAGE);
        return { $case: 'room', value: { room: toRoom(room), created: false } };
      }
      case 'deleteRoom': {
        const old = this.rooms.get(c.value.name);
        if (old === undefined) return failure('NOT_FOUND', NOT_FOUND_MESSAGE);
        this.put(c.value.name, old, undefined, index);
        this.totals.deleted++;
        return { $case: 'deleted', value: {} };
      }
      case 'updateRoomOccupancy':
        return this.updateOccupancy(c.value, index, t);
      case 'expireRooms': {
        let expired = 0;
        for (const name of c.value.names) {
          if (this.rooms.deadlineOf(name) > t) continue; // re-checked: someone may have joined since
          this.put(name, this.rooms.get(name), undefined, index);
          expired++;
        }
        this.totals.expired += expired;
        return { $case: 'expired', value: { rooms: expired } };
      }
      case 'mediaNodeHeartbeat':
        return this.heartbeat(c.value, t);
      case 'expireMediaNodes':
        return this.expireMediaNodes(c.value.nodeIds, index, t);
      case 'updateOccupancyShare':
        return this.updateShare(c.value, index, t);
      case 'setCommandVersion':
        // apply raised versionInUse already, as for every command.
        return { $case: 'commandVersionSet', value: { commandVersionInUse: this.versionInUse } };
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
    const room = this.grow(c.name, undefined, next, index);
    if (room === null) return failure('RESOURCE_EXHAUSTED', QUOTA_FULL_MESSAGE);
    this.totals.created++;
    return { $case: 'room', value: { room: toRoom(room), created: true } };
  }

  /**
   * updateOccupancy (command version 1) sets the part of the room's counts no media node's share
   * accounts for; the room's counts are that part plus the shares. For a room no node reported
   * on (all rooms before version 2) this is the old single count, unchanged. A non-empty nodeId
   * still makes that node the room's host.
   */
  private updateOccupancy(c: UpdateRoomOccupancy, index: number, t: number): Outcome {
    const old = this.rooms.get(c.name);
    if (old === undefined) return failure('NOT_FOUND', NOT_FOUND_MESSAGE);
    const unattributed = { participants: c.numParticipants, publishers: c.numPublishers };
    const room = this.put(
      c.name,
      old,
      {
        ...old,
        ...occupancyAfter(old, old.shares, unattributed, t),
        nodeId: c.nodeId === '' ? old.nodeId : c.nodeId,
        revision: index,
      },
      index,
    );
    return { $case: 'room', value: { room: toRoom(room), created: false } };
  }

  /**
   * updateShare sets one media node's share of a room (command version 2). The node must hold
   * a live lease, so a node whose lease expired (and whose shares were dropped) cannot bring a
   * count back without heartbeating first. A room without a host gets this node as its host.
   */
  private updateShare(c: UpdateOccupancyShare, index: number, t: number): Outcome {
    const old = this.rooms.get(c.name);
    if (old === undefined) return failure('NOT_FOUND', NOT_FOUND_MESSAGE);
    if (!this.leases.isLive(c.nodeId, t))
      return failure('FAILED_PRECONDITION', `media node ${c.nodeId} has no live lease; it must heartbeat first`);
    const shares = withShare(old.shares, c.nodeId, { participants: c.numParticipants, publishers: c.numPublishers });
    if (shares.length > REGISTRY_LIMITS.roomSharesMax) {
      const max = REGISTRY_LIMITS.roomSharesMax;
      return failure('RESOURCE_EXHAUSTED', `room ${c.name} already has shares from ${max} media nodes, the limit`);
    }
    const room = this.put(
      c.name,
      old,
      {
        ...old,
        ...occupancyAfter(old, shares, unattributedOf(old), t),
        nodeId: old.nodeId === '' ? c.nodeId : old.nodeId,
        revision: index,
      },
      index,
    );
    return { $case: 'room', value: { room: toRoom(room), created: false } };
  }

  /** heartbeat creates or renews a media node's lease: it lives ttlS past this entry's time. */
  private heartbeat(c: MediaNodeHeartbeat, t: number): Outcome {
    if (c.nodeId === '') return failure('INVALID_ARGUMENT', 'a media node heartbeat needs a node_id');
    if (this.leases.get(c.nodeId) === undefined && this.leases.size >= REGISTRY_LIMITS.mediaNodesMax) {
      const max = REGISTRY_LIMITS.mediaNodesMax;
      return failure('RESOURCE_EXHAUSTED', `the registry holds leases of ${max} media nodes, the limit`);
    }
    const lease = leaseRecord({ expiresAtMs: t + c.ttlS * 1000, ...c }); // spread last: codec.ts says why
    this.leases.put(lease);
    return { $case: 'lease', value: { nodeId: lease.nodeId, expiresAtMs: lease.expiresAtMs } };
  }

  /**
   * expireMediaNodes is the sweeper's batch: each named lease still due at t is removed, with
   * its node's shares and hosting (a lease renewed since the sweeper read it stays).
   */
  private expireMediaNodes(nodeIds: readonly string[], index: number, t: number): Outcome {
    let expired = 0;
    for (const nodeId of nodeIds) {
      const lease = this.leases.get(nodeId);
      if (lease === undefined || lease.expiresAtMs > t) continue; // re-checked: it may have renewed since
      this.leases.remove(nodeId);
      this.releaseNode(nodeId, index, t);
      expired++;
    }
    this.totals.mediaNodeLeasesExpired += expired;
    return { $case: 'expiredMediaNodes', value: { mediaNodes: expired } };
  }

  /**
   * releaseNode drops every share nodeId holds (a room whose sum falls to 0 starts its departure
   * timer) and takes it off as host of its rooms, one write per room: O(that node's rooms).
   * Names are sorted so every replica publishes the watch events in one order, whatever slots
   * its rooms have. The writes keep every room in its slot.
   */
  private releaseNode(nodeId: string, index: number, t: number): void {
    const slots = new Set([...this.sharers.roomsOf(nodeId), ...this.hosts.roomsOf(nodeId)]);
    for (const name of [...slots].map((slot) => this.rooms.nameOf(slot)).sort()) {
      const old = this.rooms.get(name);
      assert(old !== undefined, () => `media node ${nodeId} linked to room ${name}, which does not exist`);
      const shares = withShare(old.shares, nodeId, { participants: 0, publishers: 0 });
      this.put(
        name,
        old,
        {
          ...old,
          ...occupancyAfter(old, shares, unattributedOf(old), t),
          nodeId: old.nodeId === nodeId ? '' : old.nodeId,
          revision: index,
        },
        index,
      );
    }
    assert(this.sharers.countOf(nodeId) + this.hosts.countOf(nodeId) === 0, () => `${nodeId} still linked`);
  }

  /**
   * grow is put for a create or a growing update: it stores `next` unless that would grow the
   * state past the quota stamped in the entry, counted in the unit of the command version in
   * use (null: refused, nothing changed). The record is encoded once, to be measured and stored.
   */
  private grow(
    name: string,
    old: Readonly<StoredRoom> | undefined,
    next: Readonly<StoredRoom>,
    index: number,
  ): Readonly<StoredRoom> | null {
    const slot = this.rooms.slotOf(name);
    const encoded = this.rooms.encode(next);
    const before = old === undefined ? undefined : { room: old, recordBytes: this.rooms.recordBytesAt(slot) };
    const after = { room: next, recordBytes: encoded.byteLength };
    if (this.quota.refuses(before, after, this.entryQuotaBytes, this.quotaUnit())) return null;
    return this.putAt(slot, name, old, next, index, encoded);
  }

  /**
   * put is the one place a room changes from `old` (the table's current record, decoded;
   * undefined: none) to `next`. Returns the new record (for a delete, the old one).
   */
  private put(
    name: string,
    old: Readonly<StoredRoom> | undefined,
    next: Readonly<StoredRoom> | undefined,
    index: number,
  ): Readonly<StoredRoom> {
    return this.putAt(this.rooms.slotOf(name), name, old, next, index);
  }

  /**
   * putAt is put for the room in `slot` (NO_SLOT: a new room): the snapshot being written keeps
   * the old record, the quota, the name and expiry indexes follow, watchers hear of it.
   * `encoded`: next already encoded by the table (grow), else put encodes it.
   */
  private putAt(
    slot: number,
    name: string,
    old: Readonly<StoredRoom> | undefined,
    next: Readonly<StoredRoom> | undefined,
    index: number,
    encoded?: Uint8Array,
  ): Readonly<StoredRoom> {
    assert(old === undefined || old.name === name, () => `record of ${old?.name} put as ${name}`);
    assert(next === undefined || next.name === name, () => `record of ${next?.name} put as ${name}`);
    assert((slot === NO_SLOT) === (old === undefined), () => `room ${name} put with a wrong old record`);
    this.capture?.beforeChange(name, slot);
    const before = old === undefined ? undefined : { room: old, recordBytes: this.rooms.recordBytesAt(slot) };
    if (next === undefined) {
      assert(old !== undefined, () => `delete of ${name}, which does not exist`);
      this.quota.changed(before, undefined);
      linkNodes(this.sharers, this.hosts, slot, old, undefined);
      // The indexes find the slot by the name's bytes in its record: before the record goes.
      this.names.delete(slot);
      this.expiry.remove(slot, deadlineMs(old));
      this.rooms.deleteSlot(slot);
      this.watchLog.publish({ type: 'deleted', record: old, revision: index });
      return old;
    }
    const [dueBefore, dueAfter] = [old === undefined ? Infinity : deadlineMs(old), deadlineMs(next)];
    const at =
      encoded === undefined ? this.rooms.set(next, dueAfter, slot) : this.rooms.setEncoded(encoded, dueAfter, slot);
    this.quota.changed(before, { room: next, recordBytes: this.rooms.recordBytesAt(at) });
    linkNodes(this.sharers, this.hosts, at, old, next);
    if (old === undefined) this.names.add(at);
    if (dueBefore !== dueAfter) {
      this.expiry.remove(at, dueBefore);
      this.expiry.add(at, dueAfter);
    }
    this.watchLog.publish({ type: old === undefined ? 'created' : 'updated', record: next, revision: index });
    return next;
  }

  // ---- Reads ---------------------------------------------------------------------------------

  appliedIndex(): number {
    return this.applied;
  }

  roomCount(): number {
    return this.rooms.size;
  }

  /** quotaUsedBytes is the summed size of the rooms, as the state quota counts it now (quotaUnit). */
  quotaUsedBytes(): number {
    return this.quota.usedBytesNow(this.quotaUnit());
  }

  /** quotaUnit: how the quota counts a room under the command version in use. */
  private quotaUnit(): QuotaUnit {
    return this.versionInUse >= QUOTA_COUNTS_OCCUPIED_BYTES_VERSION ? 'occupied' : 'estimate';
  }

  totalsSoFar(): RegistryTotals {
    return { ...this.totals };
  }

  getRoom(name: string): Room | null {
    const r = this.rooms.get(name);
    return r === undefined ? null : toRoom(r);
  }

  /** stateBytes: the rooms' encoded records together, and the slab memory holding them (holes included). */
  stateBytes(): { records: number; slabs: number } {
    return { records: this.rooms.recordBytes, slabs: this.rooms.slabBytes };
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

  /**
   * listPage returns up to pageSize rooms in name order after `afterName`; nextAfterName "" at
   * the end. Name order is the names' UTF-8 byte order (code points; SortedNames), afterName's too.
   */
  listPage(afterName: string, pageSize: number): { rooms: Room[]; nextAfterName: string } {
    assert(pageSize > 0, 'page size must be positive');
    const slots = this.names.after(afterName, pageSize + 1);
    const more = slots.length > pageSize;
    if (more) slots.pop();
    const rooms = slots.map((slot) => toRoom(this.rooms.getAt(slot)));
    return { rooms, nextAfterName: more ? (rooms[rooms.length - 1]?.name ?? '') : '' };
  }

  /** dueRooms are rooms whose deadline is at or before nowMs, earliest first (the sweeper's work). */
  dueRooms(nowMs: number, max: number): string[] {
    return this.expiry.due(nowMs, max).map((slot) => this.rooms.nameOf(slot));
  }

  /**
   * liveMediaNodes lists the media nodes whose lease is live at nowMs (of `region` unless it is
   * ""), in node-id order, with the rooms each hosts.
   */
  liveMediaNodes(nowMs: number, region = ''): MediaNodeView[] {
    return this.leases.live(nowMs, region).map((l) => ({
      nodeId: l.nodeId,
      region: l.region,
      ttlS: l.ttlS,
      stats: { ...l.stats },
      expiresAtMs: l.expiresAtMs,
      roomsHosted: this.hosts.countOf(l.nodeId),
    }));
  }

  /** dueMediaNodes are media nodes whose lease expired at or before nowMs, earliest first (the sweeper's work). */
  dueMediaNodes(nowMs: number, max: number): string[] {
    return this.leases.due(nowMs, max);
  }

  /** overdue is the sweeper's backlog at nowMs: rooms past their deadline and the oldest one's age. */
  overdue(nowMs: number): { rooms: number; oldestAgeMs: number } {
    return this.expiry.overdue(nowMs);
  }

  /**
   * roomsRevision is the revision of the newest room change applied (the snapshot's index after
   * a restore) and how many changes it made: what a watcher must have to be current here.
   */
  roomsRevision(): { revision: number; changes: number } {
    return this.watchLog.newest();
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

  /**
   * commandVersionInUse is the highest command version (versions.ts) among the commands applied
   * so far, whatever their outcome (a failed one is in the log all the same): the baseline until
   * the first command of a newer version applies. Replicated, so the same on every replica at
   * the same index, and kept in snapshots. The leader sends entries and snapshots only to
   * members heard to apply it (node.ts replicationHold).
   */
  commandVersionInUse(): number {
    return this.versionInUse;
  }

  /**
   * commandVersionToSet: the version a SetCommandVersion should bring into use, now that every
   * member applies `everyMemberApplies` (null: none). Only a version above the one in use, and
   * only once every member knows SetCommandVersion itself: a member that did not would skip it
   * and count the quota in another unit from then on.
   */
  commandVersionToSet(everyMemberApplies: number): number | null {
    const usable = everyMemberApplies >= commandVersionOfCase('setCommandVersion');
    return usable && everyMemberApplies > this.versionInUse ? everyMemberApplies : null;
  }

  // ---- Snapshots -----------------------------------------------------------------------------

  /** captureSnapshot freezes the state in O(1); the source serializes it in slices (copy-on-write). */
  captureSnapshot(): SnapshotSource {
    this.capture = null; // a newer capture supersedes an abandoned one
    const capture = new SnapshotCapture(
      ++this.captureIds,
      {
        formatVersion: snapshotFormatFor(this.leases.size > 0 || this.sharers.nodes > 0),
        appliedIndex: this.applied,
        roomsCreatedTotal: this.totals.created,
        roomsDeletedTotal: this.totals.deleted,
        roomsExpiredTotal: this.totals.expired,
        mediaNodeLeasesExpiredTotal: this.totals.mediaNodeLeasesExpired,
        lastEntryTimeMs: this.lastEntryTimeMs,
        lastEntryTerm: this.lastEntryTerm,
        commandVersionInUse: this.versionInUse,
      },
      this.rooms,
      this.leases.all(),
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
    const rooms = new RoomTable();
    const names = new SortedNames(rooms);
    const expiry = newExpiryIndex(rooms);
    const [sharers, hosts] = [new RoomsByNode(), new RoomsByNode()];
    let [estimatedBytes, occupied] = [0, 0];
    const slots: number[] = [];
    const decoded = await decodeSnapshot(chunks, (encoded, room) => {
      // Most rooms are not decoded (ScannedRoom): only those placed on media nodes are indexed by node.
      const placed = room.placed;
      if (placed !== null) unattributedOf(placed); // asserts the shares fit in the counts
      const deadline = deadlineMs(room);
      const held = rooms.size;
      const slot = rooms.setEncoded(encoded, deadline);
      assert(rooms.size > held, () => `snapshot holds room ${StoredRoom.decode(encoded).name} twice`);
      slots.push(slot);
      expiry.add(slot, deadline);
      if (placed !== null) linkNodes(sharers, hosts, slot, undefined, placed);
      estimatedBytes += room.quotaBytes;
      occupied += occupiedBytes(placed, encoded.byteLength);
    });
    names.fill(Int32Array.from(slots));
    const leases = new MediaLeases();
    for (const l of decoded.leases) {
      assert(leases.get(l.nodeId) === undefined, () => `snapshot holds the lease of ${l.nodeId} twice`);
      leases.put(leaseRecord(l));
    }
    this.capture = null;
    this.rooms = rooms;
    this.names = names;
    this.expiry = expiry;
    this.leases = leases;
    this.sharers = sharers;
    this.hosts = hosts;
    this.quota.reset(estimatedBytes, occupied);
    this.dedup.replaceAll(decoded.dedup);
    const h = decoded.header;
    this.applied = h.appliedIndex;
    this.totals = {
      created: h.roomsCreatedTotal,
      deleted: h.roomsDeletedTotal,
      expired: h.roomsExpiredTotal,
      mediaNodeLeasesExpired: h.mediaNodeLeasesExpiredTotal,
    };
    this.lastEntryTimeMs = h.lastEntryTimeMs;
    this.lastEntryTerm = h.lastEntryTerm;
    // Absent in the snapshots of builds before it (proto3 reads 0): those applied only version 1.
    this.versionInUse = Math.max(BASELINE_VERSIONS.command, h.commandVersionInUse);
    this.watchLog.reset(this.applied);
  }
}

/** newExpiryIndex indexes the rooms of `rooms` by deadline (their slots), reading current deadlines from it. */
function newExpiryIndex(rooms: RoomTable): ExpiryIndex {
  return new ExpiryIndex((slot) => rooms.deadlineAt(slot));
}

/**
 * linkNodes keeps the node -> rooms indexes in step with the room in `slot` replaced (either
 * side undefined: created or deleted): `sharers` by the nodes of its shares, `hosts` by its nodeId.
 */
function linkNodes(
  sharers: RoomsByNode,
  hosts: RoomsByNode,
  slot: number,
  old: Readonly<StoredRoom> | undefined,
  next: Readonly<StoredRoom> | undefined,
): void {
  const [oldHost, nextHost] = [old?.nodeId ?? '', next?.nodeId ?? ''];
  if (oldHost !== nextHost) {
    if (oldHost !== '') hosts.delete(oldHost, slot);
    if (nextHost !== '') hosts.add(nextHost, slot);
  }
  const [oldShares, nextShares] = [old?.shares ?? [], next?.shares ?? []];
  if (oldShares === nextShares) return; // most rooms: both are the one empty list
  for (const s of oldShares) if (!hasShare(nextShares, s.nodeId)) sharers.delete(s.nodeId, slot);
  for (const s of nextShares) if (!hasShare(oldShares, s.nodeId)) sharers.add(s.nodeId, slot);
}

/** roomOf is the room a command names, "" for one that names many (the sweeper's). */
function roomOf(c: NonNullable<Command['command']>): string {
  switch (c.$case) {
    case 'createRoom':
    case 'updateRoomMetadata':
    case 'deleteRoom':
    case 'updateRoomOccupancy':
    case 'updateOccupancyShare':
      return c.value.name;
    case 'expireRooms':
    case 'mediaNodeHeartbeat':
    case 'expireMediaNodes':
    case 'setCommandVersion':
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
