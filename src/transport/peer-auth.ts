import { createHash, timingSafeEqual } from 'node:crypto';
import { Metadata } from '@grpc/grpc-js';
import type { NodeId } from '../lib/ids.js';
import { type Result, err, ok } from '../lib/result.js';

/** Metadata keys every peer call carries. */
export const PEER_METADATA = Object.freeze({
  cluster: 'x-room-registry-cluster',
  nodeId: 'x-room-registry-node-id',
  secret: 'x-room-registry-secret',
});

/** PeerCredentials identify this node to its peers. */
export interface PeerCredentials {
  readonly cluster: string;
  readonly nodeId: NodeId;
  readonly secret: string;
}

export function peerMetadata(c: PeerCredentials): Metadata {
  const md = new Metadata();
  md.set(PEER_METADATA.cluster, c.cluster);
  md.set(PEER_METADATA.nodeId, c.nodeId);
  md.set(PEER_METADATA.secret, c.secret);
  return md;
}

export type PeerRefusal = 'unknownNode' | 'wrongSecret' | 'wrongCluster';

/**
 * PeerAuthenticator checks every inbound peer call: the caller must name a member of this
 * cluster and present the cluster secret. The secret is compared by digest in constant time,
 * so neither its content nor its length leaks through timing.
 */
export class PeerAuthenticator {
  private readonly secretDigest: Buffer;
  private readonly members: ReadonlySet<string>;
  /** refused counts refused calls by reason (exported as a metric). */
  readonly refused: Record<PeerRefusal, number> = { unknownNode: 0, wrongSecret: 0, wrongCluster: 0 };

  constructor(
    private readonly cluster: string,
    secret: string,
    members: readonly NodeId[],
  ) {
    this.secretDigest = digest(secret);
    this.members = new Set(members);
  }

  check(md: Metadata): Result<NodeId, PeerRefusal> {
    const presented = firstString(md, PEER_METADATA.secret);
    const secretOk = timingSafeEqual(digest(presented ?? ''), this.secretDigest);
    const from = firstString(md, PEER_METADATA.nodeId);
    let refusal: PeerRefusal | null = null;
    if (!secretOk) refusal = 'wrongSecret';
    else if (firstString(md, PEER_METADATA.cluster) !== this.cluster) refusal = 'wrongCluster';
    else if (from === null || !this.members.has(from)) refusal = 'unknownNode';
    if (refusal !== null) {
      this.refused[refusal]++;
      return err(refusal);
    }
    return ok(from as NodeId);
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

function firstString(md: Metadata, key: string): string | null {
  const v = md.get(key)[0];
  return typeof v === 'string' ? v : null;
}
