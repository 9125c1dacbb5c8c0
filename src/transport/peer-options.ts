import type { NodeId } from '../lib/ids.js';

// What the peer transport is given rather than reaching up for it: the bounds it enforces and the
// shapes of the config it reads. transport/ imports only lib/, raft/ and gen/ (LAYERS in
// eslint.config.js); cli/serve.ts passes config/limits.ts's LIMITS and the compiled cluster config,
// which satisfy these interfaces.

/**
 * PeerLimits are the bounds of config/limits.ts that the peer client and server enforce; each
 * field keeps its LIMITS name, where its trade-off is explained.
 */
export interface PeerLimits {
  /** peerMessageBytesMax: the largest gRPC message between peers, each way. */
  readonly peerMessageBytesMax: number;
  /** peerBatchBytesMax: the budget of a Forward reply's results (fitForwardReply). */
  readonly peerBatchBytesMax: number;
  /** peerReconnectDelayMinMs, peerReconnectDelayMaxMs: the back-off of a broken Raft stream. */
  readonly peerReconnectDelayMinMs: number;
  readonly peerReconnectDelayMaxMs: number;
  /** peerCallDeadlineMs: a Forward call's deadline, and the longest a snapshot stream may stall. */
  readonly peerCallDeadlineMs: number;
  /** forwardBatchCommandsMax: the most commands one Forward call may carry. */
  readonly forwardBatchCommandsMax: number;
  /** requestDeadlineDefaultMs: the budget of a Forward call that came without a deadline. */
  readonly requestDeadlineDefaultMs: number;
}

/** PeerTlsFiles are the peer TLS files (config's PeerTlsConfig): this node's certificate and key, the CA. */
export interface PeerTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** caFile: when set, peers must present a certificate signed by it (mTLS). */
  readonly caFile: string | null;
}

/** PeerMember is what the transport needs of a cluster member (config's MemberConfig): whom to dial where. */
export interface PeerMember {
  readonly id: NodeId;
  readonly peerAddress: string;
}
