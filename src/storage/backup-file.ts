import { crc32 } from 'node:zlib';
import { assert } from '../lib/assert.js';
import { type Index, type NodeId, type Term, index, term } from '../lib/ids.js';
import type { SnapshotMeta } from '../raft/index.js';
import { writeAllAt, writeFileDurably } from './files.js';
import { RECORD_HEADER_BYTES, RECORD_TYPES, encodeRecord, readRecord } from './record.js';
import { STORAGE_LIMITS } from './storage-limits.js';
import { type StorageFile, type StorageFs, nodeStorageFs } from './storage-fs.js';

/**
 * A backup file (DESIGN §12) is the whole replicated state at one applied index, portable
 * between clusters:
 *
 *   "RRBACKUP" | header record | chunk record ... | end record
 *
 * Records use the storage framing (record.ts: a CRC over the header and one over the payload),
 * so damage is found at the record it hits and reported with its byte offset. The header
 * record's payload is JSON (BackupHeader); chunk payloads concatenated are the state machine's
 * snapshot stream; the end record holds the chunk count, the state bytes and a CRC32 of every
 * byte before it, so a file cut at a record boundary, or records swapped, is refused too.
 */
export const BACKUP_MAGIC = Buffer.from('RRBACKUP', 'latin1');
export const BACKUP_FORMAT_VERSION = 1;
/** END_PAYLOAD_BYTES: [f64 chunk count][f64 state bytes][u32 crc32 of the file before the end record]. */
const END_PAYLOAD_BYTES = 20;

/** BackupMembers is the membership the backup was taken under. */
export interface BackupMembers {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface BackupHeader {
  readonly formatVersion: number;
  /** cluster: the name of the cluster the backup was taken from; a restore must use another. */
  readonly cluster: string;
  /** index: the applied index (the revision) the state is at. */
  readonly index: Index;
  /** term: the term of the entry at `index`. */
  readonly term: Term;
  readonly members: BackupMembers;
  /** createdAt: ISO 8601, when the state was captured. */
  readonly createdAt: string;
}

/** backupMembersOf is the one place the header's member list is read from a snapshot meta. */
export function backupMembersOf(meta: SnapshotMeta): BackupMembers {
  return { voters: [...meta.voters], learners: [...meta.learners] };
}

/** backupHeaderOf builds the header of a backup of the state captured at `meta`. */
export function backupHeaderOf(cluster: string, meta: SnapshotMeta, createdAtMs: number): BackupHeader {
  assert(cluster !== '', 'a backup names its cluster');
  return {
    formatVersion: BACKUP_FORMAT_VERSION,
    cluster,
    index: meta.index,
    term: meta.term,
    members: backupMembersOf(meta),
    createdAt: new Date(createdAtMs).toISOString(),
  };
}

/** BackupFormatError: the file is not a complete, undamaged backup; `offset` is where the damage is. */
export class BackupFormatError extends Error {
  override readonly name = 'BackupFormatError';
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly problem: string,
  ) {
    super(`${file}: offset ${offset}: ${problem}`);
  }
}

/**
 * encodeBackup frames the state's chunks as a backup file's bytes, one piece per record (each
 * at most STORAGE_LIMITS.recordBytesMax), computing the whole-file CRC as it goes.
 */
export async function* encodeBackup(header: BackupHeader, chunks: AsyncIterable<Uint8Array>): AsyncIterable<Buffer> {
  const first = Buffer.concat([BACKUP_MAGIC, encodeRecord(RECORD_TYPES.backupHeader, headerJson(header))]);
  let crc = crc32(first);
  let count = 0;
  let bytes = 0;
  yield first;
  for await (const chunk of chunks) {
    if (chunk.byteLength === 0) continue;
    const record = encodeRecord(RECORD_TYPES.backupChunk, chunk);
    crc = crc32(record, crc);
    count++;
    bytes += chunk.byteLength;
    yield record;
  }
  const end = Buffer.alloc(END_PAYLOAD_BYTES);
  end.writeDoubleLE(count, 0);
  end.writeDoubleLE(bytes, 8);
  end.writeUInt32LE(crc, 16);
  yield encodeRecord(RECORD_TYPES.backupEnd, end);
}

