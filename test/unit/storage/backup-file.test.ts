/**
 * Goal: a backup file is read back exactly, and any damage — a flipped bit, a cut, a record
 * dropped, bytes appended — is refused with the byte offset of the record it hit (DESIGN §12).
 * Method: encode a backup of known chunks into a temp file, then damage copies of it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { index, nodeId, term } from '../../../src/lib/ids.js';
import {
  BACKUP_MAGIC,
  BackupFormatError,
  BackupReader,
  backupHeaderOf,
  encodeBackup,
  writeBackupFile,
} from '../../../src/storage/backup-file.js';

const dir = mkdtempSync(join(tmpdir(), 'rr-backup-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const meta = {
  index: index(1234),
  term: term(7),
  voters: [nodeId('n1'), nodeId('n2'), nodeId('n3')],
  learners: [],
  contexts: {},
};
const header = backupHeaderOf('prod', meta, Date.UTC(2026, 0, 2, 3, 4, 5));
const chunks = [Buffer.alloc(1000, 1), Buffer.alloc(3000, 2), Buffer.alloc(10, 3)];

async function* source(): AsyncIterable<Uint8Array> {
  for (const c of chunks) yield c;
  await Promise.resolve();
}

async function readAll(path: string): Promise<Buffer> {
  const reader = await BackupReader.open(path);
  try {
    const parts: Uint8Array[] = [];
    for await (const c of reader.chunks()) parts.push(c);
    return Buffer.concat(parts);
  } finally {
    await reader.close();
  }
}

async function refusal(bytes: Buffer): Promise<BackupFormatError> {
  const path = join(dir, `damaged-${Math.random().toString(36).slice(2)}.rrb`);
  writeFileSync(path, bytes);
  const e: unknown = await readAll(path).then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(BackupFormatError);
  return e as BackupFormatError;
}

describe('backup file', async () => {
  const good = join(dir, 'good.rrb');
  const size = await writeBackupFile(good, encodeBackup(header, source()), false);
  const bytes = readFileSync(good);
  /** The records' offsets: the header record after the magic, then one per chunk, then the end record. */
  const headerRecordBytes = 12 + 1 + JSON.stringify(header).length;
  const firstChunkAt = BACKUP_MAGIC.length + headerRecordBytes;
  const secondChunkAt = firstChunkAt + 13 + 1000;
  const endAt = secondChunkAt + 13 + 3000 + 13 + 10;

  it('reads back its header and its state bytes', async () => {
    expect(size).toBe(bytes.length);
    expect(endAt + 13 + 20).toBe(bytes.length);
    const reader = await BackupReader.open(good);
    await reader.close();
    expect(reader.header).toEqual({
      formatVersion: 1,
      cluster: 'prod',
      index: 1234,
      term: 7,
      members: { voters: ['n1', 'n2', 'n3'], learners: [] },
      createdAt: '2026-01-02T03:04:05.000Z',
    });
    expect((await readAll(good)).equals(Buffer.concat(chunks))).toBe(true);
  });

  it('refuses a flipped bit with the offset of the record it hit', async () => {
    const flipped = Buffer.from(bytes);
    flipped[secondChunkAt + 500] = (flipped[secondChunkAt + 500] ?? 0) ^ 0x10;
    const e = await refusal(flipped);
    expect(e.offset).toBe(secondChunkAt);
    expect(e.problem).toMatch(/checksum/);
  });

  it('refuses a file cut short, at the record cut', async () => {
    const e = await refusal(bytes.subarray(0, secondChunkAt + 100));
    expect(e.offset).toBe(secondChunkAt);
    expect(e.problem).toMatch(/truncated/);
  });

  it('refuses a file cut at a record boundary (no end record)', async () => {
    const e = await refusal(bytes.subarray(0, endAt));
    expect(e.offset).toBe(endAt);
    expect(e.problem).toMatch(/end record/);
  });

  it('refuses a file missing a whole record, by the end record', async () => {
    const e = await refusal(
      Buffer.concat([bytes.subarray(0, secondChunkAt), bytes.subarray(secondChunkAt + 13 + 3000)]),
    );
    expect(e.problem).toMatch(/counts/);
  });

  it('refuses bytes after the end record, and a file that is not a backup', async () => {
    expect((await refusal(Buffer.concat([bytes, Buffer.from('x')]))).offset).toBe(bytes.length);
    const notOne = await refusal(Buffer.from('{"rooms": []}'));
    expect(notOne.offset).toBe(0);
    expect(notOne.problem).toMatch(/magic/);
  });

  it('refuses a damaged header before reading any state', async () => {
    const flipped = Buffer.from(bytes);
    flipped[BACKUP_MAGIC.length + 20] = (flipped[BACKUP_MAGIC.length + 20] ?? 0) ^ 0x01;
    const path = join(dir, 'bad-header.rrb');
    writeFileSync(path, flipped);
    const e: unknown = await BackupReader.open(path).then(
      () => null,
      (x: unknown) => x,
    );
    expect((e as BackupFormatError).offset).toBe(BACKUP_MAGIC.length);
  });
});
