import type * as grpc from '@grpc/grpc-js';
import type { BackupChunk } from '../gen/roomregistry/v1/rooms.js';
import { RegistryError } from '../lib/errors.js';
import { type Grants, requireAdminKey } from './auth.js';
import { toClientError } from './errors.js';
import { toServiceError } from './grpc-errors.js';

/** BackupSource streams a backup file's bytes, taken on the leader; it throws UNAVAILABLE (leader hint) elsewhere. */
export type BackupSource = (deadlineMs: number) => AsyncIterable<Uint8Array>;

export interface BackupCallContext {
  readonly grants: Grants;
  readonly deadlineMs: number;
}

export interface BackupStreamOptions {
  readonly adminKeys: ReadonlySet<string>;
  readonly source: BackupSource | undefined;
  /** onOutcome reports the call for the audit log: the API key and how it ended. */
  readonly onOutcome: (apiKey: string | null, outcome: string) => void;
}

/**
 * streamBackup answers ClusterService.Backup: an admin key only; the file's bytes go out as
 * they are made, waiting for the client to take each piece (HTTP/2 flow control), so a slow
 * reader holds one piece in memory, not the backup. A client that goes away ends the capture.
 */
export function streamBackup(
  call: grpc.ServerWritableStream<unknown, BackupChunk>,
  context: () => BackupCallContext,
  options: BackupStreamOptions,
): void {
  let apiKey: string | null = null;
  let cancelled = false;
  const end = (): void => {
    cancelled = true;
  };
  call.on('cancelled', end);
  call.on('close', end);
  const run = async (): Promise<boolean> => {
    const ctx = context();
    apiKey = ctx.grants.apiKey;
    requireAdminKey(ctx.grants, options.adminKeys);
    if (options.source === undefined) throw new RegistryError('UNAVAILABLE', 'this node does not serve backups');
    for await (const piece of options.source(ctx.deadlineMs)) {
      if (cancelled) return false; // leaving the loop ends the generator, which releases the capture
      const data = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
      if (!call.write({ data })) await writable(call);
    }
    call.end();
    return true;
  };
  run().then(
    (completed) => options.onOutcome(apiKey, completed ? 'OK' : 'CANCELLED'),
    (e: unknown) => {
      options.onOutcome(apiKey, toClientError(e).error.code);
      call.emit('error', toServiceError(e));
    },
  );
}

/** writable resolves once the stream takes more (drain), or once it is gone (then the loop sees `cancelled`). */
function writable(call: grpc.ServerWritableStream<unknown, BackupChunk>): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      call.off('drain', done);
      call.off('close', done);
      call.off('cancelled', done);
      resolve();
    };
    call.once('drain', done);
    call.once('close', done);
    call.once('cancelled', done);
  });
}
