import { crc32 } from 'node:zlib';
import { assert } from '../lib/assert.js';
import { STORAGE_LIMITS } from './storage-limits.js';

/**
 * A record is the unit of every file src/storage writes (WAL segments, snapshot files, the
 * hard-state file):
 *
 *   [u32 length][u32 crc32(length bytes)][u32 crc32(type + payload)][u8 type][payload]
 *
 * `length` counts type + payload. The header carries its own checksum so a flipped bit in a
 * length is told apart from a record cut short by a crash (a torn tail).
 */
export const RECORD_HEADER_BYTES = 12;

export const RECORD_TYPES = {
  segmentHeader: 1,
  entry: 2,
  commit: 3,
  /** snapshotBase: from here on the log is based on this installed snapshot; earlier entries are void. */
  snapshotBase: 4,
  hardState: 5,
  snapshotHeader: 6,
  snapshotChunk: 7,
  snapshotEnd: 8,
  /** backup*: the records of a backup file (backup-file.ts), never found in a data dir. */
  backupHeader: 9,
  backupChunk: 10,
  backupEnd: 11,
} as const;
export type RecordType = (typeof RECORD_TYPES)[keyof typeof RECORD_TYPES];

/** StorageCorruptionError stops start-up: acknowledged data is damaged and must not be guessed at. */
export class StorageCorruptionError extends Error {
  override readonly name = 'StorageCorruptionError';
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly problem: string,
  ) {
    super(`${file}: offset ${offset}: ${problem}`);
  }
}

/** recordSize is the bytes a record with `payloadBytes` of payload takes on disk. */
export function recordSize(payloadBytes: number): number {
  return RECORD_HEADER_BYTES + 1 + payloadBytes;
}

/**
 * sealRecord frames a record whose payload the caller has already written at
 * buf[offset + RECORD_HEADER_BYTES + 1 ..][0, payloadBytes). Returns the offset after it.
 */
export function sealRecord(buf: Buffer, offset: number, type: RecordType, payloadBytes: number): number {
  const length = 1 + payloadBytes;
  assert(length <= STORAGE_LIMITS.recordBytesMax, () => `record of ${length} bytes is over the limit`);
  const end = offset + RECORD_HEADER_BYTES + length;
  assert(end <= buf.length, 'record does not fit its buffer');
  buf.writeUInt32LE(length, offset);
  buf.writeUInt32LE(crc32(buf.subarray(offset, offset + 4)), offset + 4);
  buf.writeUInt8(type, offset + RECORD_HEADER_BYTES);
  buf.writeUInt32LE(crc32(buf.subarray(offset + RECORD_HEADER_BYTES, end)), offset + 8);
  return end;
}

/** encodeRecord frames one payload on its own (for small, rare records). */
export function encodeRecord(type: RecordType, payload: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(recordSize(payload.byteLength));
  buf.set(payload, RECORD_HEADER_BYTES + 1);
  sealRecord(buf, 0, type, payload.byteLength);
  return buf;
}

export interface DecodedRecord {
  readonly type: number;
  /** payload is a view into the scanned buffer. */
  readonly payload: Buffer;
  readonly offset: number;
  readonly end: number;
}

/**
 * RecordProblem says why the bytes at `offset` are not a record. `reachesEnd` is true when the
 * damage runs to the end of the buffer — what a write cut short by a crash looks like; a
 * problem with valid bytes after it is corruption.
 */
export interface RecordProblem {
  readonly offset: number;
  readonly problem: string;
  readonly reachesEnd: boolean;
}

export type ScanStep =
  { readonly ok: true; readonly record: DecodedRecord } | { readonly ok: false; readonly error: RecordProblem };

/** readRecord decodes the record at `offset` of `buf` (offset < buf.length). */
export function readRecord(buf: Buffer, offset: number): ScanStep {
  assert(offset < buf.length, 'readRecord past the end');
  const left = buf.length - offset;
  if (left < RECORD_HEADER_BYTES + 1)
    return problem(offset, `only ${left} bytes left, a record needs at least ${RECORD_HEADER_BYTES + 1}`, true);
  const length = buf.readUInt32LE(offset);
  if (
    buf.readUInt32LE(offset + 4) !== crc32(buf.subarray(offset, offset + 4)) ||
    length === 0 ||
    length > STORAGE_LIMITS.recordBytesMax
  ) {
    return problem(offset, 'record header checksum mismatch', allZero(buf, offset));
  }
  const end = offset + RECORD_HEADER_BYTES + length;
  if (end > buf.length)
    return problem(offset, `record of ${length} bytes runs past the end (${left} bytes left)`, true);
  if (buf.readUInt32LE(offset + 8) !== crc32(buf.subarray(offset + RECORD_HEADER_BYTES, end))) {
    return problem(offset, 'record checksum mismatch', end === buf.length);
  }
  const record = {
    type: buf.readUInt8(offset + RECORD_HEADER_BYTES),
    payload: buf.subarray(offset + RECORD_HEADER_BYTES + 1, end),
    offset,
    end,
  };
  return { ok: true, record };
}

function problem(offset: number, text: string, reachesEnd: boolean): ScanStep {
  return { ok: false, error: { offset, problem: text, reachesEnd } };
}

function allZero(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}
