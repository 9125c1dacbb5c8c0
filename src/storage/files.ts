import { open } from 'node:fs/promises';
import { type NodeId, index, term } from '../lib/ids.js';
import type { SnapshotMeta } from '../raft/index.js';

/** fsyncDir makes a file's creation, rename or removal in `dir` durable (POSIX needs the directory synced too). */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
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
  const o = v as { index?: unknown; term?: unknown; voters?: unknown };
  if (!Number.isSafeInteger(o.index) || !Number.isSafeInteger(o.term)) return null;
  if (!Array.isArray(o.voters) || !o.voters.every((x) => typeof x === 'string')) return null;
  return { index: index(o.index as number), term: term(o.term as number), voters: o.voters as NodeId[] };
}

/** snapshotMetaJson is the form parseSnapshotMeta reads. */
export function snapshotMetaJson(meta: SnapshotMeta): string {
  return JSON.stringify({ index: meta.index, term: meta.term, voters: meta.voters });
}
