import { createHash, timingSafeEqual } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { Metadata } from '@grpc/grpc-js';
import type { NodeId } from '../lib/ids.js';
import { type Result, err, ok } from '../lib/result.js';
import { BASELINE_VERSIONS, type FormatVersions, decodeVersions, encodeVersions } from '../lib/versions.js';

/** Metadata keys every peer call carries. */
export const PEER_METADATA = Object.freeze({
  cluster: 'x-room-registry-cluster',
  nodeId: 'x-room-registry-node-id',
  secret: 'x-room-registry-secret',
  /** versions: the formats the caller applies (DESIGN §12), `command=1,snapshot=1`. */
  versions: 'x-room-registry-versions',
});

/** PeerCredentials identify this node to its peers. */
export interface PeerCredentials {
  readonly cluster: string;
  readonly nodeId: NodeId;
  readonly secret: string;
  /** versions: the formats this node applies, advertised on every call (BASELINE_VERSIONS when absent). */
  readonly versions?: FormatVersions;
}

export function peerMetadata(c: PeerCredentials): Metadata {
  const md = new Metadata();
  md.set(PEER_METADATA.cluster, c.cluster);
  md.set(PEER_METADATA.nodeId, c.nodeId);
  md.set(PEER_METADATA.secret, c.secret);
  md.set(PEER_METADATA.versions, encodeVersions(c.versions ?? BASELINE_VERSIONS));
  return md;
}

/**
 * advertisedVersions: the formats an authenticated call says its sender applies. A build that
 * sends none, or garbled ones, counts as BASELINE_VERSIONS: never more than it proved.
 */
export function advertisedVersions(md: Metadata): FormatVersions {
  const text = firstString(md, PEER_METADATA.versions);
  return (text === null ? null : decodeVersions(text)) ?? BASELINE_VERSIONS;
}

export type PeerRefusal = 'unknownNode' | 'wrongSecret' | 'wrongCluster' | 'certificateMismatch' | 'removedMember';

/**
 * REMOVED_MEMBER_REFUSAL is in the details of the refusal a removed member gets from a peer
 * that applied its removal: the leader stops replicating to a removed follower, so this is how
 * such a follower learns it is out (etcd answers its removed members 410 Gone the same way).
 * The details end with the log index of the removal (`... at index 42`): a node that has
 * applied that index is a later incarnation of the id, added back since, and ignores it.
 */
export const REMOVED_MEMBER_REFUSAL = 'peer call refused: removedMember';

/** removedRefusalIndex reads the removal's index from a refusal's details (null: not a removal refusal). */
export function removedRefusalIndex(details: string): number | null {
  const m = /peer call refused: removedMember at index (\d+)/.exec(details);
  return m?.[1] === undefined ? null : Number(m[1]);
}

/**
 * PeerAuthenticator checks every inbound peer call: the caller must name a member of this
 * cluster and present the cluster secret. The secret is compared by digest in constant time,
 * so neither its content nor its length leaks through timing. With `bindCertificates` (peer
 * mTLS) the node id it claims must also be its certificate's (CN or a DNS SAN), so one
 * member's key cannot speak for another.
 */
export class PeerAuthenticator {
  private readonly secretDigest: Buffer;
  private members: ReadonlySet<string>;
  /** removed: members seen removed, with the index of the configuration that left them out. */
  private removed: ReadonlyMap<string, number> = new Map();
  /** refused counts refused calls by reason (exported as a metric). */
  readonly refused: Record<PeerRefusal, number> = {
    unknownNode: 0,
    wrongSecret: 0,
    wrongCluster: 0,
    certificateMismatch: 0,
    removedMember: 0,
  };

  constructor(
    private readonly cluster: string,
    secret: string,
    members: readonly NodeId[],
    private readonly bindCertificates = false,
  ) {
    this.secretDigest = digest(secret);
    this.members = new Set(members);
  }

  /**
   * setMembers replaces the node ids it accepts calls from and those it refuses as removed
   * members (a membership change, DESIGN §11).
   */
  setMembers(members: readonly NodeId[], removed: ReadonlyMap<NodeId, number> = new Map()): void {
    this.members = new Set(members);
    this.removed = new Map(removed);
  }

  /** removedAt: the index at which `id` was removed, null when it was not (its calls are refused with removedMember). */
  removedAt(id: NodeId): number | null {
    return this.removed.get(id) ?? null;
  }

  /** check authenticates one call from its metadata and, under mTLS, its client certificate. */
  check(md: Metadata, certificate: PeerCertificate | null = null): Result<NodeId, PeerRefusal> {
    const presented = firstString(md, PEER_METADATA.secret);
    const secretOk = timingSafeEqual(digest(presented ?? ''), this.secretDigest);
    const from = firstString(md, PEER_METADATA.nodeId);
    let refusal: PeerRefusal | null = null;
    if (!secretOk) refusal = 'wrongSecret';
    else if (firstString(md, PEER_METADATA.cluster) !== this.cluster) refusal = 'wrongCluster';
    else if (from !== null && this.removed.has(from)) refusal = 'removedMember';
    else if (from === null || !this.members.has(from)) refusal = 'unknownNode';
    else if (this.bindCertificates && (certificate === null || !certificateNames(certificate).includes(from)))
      refusal = 'certificateMismatch';
    if (refusal !== null) {
      this.refused[refusal]++;
      return err(refusal);
    }
    return ok(from as NodeId);
  }
}

/** certificateNames: the subject CN and the DNS subject alternative names of a peer certificate. */
export function certificateNames(c: PeerCertificate): string[] {
  const cn = (c.subject as Partial<PeerCertificate['subject']> | undefined)?.CN;
  const names = Array.isArray(cn) ? [...(cn as string[])] : typeof cn === 'string' ? [cn] : [];
  for (const entry of (c.subjectaltname ?? '').split(',')) {
    const m = /^\s*DNS:(.+?)\s*$/.exec(entry);
    if (m?.[1] !== undefined) names.push(m[1]);
  }
  return names;
}

/**
 * plaintextPeerAddresses: without peer TLS, the peer addresses that are not loopback, where
 * the cluster secret and every Raft message would cross a network in clear (`serve` warns).
 */
export function plaintextPeerAddresses(peerAddresses: readonly string[], peerTls: boolean): string[] {
  if (peerTls) return [];
  return peerAddresses.filter((a) => !isLoopbackHost(a.slice(0, a.lastIndexOf(':')).replace(/^\[|\]$/g, '')));
}

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

function firstString(md: Metadata, key: string): string | null {
  const v = md.get(key)[0];
  return typeof v === 'string' ? v : null;
}
