import { join } from 'node:path';
import { assert } from '../lib/assert.js';
import { type Index, index, term } from '../lib/ids.js';
import type { Logger } from '../lib/logger.js';
import { ENTRY_KINDS, type Entry, type SnapshotMeta } from '../raft/index.js';
import { parseSnapshotMeta, snapshotMetaJson, writeAllAt } from './files.js';
import {
  RECORD_HEADER_BYTES,
  RECORD_TYPES,
  type RecordProblem,
  StorageCorruptionError,
  encodeRecord,
  readRecord,
  recordSize,
  sealRecord,
} from './record.js';
import { SECTOR_BYTES, STORAGE_LIMITS } from './storage-limits.js';
import { type StorageFile, type StorageFs, nodeStorageFs } from './storage-fs.js';

/** WAL_FORMAT_VERSION is written in every segment header; a newer format refuses to start. */
const WAL_FORMAT_VERSION = 1;

/** SEGMENT_HEADER_PAYLOAD_BYTES: a segment's first record: [u32 WAL_FORMAT_VERSION][f64 segment seq]. */
const SEGMENT_HEADER_PAYLOAD_BYTES = 4 + 8;
/** SEGMENT_HEADER_BYTES: that record on disk, with its framing; an empty segment is this long. */
const SEGMENT_HEADER_BYTES = recordSize(SEGMENT_HEADER_PAYLOAD_BYTES);
const SEGMENT_NAME = /^wal-(\d{16})\.log$/;
/** Entry payload: [f64 index][f64 term][u8 kind][data]. */
const ENTRY_FIXED_BYTES = 17;
/** COMMIT_PAYLOAD_BYTES: a commit record's payload: [f64 commit index]. */
const COMMIT_PAYLOAD_BYTES = 8;

/** WalEvent is what recovery reads back, in the order it was written. */
export type WalEvent =
  | { readonly type: 'entry'; readonly entry: Entry }
  | { readonly type: 'commit'; readonly commit: Index }
  | { readonly type: 'snapshotBase'; readonly meta: SnapshotMeta };

export interface WalOptions {
  readonly dir: string;
  readonly fsync: boolean;
  readonly logger: Logger;
  /** segmentBytesMax overrides STORAGE_LIMITS.walSegmentBytesMax (tests use small segments). */
  readonly segmentBytesMax?: number;
  /** fs is the storage seam (nodeStorageFs when absent). */
  readonly fs?: StorageFs;
}

/** WalPosition says where a record was read, for error messages. */
export interface WalPosition {
  readonly file: string;
  readonly offset: number;
}

interface Segment {
  readonly seq: number;
  readonly path: string;
  /** maxEntryIndex: the highest entry index (or snapshot base) written in it; 0 when none. */
  maxEntryIndex: number;
}

/**
 * Wal is the segmented write-ahead log of one node: an append-only sequence of records over
 * files `wal-<seq>.log`. Nothing is rewritten in place: a conflicting suffix is replaced by
 * appending entries again at lower indexes, and an installed snapshot by a snapshotBase
 * record; recovery replays the records in order to rebuild the log.
 */
export class Wal {
  private readonly dir: string;
  private readonly fsync: boolean;
  private readonly segmentBytesMax: number;
  private readonly fs: StorageFs;
  /**
   * failed: the first write or sync that failed. After it every append fails too: a failed fsync
   * may have dropped the dirty pages and a retry could report success for data that is gone
   * (fsyncgate), so the node exits and recovers from what is on disk instead.
   */
  private failed: unknown = null;

  private constructor(
    opts: WalOptions,
    /** segments: oldest first; the last one is open for appends. */
    private readonly segments: Segment[],
    private file: StorageFile,
    private sizeBytes: number,
  ) {
    this.dir = opts.dir;
    this.fsync = opts.fsync;
    this.segmentBytesMax = opts.segmentBytesMax ?? STORAGE_LIMITS.walSegmentBytesMax;
    this.fs = opts.fs ?? nodeStorageFs;
  }

