import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDir, writeBytesDurably } from '../storage/files.js';
import type { StorageFs } from '../storage/storage-fs.js';
import { UsageError } from './args.js';

/** identityFileName names the file that ties a data dir to one cluster and one node. */
export const identityFileName = 'identity.json';

/**
 * claimDataDir makes sure `dir` is usable by node `id` of `cluster`: it exists (or is made,
 * private to this user), is writable, and was not initialized by another cluster or node —
 * starting a node on someone else's log would corrupt both. A new identity is written through
 * the durable-write helper, so a power cut never leaves it empty (issue 13 finding 9).
 */
export async function claimDataDir(fs: StorageFs, dir: string, cluster: string, id: string, fsync: boolean): Promise<void> {
  try {
    await ensureDir(fs, dir, fsync);
    await access(dir, constants.R_OK | constants.W_OK);
  } catch (e) {
    throw new UsageError(`data dir ${dir} is not usable: ${(e as Error).message}`);
  }
  const file = join(dir, identityFileName);
  const text = await readIdentity(fs, dir, file);
  if (text === null) {
    await writeBytesDurably(fs, file, Buffer.from(`${JSON.stringify({ cluster, node: id })}\n`), fsync);
    return;
  }
  let found: { cluster?: unknown; node?: unknown };
  try {
    found = JSON.parse(text) as typeof found;
  } catch (e) {
    throw new UsageError(`data dir ${dir}: ${identityFileName} is unreadable: ${(e as Error).message}`);
  }
  if (found.cluster !== cluster || found.node !== id) {
    throw new UsageError(
      `data dir ${dir} belongs to node ${String(found.node)} of cluster ${String(found.cluster)}, not node ${id} of cluster ${cluster}`,
    );
  }
}

/** readIdentity returns the identity file's text, or null when there is none. */
async function readIdentity(fs: StorageFs, dir: string, file: string): Promise<string | null> {
  try {
    return (await fs.readFile(file)).toString('utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UsageError(`data dir ${dir}: ${identityFileName} is unreadable: ${(e as Error).message}`);
  }
}
