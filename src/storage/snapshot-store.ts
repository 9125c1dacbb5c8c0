import { join } from 'node:path';
import type { NodeSnapshotStore, SnapshotMeta } from '../raft/index.js';
import { parseSnapshotMeta, snapshotMetaJson, writeAllAt, writeFileDurably } from './files.js';
import {
  RECORD_HEADER_BYTES,
  RECORD_TYPES,
  StorageCorruptionError,
  encodeRecord,
  readRecord,
  recordSize,
} from './record.js';
import { STORAGE_LIMITS } from './storage-limits.js';
import { type StorageFile, type StorageFs, nodeStorageFs } from './storage-fs.js';
import { ignoreMissing } from './wal.js';

const SNAPSHOT_NAME = /^snapshot-(\d{16})-(\d+)\.snap$/;
/** The end record: [f64 chunk count][f64 data bytes]; its fixed size lets validation read only the file's tail. */
const END_PAYLOAD_BYTES = 16;

/**
 * DiskSnapshotStore keeps snapshots as files `snapshot-<index>-<term>.snap`: a header record
 * with the meta, the state machine's chunks as records, an end record. A file is written
 * through writeFileDurably (its own temp name, synced and renamed), so a snapshot file that
 * exists is complete and concurrent saves of one snapshot never share a file; readers stream
 * it chunk by chunk and never hold a whole snapshot in memory.
 */
export class DiskSnapshotStore implements NodeSnapshotStore {
  constructor(
    private readonly dir: string,
    private readonly fsync: boolean,
    private readonly fs: StorageFs = nodeStorageFs,
  ) {}

  async save(meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    await writeFileDurably(this.fs, this.pathOf(meta), (file) => writeSnapshot(file, meta, chunks), this.fsync);
  }

  /** open streams the chunks of a stored snapshot, checking every record; damage throws StorageCorruptionError. */
  async *open(meta: SnapshotMeta): AsyncIterable<Uint8Array> {
    const path = this.pathOf(meta);
    const file = await this.fs.open(path, 'r');
    try {
      const size = await file.size();
      let offset = 0;
      let sawEnd = false;
      while (offset < size && !sawEnd) {
        const record = await readOne(file, path, offset, size);
        if (offset === 0 && record.type !== RECORD_TYPES.snapshotHeader)
          throw new StorageCorruptionError(path, 0, 'no snapshot header');
        if (record.type === RECORD_TYPES.snapshotChunk) yield record.payload;
        sawEnd = record.type === RECORD_TYPES.snapshotEnd;
        offset += record.bytes;
      }
      if (!sawEnd || offset !== size)
        throw new StorageCorruptionError(path, offset, 'snapshot file ends without its end record');
    } finally {
      await file.close();
    }
  }

  /**
   * list returns the metas of the complete snapshot files, newest first (temp files a crash
   * left behind are removed by DiskLogStorage.open). A file without a valid header and end
   * record is skipped.
   */
  async list(): Promise<SnapshotMeta[]> {
    const metas: SnapshotMeta[] = [];
    for (const name of await this.fs.readdir(this.dir)) {
      if (!SNAPSHOT_NAME.test(name)) continue;
      const meta = await readMeta(this.fs, join(this.dir, name));
      if (meta !== null) metas.push(meta);
    }
    return metas.sort((a, b) => b.index - a.index);
  }

  /** deleteOlderThan removes snapshot files below `base`, which the log now rests on. */
  async deleteOlderThan(base: SnapshotMeta): Promise<void> {
    for (const name of await this.fs.readdir(this.dir)) {
      const m = SNAPSHOT_NAME.exec(name);
      if (m?.[1] !== undefined && Number(m[1]) < base.index)
        await this.fs.unlink(join(this.dir, name)).catch(ignoreMissing);
    }
  }

  private pathOf(meta: SnapshotMeta): string {
    return join(this.dir, `snapshot-${String(meta.index).padStart(16, '0')}-${meta.term}.snap`);
  }
}

/** writeSnapshot writes the header record, one record per chunk, and the end record. */
async function writeSnapshot(file: StorageFile, meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<void> {
  let offset = await append(file, 0, encodeRecord(RECORD_TYPES.snapshotHeader, Buffer.from(snapshotMetaJson(meta))));
  let count = 0;
  let bytes = 0;
  for await (const chunk of chunks) {
    offset = await append(file, offset, encodeRecord(RECORD_TYPES.snapshotChunk, chunk));
    count++;
    bytes += chunk.byteLength;
  }
  const end = Buffer.alloc(END_PAYLOAD_BYTES);
  end.writeDoubleLE(count, 0);
  end.writeDoubleLE(bytes, 8);
  await append(file, offset, encodeRecord(RECORD_TYPES.snapshotEnd, end));
}

async function append(file: StorageFile, offset: number, buf: Buffer): Promise<number> {
  await writeAllAt(file, buf, offset);
  return offset + buf.length;
}

/** readOne reads and checks the record at `offset`: its header first, then the rest. */
async function readOne(
  file: StorageFile,
  path: string,
  offset: number,
  size: number,
): Promise<{ type: number; payload: Buffer; bytes: number }> {
  const header = Buffer.alloc(RECORD_HEADER_BYTES);
  await file.read(header, 0, Math.min(RECORD_HEADER_BYTES, size - offset), offset);
  const length = header.readUInt32LE(0);
  if (length > STORAGE_LIMITS.recordBytesMax || offset + RECORD_HEADER_BYTES + length > size) {
    throw new StorageCorruptionError(path, offset, `record length ${length} does not fit the file`);
  }
  const buf = Buffer.allocUnsafe(RECORD_HEADER_BYTES + length);
  header.copy(buf);
  await file.read(buf, RECORD_HEADER_BYTES, length, offset + RECORD_HEADER_BYTES);
  const step = readRecord(buf, 0);
  if (!step.ok) throw new StorageCorruptionError(path, offset + step.error.offset, step.error.problem);
  return { type: step.record.type, payload: step.record.payload, bytes: buf.length };
}

/** readMeta checks a snapshot file's header and end record; null when either is missing or damaged. */
async function readMeta(fs: StorageFs, path: string): Promise<SnapshotMeta | null> {
  const file = await fs.open(path, 'r');
  try {
    const size = await file.size();
    const endBytes = recordSize(END_PAYLOAD_BYTES);
    if (size < endBytes) return null;
    const header = await readOne(file, path, 0, size).catch(() => null);
    if (header?.type !== RECORD_TYPES.snapshotHeader) return null;
    const tail = Buffer.alloc(endBytes);
    await file.read(tail, 0, endBytes, size - endBytes);
    const end = readRecord(tail, 0);
    if (!end.ok || end.record.type !== RECORD_TYPES.snapshotEnd || end.record.end !== endBytes) return null;
    return parseSnapshotMeta(header.payload.toString('utf8'));
  } finally {
    await file.close();
  }
}
