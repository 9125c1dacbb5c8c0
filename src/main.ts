#!/usr/bin/env node
/** The room-registry command line: `serve` runs a node; the rest are clients. */
import { UsageError, parseFlags } from './cli/args.js';
import { BACKUP_USAGE, backupCommand } from './cli/backup.js';
import { RESTORE_FLAGS, RESTORE_USAGE, restoreCommand } from './cli/restore.js';
import { MEMBERS_USAGE, membersCommand } from './cli/members.js';
import { NODES_USAGE, nodesCommand } from './cli/nodes.js';
import { ROOMS_USAGE, roomsCommand } from './cli/rooms.js';
import { SERVE_FLAGS, serveCommand } from './cli/serve.js';
import { STATUS_FLAGS, statusCommand } from './cli/status.js';
import { RoomRegistry } from './registry/index.js';
import { BackupFormatError } from './storage/backup-file.js';
import { StorageCorruptionError } from './storage/record.js';

const USAGE = `usage:
  room-registry serve --config FILE --id ID --data-dir DIR [--fsync always|never] [--initial-cluster-state new|existing | --join | --force-new-cluster] [--snapshot-interval-entries N] [--quota-bytes N] [--backup-dir DIR [--backup-interval 10m] [--backup-keep N]]
  room-registry status --config FILE [--wait-leader-ms N] [--ca-file CA]     every node, over HTTP(S) /status
  room-registry status --url host:port|grpcs://host:port --api-key K --api-secret S [--ca-file CA]     one node, over gRPC
${ROOMS_USAGE}${NODES_USAGE}${MEMBERS_USAGE}${BACKUP_USAGE}${RESTORE_USAGE}`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      const code = await serveCommand(parseFlags(rest, SERVE_FLAGS).flags, () => new RoomRegistry());
      return process.exit(code); // after a graceful shutdown nothing is left to wait for
    }
    case 'status':
      return statusCommand(parseFlags(rest, STATUS_FLAGS).flags);
    case 'rooms':
      return roomsCommand(rest);
    case 'nodes':
      return nodesCommand(rest);
    case 'backup':
      return backupCommand(rest);
    case 'restore':
      return restoreCommand(parseFlags(rest, RESTORE_FLAGS).flags);
    case 'members':
      return membersCommand(rest);
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`room-registry: ${e.message}\n${USAGE}`);
      process.exitCode = 2;
    } else if (e instanceof BackupFormatError) {
      process.stderr.write(`room-registry: the backup is damaged or incomplete, refusing it: ${e.message}\n`);
      process.exitCode = 1;
    } else if (e instanceof StorageCorruptionError) {
      process.stderr.write(`room-registry: the data dir is damaged, refusing to start: ${e.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`room-registry: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 1;
    }
  },
);