  /**
   * open replays every segment of `dir` through `onEvent`, truncates a torn tail, and opens the
   * last segment for appends (creating the first segment in an empty dir). Damage is a torn
   * write (tornAt) only where nothing after it can have been made durable; a torn tail of an
   * older segment is accepted only when no later segment holds an entry (nothing after it was
   * acknowledged). Any other damage throws StorageCorruptionError naming the file and offset.
   * (DiskLogStorage.open syncs every file before this trusts it: see syncDataDir.)
   */
  static async open(opts: WalOptions, onEvent: (e: WalEvent, at: WalPosition) => void): Promise<Wal> {
    const { dir } = opts;
    const fs = opts.fs ?? nodeStorageFs;
    await fs.mkdir(dir);
    const segments = await listSegments(fs, dir);
    const tornOlder: Array<{ seg: Segment; validBytes: number }> = [];
    for (const [k, seg] of segments.entries()) {
      const isLast = k === segments.length - 1;
      const { validBytes, torn } = await replaySegment(fs, seg, (e, offset) => {
        seg.maxEntryIndex = Math.max(
          seg.maxEntryIndex,
          e.type === 'entry' ? e.entry.index : e.type === 'snapshotBase' ? e.meta.index : 0,
        );
        const torn = tornOlder[0];
        if (torn !== undefined && e.type !== 'commit')
          throw new StorageCorruptionError(
            torn.seg.path,
            torn.validBytes,
            'damaged, and later segments hold entries written after it',
          );
        onEvent(e, { file: seg.path, offset });
      });
      if (isLast) {
        for (const t of tornOlder) await truncateTorn(fs, opts, t.seg.path, t.validBytes);
        return Wal.reopenLast(opts, segments, validBytes);
      }
      if (torn) tornOlder.push({ seg, validBytes });
    }
    const first: Segment = { seq: 1, path: join(dir, segmentName(1)), maxEntryIndex: 0 };
    const file = await createSegment(fs, first, opts.fsync, dir);
    return new Wal(opts, [first], file, SEGMENT_HEADER_BYTES);
  }

  private static async reopenLast(opts: WalOptions, segments: Segment[], validBytes: number): Promise<Wal> {
    const last = segments[segments.length - 1];
    assert(last !== undefined, 'reopenLast without segments');
    const fs = opts.fs ?? nodeStorageFs;
    const file = await fs.open(last.path, 'r+');
    const size = await file.size();
    if (validBytes === 0) {
      // Created but its header never made it to disk: start the segment over.
      await file.close();
      return new Wal(opts, segments, await createSegment(fs, last, opts.fsync, opts.dir, 'w'), SEGMENT_HEADER_BYTES);
    }
    if (size > validBytes) {
      opts.logger.warn('wal_torn_tail_truncated', {
        file: last.path,
        offset: validBytes,
        droppedBytes: size - validBytes,
      });
      await file.truncate(validBytes);
      if (opts.fsync) await file.datasync();
    }
    return new Wal(opts, segments, file, validBytes);
  }

  /**
   * append writes entries (and the new commit index, when it changed) as one write; with
   * `sync` (and --fsync=always) one fdatasync makes the whole batch durable.
   */
  async append(entries: readonly Entry[], commit: Index | null, sync: boolean): Promise<void> {
    await this.guard(() => this.appendNow(entries, commit, sync));
  }

  private async appendNow(entries: readonly Entry[], commit: Index | null, sync: boolean): Promise<void> {
    let total = commit === null ? 0 : recordSize(COMMIT_PAYLOAD_BYTES);
    for (const e of entries) total += recordSize(ENTRY_FIXED_BYTES + e.data.byteLength);
    if (total === 0) return;
    if (this.sizeBytes + total > this.segmentBytesMax && this.sizeBytes > SEGMENT_HEADER_BYTES) await this.rotate();
    const buf = Buffer.allocUnsafe(total);
    let off = 0;
    for (const e of entries) off = encodeEntry(buf, off, e);
    if (commit !== null) {
      buf.writeDoubleLE(commit, off + RECORD_HEADER_BYTES + 1);
      off = sealRecord(buf, off, RECORD_TYPES.commit, COMMIT_PAYLOAD_BYTES);
    }
    assert(off === total, 'wal batch size mismatch');
    await this.writeAll(buf);
    const current = this.current();
    for (const e of entries) current.maxEntryIndex = Math.max(current.maxEntryIndex, e.index);
    if (sync && this.fsync) await this.file.datasync();
  }

  /**
   * appendSnapshotBase starts a new segment whose first record says the log now rests on the
   * installed snapshot `meta`, syncs it, and deletes every older segment: all they held is
   * either inside the snapshot or a discarded log (Raft thesis §5.3).
   */
  async appendSnapshotBase(meta: SnapshotMeta): Promise<void> {
    await this.guard(() => this.appendSnapshotBaseNow(meta));
  }

  private async appendSnapshotBaseNow(meta: SnapshotMeta): Promise<void> {
    await this.rotate();
    const payload = Buffer.from(snapshotMetaJson(meta));
    await this.writeAll(encodeRecord(RECORD_TYPES.snapshotBase, payload));
    this.current().maxEntryIndex = meta.index;
    if (this.fsync) await this.file.datasync();
    await this.deleteSegments(this.segments.length - 1);
  }

  /**
   * deleteCovered deletes the oldest closed segments whose entries all lie below `snapshotIndex`.
   * The segment holding the snapshot's own entry stays, so recovery can check that the
   * snapshot matches the log.
   */
  async deleteCovered(snapshotIndex: Index): Promise<void> {
    let n = 0;
    while (n < this.segments.length - 1 && (this.segments[n]?.maxEntryIndex ?? Infinity) < snapshotIndex) n++;
    await this.deleteSegments(n);
  }

