import { existsSync } from 'node:fs';
import { type ServiceError, status as grpcStatus } from '@grpc/grpc-js';
import { LEADER_HINT_KEY } from '../api/grpc-errors.js';
import { loadClusterConfig } from '../config/cluster-config.js';
import { decodeSnapshot } from '../registry/snapshot-codec.js';
import {
  BackupFormatError,
  type BackupHeader,
  type BackupSummary,
  BackupReader,
  writeBackupFile,
} from '../storage/backup-file.js';
import { type ParsedFlags, UsageError, optionalString, parseFlags, requireString } from './args.js';
import { LEADER_GRPC_META } from './backup-scheduler.js';
import { CONNECTION_FLAGS, connect } from './rooms.js';

export const BACKUP_FLAGS = {
  ...CONNECTION_FLAGS,
  out: { kind: 'string', help: 'the backup file to write (it must not exist)' },
  json: { kind: 'boolean', help: 'verify: print the header and counts as JSON' },
} as const;

export const BACKUP_USAGE = `  room-registry backup --out FILE (--config FILE | --url URL --api-key K --api-secret S) [--timeout-ms N]     admin key; from the leader
  room-registry backup verify FILE [--json]     check every checksum, print the header and the room count
`;

/** backupDeadlineMsDefault: a backup of a million rooms takes seconds; the default leaves room for much more. */
const backupDeadlineMsDefault = 10 * 60_000;
/** leaderHopsMax: a follower's hint leads to the leader in one hop; more means leadership is moving. */
const leaderHopsMax = 3;

/** BackupCheck is what verifying a whole backup found. */
export interface BackupCheck {
  readonly header: BackupHeader;
  readonly rooms: number;
  readonly dedupRecords: number;
  readonly summary: BackupSummary;
}

/** backupCommand runs `backup --out FILE` or `backup verify FILE`. */
export async function backupCommand(argv: readonly string[]): Promise<number> {
  const { flags, positional } = parseFlags(argv, BACKUP_FLAGS);
  if (positional[0] === 'verify') {
    const file = positional[1];
    if (file === undefined || positional.length !== 2) throw new UsageError('backup verify takes one FILE');
    const check = await verifyBackupFile(file);
    process.stdout.write(flags['json'] === true ? `${JSON.stringify(check, null, 2)}\n` : describeCheck(file, check));
    return 0;
  }
  if (positional.length > 0) throw new UsageError(`unknown backup argument "${positional[0] ?? ''}"`);
  const out = requireString(flags, 'out');
  if (existsSync(out)) throw new UsageError(`--out ${out} exists; a backup never overwrites a file`);
  const bytes = await fetchBackup(flags, out);
  const check = await verifyBackupFile(out);
  process.stdout.write(`wrote ${out} (${bytes} bytes)\n${describeCheck(out, check)}`);
  return 0;
}

/**
 * fetchBackup streams a backup from the leader into `out` (written durably, only when whole):
 * it asks the node of --url (or the config's first), and follows a not-leader answer to the
 * leader — by the hint's node id in --config, or by the leader address the node adds.
 */
async function fetchBackup(flags: ParsedFlags, out: string): Promise<number> {
  const deadlineMs = typeof flags['timeout-ms'] === 'number' ? flags['timeout-ms'] : backupDeadlineMsDefault;
  let target = flags;
  for (let hop = 0; ; hop++) {
    const client = connect(target);
    try {
      const stream = client.backup(deadlineMs);
      return await writeBackupFile(out, dataOf(stream), true);
    } catch (e) {
      const leaderUrl = leaderUrlOf(e, flags);
      if (leaderUrl === null || hop >= leaderHopsMax) throw backupFailed(e);
      process.stderr.write(`the node is not the leader; asking the leader at ${leaderUrl}\n`);
      target = { ...flags, url: leaderUrl };
    } finally {
      client.close();
    }
  }
}

async function* dataOf(stream: AsyncIterable<unknown>): AsyncIterable<Uint8Array> {
  for await (const chunk of stream) yield (chunk as { data: Uint8Array }).data;
}

/** leaderUrlOf reads where the leader is from an UNAVAILABLE's trailers: the config's entry for the hint, else the address. */
function leaderUrlOf(e: unknown, flags: ParsedFlags): string | null {
  const error = e as Partial<ServiceError>;
  if (error.code !== grpcStatus.UNAVAILABLE || error.metadata === undefined) return null;
  const hint = error.metadata.get(LEADER_HINT_KEY)[0];
  const configFile = optionalString(flags, 'config');
  if (typeof hint === 'string' && configFile !== undefined) {
    const loaded = loadClusterConfig(configFile);
    const m = loaded.ok ? loaded.value.members.find((x) => x.id === hint) : undefined;
    if (m !== undefined) return `${m.tls === null ? 'http' : 'https'}://${m.grpcAddress}`;
  }
  const address = error.metadata.get(`x-room-registry-${LEADER_GRPC_META}`)[0];
  return typeof address === 'string' ? address : null;
}

function backupFailed(e: unknown): Error {
  const error = e as Partial<ServiceError>;
  if (error.code === undefined) return e as Error;
  const leader = error.metadata?.get(LEADER_HINT_KEY)[0];
  return new Error(
    `backup failed: ${error.details ?? String(e)} (code ${error.code}${leader === undefined ? '' : `, leader ${String(leader)}`})`,
  );
}

/**
 * verifyBackupFile reads the whole file: every record's checksums, the end record, the
 * whole-file checksum, and the state stream itself (decoded room by room, counted, never held).
 */
export async function verifyBackupFile(path: string): Promise<BackupCheck> {
  if (!existsSync(path)) throw new UsageError(`backup file ${path} does not exist`);
  const reader = await BackupReader.open(path);
  try {
    let rooms = 0;
    let summary: BackupSummary | null = null;
    const decoded = await decodeSnapshot(
      reader.chunks((s) => (summary = s)),
      () => rooms++,
    ).catch((e: unknown) => {
      if (e instanceof BackupFormatError) throw e; // damage the reader found, with its offset
      // Every checksum held, yet the state does not decode (SnapshotFormatError, or the protobuf
      // decoder's own error): a backup of another version, or a bug.
      throw new BackupFormatError(path, reader.stateOffset, `the state does not decode: ${(e as Error).message}`);
    });
    if (summary === null) throw new Error(`${path}: the state ended before the file's end record`);
    return { header: reader.header, rooms, dedupRecords: decoded.dedup.length, summary };
  } finally {
    await reader.close();
  }
}

function describeCheck(path: string, c: BackupCheck): string {
  const h = c.header;
  return [
    `backup ${path}: OK`,
    `  format:     ${h.formatVersion}`,
    `  cluster:    ${h.cluster}`,
    `  revision:   ${h.index} (term ${h.term})`,
    `  members:    ${h.members.voters.join(', ')}${h.members.learners.length === 0 ? '' : ` (learners: ${h.members.learners.join(', ')})`}`,
    `  created at: ${h.createdAt}`,
    `  rooms:      ${c.rooms}`,
    `  request ids: ${c.dedupRecords}`,
    `  bytes:      ${c.summary.fileBytes} (state ${c.summary.stateBytes} in ${c.summary.chunks} chunks)`,
    '',
  ].join('\n');
}