/** writeBackupFile writes a backup's bytes to `path` durably: temp file, fsync, rename, fsync of the dir. */
export async function writeBackupFile(
  path: string,
  pieces: AsyncIterable<Uint8Array>,
  fsync: boolean,
  fs: StorageFs = nodeStorageFs,
): Promise<number> {
  let offset = 0;
  await writeFileDurably(
    fs,
    path,
    async (file) => {
      for await (const piece of pieces) {
        await writeAllAt(file, piece, offset);
        offset += piece.byteLength;
      }
    },
    fsync,
  );
  return offset;
}

/** BackupSummary is what reading a whole backup learned beyond its header. */
export interface BackupSummary {
  readonly fileBytes: number;
  readonly chunks: number;
  readonly stateBytes: number;
}

/**
 * BackupReader reads a backup file record by record (never more than one record in memory),
 * checking every record's CRCs, then the end record's counts and whole-file CRC.
 */
export class BackupReader {
  private constructor(
    private readonly path: string,
    private readonly file: StorageFile,
    private readonly size: number,
    readonly header: BackupHeader,
    /** afterHeader: the offset of the first record after the header. */
    private readonly afterHeader: number,
    /** crcAfterHeader: the whole-file CRC of the bytes before afterHeader. */
    private readonly crcAfterHeader: number,
  ) {}

  /** open checks the magic and the header record; a damaged one throws BackupFormatError. */
  static async open(path: string, fs: StorageFs = nodeStorageFs): Promise<BackupReader> {
    const file = await fs.open(path, 'r');
    try {
      const size = await file.size();
      const magic = Buffer.alloc(BACKUP_MAGIC.length);
      await file.read(magic, 0, Math.min(magic.length, size), 0);
      if (size < magic.length || !magic.equals(BACKUP_MAGIC))
        throw new BackupFormatError(path, 0, 'not a room-registry backup (no RRBACKUP magic)');
      const record = await readBackupRecord(file, path, magic.length, size);
      if (record.type !== RECORD_TYPES.backupHeader)
        throw new BackupFormatError(path, magic.length, `expected the header record, found record type ${record.type}`);
      const header = parseHeader(path, magic.length, record.payload);
      const end = magic.length + record.bytes.length;
      return new BackupReader(path, file, size, header, end, crc32(record.bytes, crc32(magic)));
    } catch (e) {
      await file.close();
      throw e;
    }
  }

  /** stateOffset: where the state's first record begins. */
  get stateOffset(): number {
    return this.afterHeader;
  }

  /**
   * chunks yields the state's bytes, record by record; at the end it checks the end record.
   * Damage anywhere throws BackupFormatError with its offset (after the good chunks before it).
   */
  async *chunks(onSummary?: (s: BackupSummary) => void): AsyncIterable<Uint8Array> {
    let offset = this.afterHeader;
    let crc = this.crcAfterHeader;
    let count = 0;
    let bytes = 0;
    for (;;) {
      if (offset >= this.size)
        throw new BackupFormatError(this.path, offset, 'the file ends without its end record (truncated)');
      const record = await readBackupRecord(this.file, this.path, offset, this.size);
      if (record.type === RECORD_TYPES.backupEnd) {
        checkEnd(this.path, offset, record.payload, { count, bytes, crc }, offset + record.bytes.length, this.size);
        onSummary?.({ fileBytes: this.size, chunks: count, stateBytes: bytes });
        return;
      }
      if (record.type !== RECORD_TYPES.backupChunk)
        throw new BackupFormatError(this.path, offset, `unexpected record type ${record.type}`);
      crc = crc32(record.bytes, crc);
      count++;
      bytes += record.payload.byteLength;
      offset += record.bytes.length;
      yield record.payload;
    }
  }

  close(): Promise<void> {
    return this.file.close();
  }
}

