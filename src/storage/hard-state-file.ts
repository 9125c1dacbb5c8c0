import { join } from 'node:path';
import { type NodeId, index, term } from '../lib/ids.js';
import type { HardState } from '../raft/index.js';
import { writeBytesDurably } from './files.js';
import { RECORD_TYPES, StorageCorruptionError, encodeRecord, readRecord } from './record.js';
import type { StorageFs } from './storage-fs.js';

export const HARD_STATE_FILE = 'hard-state';

/**
 * readHardState loads the hard-state file: null when there is none, StorageCorruptionError
 * when it is damaged (it is only ever replaced whole by rename, so damage is real).
 */
export async function readHardState(fs: StorageFs, dir: string): Promise<HardState | null> {
  const path = join(dir, HARD_STATE_FILE);
  let buf: Buffer;
  try {
    buf = await fs.readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  if (buf.length === 0) throw new StorageCorruptionError(path, 0, 'the hard-state file is empty');
  const step = readRecord(buf, 0);
  if (!step.ok) throw new StorageCorruptionError(path, step.error.offset, step.error.problem);
  if (step.record.type !== RECORD_TYPES.hardState || step.record.end !== buf.length) {
    throw new StorageCorruptionError(path, 0, 'not a hard-state record');
  }
  const hs = parseHardState(step.record.payload.toString('utf8'));
  if (hs === null) throw new StorageCorruptionError(path, 0, 'malformed hard state');
  return hs;
}

/**
 * writeHardState replaces the file through the durable-write helper (temp file, sync, rename,
 * sync the directory), so a power cut leaves the old hard state or the new one.
 */
export async function writeHardState(fs: StorageFs, dir: string, hs: HardState, fsync: boolean): Promise<void> {
  const record = encodeRecord(
    RECORD_TYPES.hardState,
    Buffer.from(JSON.stringify({ term: hs.term, vote: hs.vote, commit: hs.commit })),
  );
  await writeBytesDurably(fs, join(dir, HARD_STATE_FILE), record, fsync);
}

function parseHardState(text: string): HardState | null {
  let v: { term?: unknown; vote?: unknown; commit?: unknown };
  try {
    v = JSON.parse(text) as typeof v;
  } catch {
    return null;
  }
  if (!Number.isSafeInteger(v.term) || !Number.isSafeInteger(v.commit)) return null;
  if (v.vote !== null && typeof v.vote !== 'string') return null;
  return { term: term(v.term as number), vote: v.vote as NodeId | null, commit: index(v.commit as number) };
}
