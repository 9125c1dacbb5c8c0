import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import type { PeerCertificate } from 'node:tls';
import { RegistryError } from '../lib/errors.js';
import { type NodeId, nodeId } from '../lib/ids.js';
import type { Message } from '../raft/index.js';
import {
  type ForwardRequest,
  type ForwardResponse,
  type InstallSnapshotResponse,
  PeerServiceService,
  type RaftBatch,
  type RaftStreamClosed,
  type SnapshotChunk,
} from '../gen/roomregistry/peer/v1/peer.js';
import { decodeMessage } from './codec.js';
import type { FaultHook } from './fault-hook.js';
import { PEER_METADATA, type PeerAuthenticator, type PeerRefusal, advertisedVersions } from './peer-auth.js';
import type { ForwardOutcome, PeerHandler } from './peer-handler.js';
import type { PeerLimits, PeerTlsFiles } from './peer-options.js';
import { CHANNELZ_OFF } from '../lib/grpc-options.js';

/** PeerServerStats counts what the peer listener refused or could not decode (for metrics). */
export interface PeerServerStats {
  malformedMessages: number;
  misaddressedMessages: number;
}

/**
 * PeerServer is the `peer` listener: Raft streams, snapshot streams and forwarded proposals,
 * each call authenticated before anything reaches the node.
 */
/** PeerServerEvents: who called us (a peer we hear from is up) and who was refused. */
export interface PeerServerEvents {
  onHeard?(from: NodeId): void;
  onRefused?(reason: string): void;
  /** onCallFailed gets the detail of a call that failed on our side (answered INTERNAL). */
  onCallFailed?(detail: string): void;
}

export class PeerServer {
  readonly stats: PeerServerStats = { malformedMessages: 0, misaddressedMessages: 0 };
  readonly events: PeerServerEvents = {};
  private readonly server: grpc.Server;
  /** latestStream: each peer's newest Raft stream; only its end clears that peer's current versions (its last known stay). */
  private readonly latestStream = new Map<NodeId, object>();

  constructor(
    private readonly selfId: NodeId,
    private readonly auth: PeerAuthenticator,
    private readonly handler: PeerHandler,
    private readonly limits: PeerLimits,
    private readonly faults: FaultHook | null = null,
  ) {
    this.server = new grpc.Server({
      ...CHANNELZ_OFF,
      'grpc.max_receive_message_length': limits.peerMessageBytesMax,
      'grpc.max_send_message_length': limits.peerMessageBytesMax,
    });
    this.server.addService(PeerServiceService, {
      raft: (call: grpc.ServerReadableStream<RaftBatch, RaftStreamClosed>, cb: grpc.sendUnaryData<RaftStreamClosed>) =>
        this.onRaft(call, cb),
      installSnapshot: (
        call: grpc.ServerReadableStream<SnapshotChunk, InstallSnapshotResponse>,
        cb: grpc.sendUnaryData<InstallSnapshotResponse>,
      ): void => void this.onInstallSnapshot(call, cb).catch((e: unknown) => this.failCall(cb, e)),
      forward: (
        call: grpc.ServerUnaryCall<ForwardRequest, ForwardResponse>,
        cb: grpc.sendUnaryData<ForwardResponse>,
      ): void => void this.onForward(call, cb).catch((e: unknown) => this.failCall(cb, e)),
    });
  }

