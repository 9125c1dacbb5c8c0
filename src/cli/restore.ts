import { randomBytes } from 'node:crypto';
import { readdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { loadClusterConfig } from '../config/cluster-config.js';
import { silentLogger } from '../lib/logger.js';
import type { SnapshotMeta } from '../raft/index.js';
import { BackupReader } from '../storage/backup-file.js';
import { DiskLogStorage } from '../storage/disk-log-storage.js';
import { nodeStorageFs } from '../storage/storage-fs.js';
import { type ParsedFlags, UsageError, requireString } from './args.js';
import { verifyBackupFile } from './backup.js';
import { claimDataDir } from './data-dir.js';
import { foundingConf } from './membership-boot.js';

export const RESTORE_FLAGS = {
  from: { kind: 'string', help: 'the backup file' },
  config: { kind: 'string', help: 'the NEW cluster’s config (its cluster name must differ from the backup’s)' },
  id: { kind: 'string', help: 'this node’s id in the new config' },
  'data-dir': { kind: 'string', help: 'the data dir to seed; it must not exist or be empty' },
  fsync: { kind: 'string', help: 'always (default) or never' },
} as const;

export const RESTORE_USAGE = `  room-registry restore --from FILE --config NEW.json --id ID --data-dir DIR     seed one member of a new cluster (run it for every member, same FILE)
`;

/**
 * restoreCommand seeds an empty data dir for member `id` of a NEW cluster from a backup: the
 * backup becomes the data dir's snapshot (its meta naming the new config's members as voters),
 * the log rests on it, the hard state starts at the backup's term with everything committed.
 * `serve` then starts from it like any node after a restart; run it for every member from the
 * same file and they agree on the state at the backup's revision.
 *
 * The new cluster gets a new identity: the config's cluster name must differ from the one in
 * the backup. Peers authenticate with the cluster name (and secret), and identity.json ties the
 * data dir to it, so a member of the new cluster and one of the old never talk to each other
 * even when an address or a secret is reused.
 */
export async function restoreCommand(flags: ParsedFlags): Promise<number> {
  const from = requireString(flags, 'from');
  const dir = requireString(flags, 'data-dir');
  const id = requireString(flags, 'id');
  const fsync = (flags['fsync'] ?? 'always') === 'always';
  const loaded = loadClusterConfig(requireString(flags, 'config'));
  if (!loaded.ok) throw new UsageError(`${loaded.error.file}: ${loaded.error.problem}`);
  const cluster = loaded.value;
  if (!cluster.members.some((m) => m.id === id && !m.spare))
    throw new UsageError(
      `--id ${id} is not a founding node of the config (restore seeds the nodes that are not spare)`,
    );
  await refuseNonEmpty(dir);
  // The whole file is checked before anything is written: a damaged backup leaves no data dir behind.
  const check = await verifyBackupFile(from);
  if (check.header.cluster === cluster.cluster)
    throw new UsageError(
      `the backup comes from cluster "${cluster.cluster}" and the config names the same cluster; ` +
        'a restored cluster needs a new name (set "cluster" in the new config), so its members never talk to the old ones',
    );
  const meta: SnapshotMeta = {
    index: check.header.index,
    term: check.header.term,
    ...foundingConf(cluster),
  };
  // Seeded beside the data dir and renamed into place whole: a restore cut short leaves no data dir.
  const seeding = `${dir}.restoring-${randomBytes(6).toString('hex')}`;
  try {
    await seedDataDir(seeding, from, meta, fsync);
    await claimDataDir(nodeStorageFs, seeding, cluster.cluster, id, fsync, 'new');
    await rename(seeding, dir); // over an empty dir too (rename(2) replaces one)
    if (fsync) await nodeStorageFs.fsyncDir(dirname(dir));
  } finally {
    await rm(seeding, { recursive: true, force: true });
  }
  process.stdout.write(
    `restored ${dir} for node ${id} of cluster ${cluster.cluster}: ${check.rooms} rooms at revision ${meta.index} ` +
      `(term ${meta.term}) from cluster ${check.header.cluster}'s backup of ${check.header.createdAt}\n`,
  );
  return 0;
}

/** seedDataDir stores the backup's state as the dir's snapshot and rests an empty log on it, durably. */
async function seedDataDir(dir: string, from: string, meta: SnapshotMeta, fsync: boolean): Promise<void> {
  const storage = await DiskLogStorage.open({ dir, fsync, logger: silentLogger });
  const reader = await BackupReader.open(from);
  try {
    await storage.snapshots.save(meta, reader.chunks());
    await storage.applySnapshot(meta);
    // The hard state: the backup's term (a term is never below its log's last), no vote, all committed.
    await storage.persist([], { term: meta.term, vote: null, commit: meta.index });
  } finally {
    await reader.close();
    await storage.close();
  }
}

async function refuseNonEmpty(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new UsageError(`data dir ${dir} is not usable: ${(e as Error).message}`);
  }
  if (names.length > 0)
    throw new UsageError(
      `data dir ${dir} is not empty (${names.length} entries); restore seeds a new data dir only — ` +
        'move the old one aside (never delete the last copy of a cluster’s data before the restore serves)',
    );
}
