import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { type PeerCertificate, checkServerIdentity as checkHostIdentity } from 'node:tls';
import { RegistryError, isRegistryErrorCode } from '../lib/errors.js';
import { type NodeId, nodeId } from '../lib/ids.js';
import type { InstallSnapshot, Message } from '../raft/index.js';
import {
  PeerServiceClient,
  type RaftBatch,
  type ForwardResult,
  type SnapshotChunk,
} from '../gen/roomregistry/peer/v1/peer.js';
import { asBuffer, encodeMessage } from './codec.js';
import { type PeerCredentials, certificateNames, peerMetadata, removedRefusalIndex } from './peer-auth.js';
import type { ForwardOutcome } from './peer-handler.js';
import type { PeerLimits, PeerTlsFiles } from './peer-options.js';
import { CHANNELZ_OFF } from '../lib/grpc-options.js';

/** snapshotStreamDeadlineMs: a snapshot stream that has not finished by then is abandoned and retried. */
export const snapshotStreamDeadlineMs = 120_000;

/**
 * PeerClient is this node's connection to one peer: a long-lived Raft stream (reopened after a
 * failure, with back-off), a snapshot stream per snapshot, and unary Forward calls.
 */
export class PeerClient {
  private readonly client: PeerServiceClient;
  private stream: grpc.ClientWritableStream<RaftBatch> | null = null;
  private reconnectDelayMs: number;
  private reconnectAtMs = 0;
  /** connected is true while the Raft stream is open; peer connects/disconnects are logged by the node. */
  connected = false;
  /** sendErrors counts batches that could not be written (exported as a metric). */
  sendErrors = 0;
  /** healthy: the peer has been heard from since our stream to it last broke (connect/disconnect logs). */
  healthy = false;

  constructor(
    readonly peerId: NodeId,
    address: string,
    private readonly credentials: PeerCredentials,
    tls: PeerTlsFiles | null,
    private readonly limits: PeerLimits,
    private readonly onUnreachable: (peer: NodeId) => void,
    private readonly onHealthChange: (peer: NodeId, healthy: boolean) => void = () => {},
    /** onRemoved: the peer refused us as a removed member (it applied our removal at `index`). */
    private readonly onRemoved: (peer: NodeId, index: number) => void = () => {},
  ) {
    this.reconnectDelayMs = limits.peerReconnectDelayMinMs;
    this.client = new PeerServiceClient(address, channelCredentials(peerId, tls), {
      ...CHANNELZ_OFF,
      'grpc.max_receive_message_length': limits.peerMessageBytesMax,
      'grpc.max_send_message_length': limits.peerMessageBytesMax,
      'grpc.keepalive_time_ms': 10_000,
      'grpc.initial_reconnect_backoff_ms': limits.peerReconnectDelayMinMs,
      'grpc.max_reconnect_backoff_ms': limits.peerReconnectDelayMaxMs,
    });
  }

  /**
   * send writes one batch on the Raft stream. Raft tolerates loss, so when the stream is down or
   * its buffer is full the batch is dropped and the core is told the peer is unreachable.
   */
  send(messages: readonly Message[]): void {
    const stream = this.openStream();
    if (stream === null || stream.writableNeedDrain) {
      this.sendErrors++;
      this.onUnreachable(this.peerId);
      return;
    }
    stream.write({ messages: messages.map(encodeMessage) });
  }

  private openStream(): grpc.ClientWritableStream<RaftBatch> | null {
    if (this.stream !== null) return this.stream;
    const nowMs = Date.now();
    if (nowMs < this.reconnectAtMs) return null;
    const stream = this.client.raft(peerMetadata(this.credentials), (error) => {
      if (this.stream === stream) this.streamBroke(error);
    });
    stream.on('error', () => {
      /* reported through the callback */
    });
    this.stream = stream;
    this.connected = true;
    return stream;
  }

  private streamBroke(error: grpc.ServiceError | null): void {
    this.stream = null;
    const removedAt = error?.code === grpc.status.FAILED_PRECONDITION ? removedRefusalIndex(error.details) : null;
    if (removedAt !== null) this.onRemoved(this.peerId, removedAt);
    if (this.healthy) {
      this.healthy = false;
      this.onHealthChange(this.peerId, false);
    }
    this.connected = false;
    this.reconnectAtMs = Date.now() + this.reconnectDelayMs;
    this.reconnectDelayMs = Math.min(this.reconnectDelayMs * 2, this.limits.peerReconnectDelayMaxMs);
    this.onUnreachable(this.peerId);
  }

  /** markHealthy resets the back-off once the peer has answered us. */
  markHealthy(): void {
    this.reconnectDelayMs = this.limits.peerReconnectDelayMinMs;
    if (!this.healthy) {
      this.healthy = true;
      this.onHealthChange(this.peerId, true);
    }
  }