  /** listen binds the address; the port actually bound is returned (0 picks a free one). */
  listen(address: string, tls: PeerTlsFiles | null): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, serverCredentials(tls), (error, port) => (error ? reject(error) : resolve(port)));
    });
  }

  /** close stops accepting calls and ends the open ones. */
  close(): void {
    this.server.forceShutdown();
  }

  /**
   * failCall is the peer listener's edge (STYLE rule 24): a call whose handling threw fails
   * with INTERNAL instead of leaving a rejected promise that would end the process; the
   * detail goes to onCallFailed (the log), not to the caller.
   */
  private failCall<T>(cb: grpc.sendUnaryData<T>, e: unknown): void {
    this.events.onCallFailed?.(e instanceof Error ? (e.stack ?? e.message) : String(e));
    try {
      cb({ code: grpc.status.INTERNAL, details: 'internal error' }, null);
    } catch {
      // The call had already ended (its answer was sent before the throw).
    }
  }

  /**
   * authenticate checks a call's credentials and reports the versions it advertised; `onStream`:
   * the call is the peer's Raft stream, whose end reports null (so the node knows the peer's
   * current versions only while that stream lives).
   */
  private authenticate(
    call: {
      metadata: grpc.Metadata;
      getAuthContext(): { sslPeerCertificate?: PeerCertificate };
    },
    onStream: boolean,
  ): NodeId | grpc.ServiceError {
    const checked = this.auth.check(call.metadata, call.getAuthContext().sslPeerCertificate ?? null);
    if (checked.ok) {
      this.handler.peerVersions?.(checked.value, advertisedVersions(call.metadata), onStream);
      return checked.value;
    }
    this.events.onRefused?.(checked.error);
    const claimed = call.metadata.get(PEER_METADATA.nodeId)[0];
    return refusalError(checked.error, typeof claimed === 'string' ? this.auth.removedAt(nodeId(claimed)) : null);
  }

  /** cannotHear: the fault hook's dropInbound rule, for every kind of call (Raft, snapshot, forward). */
  private cannotHear(from: NodeId): boolean {
    return this.faults?.ruleFor(from)?.dropInbound === true;
  }

  private onRaft(
    call: grpc.ServerReadableStream<RaftBatch, RaftStreamClosed>,
    cb: grpc.sendUnaryData<RaftStreamClosed>,
  ): void {
    const from = this.authenticate(call, true);
    if (typeof from !== 'string') {
      cb(from, null);
      return;
    }
    let ended = false;
    const stream = {};
    this.latestStream.set(from, stream);
    // A member restarted on another build reopens its stream: until then its current version is the baseline.
    const forget = (): void => {
      if (this.latestStream.get(from) !== stream) return;
      this.latestStream.delete(from);
      this.handler.peerVersions?.(from, null, true);
    };
    call.on('close', forget);
    call.on('cancelled', forget);
    call.on('data', (batch: RaftBatch) => {
      if (ended || this.cannotHear(from)) return;
      // A stream opened before its sender was removed is ended with the refusal that tells it so.
      const removedAt = this.auth.removedAt(from);
      if (removedAt !== null) {
        ended = true;
        cb(refusalError('removedMember', removedAt), null);
        return;
      }
      this.events.onHeard?.(from);
      this.handler.deliver(this.decodeBatch(from, batch));
    });
    call.on('end', () => {
      forget();
      if (!ended) cb(null, {});
    });
    call.on('error', () => {
      forget(); // the sender reconnects
    });
  }

  private decodeBatch(from: NodeId, batch: RaftBatch): Message[] {
    const out: Message[] = [];
    for (const w of batch.messages) {
      const decoded = decodeMessage(w);
      if (!decoded.ok) {
        this.stats.malformedMessages++;
        continue;
      }
      // A member may only speak for itself, and only to us.
      if (decoded.value.from !== from || decoded.value.to !== this.selfId) {
        this.stats.misaddressedMessages++;
        continue;
      }
      out.push(decoded.value);
    }
    return out;
  }

  private async onInstallSnapshot(
    call: grpc.ServerReadableStream<SnapshotChunk, InstallSnapshotResponse>,
    cb: grpc.sendUnaryData<InstallSnapshotResponse>,
  ): Promise<void> {
    const from = this.authenticate(call, false);
    if (typeof from !== 'string') {
      cb(from, null);
      return;
    }
    if (this.cannotHear(from)) {
      cb({ code: grpc.status.UNAVAILABLE, details: `fault injected: not hearing from ${from}` }, null);
      return;
    }
    try {
      const iterator = call[Symbol.asyncIterator]() as AsyncIterator<SnapshotChunk>;
      const first = await iterator.next();
      const head = first.done === true ? undefined : (first.value as SnapshotChunk);
      const decoded = head?.message === undefined ? null : decodeMessage(head.message);
      if (
        head === undefined ||
        decoded === null ||
        !decoded.ok ||
        decoded.value.type !== 'snapshot' ||
        decoded.value.from !== from
      ) {
        this.stats.malformedMessages++;
        cb(
          {
            code: grpc.status.INVALID_ARGUMENT,
            details: 'snapshot stream must start with its InstallSnapshot message',
          },
          null,
        );
        return;
      }
      const accepted = await this.handler.receiveSnapshot(
        decoded.value,
        chunksOf(head, iterator, this.limits.peerCallDeadlineMs),
      );
      cb(null, { accepted });
    } catch (e) {
      cb({ code: grpc.status.INTERNAL, details: `snapshot receive failed: ${(e as Error).message}` }, null);
    }
  }

  private async onForward(
    call: grpc.ServerUnaryCall<ForwardRequest, ForwardResponse>,
    cb: grpc.sendUnaryData<ForwardResponse>,
  ): Promise<void> {
    const from = this.authenticate(call, false);
    if (typeof from !== 'string') {
      cb(from, null);
      return;
    }
    if (this.cannotHear(from)) {
      cb({ code: grpc.status.UNAVAILABLE, details: `fault injected: not hearing from ${from}` }, null);
      return;
    }
    const commands = call.request.commands;
    if (commands.length > this.limits.forwardBatchCommandsMax) {
      cb(
        {
          code: grpc.status.RESOURCE_EXHAUSTED,
          details: `forward batch over ${this.limits.forwardBatchCommandsMax} commands`,
        },
        null,
      );
      return;
    }
    const deadline = call.getDeadline();
    const deadlineMs = deadline instanceof Date ? deadline.getTime() : Number(deadline);
    const budgetMs = Number.isFinite(deadlineMs) ? deadlineMs : Date.now() + this.limits.requestDeadlineDefaultMs;
    const outcomes = await this.handler.forward(commands, budgetMs);
    cb(null, { results: fitForwardReply(outcomes, this.limits.peerBatchBytesMax) });
  }
}