  segmentCount(): number {
    return this.segments.length;
  }

  async close(): Promise<void> {
    await this.file.close();
  }

  /** guard runs one write, refusing every write after a failed one (see `failed`). */
  private async guard(write: () => Promise<void>): Promise<void> {
    if (this.failed !== null) throw this.failed;
    try {
      await write();
    } catch (e) {
      this.failed = e;
      throw e;
    }
  }

  private current(): Segment {
    const seg = this.segments[this.segments.length - 1];
    assert(seg !== undefined, 'wal without a segment');
    return seg;
  }

  /**
   * rotate closes the current segment and starts the next. The old one is synced first: once a
   * later segment holds entries, recovery treats damage in an older one as corruption, so its
   * tail (commit records written without a sync) must be durable before anything follows it.
   */
  private async rotate(): Promise<void> {
    if (this.fsync) await this.file.datasync();
    const seg: Segment = {
      seq: this.current().seq + 1,
      path: join(this.dir, segmentName(this.current().seq + 1)),
      maxEntryIndex: 0,
    };
    const file = await createSegment(this.fs, seg, this.fsync, this.dir);
    await this.file.close();
    this.file = file;
    this.segments.push(seg);
    this.sizeBytes = SEGMENT_HEADER_BYTES;
  }

  private async writeAll(buf: Buffer): Promise<void> {
    await writeAllAt(this.file, buf, this.sizeBytes);
    this.sizeBytes += buf.length;
  }

  /** deleteSegments removes the `n` oldest segments (never the open one). */
  private async deleteSegments(n: number): Promise<void> {
    assert(n < this.segments.length, 'cannot delete the open segment');
    const doomed = this.segments.splice(0, n);
    for (const seg of doomed) await this.fs.unlink(seg.path).catch(ignoreMissing);
  }
}

function segmentName(seq: number): string {
  return `wal-${String(seq).padStart(16, '0')}.log`;
}

async function listSegments(fs: StorageFs, dir: string): Promise<Segment[]> {
  const segments: Segment[] = [];
  for (const name of await fs.readdir(dir)) {
    const m = SEGMENT_NAME.exec(name);
    if (m?.[1] !== undefined) segments.push({ seq: Number(m[1]), path: join(dir, name), maxEntryIndex: 0 });
  }
  segments.sort((a, b) => a.seq - b.seq);
  for (let k = 1; k < segments.length; k++) {
    const prev = segments[k - 1];
    const seg = segments[k];
    if (prev !== undefined && seg !== undefined && seg.seq !== prev.seq + 1) {
      throw new StorageCorruptionError(
        seg.path,
        0,
        `segment ${prev.seq + 1} is missing between ${prev.seq} and ${seg.seq}`,
      );
    }
  }
  return segments;
}

async function createSegment(
  fs: StorageFs,
  seg: Segment,
  fsync: boolean,
  dir: string,
  flag: 'wx' | 'w' = 'wx',
): Promise<StorageFile> {
  const file = await fs.open(seg.path, flag);
  const header = Buffer.alloc(SEGMENT_HEADER_PAYLOAD_BYTES);
  header.writeUInt32LE(WAL_FORMAT_VERSION, 0);
  header.writeDoubleLE(seg.seq, 4);
  await file.write(encodeRecord(RECORD_TYPES.segmentHeader, header), 0, SEGMENT_HEADER_BYTES, 0);
  if (fsync) {
    await file.datasync();
    await fs.fsyncDir(dir);
  }
  return file;
}

/**
 * replaySegment feeds one segment's records to `onEvent` and returns the bytes that are valid,
 * and whether damage after them is a torn write (tornAt); any other damage is corruption.
 */
async function replaySegment(
  fs: StorageFs,
  seg: Segment,
  onEvent: (e: WalEvent, offset: number) => void,
): Promise<{ validBytes: number; torn: boolean }> {
  const buf = await fs.readFile(seg.path);
  let offset = 0;
  while (offset < buf.length) {
    const step = readRecord(buf, offset);
    if (!step.ok) {
      if (tornAt(buf, offset, step.error)) return { validBytes: offset, torn: true };
      throw new StorageCorruptionError(seg.path, step.error.offset, step.error.problem);
    }
    const { type, payload } = step.record;
    if (offset === 0) checkHeader(seg, type, payload);
    else onEvent(decodeEvent(seg.path, offset, type, payload), offset);
    offset = step.record.end;
  }
  return { validBytes: offset, torn: false };
}

