import type { StoredRoom } from '../gen/roomregistry/snapshot/v1/snapshot.js';
import { assert } from '../lib/assert.js';

/**
 * ROOM_RECORD_OVERHEAD_BYTES is what a room counts besides its strings in the estimate of
 * command versions before 3 (roomRecordBytes). It errs high, so a registry full of tiny rooms
 * still stops before memory does.
 */
export const ROOM_RECORD_OVERHEAD_BYTES = 256;

/**
 * SHARE_OVERHEAD_BYTES is what one media node's share of a room costs in that estimate besides
 * its node id.
 */
export const SHARE_OVERHEAD_BYTES = 64;

/**
 * ROOM_SLOT_BYTES is what a room occupies besides its encoded record (occupiedBytes): the
 * record's header in its slab (8), its slot's entries in the per-slot arrays (32), its cell in
 * the name hash table (8 at a load of 0.3 to 0.6: up to 27), its place in the ordered names (4,
 * up to 8 in a half-full chunk) and its expiry list links (8). Rounded up to 96.
 */
export const ROOM_SLOT_BYTES = 96;

/**
 * NODE_LINK_BYTES is what a room occupies for each media node linked to it (its host, and each
 * node with a share): the slot's entry in that node's set of rooms (src/registry/room-shares.ts).
 */
export const NODE_LINK_BYTES = 32;

/** QUOTA_FULL_MESSAGE is what a write refused by the quota says (issue 12 item 5). */
export const QUOTA_FULL_MESSAGE = 'registry is full';

/**
 * roomRecordBytes is the size a room counted against the state quota before command version 3
 * (QUOTA_COUNTS_OCCUPIED_BYTES_VERSION), an estimate: the overhead plus the
 * length of each of its strings, plus its media-node shares. A string counts its UTF-16 length
 * (its UTF-8 size for ASCII, a third of it at worst otherwise), which is O(1): apply never scans
 * 512 KiB of metadata to measure it. Shares are at most roomSharesMax, so still O(1); a room no
 * node reported on costs what it did before shares existed. A pure function of the record, so
 * every replica sums the same total.
 */
export function roomRecordBytes(r: Readonly<StoredRoom>): number {
  return (
    unsharedRoomRecordBytes(
      r.name.length + r.sid.length + r.metadata.length + r.turnPassword.length + r.nodeId.length,
    ) + sharesBytes(r)
  );
}

/** unsharedRoomRecordBytes is roomRecordBytes of a room without shares whose strings' UTF-16 lengths sum to `stringsLength`. */
export function unsharedRoomRecordBytes(stringsLength: number): number {
  return ROOM_RECORD_OVERHEAD_BYTES + stringsLength;
}

function sharesBytes(r: Readonly<StoredRoom>): number {
  let bytes = 0;
  for (const s of r.shares) bytes += SHARE_OVERHEAD_BYTES + s.nodeId.length;
  return bytes;
}

/**
 * occupiedBytes is the size a room counts against the state quota from command version 3 on:
 * what it occupies in the room table, i.e. its encoded record (`recordBytes` long) and the
 * fixed cost of its slot and index entries, plus a link for its host and for each media node
 * with a share (`placement`; null: none of either). A pure function of the record and its
 * encoding, so every replica sums the same total; the record's size is measured by encoding
 * it, which a write does anyway.
 */
export function occupiedBytes(
  placement: Readonly<Pick<StoredRoom, 'nodeId' | 'shares'>> | null,
  recordBytes: number,
): number {
  const links = placement === null ? 0 : (placement.nodeId === '' ? 0 : 1) + placement.shares.length;
  return recordBytes + ROOM_SLOT_BYTES + NODE_LINK_BYTES * links;
}

/** QuotaUnit: how the quota counts a room (the command version in use decides). */
export type QuotaUnit = 'estimate' | 'occupied';

/** Sized is a room's record with the encoded size the table holds it at. */
export interface Sized {
  readonly room: Readonly<StoredRoom>;
  readonly recordBytes: number;
}

/**
 * StateQuota keeps the summed size of the rooms (like etcd's quota-backend-bytes, but on the
 * state, not a file) in both units, and says whether a write that grows it still fits. The
 * limit is the one the leader stamped into the entry being applied (src/node/entry-codec.ts),
 * never a replica's own setting, and the unit is the one the command version in use gives, so
 * every replica refuses exactly the same writes. Both sums are kept from the start, so the
 * switch to `occupied` (an entry of version 3) costs nothing and needs no recount.
 */
export class StateQuota {
  /** estimatedBytes / occupiedBytes: the sums of roomRecordBytes and occupiedBytes over every room; never negative. */
  private estimatedBytes = 0;
  private occupiedBytes = 0;

  usedBytesNow(unit: QuotaUnit): number {
    return unit === 'estimate' ? this.estimatedBytes : this.occupiedBytes;
  }

  /**
   * refuses says whether replacing `old` by `next` (undefined: no room) would grow the state
   * past `quotaBytes`, counted in `unit`. A write that does not grow the state always fits, so
   * a full registry can still shrink metadata, and deletes, expiry and occupancy never come here
   * (a share grows a room by a bounded amount, roomSharesMax at most; refusing it would
   * undercount a room and could end it while people are in it).
   */
  refuses(old: Sized | undefined, next: Sized, quotaBytes: number, unit: QuotaUnit): boolean {
    assert(quotaBytes >= 0, () => `quota ${quotaBytes} is negative`);
    const growthBytes = sizeIn(unit, next) - (old === undefined ? 0 : sizeIn(unit, old));
    return growthBytes > 0 && this.usedBytesNow(unit) + growthBytes > quotaBytes;
  }

  /** changed accounts for one room replaced (either side undefined: created or deleted). */
  changed(old: Sized | undefined, next: Sized | undefined): void {
    if (old !== undefined) {
      this.estimatedBytes -= roomRecordBytes(old.room);
      this.occupiedBytes -= occupiedBytes(old.room, old.recordBytes);
    }
    if (next !== undefined) {
      this.estimatedBytes += roomRecordBytes(next.room);
      this.occupiedBytes += occupiedBytes(next.room, next.recordBytes);
    }
    assert(
      this.estimatedBytes >= 0 && this.occupiedBytes >= 0,
      () => `state quota usage went negative (${this.estimatedBytes}, ${this.occupiedBytes})`,
    );
  }

  /** reset starts over from the rooms' summed sizes in each unit (after a snapshot is restored). */
  reset(estimatedBytes: number, occupiedBytes: number): void {
    assert(
      estimatedBytes >= 0 && occupiedBytes >= 0,
      () => `state quota usage ${estimatedBytes} / ${occupiedBytes} is negative`,
    );
    this.estimatedBytes = estimatedBytes;
    this.occupiedBytes = occupiedBytes;
  }
}

function sizeIn(unit: QuotaUnit, r: Sized): number {
  return unit === 'estimate' ? roomRecordBytes(r.room) : occupiedBytes(r.room, r.recordBytes);
}
