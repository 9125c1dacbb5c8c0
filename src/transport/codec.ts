import { unreachable } from '../lib/assert.js';
import { type NodeId, type Term, index, nodeId, term } from '../lib/ids.js';
import { type Result, err, ok } from '../lib/result.js';
import {
  ENTRY_KINDS,
  type Entry,
  type EntryKind as EntryKindName,
  type Message,
  type SnapshotMeta,
} from '../raft/index.js';
import {
  EntryKind,
  type Entry as WireEntry,
  type RaftMessage,
  type SnapshotMeta as WireSnapshotMeta,
  type VoteResponse as WireVoteResponse,
} from '../gen/roomregistry/peer/v1/peer.js';

/** Message ↔ wire form. Decoding checks what the types cannot: a peer's bytes are untrusted. */

/** asBuffer views bytes as a Buffer without copying (ts-proto's node output wants Buffers). */
export function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

export function encodeMessage(m: Message): RaftMessage {
  const envelope = { from: m.from, to: m.to, term: m.term };
  switch (m.type) {
    case 'preVote':
    case 'vote':
      return {
        ...envelope,
        body: {
          $case: m.type,
          value: { lastLogIndex: m.lastLogIndex, lastLogTerm: m.lastLogTerm, transfer: m.transfer },
        },
      };
    case 'preVoteResp':
    case 'voteResp':
      return {
        ...envelope,
        body: { $case: m.type, value: { reject: m.reject, commit: m.commit, commitTerm: m.commitTerm } },
      };
    case 'append':
      return {
        ...envelope,
        body: {
          $case: 'append',
          value: {
            prevLogIndex: m.prevLogIndex,
            prevLogTerm: m.prevLogTerm,
            entries: m.entries.map(encodeEntry),
            commit: m.commit,
          },
        },
      };
    case 'appendResp':
      return {
        ...envelope,
        body: {
          $case: 'appendResp',
          value: { index: m.index, reject: m.reject, hintIndex: m.hintIndex, hintTerm: m.hintTerm },
        },
      };
    case 'heartbeat':
      return { ...envelope, body: { $case: 'heartbeat', value: { commit: m.commit, readSeq: m.readSeq } } };
    case 'heartbeatResp':
      return { ...envelope, body: { $case: 'heartbeatResp', value: { readSeq: m.readSeq } } };
    case 'snapshot':
      return { ...envelope, body: { $case: 'snapshot', value: { snapshot: encodeSnapshotMeta(m.snapshot) } } };
    case 'timeoutNow':
      return { ...envelope, body: { $case: 'timeoutNow', value: {} } };
    case 'readIndex':
      return { ...envelope, body: { $case: 'readIndex', value: { contexts: [...m.contexts] } } };
    case 'readIndexResp':
      return {
        ...envelope,
        body: { $case: 'readIndexResp', value: { contexts: [...m.contexts], index: m.index, reject: m.reject } },
      };
    default:
      return unreachable(m);
  }
}

export function decodeMessage(w: RaftMessage): Result<Message, string> {
  if (w.body === undefined) return err('raft message without a body');
  if (w.from === '' || w.to === '') return err('raft message without from/to');
  const env = { from: nodeId(w.from), to: nodeId(w.to), term: term(w.term) };
  const b = w.body;
  switch (b.$case) {
    case 'preVote':
    case 'vote':
      return ok({
        ...env,
        type: b.$case,
        lastLogIndex: index(b.value.lastLogIndex),
        lastLogTerm: term(b.value.lastLogTerm),
        transfer: b.value.transfer,
      });
    case 'preVoteResp':
    case 'voteResp':
      return ok(decodeVoteResponse(env, b.$case, b.value));
    case 'append': {
      const entries: Entry[] = [];
      for (const e of b.value.entries) {
        const decoded = decodeEntry(e);
        if (!decoded.ok) return decoded;
        entries.push(decoded.value);
      }
      const v = b.value;
      return ok({
        ...env,
        type: 'append',
        prevLogIndex: index(v.prevLogIndex),
        prevLogTerm: term(v.prevLogTerm),
        entries,
        commit: index(v.commit),
      });
    }
    case 'appendResp': {
      const v = b.value;
      return ok({
        ...env,
        type: 'appendResp',
        index: index(v.index),
        reject: v.reject,
        hintIndex: index(v.hintIndex),
        hintTerm: term(v.hintTerm),
      });
    }
    case 'heartbeat':
      return ok({ ...env, type: 'heartbeat', commit: index(b.value.commit), readSeq: b.value.readSeq });
    case 'heartbeatResp':
      return ok({ ...env, type: 'heartbeatResp', readSeq: b.value.readSeq });
    case 'snapshot':
      if (b.value.snapshot === undefined) return err('snapshot message without meta');
      return ok({ ...env, type: 'snapshot', snapshot: decodeSnapshotMeta(b.value.snapshot) });
    case 'timeoutNow':
      return ok({ ...env, type: 'timeoutNow' });
    case 'readIndex':
      return ok({ ...env, type: 'readIndex', contexts: b.value.contexts });
    case 'readIndexResp':
      return ok({
        ...env,
        type: 'readIndexResp',
        contexts: b.value.contexts,
        index: index(b.value.index),
        reject: b.value.reject,
      });
    default:
      return unreachable(b);
  }
}

const WIRE_ENTRY_KINDS: Readonly<Record<EntryKindName, EntryKind>> = {
  command: EntryKind.ENTRY_KIND_COMMAND,
  noop: EntryKind.ENTRY_KIND_NOOP,
  config: EntryKind.ENTRY_KIND_CONFIG,
};

function decodeVoteResponse(
  env: { from: NodeId; to: NodeId; term: Term },
  type: 'preVoteResp' | 'voteResp',
  v: WireVoteResponse,
): Message {
  return { ...env, type, reject: v.reject, commit: index(v.commit), commitTerm: term(v.commitTerm) };
}

function encodeEntry(e: Entry): WireEntry {
  return { index: e.index, term: e.term, kind: WIRE_ENTRY_KINDS[e.kind], data: asBuffer(e.data) };
}

function decodeEntry(e: WireEntry): Result<Entry, string> {
  const kind = ENTRY_KINDS.find((k) => WIRE_ENTRY_KINDS[k] === e.kind);
  if (kind === undefined) return err(`entry ${e.index} has unknown kind ${e.kind}`);
  return ok({ index: index(e.index), term: term(e.term), kind, data: e.data });
}

export function encodeSnapshotMeta(s: SnapshotMeta): WireSnapshotMeta {
  return {
    index: s.index,
    term: s.term,
    voters: [...s.voters],
    learners: [...s.learners],
    contexts: { ...s.contexts },
  };
}

export function decodeSnapshotMeta(s: WireSnapshotMeta): SnapshotMeta {
  return {
    index: index(s.index),
    term: term(s.term),
    voters: s.voters.map((v): NodeId => nodeId(v)),
    learners: s.learners.map((v): NodeId => nodeId(v)),
    contexts: { ...s.contexts },
  };
}