/**
 * tornAt decides whether damage at `offset` is a write that a crash or power cut interrupted
 * (never acknowledged: an fsync after it would have made it whole) rather than damage to
 * durable data. As etcd's WAL decides it: the damage runs to the end (the write was cut short),
 * no valid record follows it (what follows is garbage of the same interrupted write), or the
 * damaged record holds a zeroed sector (a sector never written while later ones were: disks
 * persist the sectors of one write in any order; etcd's isTornEntry).
 */
function tornAt(buf: Buffer, offset: number, problem: RecordProblem): boolean {
  if (problem.reachesEnd) return true;
  if (!validRecordAfter(buf, offset + 1)) return true;
  const length = buf.readUInt32LE(offset);
  const end =
    length <= STORAGE_LIMITS.recordBytesMax
      ? Math.min(buf.length, offset + RECORD_HEADER_BYTES + length)
      : offset + RECORD_HEADER_BYTES;
  for (let sector = offset - (offset % SECTOR_BYTES); sector < end; sector += SECTOR_BYTES) {
    if (allZero(buf, Math.max(sector, offset), Math.min(sector + SECTOR_BYTES, buf.length))) return true;
  }
  return false;
}

/** validRecordAfter: a whole record with both checksums right starts somewhere at or after `from`. */
function validRecordAfter(buf: Buffer, from: number): boolean {
  for (let at = from; at + RECORD_HEADER_BYTES < buf.length; at++) {
    const length = buf.readUInt32LE(at);
    if (length === 0 || length > STORAGE_LIMITS.recordBytesMax || at + RECORD_HEADER_BYTES + length > buf.length)
      continue;
    if (readRecord(buf, at).ok) return true;
  }
  return false;
}

function allZero(buf: Buffer, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

/** truncateTorn cuts the torn tail of an older segment, so a later recovery does not see it again. */
async function truncateTorn(fs: StorageFs, opts: WalOptions, path: string, validBytes: number): Promise<void> {
  opts.logger.warn('wal_torn_tail_truncated', { file: path, offset: validBytes, olderSegment: true });
  const file = await fs.open(path, 'r+');
  try {
    await file.truncate(validBytes);
    if (opts.fsync) await file.datasync();
  } finally {
    await file.close();
  }
}

function checkHeader(seg: Segment, type: number, payload: Buffer): void {
  if (type !== RECORD_TYPES.segmentHeader || payload.length !== SEGMENT_HEADER_PAYLOAD_BYTES) {
    throw new StorageCorruptionError(seg.path, 0, 'the first record is not a segment header');
  }
  const version = payload.readUInt32LE(0);
  if (version !== WAL_FORMAT_VERSION) {
    throw new StorageCorruptionError(
      seg.path,
      0,
      `WAL format ${version} is not supported (this build writes ${WAL_FORMAT_VERSION})`,
    );
  }
  if (payload.readDoubleLE(4) !== seg.seq)
    throw new StorageCorruptionError(
      seg.path,
      0,
      `segment header says ${payload.readDoubleLE(4)}, the name ${seg.seq}`,
    );
}

function decodeEvent(file: string, offset: number, type: number, payload: Buffer): WalEvent {
  switch (type) {
    case RECORD_TYPES.entry: {
      const kind = payload.length < ENTRY_FIXED_BYTES ? undefined : ENTRY_KINDS[payload.readUInt8(16)];
      if (kind === undefined) throw new StorageCorruptionError(file, offset, 'malformed entry record');
      // A copy, so compaction frees the memory instead of pinning the whole segment buffer.
      const data = payload.subarray(ENTRY_FIXED_BYTES).slice();
      return {
        type: 'entry',
        entry: { index: index(payload.readDoubleLE(0)), term: term(payload.readDoubleLE(8)), kind, data },
      };
    }
    case RECORD_TYPES.commit:
      if (payload.length !== COMMIT_PAYLOAD_BYTES)
        throw new StorageCorruptionError(file, offset, 'malformed commit record');
      return { type: 'commit', commit: index(payload.readDoubleLE(0)) };
    case RECORD_TYPES.snapshotBase: {
      const meta = parseSnapshotMeta(payload.toString('utf8'));
      if (meta === null) throw new StorageCorruptionError(file, offset, 'malformed snapshot base record');
      return { type: 'snapshotBase', meta };
    }
    default:
      throw new StorageCorruptionError(file, offset, `unknown WAL record type ${type}`);
  }
}

function encodeEntry(buf: Buffer, off: number, e: Entry): number {
  const p = off + RECORD_HEADER_BYTES + 1;
  buf.writeDoubleLE(e.index, p);
  buf.writeDoubleLE(e.term, p + 8);
  buf.writeUInt8(ENTRY_KINDS.indexOf(e.kind), p + 16);
  buf.set(e.data, p + ENTRY_FIXED_BYTES);
  return sealRecord(buf, off, RECORD_TYPES.entry, ENTRY_FIXED_BYTES + e.data.byteLength);
}

export function ignoreMissing(e: unknown): void {
  if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
}