  /** sendSnapshot streams a snapshot: the message first, then the bytes in chunks. */
  sendSnapshot(message: InstallSnapshot, chunks: AsyncIterable<Uint8Array>): Promise<boolean> {
    return new Promise((resolve) => {
      const deadline = Date.now() + snapshotStreamDeadlineMs;
      const call = this.client.installSnapshot(peerMetadata(this.credentials), { deadline }, (error, response) =>
        resolve(error === null && response?.accepted === true),
      );
      call.on('error', () => resolve(false));
      void writeChunks(call, message, chunks, this.limits.peerCallDeadlineMs).catch(() => call.cancel());
    });
  }

  /** forward sends a batch of commands to this peer (the leader) and returns each outcome. */
  forward(commands: readonly Uint8Array[], deadlineMs: number): Promise<ForwardOutcome[]> {
    return new Promise((resolve) => {
      const failAll = (error: RegistryError): void => resolve(commands.map(() => ({ ok: false as const, error })));
      this.client.forward(
        { commands: commands.map(asBuffer) },
        peerMetadata(this.credentials),
        { deadline: Math.min(deadlineMs, Date.now() + this.limits.peerCallDeadlineMs) },
        (error, response) => {
          if (error !== null || response === undefined) {
            failAll(forwardCallError(error, this.peerId));
            return;
          }
          if (response.results.length !== commands.length) {
            failAll(
              new RegistryError(
                'INTERNAL',
                `leader ${this.peerId} answered ${response.results.length} of ${commands.length} forwarded commands`,
              ),
            );
            return;
          }
          resolve(response.results.map(decodeForwardResult));
        },
      );
    });
  }

  close(): void {
    this.stream?.end();
    this.stream = null;
    this.client.close();
  }
}

async function writeChunks(
  call: grpc.ClientWritableStream<SnapshotChunk>,
  message: InstallSnapshot,
  chunks: AsyncIterable<Uint8Array>,
  stallMsMax: number,
): Promise<void> {
  let first = true;
  for await (const data of chunks) {
    const chunk = { message: first ? encodeMessage(message) : undefined, data: asBuffer(data), last: false };
    first = false;
    if (!call.write(chunk)) await drained(call, stallMsMax);
  }
  call.write({ message: first ? encodeMessage(message) : undefined, data: Buffer.alloc(0), last: true });
  call.end();
}

/** drained waits for the stream to take more, failing it when the peer reads nothing for stallMsMax (peerCallDeadlineMs). */
function drained(
  call: {
    once(e: 'drain', f: () => void): unknown;
    off(e: 'drain', f: () => void): unknown;
  },
  stallMsMax: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      call.off('drain', onDrain);
      reject(new Error(`snapshot stream made no progress for ${stallMsMax} ms`));
    }, stallMsMax);
    call.once('drain', onDrain);
  });
}

function decodeForwardResult(r: ForwardResult): ForwardOutcome {
  const o = r.outcome;
  if (o === undefined)
    return { ok: false, error: new RegistryError('INTERNAL', 'forwarded command came back without an outcome') };
  if (o.$case === 'result') return { ok: true, result: o.value };
  const code = isRegistryErrorCode(o.value.code) ? o.value.code : 'INTERNAL';
  return {
    ok: false,
    error: new RegistryError(code, o.value.message, {
      leaderId: o.value.leaderId === '' ? null : nodeId(o.value.leaderId),
    }),
  };
}

function forwardCallError(error: grpc.ServiceError | null, leader: NodeId): RegistryError {
  if (error?.code === grpc.status.DEADLINE_EXCEEDED)
    return new RegistryError(
      'DEADLINE_EXCEEDED',
      `leader ${leader} did not answer in time; the write may or may not have been applied`,
    );
  return new RegistryError('UNAVAILABLE', `cannot reach leader ${leader}: ${error?.details ?? 'no response'}`, {
    leaderId: leader,
  });
}

/**
 * channelCredentials: TLS to `peer` when the cluster has peer TLS. With the cluster's own CA
 * (caFile), the listener dialled must also prove it is that member, by its certificate's CN or
 * a DNS SAN, as the peer server binds a caller's claimed id (peer-auth.ts): another member's
 * certificate at that address (a wrong address in the config, a hijacked one) is refused in the
 * handshake, not sent the cluster secret and Raft traffic meant for `peer`.
 */
function channelCredentials(peer: NodeId, tls: PeerTlsFiles | null): grpc.ChannelCredentials {
  if (tls === null) return grpc.credentials.createInsecure();
  const ca = tls.caFile === null ? null : readFileSync(tls.caFile);
  const checkServerIdentity = (host: string, cert: PeerCertificate): Error | undefined => {
    const byHost = checkHostIdentity(host, cert);
    if (byHost !== undefined || certificateNames(cert).includes(peer)) return byHost;
    return new Error(
      `the peer at ${host} presented a certificate for ${certificateNames(cert).join(', ')}, not ${peer}`,
    );
  };
  return grpc.credentials.createSsl(
    ca,
    readFileSync(tls.keyFile),
    readFileSync(tls.certFile),
    ca === null ? {} : { checkServerIdentity },
  );
}