/** readBackupRecord reads and checks the record at `offset`: its header first, then the rest. */
async function readBackupRecord(
  file: StorageFile,
  path: string,
  offset: number,
  size: number,
): Promise<{ type: number; payload: Buffer; bytes: Buffer }> {
  const header = Buffer.alloc(RECORD_HEADER_BYTES);
  const { bytesRead } = await file.read(header, 0, Math.min(RECORD_HEADER_BYTES, size - offset), offset);
  if (bytesRead < RECORD_HEADER_BYTES)
    throw new BackupFormatError(path, offset, `the file ends inside a record header (truncated)`);
  const length = header.readUInt32LE(0);
  if (header.readUInt32LE(4) !== crc32(header.subarray(0, 4)) || length === 0 || length > STORAGE_LIMITS.recordBytesMax)
    throw new BackupFormatError(path, offset, 'record header checksum mismatch (damaged)');
  if (offset + RECORD_HEADER_BYTES + length > size)
    throw new BackupFormatError(path, offset, `record of ${length} bytes runs past the end of the file (truncated)`);
  const buf = Buffer.allocUnsafe(RECORD_HEADER_BYTES + length);
  header.copy(buf);
  await file.read(buf, RECORD_HEADER_BYTES, length, offset + RECORD_HEADER_BYTES);
  const step = readRecord(buf, 0);
  if (!step.ok) throw new BackupFormatError(path, offset + step.error.offset, `${step.error.problem} (damaged)`);
  return { type: step.record.type, payload: step.record.payload, bytes: buf };
}

function checkEnd(
  path: string,
  offset: number,
  payload: Buffer,
  seen: { count: number; bytes: number; crc: number },
  end: number,
  size: number,
): void {
  if (payload.length !== END_PAYLOAD_BYTES) throw new BackupFormatError(path, offset, 'malformed end record');
  const count = payload.readDoubleLE(0);
  const bytes = payload.readDoubleLE(8);
  if (count !== seen.count || bytes !== seen.bytes)
    throw new BackupFormatError(
      path,
      offset,
      `the end record counts ${count} chunks / ${bytes} bytes, the file has ${seen.count} / ${seen.bytes}`,
    );
  if (payload.readUInt32LE(16) !== seen.crc)
    throw new BackupFormatError(path, offset, 'the whole-file checksum does not match (records missing or reordered)');
  if (end !== size) throw new BackupFormatError(path, end, `${size - end} bytes after the end record`);
}

function headerJson(h: BackupHeader): Buffer {
  return Buffer.from(
    JSON.stringify({
      formatVersion: h.formatVersion,
      cluster: h.cluster,
      index: h.index,
      term: h.term,
      members: { voters: h.members.voters, learners: h.members.learners },
      createdAt: h.createdAt,
    }),
  );
}

/** parseHeader reads the header record's JSON; a header this build cannot read is refused by name. */
function parseHeader(path: string, offset: number, payload: Buffer): BackupHeader {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new BackupFormatError(path, offset, `the header is not JSON: ${(e as Error).message}`);
  }
  if (v['formatVersion'] !== BACKUP_FORMAT_VERSION)
    throw new BackupFormatError(
      path,
      offset,
      `backup format ${String(v['formatVersion'])} is unknown (this build reads ${BACKUP_FORMAT_VERSION})`,
    );
  const members = v['members'] as { voters?: unknown; learners?: unknown } | undefined;
  const voters = members?.voters;
  const learners = members?.learners ?? [];
  if (
    typeof v['cluster'] !== 'string' ||
    !Number.isSafeInteger(v['index']) ||
    !Number.isSafeInteger(v['term']) ||
    typeof v['createdAt'] !== 'string' ||
    !isStringArray(voters) ||
    !isStringArray(learners)
  )
    throw new BackupFormatError(path, offset, 'the header lacks a field or has one of the wrong type');
  return {
    formatVersion: BACKUP_FORMAT_VERSION,
    cluster: v['cluster'],
    index: index(v['index'] as number),
    term: term(v['term'] as number),
    members: { voters: voters as NodeId[], learners: learners as NodeId[] },
    createdAt: v['createdAt'],
  };
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}
