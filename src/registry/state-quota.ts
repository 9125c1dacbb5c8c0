import type { StoredRoom } from '../gen/roomregistry/snapshot/v1/snapshot.js';
import { assert } from '../lib/assert.js';

/**
 * ROOM_RECORD_OVERHEAD_BYTES is what a room counts besides its strings (its number and boolean
 * fields, its entries in the name, ordered-name and expiry indexes). An estimate that errs
 * high, so a registry full of tiny rooms still stops before memory does; it stays as it is
 * until the quota counts record bytes (a command version: every replica must count alike).
 */
export const ROOM_RECORD_OVERHEAD_BYTES = 256;

/**
 * SHARE_OVERHEAD_BYTES is what one media node's share of a room costs besides its node id: the
 * object with its two counts, its slot in the room's share list and in the node's room set.
 */
export const SHARE_OVERHEAD_BYTES = 64;

/** QUOTA_FULL_MESSAGE is what a write refused by the quota says (issue 12 item 5). */
export const QUOTA_FULL_MESSAGE = 'registry is full';

/**
 * roomRecordBytes is the size a room counts against the state quota: the overhead plus the
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
 * StateQuota keeps the summed size of the room records (like etcd's quota-backend-bytes, but on
 * the state, not a file) and says whether a write that grows it still fits. The limit is the
 * one the leader stamped into the entry being applied (src/node/entry-codec.ts), never a
 * replica's own setting, so every replica refuses exactly the same writes.
 */
export class StateQuota {
  /** usedBytes: the sum of roomRecordBytes over every room; never negative. */
  private usedBytes = 0;

  usedBytesNow(): number {
    return this.usedBytes;
  }

  /**
   * refuses says whether replacing `old` by `next` (undefined: no room) would grow the state
   * past `quotaBytes`. A write that does not grow the state always fits, so a full registry can
   * still shrink metadata, and deletes, expiry and occupancy never come here (a share grows a
   * room by a bounded amount, roomSharesMax at most; refusing it would undercount a room and
   * could end it while people are in it).
   */
  refuses(old: Readonly<StoredRoom> | undefined, next: Readonly<StoredRoom>, quotaBytes: number): boolean {
    assert(quotaBytes >= 0, () => `quota ${quotaBytes} is negative`);
    const growthBytes = roomRecordBytes(next) - (old === undefined ? 0 : roomRecordBytes(old));
    return growthBytes > 0 && this.usedBytes + growthBytes > quotaBytes;
  }

  /** changed accounts for one room replaced (either side undefined: created or deleted). */
  changed(old: Readonly<StoredRoom> | undefined, next: Readonly<StoredRoom> | undefined): void {
    if (old !== undefined) this.usedBytes -= roomRecordBytes(old);
    if (next !== undefined) this.usedBytes += roomRecordBytes(next);
    assert(this.usedBytes >= 0, () => `state quota usage went negative (${this.usedBytes})`);
  }

  /** reset starts over from `usedBytes`, the rooms' summed roomRecordBytes (after a snapshot is restored). */
  reset(usedBytes: number): void {
    assert(usedBytes >= 0, () => `state quota usage ${usedBytes} is negative`);
    this.usedBytes = usedBytes;
  }
}