/** FORWARD_RESULT_OVERHEAD_BYTES: one result's framing in a ForwardResponse, generously. */
const FORWARD_RESULT_OVERHEAD_BYTES = 64;

/**
 * fitForwardReply encodes the outcomes of a Forward call into at most batchBytesMax (peerBatchBytesMax)
 * bytes, so the reply always fits in a peer message: a result carries its room (512 KiB of
 * metadata, even for an occupancy update), so 1 024 results may not. The results past the
 * budget were applied but cannot travel: they become UNAVAILABLE, which a client retries with
 * the same request id and the dedup table answers.
 */
export function fitForwardReply(
  outcomes: readonly ForwardOutcome[],
  batchBytesMax: number,
): ForwardResponse['results'] {
  let bytes = 0;
  return outcomes.map((o) => {
    bytes += FORWARD_RESULT_OVERHEAD_BYTES + (o.ok ? o.result.byteLength : o.error.message.length);
    if (!o.ok) return { outcome: { $case: 'error' as const, value: forwardError(o.error) } };
    if (bytes > batchBytesMax) return { outcome: { $case: 'error' as const, value: forwardError(FORWARD_REPLY_FULL) } };
    return {
      outcome: {
        $case: 'result' as const,
        value: Buffer.from(o.result.buffer, o.result.byteOffset, o.result.byteLength),
      },
    };
  });
}

const FORWARD_REPLY_FULL = new RegistryError(
  'UNAVAILABLE',
  'the result did not fit in the forwarded batch reply; the write may have been applied: retry with the same request id',
);

function forwardError(e: RegistryError): { code: string; message: string; leaderId: string } {
  return { code: e.code, message: e.message, leaderId: e.leaderId ?? '' };
}

async function* chunksOf(
  head: SnapshotChunk,
  rest: AsyncIterator<SnapshotChunk>,
  stallMsMax: number,
): AsyncIterable<Uint8Array> {
  if (head.data.byteLength > 0) yield head.data;
  if (head.last) return;
  for (;;) {
    const next = await withinPeerCallDeadline(rest.next(), stallMsMax);
    if (next.done === true) throw new Error('snapshot stream ended before its last chunk');
    const chunk = next.value as SnapshotChunk;
    if (chunk.data.byteLength > 0) yield chunk.data;
    if (chunk.last) return;
  }
}

/** withinPeerCallDeadline fails a stream that makes no progress for stallMsMax (peerCallDeadlineMs). */
async function withinPeerCallDeadline<T>(p: Promise<T>, stallMsMax: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`snapshot stream made no progress for ${stallMsMax} ms`)), stallMsMax);
  });
  try {
    return await Promise.race([p, stalled]);
  } finally {
    clearTimeout(timer);
  }
}

export function serverCredentials(tls: PeerTlsFiles | null): grpc.ServerCredentials {
  if (tls === null) return grpc.ServerCredentials.createInsecure();
  const ca = tls.caFile === null ? null : readFileSync(tls.caFile);
  return grpc.ServerCredentials.createSsl(
    ca,
    [{ cert_chain: readFileSync(tls.certFile), private_key: readFileSync(tls.keyFile) }],
    ca !== null,
  );
}

/** refusalError: a refused peer call; a removed member's says so in a way its client recognizes. */
function refusalError(refusal: PeerRefusal, removedAt: number | null = null): grpc.ServiceError {
  const at = refusal === 'removedMember' && removedAt !== null ? ` at index ${removedAt}` : '';
  const e = new Error(`peer call refused: ${refusal}${at}`) as grpc.ServiceError;
  e.code = refusal === 'removedMember' ? grpc.status.FAILED_PRECONDITION : grpc.status.PERMISSION_DENIED;
  e.details = e.message;
  return e;
}
