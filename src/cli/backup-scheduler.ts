import { join } from 'node:path';
import type { BackupSource } from '../api/grpc-backup.js';
import type { CompiledConfig, MemberConfig } from '../config/cluster-config.js';
import { LIMITS } from '../config/limits.js';
import { assert } from '../lib/assert.js';
import { RegistryError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { RaftNode } from '../node/node.js';
import { type BackupHeader, backupHeaderOf, encodeBackup, writeBackupFile } from '../storage/backup-file.js';
import { ensureDir } from '../storage/files.js';
import { type StorageFs, nodeStorageFs } from '../storage/storage-fs.js';
import { type ParsedFlags, UsageError, optionalString } from './args.js';

/** LEADER_GRPC_META: the error meta key that carries the leader's gRPC address (trailer x-room-registry-leader-grpc). */
export const LEADER_GRPC_META = 'leader-grpc';

/** OpenBackup is a captured state: its header, and the backup file's bytes to stream once; `release` ends the capture. */
export interface OpenBackup {
  readonly header: BackupHeader;
  readonly pieces: AsyncIterable<Uint8Array>;
  release(): void;
}

/**
 * openBackup captures the state on the leader (node.captureBackup, O(1)); its pieces are the
 * backup file's bytes, the capture serialized in snapshot-sized slices with a turn of the event
 * loop between them, like a snapshot. The caller must `release` it, read to the end or not.
 */
export async function openBackup(
  node: RaftNode,
  cluster: string,
  deadlineMs: number,
  members: readonly MemberConfig[],
): Promise<OpenBackup> {
  const capture = await node.captureBackup(deadlineMs).catch((e: unknown) => {
    throw withLeaderAddress(e, members);
  });
  const state = async function* (): AsyncIterable<Uint8Array> {
    for (;;) {
      if (capture.aborted())
        throw new RegistryError('UNAVAILABLE', 'the backup was cut short: the node lost leadership; take it again');
      const chunk = capture.source.nextChunk(LIMITS.snapshotSliceBytes);
      if (chunk === null) return;
      yield chunk;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  };
  const header = backupHeaderOf(cluster, capture.meta, Date.now());
  return { header, pieces: encodeBackup(header, state()), release: () => capture.release() };
}

/** backupPieces streams a backup, releasing its capture when the consumer stops, early or not. */
async function* backupPieces(
  node: RaftNode,
  cluster: string,
  deadlineMs: number,
  members: readonly MemberConfig[],
): AsyncIterable<Uint8Array> {
  const backup = await openBackup(node, cluster, deadlineMs, members);
  try {
    yield* backup.pieces;
  } finally {
    backup.release();
  }
}

/** backupSource is the Backup RPC's source for this node. */
export function backupSource(node: RaftNode, cluster: string, members: readonly MemberConfig[]): BackupSource {
  return (deadlineMs) => backupPieces(node, cluster, deadlineMs, members);
}

/** withLeaderAddress adds the leader's gRPC address to a not-leader error, so a client given only --url can follow it. */
function withLeaderAddress(e: unknown, members: readonly MemberConfig[]): unknown {
  if (!(e instanceof RegistryError) || e.code !== 'UNAVAILABLE' || e.leaderId === null) return e;
  const leader = members.find((m) => m.id === e.leaderId);
  if (leader === undefined) return e;
  const scheme = leader.tls === null ? 'http' : 'https';
  return new RegistryError('UNAVAILABLE', e.message, {
    leaderId: e.leaderId,
    meta: { ...e.meta, [LEADER_GRPC_META]: `${scheme}://${leader.grpcAddress}` },
  });
}

export interface BackupScheduleOptions {
  readonly dir: string;
  readonly intervalMs: number;
  /** keep: how many backup files to keep (the newest); older ones are deleted after each success. */
  readonly keep: number;
  readonly fsync: boolean;
}

/** BACKUP_FILE_NAME: backup-<UTC time>-<index>.rrb; names sort by time. */
const BACKUP_FILE_NAME = /^backup-(\d{8}T\d{9}Z)-(\d{16})\.rrb$/;

/**
 * BackupScheduler writes a backup into `dir` every interval while this node leads (temp file,
 * fsync, rename, fsync of the dir, through writeBackupFile), then prunes the dir to the newest
 * `keep`. Successes and failures go to the metrics the alert rule reads (cluster/alerts.yml).
 */
export class BackupScheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  /** lastSuccessMs: when this process last wrote a backup (0: not yet). */
  private lastSuccessMs = 0;

  constructor(
    private readonly node: RaftNode,
    private readonly cluster: string,
    private readonly members: readonly MemberConfig[],
    private readonly opts: BackupScheduleOptions,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly fs: StorageFs = nodeStorageFs,
  ) {
    assert(opts.intervalMs > 0 && opts.keep >= 1, 'a backup schedule needs an interval and keeps at least one');
  }

  start(): void {
    this.metrics.backupInterval.set(this.opts.intervalMs / 1000);
    // A restarted node (or a new leader) reports its newest backup on disk, not "never".
    this.newestOnDiskMs().then(
      (ms) => {
        if (ms !== null && this.lastSuccessMs === 0) this.metrics.backupLastSuccess.set(ms / 1000);
      },
      () => undefined, // no dir yet: nothing written
    );
    this.timer = setInterval(() => {
      if (this.running === null && this.node.status().role === 'leader')
        this.running = this.runOnce().finally(() => (this.running = null));
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    await this.running;
  }

  /** runOnce writes one backup and prunes; a failure is counted and logged, never thrown. */
  async runOnce(): Promise<void> {
    const startMs = Date.now();
    try {
      await ensureDir(this.fs, this.opts.dir, this.opts.fsync);
      const backup = await openBackup(this.node, this.cluster, startMs + LIMITS.requestDeadlineMaxMs, this.members);
      const index = backup.header.index;
      const path = join(this.opts.dir, backupFileName(startMs, index));
      const bytes = await writeBackupFile(path, backup.pieces, this.opts.fsync, this.fs).finally(() =>
        backup.release(),
      );
      const pruned = await this.prune();
      this.lastSuccessMs = Date.now();
      this.metrics.backupLastSuccess.set(this.lastSuccessMs / 1000);
      this.logger.info('backup_written', { path, index, bytes, pruned, durationMs: Date.now() - startMs });
    } catch (e) {
      this.metrics.backupFailures.inc();
      this.logger.error('backup_failed', { dir: this.opts.dir, error: e });
    }
  }

  /** newestOnDiskMs: when the newest backup file in the dir was begun (its name says), null when none is. */
  private async newestOnDiskMs(): Promise<number | null> {
    const names = (await this.fs.readdir(this.opts.dir)).filter((n) => BACKUP_FILE_NAME.test(n)).sort();
    const time = BACKUP_FILE_NAME.exec(names[names.length - 1] ?? '')?.[1];
    if (time === undefined) return null;
    const iso = `${time.slice(0, 4)}-${time.slice(4, 6)}-${time.slice(6, 11)}:${time.slice(11, 13)}:${time.slice(13, 15)}.${time.slice(15, 18)}Z`;
    return Date.parse(iso);
  }

  /** prune deletes all but the newest `keep` backup files; it returns how many it deleted. */
  private async prune(): Promise<number> {
    const names = (await this.fs.readdir(this.opts.dir)).filter((n) => BACKUP_FILE_NAME.test(n)).sort();
    const old = names.slice(0, Math.max(0, names.length - this.opts.keep));
    for (const name of old) await this.fs.unlink(join(this.opts.dir, name));
    if (old.length > 0 && this.opts.fsync) await this.fs.fsyncDir(this.opts.dir);
    return old.length;
  }
}

/** backupFileName names a backup by when it began (UTC, to the millisecond) and the index it holds. */
export function backupFileName(startMs: number, index: number): string {
  const time = new Date(startMs).toISOString().replace(/[-:.]/g, '');
  return `backup-${time}-${String(index).padStart(16, '0')}.rrb`;
}

/** BACKUP_SERVE_FLAGS are serve's scheduled-backup flags. */
export const BACKUP_SERVE_FLAGS = {
  'backup-dir': { kind: 'string', help: 'scheduled backups: the directory the leader writes them to' },
  'backup-interval': { kind: 'string', help: 'scheduled backups: how often, e.g. 10m, 1h, 30s (default 10m)' },
  'backup-keep': { kind: 'number', help: 'scheduled backups: how many to keep, the newest (default 24)' },
} as const;

const BACKUP_INTERVAL_DEFAULT = '10m';
const BACKUP_KEEP_DEFAULT = 24;

/** backupScheduleFromFlags compiles the flags (null: no --backup-dir, no scheduled backups). */
export function backupScheduleFromFlags(flags: ParsedFlags, fsync: boolean): BackupScheduleOptions | null {
  const dir = optionalString(flags, 'backup-dir');
  if (dir === undefined) {
    if (flags['backup-interval'] !== undefined || flags['backup-keep'] !== undefined)
      throw new UsageError('--backup-interval and --backup-keep need --backup-dir');
    return null;
  }
  const intervalMs = parseDurationMs(optionalString(flags, 'backup-interval') ?? BACKUP_INTERVAL_DEFAULT);
  const keep = flags['backup-keep'] ?? BACKUP_KEEP_DEFAULT;
  if (typeof keep !== 'number' || !Number.isSafeInteger(keep) || keep < 1)
    throw new UsageError(`--backup-keep takes a whole number of at least 1, got ${String(keep)}`);
  return { dir, intervalMs, keep, fsync };
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** parseDurationMs reads 500ms, 30s, 10m, 1h (at least 1 s: a backup is O(state)). */
export function parseDurationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  const unit = m?.[2] === undefined ? undefined : DURATION_UNITS_MS[m[2]];
  const ms = m?.[1] === undefined || unit === undefined ? NaN : Number(m[1]) * unit;
  if (!(ms >= 1_000))
    throw new UsageError(`--backup-interval takes a duration of at least 1s (e.g. 10m), got "${text}"`);
  return ms;
}

/** startBackups starts the schedule when one is configured (serve's one call into this module). */
export function startBackups(
  node: RaftNode,
  config: CompiledConfig,
  schedule: BackupScheduleOptions | null,
  metrics: Metrics,
  logger: Logger,
): BackupScheduler | null {
  if (schedule === null) return null;
  const scheduler = new BackupScheduler(
    node,
    config.cluster.cluster,
    config.cluster.members,
    schedule,
    metrics,
    logger,
  );
  scheduler.start();
  logger.info('backups_scheduled', { dir: schedule.dir, intervalMs: schedule.intervalMs, keep: schedule.keep });
  return scheduler;
}
