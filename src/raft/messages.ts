import type { Index, NodeId, Term } from '../lib/ids.js';
import type { Entry, ReadContext, SnapshotMeta } from './types.js';

/** MESSAGE_TYPES lists every peer message; `Message` is the discriminated union over them. */
export const MESSAGE_TYPES = [
  'preVote',
  'preVoteResp',
  'vote',
  'voteResp',
  'append',
  'appendResp',
  'heartbeat',
  'heartbeatResp',
  'snapshot',
  'timeoutNow',
  'readIndex',
  'readIndexResp',
] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  /** term is the sender's term, except a preVote carries the term it would campaign in. */
  readonly term: Term;
}

/** VoteRequest asks for a (pre-)vote; `transfer` marks a campaign started by TimeoutNow. */
export interface VoteRequest extends Envelope {
  readonly type: 'preVote' | 'vote';
  readonly lastLogIndex: Index;
  readonly lastLogTerm: Term;
  readonly transfer: boolean;
}

/**
 * VoteResponse also carries the responder's commit index and the term of its entry there: a
 * candidate holding that same entry may commit up to it (Log Matching). Without it, a voter
 * that does not know its configuration changed could wait forever for a vote from a member
 * that knows, was removed, and holds a longer log (issue 14).
 */
export interface VoteResponse extends Envelope {
  readonly type: 'preVoteResp' | 'voteResp';
  readonly reject: boolean;
  readonly commit: Index;
  readonly commitTerm: Term;
}

/** Append carries entries after (prevLogIndex, prevLogTerm) and the leader's commit index. */
export interface Append extends Envelope {
  readonly type: 'append';
  readonly prevLogIndex: Index;
  readonly prevLogTerm: Term;
  readonly entries: readonly Entry[];
  readonly commit: Index;
}

/**
 * AppendResponse: on success `index` is the follower's last index matching the leader. On
 * reject, `index` is the rejected prevLogIndex and (hintIndex, hintTerm) is the follower's
 * largest entry at or below it whose term is at most the leader's prevLogTerm, so the leader
 * can skip a whole conflicting term at once.
 */
export interface AppendResponse extends Envelope {
  readonly type: 'appendResp';
  readonly index: Index;
  readonly reject: boolean;
  readonly hintIndex: Index;
  readonly hintTerm: Term;
}

/** Heartbeat keeps followers from campaigning; `readSeq` confirms leadership for ReadIndex. */
export interface Heartbeat extends Envelope {
  readonly type: 'heartbeat';
  readonly commit: Index;
  readonly readSeq: number;
}

export interface HeartbeatResponse extends Envelope {
  readonly type: 'heartbeatResp';
  readonly readSeq: number;
}

/** InstallSnapshot: the bytes travel beside the message (transport), the core sees the meta. */
export interface InstallSnapshot extends Envelope {
  readonly type: 'snapshot';
  readonly snapshot: SnapshotMeta;
}

/** TimeoutNow tells the transfer target to campaign at once, skipping PreVote. */
export interface TimeoutNow extends Envelope {
  readonly type: 'timeoutNow';
}

/** ReadIndexRequest: a follower asks the leader for a confirmed commit index. */
export interface ReadIndexRequest extends Envelope {
  readonly type: 'readIndex';
  readonly contexts: readonly ReadContext[];
}

/** ReadIndexResponse: `reject` when the leader could not serve it (it is stepping down or new). */
export interface ReadIndexResponse extends Envelope {
  readonly type: 'readIndexResp';
  readonly contexts: readonly ReadContext[];
  readonly index: Index;
  readonly reject: boolean;
}

export type Message =
  | VoteRequest
  | VoteResponse
  | Append
  | AppendResponse
  | Heartbeat
  | HeartbeatResponse
  | InstallSnapshot
  | TimeoutNow
  | ReadIndexRequest
  | ReadIndexResponse;

/** isResponse: responses never change who we vote for and are never forwarded. */
export function isResponse(m: Message): boolean {
  switch (m.type) {
    case 'preVoteResp':
    case 'voteResp':
    case 'appendResp':
    case 'heartbeatResp':
    case 'readIndexResp':
      return true;
    default:
      return false;
  }
}
