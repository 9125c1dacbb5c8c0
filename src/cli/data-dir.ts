import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDir, writeBytesDurably } from '../storage/files.js';
import type { StorageFs } from '../storage/storage-fs.js';
import { UsageError } from './args.js';

/** identityFileName names the file that ties a data dir to one cluster and one node. */
export const identityFileName = 'identity.json';

/** InitialClusterState: `new` lets this start initialize an empty data dir; `existing` refuses one. */
export type InitialClusterState = 'new' | 'existing';

/**
 * claimDataDir makes sure `dir` is usable by node `id` of `cluster`: it exists (or is made,
 * private to this user), is writable, and was not initialized by another cluster or node —
 * starting a node on someone else's log would corrupt both. A new identity is written through
 * the durable-write helper, so a power cut never leaves it empty (issue 13 finding 9).
 *
 * An empty data dir is accepted only with `new` (issue 13 finding 2): a member restarted on an
 * empty dir has forgotten its vote and its log, so it could vote twice in a term or help elect
 * a leader that lacks an acknowledged write. Only the operator knows whether this is a first
 * start, as with etcd's --initial-cluster-state.
 */
export async function claimDataDir(
  fs: StorageFs,
  dir: string,
  cluster: string,
  id: string,
  fsync: boolean,
  initialState: InitialClusterState,
): Promise<void> {
  try {
    await ensureDir(fs, dir, fsync);
    await access(dir, constants.R_OK | constants.W_OK);
  } catch (e) {
    throw new UsageError(`data dir ${dir} is not usable: ${(e as Error).message}`);
  }
  const file = join(dir, identityFileName);
  const text = await readIdentity(fs, dir, file);
  if (text === null) {
    if (initialState !== 'new' && (await holdsNoData(fs, dir))) throw new UsageError(emptyDirRefusal(dir, cluster, id));
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

/** dataDirHoldsNoData: `dir` is missing, or holds nothing but temp files of cut-short writes. */
export async function dataDirHoldsNoData(fs: StorageFs, dir: string): Promise<boolean> {
  try {
    return await holdsNoData(fs, dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw new UsageError(`data dir ${dir} is not usable: ${(e as Error).message}`);
  }
}

/** holdsNoData: nothing but temp files of cut-short writes; a dir with a log but no identity predates identity files. */
async function holdsNoData(fs: StorageFs, dir: string): Promise<boolean> {
  return (await fs.readdir(dir)).every((name) => name.endsWith('.tmp'));
}

function emptyDirRefusal(dir: string, cluster: string, id: string): string {
  return [
    `data dir ${dir} is empty: node ${id} has no record of having joined cluster ${cluster}, refusing to start.`,
    `On the very first start of a new cluster, pass --initial-cluster-state new.`,
    `If ${id} was already a member and lost its disk, do not: starting it empty would forget its vote and its log.`,
    `Restore its data dir, or remove ${id} from the cluster and add it back as a new member (DESIGN §11).`,
  ].join(' ');
}

/** removedFileName marks a data dir whose node left the cluster (DESIGN §11): it never starts again. */
export const removedFileName = 'removed.json';

/**
 * markRemoved records, durably, that this node was removed from the cluster. Its log may not
 * say so (a removed follower may learn it from a peer before it applies the change), and a
 * restart on this dir would bring back a vote and a log the cluster no longer counts.
 */
export async function markRemoved(
  fs: StorageFs,
  dir: string,
  id: string,
  reason: string,
  fsync: boolean,
): Promise<void> {
  const body = JSON.stringify({ node: id, removedAt: new Date().toISOString(), reason });
  await writeBytesDurably(fs, join(dir, removedFileName), Buffer.from(`${body}\n`), fsync);
}

/** checkNotRemoved refuses to start on a data dir that markRemoved marked. */
export async function checkNotRemoved(fs: StorageFs, dir: string, id: string): Promise<void> {
  let text: string;
  try {
    text = (await fs.readFile(join(dir, removedFileName))).toString('utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new UsageError(`data dir ${dir}: ${removedFileName} is unreadable: ${(e as Error).message}`);
  }
  throw new UsageError(
    `data dir ${dir}: ${id} was removed from the cluster (${removedFileName}: ${text.trim()}); refusing to start. ` +
      'To bring it back, add it as a new member (members add) and start it with --join on an empty data dir.',
  );
}
