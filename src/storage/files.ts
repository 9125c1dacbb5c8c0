import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { type NodeId, index, term } from '../lib/ids.js';
import type { SnapshotMeta } from '../raft/index.js';
import type { StorageFile, StorageFs } from './storage-fs.js';

/** TEMP_SUFFIX ends every temp name writeFileDurably uses; removeTempFiles clears leftovers at start-up. */
const TEMP_SUFFIX = '.tmp';

/**
 * writeFileDurably is the one durable-write path (STYLE rule 25): `fill` writes the content to
 * a fresh temp name beside `path`, which is fsynced, renamed over `path`, and then the directory
 * is fsynced. A power cut leaves the old file or the new one, never an empty or partial one.
 * Temp names are unique per call, so two writers of one name never share a temp file (issue 13
 * finding 1). With `fsync` false (--fsync=never) it only writes and renames.
 */
export async function writeFileDurably(
  fs: StorageFs,
  path: string,
  fill: (file: StorageFile) => Promise<void>,
  fsync: boolean,
): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`;
  const file = await fs.open(tmp, 'wx');
  try {
    await fill(file);
    if (fsync) await file.sync();
  } catch (e) {
    await file.close().catch(() => undefined);
    await fs.unlink(tmp).catch(() => undefined);
    throw e;
  }
  await file.close();
  await fs.rename(tmp, path);
  if (fsync) await fs.fsyncDir(dirname(path));
}

/** writeBytesDurably is writeFileDurably for content already in memory (hard state, identity). */
export async function writeBytesDurably(fs: StorageFs, path: string, bytes: Uint8Array, fsync: boolean): Promise<void> {
  await writeFileDurably(fs, path, (file) => writeAllAt(file, bytes, 0), fsync);
}

/** writeAllAt writes all of `bytes` at `position` (a write may be short). */
export async function writeAllAt(file: StorageFile, bytes: Uint8Array, position: number): Promise<void> {
  let written = 0;
  while (written < bytes.length)
    written += (await file.write(bytes, written, bytes.length - written, position + written)).bytesWritten;
}

/** removeTempFiles deletes the temp files of writes a crash cut short; call it before any writer starts. */
export async function removeTempFiles(fs: StorageFs, dir: string): Promise<void> {
  for (const name of await fs.readdir(dir)) {
    if (name.endsWith(TEMP_SUFFIX)) await fs.unlink(`${dir}/${name}`).catch(() => undefined);
  }
}

/**
 * syncDataDir fsyncs every file of `dir` and the dir itself before recovery reads them. After a
 * crash the page cache may still hold bytes that never reached the disk; trusting them (and
 * acknowledging what they hold) would lose them at the next power cut. PostgreSQL does the
 * same after its fsyncgate fix; a failure here stops start-up.
 */
export async function syncDataDir(fs: StorageFs, dir: string): Promise<void> {
  for (const name of await fs.readdir(dir)) {
    if (name.startsWith('.') || name.endsWith(TEMP_SUFFIX)) continue;
    let file: StorageFile;
    try {
      file = await fs.open(`${dir}/${name}`, 'r+');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EISDIR') continue;
      throw e;
    }
    try {
      await file.sync();
    } finally {
      await file.close();
    }
  }
  await fs.fsyncDir(dir);
}

/** ensureDir creates `dir` private to this user and, with fsync, makes its entry in the parent durable. */
export async function ensureDir(fs: StorageFs, dir: string, fsync: boolean): Promise<void> {
  await fs.mkdir(dir);
  if (fsync) await fs.fsyncDir(dirname(dir));
}

/** parseSnapshotMeta reads the JSON form of a SnapshotMeta that storage writes; null when it is not one. */
export function parseSnapshotMeta(text: string): SnapshotMeta | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as { index?: unknown; term?: unknown; voters?: unknown; learners?: unknown; contexts?: unknown };
  if (!Number.isSafeInteger(o.index) || !Number.isSafeInteger(o.term)) return null;
  if (!isStringArray(o.voters)) return null;
  // learners and contexts came with membership changes: metas written before read as none.
  const learners = o.learners ?? [];
  const contexts = o.contexts ?? {};
  if (!isStringArray(learners) || !isStringRecord(contexts)) return null;
  return {
    index: index(o.index as number),
    term: term(o.term as number),
    voters: o.voters as NodeId[],
    learners: learners as NodeId[],
    contexts,
  };
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function isStringRecord(v: unknown): v is Record<string, string> {
  return (
    typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string')
  );
}

/** snapshotMetaJson is the form parseSnapshotMeta reads. */
export function snapshotMetaJson(meta: SnapshotMeta): string {
  const { index: i, term: t, voters, learners, contexts } = meta;
  return JSON.stringify({ index: i, term: t, voters, learners, contexts });
}
